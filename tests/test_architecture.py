"""Who may import whom: the folder listing's promise, checked on every import in the package.

- ``engine`` (the data path) imports neither ``telemetry``, ``instance`` nor ``commands``.
- ``telemetry`` reads the engine through its view (``engine/view.py``) only; it imports neither
  ``instance`` nor ``commands``.
- ``instance`` (the supervisor) never loads the engine, nor aiokafka or pydantic.
- The top-level modules (the public API, settings, header names, logs) import none of them.
- ``processor.testing`` (the test kit for pipelines) runs the engine's handling; it imports
  neither telemetry, the instance nor the commands.
- ``archive`` (``processor archive``) may use the engine's pieces; it imports neither
  ``telemetry``, ``instance`` nor ``commands``. Telemetry reads it through its view only.
- ``commands`` sit on top and may import anything.

Imports under ``if TYPE_CHECKING:`` count too: a cycle for the type checker is still a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "processor"
ROLES = ("engine", "telemetry", "instance", "commands", "archive")
FORBIDDEN = {
    "testing": {"telemetry", "instance", "commands", "archive"},
    "engine": {"telemetry", "instance", "commands", "archive"},
    "telemetry": {"engine", "instance", "commands", "archive"},
    "instance": {"engine", "commands", "archive"},
    "archive": {"telemetry", "instance", "commands"},
    "top": {"engine", "telemetry", "instance", "commands", "archive"},
}
# Telemetry reads the engine and the archiver through their views: the protocols and the plain
# values they name.
ENGINE_VIEW = {
    "processor.engine.view",
    "processor.engine.flow",
    "processor.engine.latency",
    "processor.engine.positions",
    "processor.engine.stats",
    "processor.archive.view",
}
# Crossings not yet removed; the list may only shrink (none left).
KNOWN: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts).removesuffix(".__init__")


def all_modules() -> set[str]:
    return {module_name(path) for path in PACKAGE.rglob("*.py")}


def imports(path: Path) -> set[str]:
    """Every ``processor.*`` module ``path`` imports, anywhere in it (``from package import
    module`` counts as importing that module)."""
    modules = all_modules()
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(
                f"{node.module}.{alias.name}"
                for alias in node.names
                if f"{node.module}.{alias.name}" in modules
            )
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "processor" or name.startswith("processor.")}


def role(module: str) -> str:
    if module == "processor.__main__":
        return "commands"  # ``python -m processor`` is the command line
    if module == "processor.testing":
        return "testing"  # runs the engine's handling in-process, for pipelines' own tests
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in ROLES else "top"


def crossings() -> set[tuple[str, str]]:
    """(importer, imported) pairs that cross a forbidden boundary."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        importer = module_name(path)
        if role(importer) == "top" and importer.count(".") > 1:
            continue  # pipelines/, broker/: leaves of their own
        for imported in imports(path):
            if role(importer) == "telemetry" and imported in ENGINE_VIEW:
                continue
            if role(imported) in FORBIDDEN.get(role(importer), set()):
                found.add((importer, imported))
    return found


def import_graph() -> dict[str, set[str]]:
    return {
        module_name(path): imports(path) - {module_name(path)} for path in PACKAGE.rglob("*.py")
    }


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Groups of modules that import each other, directly or through others (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, set()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_beyond_the_known_crossings() -> None:
    graph = import_graph()
    for importer, imported in KNOWN:
        graph[importer].discard(imported)
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_no_module_imports_across_a_forbidden_boundary() -> None:
    assert crossings() - KNOWN == set()


def test_the_known_crossings_are_still_there_until_they_are_removed_from_the_list() -> None:
    assert KNOWN - crossings() == set(), "a known crossing is gone: take it off KNOWN"


@pytest.mark.parametrize("role_name", ROLES)
def test_each_role_is_a_folder_with_modules(role_name: str) -> None:
    folder = PACKAGE / role_name
    assert (folder / "__init__.py").is_file()
    assert len(list(folder.glob("*.py"))) > 1


def test_the_supervisor_loads_neither_the_engine_nor_its_libraries() -> None:
    probe = (
        "import sys, processor.instance.supervisor; "
        "heavy = ('aiokafka', 'pydantic', 'processor.engine', 'processor.commands'); "
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True,
        cwd=PACKAGE.parent,
    ).stdout.strip()  # fmt: skip
    assert loaded == "[]"
