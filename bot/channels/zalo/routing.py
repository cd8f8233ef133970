"""What the inbox needs of a raw Zalo update, read from the JSON alone.

A Zalo update is `{"event_name", "message": {...}}`, sometimes wrapped in the envelope
`{"ok": true, "result": {...}}`: both are accepted. It carries no update id: the channel
numbers updates itself from the platform's clock (`update_id`: the message's `date` in
milliseconds times 10^6 plus a hash of event_name:message_id, so the same update always
gets the same id and a chat's updates keep their order; `UpdateSequence`, our own clock,
when a payload has no date) and recognises a redelivery by (event_name, message_id)
(`dedupe_key`, unique in the inbox).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from typing import Any

from bot.channels.base import Route

CHANNEL = "zalo"
EVENTS = (
    "message.text.received",
    "message.image.received",
    "message.sticker.received",
    "message.unsupported.received",
)
DEDUPE_MAX = 128


def event_of(raw: Any) -> dict[str, Any] | None:
    """The event in a raw update, wrapped in `{ok, result}` or bare (None: no event)."""
    if not isinstance(raw, dict):
        return None
    if "event_name" not in raw and isinstance(raw.get("result"), dict):
        raw = raw["result"]
    return raw if isinstance(raw.get("event_name"), str) else None


def message_of(event: dict[str, Any]) -> dict[str, Any]:
    """The event's message (an empty dict when it has none)."""
    message = event.get("message")
    return message if isinstance(message, dict) else {}


def _str_id(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int)):
        text = str(value).strip()
        return text[:64] or None
    return None


def sender_id(message: dict[str, Any]) -> str | None:
    """The sender's id (a string on Zalo)."""
    sender = message.get("from")
    return _str_id(sender.get("id")) if isinstance(sender, dict) else None


def chat_of(message: dict[str, Any]) -> tuple[str | None, str]:
    """The chat's id (the sender's id when the chat is missing) and its type."""
    chat = message.get("chat")
    chat = chat if isinstance(chat, dict) else {}
    chat_type = str(chat.get("chat_type") or "PRIVATE").upper()
    return _str_id(chat.get("id")) or sender_id(message), chat_type


def dedupe_key(raw: Any) -> str | None:
    """ "<event_name>:<message_id>", what identifies a redelivery (None without an id)."""
    event = event_of(raw)
    if event is None:
        return None
    message_id = _str_id(message_of(event).get("message_id"))
    if message_id is None:
        return None
    return f"{event['event_name']}:{message_id}"[:DEDUPE_MAX]


def route_update(raw: Any) -> Route:
    """The routing facts of a raw Zalo update: the private chat it belongs to, whether it
    carries an image the core downloads at once. Groups (still in internal testing on
    Zalo) are refused before storing: officers work on Telegram."""
    event = event_of(raw)
    if event is None:
        return Route(None, None, None, None, None, False)
    message = message_of(event)
    chat_key, chat_type = chat_of(message)
    name = str(event["event_name"])
    has_files = name == "message.image.received" and bool(
        message.get("photo_url") or message.get("photo")
    )
    return Route(
        chat_key,
        None,
        name,
        "private" if chat_type == "PRIVATE" else "group",
        None,
        False,
        has_files,
        dedupe_key(raw),
    )


HASH_SPACE = 10**6  # ids per millisecond: two updates of one ms clash once in a million
MAX_DATE_MS = 10**13  # beyond the year 2286: not a date in milliseconds


def update_id(raw: Any) -> int | None:
    """The inbox id of a raw update: the same for the same update (a redelivery too),
    increasing with its date (None: no event)."""
    event = event_of(raw)
    if event is None:
        return None
    message = message_of(event)
    date, key = message.get("date"), dedupe_key(raw)
    if isinstance(date, int) and not isinstance(date, bool) and 0 < date < MAX_DATE_MS and key:
        digest = hashlib.sha256(key.encode()).digest()
        return date * HASH_SPACE + int.from_bytes(digest[:8], "big") % HASH_SPACE
    return SEQUENCE.next()


class UpdateSequence:
    """Inbox ids for updates that have none: increasing in arrival order, from the clock.

    Microseconds since the epoch times 1000, plus the process id modulo 1000, so that two
    processes (webhook workers) never draw the same id in the same microsecond; never less
    than the previous id + 1 in this process.
    """

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()
        self._pid = os.getpid() % 1000

    def next(self) -> int:
        """The next id."""
        with self._lock:
            now = time.time_ns() // 1000 * 1000 + self._pid
            self._last = max(self._last + 1000, now)
            return self._last


SEQUENCE = UpdateSequence()
