"""The shared flag groups mean one thing everywhere; --top bounds every listing; the --config TOML layer."""

from __future__ import annotations

import json

import pytest

from dataaudit.cli import build_parser, main

SHARED = ("--input-format", "--text-column", "--id-column", "--batch-size", "--on-bad-record", "--max-bad-records",
          "--out", "--format", "--top", "--quiet", "--config", "--model", "--device", "--cache-dir", "--workers",
          "--engine", "--fail-on")


def _actions():
    p = build_parser()
    sub = next(a for a in p._actions if a.dest == "command")
    return {name: {o: a for a in sp._actions for o in a.option_strings} for name, sp in sub.choices.items()}


def test_shared_flags_have_one_meaning():
    acts = _actions()
    for flag in SHARED:
        have = {c: a[flag] for c, a in acts.items() if flag in a}
        assert have, flag
        if flag == "--fail-on":       # levels differ by command; the metavar and the form do not
            assert {a.metavar for a in have.values()} == {"LEVEL"}
            continue
        sig = {(a.dest, a.metavar, a.default if not callable(a.default) else None, tuple(a.choices or ()))
               for a in have.values()}
        assert len(sig) == 1, (flag, sig)
    # every data-reading command has every input flag, and --on-bad-record defaults to fail everywhere
    for c, a in acts.items():
        assert a["--on-bad-record"].default == "fail", c
        for flag in ("--out", "--format", "--top", "--quiet", "--config", "--workers", "--fail-on"):
            assert flag in a, (c, flag)


def test_negative_top_is_a_usage_error(corpus, tmp_path, capsys):
    assert main(["split", "--train", str(corpus / "train.jsonl"), "--val", str(corpus / "val.jsonl"),
                 "--top", "-1", "--out", str(tmp_path / "r")]) == 2
    assert "--top" in capsys.readouterr().err


def test_top_bounds_every_listing(corpus, tmp_path, capsys):
    code = main(["split", "--train", str(corpus / "train.jsonl"), "--val", str(corpus / "val.jsonl"),
                 "--eval", str(corpus / "evalset.jsonl"), "--id-column", "id", "--top", "2", "--quiet",
                 "--format", "json", "--out", str(tmp_path / "r")])
    assert code == 1
    doc = json.loads(capsys.readouterr().out)
    lists = [(p, k, v) for p, f in doc["findings"].items() for k, v in f.items() if isinstance(v, list)]
    assert lists and all(len(v) <= 2 for _, _, v in lists), [(p, k, len(v)) for p, k, v in lists]
    assert any(len(v) == 2 for _, _, v in lists)       # more than 2 exist: the bound is what cut them
    md = (tmp_path / "r" / "report.md").read_text()
    for title in ("## Near-duplicate pairs", "## Contained documents", "## Exact leaks"):
        if title in md:
            block = md.split(title, 1)[1].split("\n## ", 1)[0]
            rows = [ln for ln in block.splitlines() if ln.startswith("| ") and "---" not in ln]
            assert len(rows) <= 3, title     # header + 2


def test_config_file_layer(corpus, tmp_path, capsys):
    cfg = tmp_path / "audit.toml"
    cfg.write_text('top = 1\nid-column = "id"\n[near]\nthreshold = 0.9\n')
    base = ["split", "--train", str(corpus / "train.jsonl"), "--val", str(corpus / "val.jsonl"), "--quiet",
            "--format", "json", "--config", str(cfg)]
    main(base + ["--out", str(tmp_path / "a")])
    doc = json.loads(capsys.readouterr().out)
    assert doc["config"]["top"] == 1 and doc["config"]["near"]["threshold"] == 0.9
    assert doc["config"]["read"]["id_column"] == "id"
    main(base + ["--top", "3", "--out", str(tmp_path / "b")])          # a flag beats the file
    assert json.loads(capsys.readouterr().out)["config"]["top"] == 3


def test_config_file_can_hold_required_flags_and_rejects_unknown_keys(corpus, tmp_path, capsys):
    cfg = tmp_path / "a.toml"
    cfg.write_text(f'train = "{corpus / "train.jsonl"}"\nval = "{corpus / "val.jsonl"}"\nout = "{tmp_path / "o"}"\n')
    assert main(["split", "--config", str(cfg), "--quiet"]) == 1
    assert (tmp_path / "o" / "report.json").exists()
    capsys.readouterr()
    bad = tmp_path / "b.toml"
    bad.write_text("treshold = 0.5\n")
    assert main(["split", "--config", str(bad), "--train", "x", "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "'treshold' is not a flag of dataaudit split" in err and err.count("\n") == 1
    nottoml = tmp_path / "c.toml"
    nottoml.write_text("= = =\n")
    assert main(["split", "--config", str(nottoml), "--train", "x", "--out", str(tmp_path / "p")]) == 2
    assert "not valid TOML" in capsys.readouterr().err


@pytest.mark.parametrize("old, new", [("--threshold", "--near-threshold")])
def test_deprecated_alias_warns(corpus, tmp_path, capsys, old, new):
    main(["split", "--train", str(corpus / "train.jsonl"), "--val", str(corpus / "val.jsonl"), old, "0.9",
          "--format", "json", "--quiet", "--out", str(tmp_path / "r")])
    out, err = capsys.readouterr()
    assert f"{old} is deprecated; use {new}" in err
    assert json.loads(out)["config"]["near"]["threshold"] == 0.9


def test_a_model_that_cannot_load_fails_before_any_work(corpus, tmp_path, capsys, monkeypatch):
    args = ["split", "--train", str(corpus / "train.jsonl"), "--val", str(corpus / "val.jsonl"),
            "--out", str(tmp_path / "r")]
    assert main(args + ["--model", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "exact ..." not in err and not (tmp_path / "r").exists()
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "transformers" else real(n, *a))
    assert main(args + ["--model", str(hf)]) == 2                      # a plain install: no transformers
    err = capsys.readouterr().err
    assert "pip install 'dataaudit[hf]'" in err and "exact ..." not in err


def test_repeated_list_flags_add_up_and_a_flag_replaces_the_files_list(tmp_path):
    """``--eval a --eval b`` audits both (argparse's plain store kept only b); ``--log`` the same; a list from
    ``--config`` is replaced by the flag, not extended (defaults < file < flags)."""
    from dataaudit.cli import apply_config_file

    argv = ["split", "--train", "t.jsonl", "--eval", "a.jsonl", "--eval", "b.jsonl", "c.jsonl", "--out", "o"]
    assert build_parser().parse_args(argv).eval == ["a.jsonl", "b.jsonl", "c.jsonl"]
    assert build_parser().parse_args(["split", "--train", "t", "--out", "o"]).eval == []
    spikes = build_parser().parse_args(["spikes", "--log", "r1.txt", "--log", "r2.txt", "--out", "o"])
    assert spikes.log == ["r1.txt", "r2.txt"]
    cfg = tmp_path / "c.toml"
    cfg.write_text('eval = ["f1.jsonl", "f2.jsonl"]\n')
    for extra, want in (([], ["f1.jsonl", "f2.jsonl"]), (["--eval", "x.jsonl"], ["x.jsonl"]),
                        (["--eval", "x.jsonl", "--eval", "y.jsonl"], ["x.jsonl", "y.jsonl"])):
        argv = ["split", "--config", str(cfg), "--train", "t.jsonl", "--out", "o", *extra]
        parser = build_parser()
        apply_config_file(parser, argv)
        assert parser.parse_args(argv).eval == want, extra
