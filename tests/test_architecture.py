"""Layering rules: handlers and models know no messaging framework."""

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
    from handlers.intake import _STATE_HANDLERS

    diagram = (ROOT / "handlers" / "intake.mmd").read_text(encoding="utf-8")
    states = set(re.findall(r"^\s+(\w+) -->", diagram, re.M)) - {"[*]"}
    assert states == set(_STATE_HANDLERS), states ^ set(_STATE_HANDLERS)
