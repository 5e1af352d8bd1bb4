"""The layout's rules, checked over the import graph (read from the source, nothing imported).

- `subscribers` and `schedules` are libraries: they import neither `digest` nor each other.
- `digest`'s packages (content, editions, render, mail, delivery, events, stats, web, cli, and
  each root module) import one another without a cycle, counting imports inside functions too.
- An import inside a function says why in a comment beside it (start-up time, an optional part).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("digest", "subscribers", "schedules")


def _unit(module: str) -> str:
    """`digest.delivery.ledger` -> `digest.delivery`; a root module is its own unit; libraries are one each."""
    parts = module.split(".")
    if parts[0] != "digest" or len(parts) == 1:
        return parts[0]
    return ".".join(parts[:2])


def _modules():
    for top in OURS:
        for path in sorted((ROOT / top).rglob("*.py")):
            if "migrations" in path.parts:  # Alembic scripts: run by Alembic, not imported by us
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            yield name, path


def _imports(path: Path):
    """(imported module, line number, inside a function?) for every absolute import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def walk(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.module, child.lineno, in_function))
            walk(child, nested)

    walk(tree, False)
    return found


GRAPH: dict[str, dict[str, str]] = defaultdict(dict)  # unit -> {imported unit: "file:line"}
INNER: list[tuple[Path, int]] = []
READ: set[str] = set()  # units whose files were read
for _name, _path in _modules():
    READ.add(_unit(_name))
    for _target, _line, _inner in _imports(_path):
        if _inner:
            INNER.append((_path, _line))
        if _target.split(".")[0] in OURS and _unit(_target) != _unit(_name):
            GRAPH[_unit(_name)].setdefault(_unit(_target), f"{_path.relative_to(ROOT)}:{_line}")


def test_the_graph_was_read():
    assert {"digest.content", "digest.delivery", "digest.cli", "subscribers", "schedules"} <= READ
    assert {"digest.content", "digest.delivery", "digest.cli"} <= set(GRAPH)


@pytest.mark.parametrize("library", ["subscribers", "schedules"])
def test_a_library_imports_nothing_of_digest_or_the_other_library(library):
    wrong = {unit: where for unit, where in GRAPH[library].items() if unit.split(".")[0] in OURS}
    assert wrong == {}


def _cycle_through(start: str) -> list[str] | None:
    """A path start -> ... -> start in the unit graph, or None."""
    stack, seen = [(start, [start])], set()
    while stack:
        unit, path = stack.pop()
        for target in GRAPH.get(unit, {}):
            if target == start:
                return path + [start]
            if target not in seen:
                seen.add(target)
                stack.append((target, path + [target]))
    return None


def test_digest_packages_import_each_other_without_a_cycle():
    cycles = {}
    for unit in sorted(GRAPH):
        path = _cycle_through(unit)
        if path:
            cycles[unit] = " -> ".join(f"{a} ({GRAPH[a][b]})" for a, b in zip(path, path[1:]))
    assert cycles == {}


def test_an_import_inside_a_function_says_why():
    silent = []
    for path, line in INNER:
        lines = path.read_text(encoding="utf-8").splitlines()
        near = lines[max(0, line - 4) : line]  # the import's own line and the three above it
        if not any("#" in text for text in near):
            silent.append(f"{path.relative_to(ROOT)}:{line}: {lines[line - 1].strip()}")
    assert silent == []


def test_the_layering_test_sees_a_cycle_when_there_is_one():
    GRAPH["digest.mail"]["digest.delivery"] = "made up for this test"
    try:
        assert _cycle_through("digest.mail") is not None
    finally:
        del GRAPH["digest.mail"]["digest.delivery"]
