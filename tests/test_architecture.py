"""Layering rules: handlers and models know no messaging framework; the handlers' imports
have no cycle; the runtime does not import its test doubles."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORKS = ("aiogram", "telegram", "zalo")
# aiohttp is no messaging framework, but handlers have no business with HTTP either; it may
# still be loaded transitively (geopy, under vietnamadminunits, imports it).
DIRECT_BANS = (*FRAMEWORKS, "aiohttp")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_handlers_and_models_import_no_messaging_framework() -> None:
    for package in ("handlers", "models"):
        for path in (ROOT / package).rglob("*.py"):
            bad = _imports(path) & set(DIRECT_BANS)
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_the_inbox_dispatcher_is_channel_neutral() -> None:
    """bot/inbox.py serves every channel: it imports no messaging library."""
    bad = _imports(ROOT / "bot" / "inbox.py") & set(DIRECT_BANS)
    assert not bad, f"bot/inbox.py imports {bad}"


def test_importing_the_core_loads_no_framework_transitively() -> None:
    code = (
        "import sys, handlers.core, handlers.intake, handlers.officer, models.tables, bot.inbox;"
        f"print([m for m in sys.modules if m.split('.')[0] in {FRAMEWORKS!r}])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.strip()
    assert out == "[]", out


def test_flow_diagram_names_every_intake_state() -> None:
    """handlers/intake.mmd is kept next to the code; it must show every state the code has."""
    import handlers.core  # noqa: F401  (registers every conversation state)
    from handlers.conversation import STATES

    diagram = (ROOT / "handlers" / "intake.mmd").read_text(encoding="utf-8")
    states = set(re.findall(r"^\s+(\w+) -->", diagram, re.M)) - {"[*]"}
    assert states == set(STATES), states ^ set(STATES)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """The ids of the nodes under `if TYPE_CHECKING:` (imports there are for types only)."""
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            ids.update(id(child) for child in ast.walk(node))
    return ids


def _handler_modules(node: ast.AST) -> set[str]:
    """The `handlers` modules a statement imports."""
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        if node.module == "handlers":
            return {alias.name for alias in node.names}
        if node.module.startswith("handlers."):
            return {node.module.split(".")[1]}
    if isinstance(node, ast.Import):
        return {
            alias.name.split(".")[1] for alias in node.names if alias.name.startswith("handlers.")
        }
    return set()


def _handlers_graph() -> tuple[dict[str, set[str]], list[str]]:
    """Each handlers module's imports of other handlers modules (TYPE_CHECKING ignored),
    and the function-local imports of handlers modules found."""
    graph: dict[str, set[str]] = {}
    local: list[str] = []
    for path in sorted((ROOT / "handlers").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = _type_checking_nodes(tree)
        graph[path.stem] = {
            name
            for node in ast.walk(tree)
            if id(node) not in typing_only
            for name in _handler_modules(node)
        } - {path.stem}
        for func in ast.walk(tree):
            if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                for node in ast.walk(func):
                    for name in _handler_modules(node):
                        local.append(f"{path.stem}.{func.name} imports handlers.{name}")
    return graph, local


def test_the_handlers_import_graph_has_no_cycle() -> None:
    """Shared pieces live where both sides can import them (case_chats, conversation,
    filing): no handlers module reaches itself through its imports."""
    graph, _ = _handlers_graph()
    assert "intake" in graph and "officer" in graph and "followup" in graph
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done
    cycles: list[list[str]] = []

    def walk(module: str, path: list[str]) -> None:
        state[module] = 1
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == 1:
                cycles.append([*path[path.index(imported) :], imported])
            elif imported not in state:
                walk(imported, [*path, imported])
        state[module] = 2

    for module in graph:
        if module not in state:
            walk(module, [module])
    assert not cycles, cycles


def test_no_handler_imports_another_inside_a_function() -> None:
    """A function-local import is how a cycle hides: none among the handlers."""
    _, local = _handlers_graph()
    assert not local, local


def test_the_runtime_does_not_import_its_fakes() -> None:
    """bot/fakes/ (the fake Bot API) is for tests, the demo and scripts only."""
    allowed = {ROOT / "bot" / "demo.py"}
    for path in (ROOT / "bot").rglob("*.py"):
        if path in allowed or (ROOT / "bot" / "fakes") in path.parents:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            bad = [n for n in names if n == "bot.fakes" or n.startswith("bot.fakes.")]
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
