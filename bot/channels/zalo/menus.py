"""Numbered menus: Zalo has no buttons, so a message's buttons become a short numbered list.

When a message with buttons (or a reply keyboard) is delivered to a Zalo chat, its options
are appended to the text ("1. …", "2. …", "Trả lời 1, 2 hoặc 3") and kept per chat in
`zalo_chat_menu`; every later message replaces them (a message without buttons leaves no
menu). The next text is read against them: "2", the label, the label without accents, a
start of it ("nuoc" for "💧 Nước thải") or its initials ("nt") choose an option, and the
channel hands the core the very event the button would have produced. Keyboard buttons
that ask for the location or the phone number cannot work on Zalo: they are left out and
a note says what to type instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.geo import fold
from bot.i18n import t
from models.tables import ZaloChatMenu
from models.types import utcnow

NUMBER_RE = re.compile(r"^\s*(\d{1,3})\s*[.)]?\s*$")
MIN_PREFIX = 2  # the shortest start of a label taken as that label


@dataclass(frozen=True)
class Option:
    """One choice: its label, and the button data it stands for (None: typed as text)."""

    label: str
    data: str | None


@dataclass(frozen=True)
class OutOfRange:
    """A number that is no option ("7" when there are 3)."""

    number: int
    count: int


def options_of(payload: dict[str, Any]) -> tuple[list[Option], list[str]]:
    """The options of an outbox payload's buttons or keyboard, and the notes for the keys
    Zalo cannot offer ("zalo.no_location", "zalo.no_phone_share")."""
    options: list[Option] = []
    notes: list[str] = []
    for row in payload.get("buttons") or []:
        for button in row:
            options.append(Option(str(button.get("text") or ""), str(button.get("data") or "")))
    if not options:
        for row in payload.get("keyboard") or []:
            for key in row:
                if key.get("request_location"):
                    notes.append("zalo.no_location")
                elif key.get("request_contact"):
                    notes.append("zalo.no_phone_share")
                else:
                    options.append(Option(str(key.get("text") or ""), None))
    return options, notes


def choices_hint(locale: str, count: int) -> str:
    """ "Trả lời 1, 2 hoặc 3" for `count` options."""
    if count == 1:
        return t(locale, "zalo.menu_hint_one")
    numbers = ", ".join(str(n) for n in range(1, count))
    return t(locale, "zalo.menu_hint", first=numbers, last=count)


def render(locale: str, options: list[Option], notes: list[str]) -> str:
    """The text appended to a message: the numbered options, the hint, the notes."""
    parts: list[str] = []
    if options:
        lines = [f"{n}. {option.label}" for n, option in enumerate(options, 1)]
        parts.append("\n".join(lines))
        parts.append(choices_hint(locale, len(options)))
    parts.extend(t(locale, key) for key in dict.fromkeys(notes))
    return "\n\n".join(parts)


def _initials(folded: str) -> str:
    return "".join(word[0] for word in folded.split() if word)


def choose(options: list[Option], text: str) -> int | OutOfRange | None:
    """Which option a text chooses: its index, OutOfRange for a number that is none,
    None when the text is no choice (or an ambiguous one)."""
    if not options:
        return None
    number = NUMBER_RE.match(text)
    if number:
        n = int(number.group(1))
        return n - 1 if 1 <= n <= len(options) else OutOfRange(n, len(options))
    wanted = fold(text)
    if not wanted:
        return None
    labels = [fold(option.label) for option in options]
    exact = [i for i, label in enumerate(labels) if label == wanted]
    if len(exact) == 1:
        return exact[0]
    squeezed = wanted.replace(" ", "")
    joined = [i for i, label in enumerate(labels) if label.replace(" ", "") == squeezed]
    if len(joined) == 1:
        return joined[0]
    if len(wanted) >= MIN_PREFIX:
        prefix = [i for i, label in enumerate(labels) if label.startswith(wanted)]
        if len(prefix) == 1:
            return prefix[0]
        words = [
            i
            for i, label in enumerate(labels)
            if any(w.startswith(wanted) for w in label.split()) and " " not in wanted
        ]
        if len(words) == 1 and len(wanted) >= 3:
            return words[0]
        initials = [i for i, label in enumerate(labels) if _initials(label) == squeezed]
        if len(initials) == 1:
            return initials[0]
    return None


# ---------------------------------------------------------------- the table


async def load(session: AsyncSession, chat_id: str) -> ZaloChatMenu | None:
    """The chat's menu and pending question, if any."""
    return await session.get(ZaloChatMenu, chat_id)


def as_options(row: ZaloChatMenu | None) -> list[Option]:
    """The options kept for a chat."""
    if row is None:
        return []
    return [Option(str(o.get("label") or ""), o.get("data")) for o in row.options or []]


async def offer(
    session: AsyncSession,
    chat_id: str,
    options: list[Option],
    *,
    question: int | None = None,
) -> None:
    """Keep what a delivered message offers the chat (replacing the last menu); a question
    (an officer's, answered by the next text) replaces the pending one."""
    row = await session.get(ZaloChatMenu, chat_id)
    if row is None:
        row = ZaloChatMenu(chat_id=chat_id)
        session.add(row)
    row.options = [{"label": o.label, "data": o.data} for o in options]
    if question is not None:
        row.reply_to = question
    row.updated_at = utcnow()
    await session.flush()


async def answered(session: AsyncSession, chat_id: str, question: int) -> None:
    """The pending question was answered: the next text is no longer its answer."""
    row = await session.get(ZaloChatMenu, chat_id)
    if row is not None and row.reply_to == question:
        row.reply_to = None
        row.updated_at = utcnow()
        await session.flush()
