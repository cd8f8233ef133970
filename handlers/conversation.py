"""The citizen's conversation states: each with its question, its buttons and what it needs.

The report's steps (intake.py), the duplicate choice (duplicates.py) and the modes after
filing (followup.py) register their states here when imported (handlers/core.py imports
them all). Each reaches the others' states only through this registry, never by importing
the module that owns them, so the handlers' imports have no cycle.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot import services
from handlers.context import Turn
from handlers.events import Button, KeyButton

StepHandler = Callable[[Turn, dict[str, Any]], Awaitable[None]]


@dataclass
class Markup:
    """The buttons or keyboard that go with a step's question (and with its reminders)."""

    buttons: list[list[Button]] | None = None
    keyboard: list[list[KeyButton]] | None = None
    remove_keyboard: bool = False


def no_markup(turn: Turn, data: dict[str, Any]) -> Markup:
    """A step answered with free text: no buttons."""
    return Markup()


@dataclass(frozen=True)
class State:
    """A conversation state: what an event does there, its question, buttons and need."""

    handle: StepHandler
    prompt: StepHandler
    need: Callable[[Turn], str]  # what the step needs, said again after unusable input
    markup: Callable[[Turn, dict[str, Any]], Markup] = no_markup


STATES: dict[str, State] = {}


def register(name: str, state: State) -> None:
    """Register a conversation state (once, at import)."""
    assert name not in STATES, name
    STATES[name] = state


async def save_state(turn: Turn, state: str, data: dict[str, Any]) -> None:
    """Store the conversation's state and data (in the turn's transaction)."""
    ev = turn.event
    await services.save_conversation(turn.session, ev.channel, ev.user_id, ev.chat_id, state, data)


async def prompt_step(turn: Turn, state: str, data: dict[str, Any]) -> None:
    """Ask the question of `state`."""
    registered = STATES.get(state)
    if registered is not None:
        await registered.prompt(turn, data)


def step_markup(turn: Turn, state: str, data: dict[str, Any]) -> Markup:
    """The buttons or keyboard of `state`."""
    registered = STATES.get(state)
    return registered.markup(turn, data) if registered is not None else Markup()


# What was wrong with an input the step cannot use, said before what the step needs.
UNSUPPORTED_LEAD = {
    "sticker": "intake.got_sticker",
    "animation": "intake.got_animation",
    "poll": "intake.got_poll",
    "dice": "intake.got_dice",
}
BEFORE_EVIDENCE = ("category", "location", "ward")


def lead_key(turn: Turn, state: str | None) -> str | None:
    """What is wrong with this input at `state` (None: idle), or None when the step's need
    says it all (a text where a button is due, for instance)."""
    ev = turn.event
    if ev.kind == "unsupported":
        return UNSUPPORTED_LEAD.get(ev.unsupported_kind or "", "intake.got_unsupported")
    if ev.kind == "button":
        return "intake.got_old_button"
    if ev.kind == "command":
        return "intake.command_other_bot" if ev.other_bot else "intake.unknown_command"
    if ev.kind == "media":
        if state is None or state in BEFORE_EVIDENCE:
            return "intake.got_media_early"
        return "intake.got_media_late"
    if ev.kind == "text" and not (ev.text or "").strip():
        return "intake.got_empty"
    if state is None:
        return None
    if ev.kind == "location":
        return "intake.got_location"
    if ev.kind == "contact":
        return "intake.got_contact"
    return None


async def refuse(turn: Turn, state: str, data: dict[str, Any], lead: str | None = None) -> None:
    """An input this step cannot use: one message saying what was wrong with it (`lead`,
    else from the kind of input) and what the step needs, with the step's buttons again.
    Nothing of what the person sent is quoted back."""
    if turn.event.kind == "button":
        turn.answer("intake.stale_button")
    if lead is None:
        key = lead_key(turn, state)
        lead = turn.text(key) if key else None
    parts = [lead] if lead else []
    registered = STATES.get(state)
    if registered is not None:
        parts.append(registered.need(turn))
    markup = step_markup(turn, state, data)
    await turn.send(
        "\n".join(parts),
        raw=True,
        buttons=markup.buttons,
        keyboard=markup.keyboard,
        remove_keyboard=markup.remove_keyboard,
    )
