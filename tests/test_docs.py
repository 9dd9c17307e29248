"""Every command has help and appears in the README (as sqlite-utils tests its docs)."""

from pathlib import Path

import pytest

from dataaudit.cli import build_parser

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _commands():
    p = build_parser()
    sub = next(a for a in p._actions if a.dest == "command")
    return sub.choices


@pytest.mark.parametrize("name", sorted(_commands()))
def test_command_has_help_and_is_documented(name, capsys):
    parser = _commands()[name]
    assert parser.description or parser.format_help()
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, f"{name} {action.option_strings} has no help"
            assert any(o in README for o in action.option_strings), f"{name} {action.option_strings} not in README"
    assert f"dataaudit {name}" in README
