"""The layout's rules, checked over the import graph (read from the source, nothing imported).

- `subscribers` and `schedules` are libraries: they import neither `digest` nor each other, and
  digest imports only what their `__init__` lists in `__all__`: `from subscribers import audience`
  or `from subscribers.audience import Reader` when `audience` is listed, never an unlisted module
  (`subscribers.models`, `schedules.leases`) nor a name with a leading underscore.
- `digest`'s packages (content, editions, render, mail, delivery, events, stats, web, cli, and
  each root module) import one another without a cycle, counting imports inside functions too.
- Imports go down: a unit imports only units on lines above its own in the layer order below
  (units on one line import none of each other). Every unit is on a line: a new package or root
  module takes its place here, in the one copy of the order, which this test reads.
- No click command runs SQL: a `digest/cli/` module imports from sqlalchemy or sqlmodel only
  `sqlalchemy.exc` (errors it translates) and `sqlalchemy.engine` (the `Engine` type), so no query
  construct (select, insert, update, delete, text) is in reach, and calls nothing named execute,
  exec, scalar, scalars, query, select or text (as a function or a method, on a session, a
  connection or anything else): queries are the library's, behind a function.
- The web app (`digest.web` and every module in it, imported in a fresh interpreter) loads neither
  APScheduler nor the send loop (`digest.delivery.engine`, `.send`) nor `digest.jobs`.
- An import inside a function says why in a comment beside it (start-up time, an optional part).

The layer order, lowest first:

    subscribers schedules
    digest digest.errors digest.language digest.timeutil digest.words
    digest.envfile
    digest.settings digest.store digest.weeks
    digest.content digest.mail
    digest.editions digest.events
    digest.editors
    digest.render
    digest.delivery
    digest.send_days digest.stats digest.tables
    digest.demo digest.jobs
    digest.doctor
    digest.web
    digest.cli
    digest.__main__

`digest` alone is the package's `__init__` (its version). The libraries, the basics (errors,
time, the env file, settings, the store, weeks), the content and mail beside it, then each flow on the one it
builds on: editions, render, delivery (which reads events for its brake), the figures and the
send-day calendar (`send_days`, which the web app uses without the scheduler), the scheduled
jobs and the demo, the checks of `digest doctor` over all of them, and the two shells on top.
"""

from __future__ import annotations

import ast
import subprocess
import sys
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
    """(imported module, line number, inside a function?, names imported from it) for every absolute
    import in the file (names: () for `import x.y`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def walk(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, in_function, ()) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.module, child.lineno, in_function, tuple(a.name for a in child.names)))
            walk(child, nested)

    walk(tree, False)
    return found


LIBRARIES = ("subscribers", "schedules")
GRAPH: dict[str, dict[str, str]] = defaultdict(dict)  # unit -> {imported unit: "file:line"}
INNER: list[tuple[Path, int]] = []
READ: set[str] = set()  # units whose files were read
USES: list[tuple[str, str, tuple[str, ...]]] = []  # ("file:line", library module, names): digest's imports of them
for _name, _path in _modules():
    READ.add(_unit(_name))
    for _target, _line, _inner, _names in _imports(_path):
        if _inner:
            INNER.append((_path, _line))
        if _name.split(".")[0] == "digest" and _target.split(".")[0] in LIBRARIES:
            USES.append((f"{_path.relative_to(ROOT)}:{_line}", _target, _names))
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


# --- direction: the layer order in this module's docstring ----------------------------------------


def _layer_lines(doc: str) -> list[list[str]]:
    """The units on each line of the order, lowest first: the block after 'The layer order'."""
    block = doc.split("The layer order, lowest first:", 1)[1].strip("\n").split("\n\n", 1)[0]
    return [line.split() for line in block.splitlines()]


LAYER = {unit: depth for depth, line in enumerate(_layer_lines(__doc__)) for unit in line}  # unit -> line


def _wrong_way(graph: dict[str, dict[str, str]], layer: dict[str, int]) -> dict[str, str]:
    """'a -> b': where, for every import of a unit on a line not below the importer's."""
    return {
        f"{unit} -> {target}": where
        for unit, targets in graph.items()
        for target, where in targets.items()
        if layer[target] >= layer[unit]
    }


def test_the_layer_order_places_every_unit_once():
    named = [unit for line in _layer_lines(__doc__) for unit in line]
    assert len(_layer_lines(__doc__)) > 10
    assert len(named) == len(set(named))
    assert set(LAYER) == READ  # a unit read but not placed (or placed but gone) says where it goes here


def test_imports_go_down_the_layer_order():
    assert _wrong_way(GRAPH, LAYER) == {}


def test_the_direction_check_sees_an_import_going_up():
    planted = {unit: dict(targets) for unit, targets in GRAPH.items()}
    planted["digest.render"]["digest.delivery"] = "made up for this test"  # render would import delivery
    planted["digest.content"]["digest.mail"] = "made up too"  # two units on one line
    assert _wrong_way(planted, LAYER) == {
        "digest.render -> digest.delivery": "made up for this test",
        "digest.content -> digest.mail": "made up too",
    }


