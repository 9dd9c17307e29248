"""The house rules that keep the code navigable, checked from the source (as sqlite-utils tests its docs):
no import cycles (imports inside functions count), no oversized modules, and every flag named in an error
message or hint exists on a command that can print it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "dataaudit"


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """module -> dataaudit modules it imports anywhere in its body (functions included)."""
    graph: dict[str, set[str]] = {}
    for mod, path in MODULES.items():
        is_pkg = path.name == "__init__.py"
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(mod, is_pkg, node)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
            for t in targets:
                while t and t not in MODULES:          # `import a.b.c` of a name inside a module
                    t = t.rpartition(".")[0]
                if t.startswith("dataaudit") and t != mod:
                    deps.add(t)
        graph[mod] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _without_package_inits(graph):
    """Importing ``a.b.c`` runs ``a/__init__`` too, but a package that only re-exports is not a dependency of
    the modules inside it: drop edges from a package to its own submodules' importers' parents."""
    return {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}


def test_cycle_detector_finds_a_planted_cycle():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(g) == [["a", "b", "c"]]


def test_no_import_cycles():
    graph = _without_package_inits(import_graph())
    assert "dataaudit.passes.score" in graph or "dataaudit.passes.score.run" in graph
    assert _cycles(graph) == []


def test_model_does_not_import_the_scorer():
    graph = import_graph()
    for m, deps in graph.items():
        if m.startswith("dataaudit.model"):
            assert not any(d.startswith("dataaudit.passes") for d in deps), (m, deps)


def test_passes_write_no_prose_and_do_not_print():
    for mod, path in MODULES.items():
        if mod.startswith(("dataaudit.passes", "dataaudit.logs", "dataaudit.forensics", "dataaudit.api")):
            src = path.read_text()
            assert "sections=" not in src and "print(" not in src, mod


@pytest.mark.parametrize("mod", sorted(MODULES))
def test_module_size(mod):
    n = len(MODULES[mod].read_text().splitlines())
    assert n <= 500, f"{mod} has {n} lines; split it by concern"


def _command_flags() -> dict[str, set[str]]:
    from dataaudit.cli import build_parser

    p = build_parser()
    sub = next(a for a in p._actions if a.dest == "command")
    return {name: {o for a in sp._actions for o in a.option_strings} for name, sp in sub.choices.items()}


def _reaching(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """module -> commands whose module imports it (transitively)."""
    out: dict[str, set[str]] = {}
    for cmd in _command_flags():
        seen, todo = set(), [f"dataaudit.commands.{cmd}"]
        while todo:
            m = todo.pop()
            if m in seen:
                continue
            seen.add(m)
            todo += [d for d in graph.get(m, ()) if not d.startswith("dataaudit.commands.") or d.split(".")[-1].startswith("_")]
        for m in seen:
            out.setdefault(m, set()).add(cmd)
    return out


def _raise_messages(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and node.exc is not None:
            for sub in ast.walk(node.exc):
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    out.append(sub.value)
    return out


def test_flags_named_in_errors_exist_on_the_commands_that_raise_them():
    graph = _without_package_inits(import_graph())
    flags = _command_flags()
    reach = _reaching(graph)
    problems = []
    checked = 0
    for mod, path in MODULES.items():
        cmds = reach.get(mod, set())
        for msg in _raise_messages(path):
            for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", msg):
                checked += 1
                if not cmds:
                    if not any(flag in f for f in flags.values()):
                        problems.append(f"{mod}: {flag} is no flag of any command")
                    continue
                missing = sorted(c for c in cmds if flag not in flags[c])
                if missing:
                    problems.append(f"{mod}: {flag} (reached by {sorted(cmds)}) is not a flag of {missing}")
    assert checked > 20
    assert problems == []