# --- digest uses only what the libraries export ---------------------------------------------------


def _exports(library: str) -> set[str]:
    """The names in the library's `__all__`, read from its `__init__.py`."""
    tree = ast.parse((ROOT / library / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return set()


EXPORTS = {library: _exports(library) for library in LIBRARIES}


def _private_uses(uses, exports: dict[str, set[str]]) -> list[str]:
    """The imports that reach past a library's `__all__`.

    `import LIB` is fine; `from LIB import NAME` needs NAME in `__all__`; `LIB.MODULE...` (as
    `import LIB.MODULE` or `from LIB.MODULE import NAME`) needs MODULE in `__all__` (a public module)
    and no imported name with a leading underscore.
    """
    wrong = []
    for where, module, names in uses:
        library, *path = module.split(".")
        if not path:
            reached = [n for n in names if n not in exports[library]]
        else:
            reached = [module] if path[0] not in exports[library] else [n for n in names if n.startswith("_")]
        wrong.extend(f"{where}: {module} {name}" for name in reached)
    return wrong


def test_the_libraries_export_something():
    assert {"Scheduler", "WeeklySchedule"} <= EXPORTS["schedules"]
    assert {"audience", "service", "links"} <= EXPORTS["subscribers"]
    assert any(module == "subscribers" for _, module, _ in USES)


def test_digest_imports_only_what_the_libraries_export():
    assert _private_uses(USES, EXPORTS) == []


def test_the_export_check_sees_a_private_module_or_name():
    planted = [
        ("made/up.py:1", "schedules.leases", ("current",)),  # a module schedules does not list
        ("made/up.py:2", "subscribers.models", ("Subscriber",)),
        ("made/up.py:3", "schedules", ("leases",)),  # the same module, by its package
        ("made/up.py:4", "subscribers.audience", ("_private",)),  # a listed module's private name
        ("made/up.py:5", "subscribers.audience", ("Reader",)),  # fine
        ("made/up.py:6", "schedules", ("Scheduler",)),  # fine
    ]
    assert _private_uses(planted, EXPORTS) == [
        "made/up.py:1: schedules.leases schedules.leases",
        "made/up.py:2: subscribers.models subscribers.models",
        "made/up.py:3: schedules leases",
        "made/up.py:4: subscribers.audience _private",
    ]


# --- what the web app loads -----------------------------------------------------------------------

_LOADED = """
import importlib, pkgutil, sys
import digest.web
for module in pkgutil.iter_modules(digest.web.__path__):  # every router, as create_app mounts them
    importlib.import_module("digest.web." + module.name)
print(" ".join(sorted(set(sys.argv[1:]) & set(sys.modules))))
"""


def test_the_web_app_loads_neither_the_scheduler_nor_the_send_loop():
    """A reader's "next edition" comes from digest.send_days: `digest serve` without the scheduler
    loads neither APScheduler nor the send loop (checked in a fresh interpreter)."""
    unwanted = ["apscheduler", "digest.delivery.engine", "digest.delivery.send", "digest.jobs", "schedules.runner"]
    loaded = subprocess.run(
        [sys.executable, "-c", _LOADED, *unwanted], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert loaded.stdout.split() == []


# --- no click command runs SQL --------------------------------------------------------------------

SQL_CALLS = {"execute", "exec", "scalar", "scalars", "query", "select", "text"}
SQL_IMPORTS_ALLOWED = {"sqlalchemy.exc", "sqlalchemy.engine"}


def _sql_in(source: str, name: str) -> list[str]:
    """'name:line: what' for each import of a query construct and each call of a SQL verb in the source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module]
        else:
            modules = []
        for module in modules:
            if module.split(".")[0] in ("sqlalchemy", "sqlmodel") and module not in SQL_IMPORTS_ALLOWED:
                found.append(f"{name}:{node.lineno}: imports {module}")
        if isinstance(node, ast.Call):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if called in SQL_CALLS:
                found.append(f"{name}:{node.lineno}: calls {called}()")
    return sorted(found, key=lambda line: (int(line.split(":")[1]), line))


def test_no_click_command_runs_sql():
    found = []
    for path in sorted((ROOT / "digest" / "cli").glob("*.py")):
        found.extend(_sql_in(path.read_text(encoding="utf-8"), path.name))
    assert found == []


def test_the_sql_check_sees_a_query_in_a_command():
    planted = """
import sqlalchemy as sa
from sqlmodel import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.engine import Engine
rows = session.exec(select(Delivery)).all()
count = connection.execute(sa.text("SELECT 1")).scalar()
"""
    assert _sql_in(planted, "planted.py") == [
        "planted.py:2: imports sqlalchemy",
        "planted.py:3: imports sqlmodel",
        "planted.py:6: calls exec()",
        "planted.py:6: calls select()",
        "planted.py:7: calls execute()",
        "planted.py:7: calls scalar()",
        "planted.py:7: calls text()",
    ]
