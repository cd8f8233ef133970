"""A fake Telegram Bot API server for end-to-end tests and the offline demo.

The real aiogram client talks to it over HTTP on 127.0.0.1::

    api = FakeBotAPI()
    await api.start()
    bot = api.create_bot()  # aiogram.Bot pointed at the fake
    user = FakeUser(1001)
    api.send_text(user, "/start")
    reply = await api.wait_for_message(user.id)

Behaviour follows the real Bot API where it matters for bugs: HTML/MarkdownV2 parse errors,
"message is not modified", text/caption length limits, 64-byte callback_data, unknown chats,
blocked users, file size limits for getFile and the persistent ``allowed_updates`` filter.

Faults, for testing delivery (none applies the call, so "exactly once" can be checked):

- ``fail_next(method, status=..., description=...)``: the next calls of a method fail with
  that error; ``kind="timeout"`` holds the request until the client gives up (never
  answering it), ``kind="disconnect"`` drops the connection without an answer.
- ``fault_rate`` / ``fault_seed`` / ``fault_kinds``: that share of send*/edit* calls fails
  at random, drawn from a seeded generator, with the kinds weighted as in ``fault_kinds``
  (``"5xx"``, ``"429"``, ``"timeout"``, ``"disconnect"``). ``faults`` counts them by kind.
- ``enforce_rate_limits(...)``: Telegram's flood control: too many messages to one chat,
  one group or overall are refused with 429 and a retry_after (``rate_limited`` counts
  them). An album of N items counts as N messages; edits count as messages.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
import logging
import math
import mimetypes
import random
import re
import struct
import time
import zlib
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web

if TYPE_CHECKING:
    from aiogram import Bot, Dispatcher

__all__ = ["FAULT_KINDS", "ApiCall", "FakeBotAPI", "FakeChat", "FakeUser", "tiny_png"]

logger = logging.getLogger(__name__)

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024
MAX_UPLOAD_SIZE = 50 * 1024 * 1024
DEFAULT_UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# Form fields that are free text: never JSON-decoded even if they look like numbers.
_TEXT_FIELDS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "url",
        "title",
        "description",
        "short_description",
        "file_id",
        "emoji",
        "action",
        "question",
        "address",
        "first_name",
        "last_name",
        "phone_number",
        "vcard",
        "name",
        "language_code",
        "business_connection_id",
        "message_effect_id",
        "foursquare_id",
        "foursquare_type",
        "google_place_id",
        "google_place_type",
        "performer",
        "photo",
        "document",
        "video",
        "audio",
        "voice",
        "animation",
        "sticker",
        "video_note",
        "thumbnail",
        "cover",
        "payload",
        "secret_token",
        "ip_address",
    }
)
_MEDIA_SENDS = {
    "sendPhoto": "photo",
    "sendDocument": "document",
    "sendVideo": "video",
    "sendAudio": "audio",
    "sendVoice": "voice",
    "sendAnimation": "animation",
    "sendSticker": "sticker",
    "sendVideoNote": "video_note",
}
_CONTENT_KEYS = (
    "text",
    "entities",
    "photo",
    "document",
    "video",
    "audio",
    "voice",
    "animation",
    "sticker",
    "video_note",
    "caption",
    "caption_entities",
    "location",
    "contact",
    "venue",
)
_FILE_FOLDERS = {
    "photo": "photos",
    "document": "documents",
    "video": "videos",
    "audio": "music",
    "voice": "voice",
    "animation": "animations",
    "sticker": "stickers",
    "video_note": "video_notes",
}
_REQUEST_BUTTON_KEYS = (
    "request_location",
    "request_contact",
    "request_users",
    "request_chat",
    "request_poll",
    "web_app",
)
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
_WRONG_FILE = "Bad Request: wrong file identifier/HTTP URL specified"
FAULT_KINDS = ("5xx", "429", "timeout", "disconnect")
# Methods that send or change a message: subject to random faults and to flood control.
_NOT_MESSAGES = frozenset({"sendchataction"})


# --------------------------------------------------------------------------- public models


@dataclass
class FakeUser:
    """A simulated Telegram user."""

    id: int
    first_name: str = "Dân"
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "vi"

    def to_dict(self) -> dict[str, Any]:
        """Return the Telegram ``User`` object."""
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data

    def private_chat(self) -> dict[str, Any]:
        """Return the Telegram ``Chat`` object of the private chat with this user."""
        data: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        for key in ("last_name", "username"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data


@dataclass
class FakeChat:
    """A simulated group, supergroup or channel (use negative ids)."""

    id: int
    type: str = "private"
    title: str | None = None
    is_forum: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the Telegram ``Chat`` object."""
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.title is not None:
            data["title"] = self.title
        if self.is_forum:
            data["is_forum"] = True
        return data


@dataclass
class ApiCall:
    """One Bot API request the bot made and what the fake answered."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    filenames: dict[str, str] = field(default_factory=dict)
    result: Any = None
    ok: bool = True
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    time: float = 0.0
    duration: float = 0.0

    @property
    def chat_id(self) -> Any:
        """Return the ``chat_id`` parameter, if any."""
        return self.params.get("chat_id")

    def file(self, ref: str) -> bytes | None:
        """Return the uploaded bytes for an ``attach://name`` reference or a part name."""
        return self.files.get(ref.removeprefix("attach://"))

    def __str__(self) -> str:
        """Return a one-line description of the call."""
        shown = {k: v for k, v in self.params.items() if k not in ("reply_markup", "media")}
        outcome = "ok" if self.ok else f"{self.status} {self.error}"
        return f"{self.method}({json.dumps(shown, ensure_ascii=False)[:200]}) -> {outcome}"


class ApiError(Exception):
    """An error answer of the fake API (``ok: false``), or a fault with no answer at all."""

    def __init__(
        self,
        status: int,
        description: str,
        retry_after: int | None = None,
        *,
        kind: str = "error",
    ) -> None:
        """Store the HTTP status / error_code, description and optional retry_after.

        ``kind``: ``"error"`` (an answer), ``"timeout"`` (the request is held until the
        client gives up) or ``"disconnect"`` (the connection is dropped).
        """
        super().__init__(f"{status} {description}")
        self.status = status
        self.description = description
        self.retry_after = retry_after
        self.kind = kind


class _FloodControl:
    """Telegram's flood limits, as ``enforce_rate_limits`` configures them.

    Per chat: a message every ``interval`` seconds, ``burst`` of them back to back. Per group
    chat (negative id) and overall: at most n messages in any window of w seconds.
    """

    def __init__(
        self,
        interval: float | None,
        burst: int,
        group: tuple[int, float] | None,
        overall: tuple[int, float] | None,
    ) -> None:
        self.interval = interval
        self.burst = burst
        self.group = group
        self.overall = overall
        self._next_free: dict[int, float] = {}  # chat -> theoretical time of its next message
        self._group_log: dict[int, list[float]] = {}
        self._overall_log: list[float] = []

    @staticmethod
    def _window_wait(log: list[float], limit: tuple[int, float], cost: int, now: float) -> float:
        size, window = limit
        log[:] = [stamp for stamp in log if stamp > now - window]
        if not log or len(log) + cost <= size:
            return 0.0
        drop = len(log) if cost > size else len(log) + cost - size
        return sorted(log)[drop - 1] + window - now

    def wait(self, chat_id: int, cost: int, now: float) -> float:
        """Seconds until this send would be allowed (0: allowed now)."""
        waits = [0.0]
        if self.interval:
            due = self._next_free.get(chat_id, -math.inf) - (self.burst - 1) * self.interval
            waits.append(due - now - 1e-6)
        if self.group and chat_id < 0:
            log = self._group_log.setdefault(chat_id, [])
            waits.append(self._window_wait(log, self.group, cost, now))
        if self.overall:
            waits.append(self._window_wait(self._overall_log, self.overall, cost, now))
        return max(waits)

    def count(self, chat_id: int, cost: int, now: float) -> None:
        """Count an applied send of ``cost`` messages."""
        if self.interval:
            free = max(self._next_free.get(chat_id, -math.inf), now)
            self._next_free[chat_id] = free + cost * self.interval
        if self.group and chat_id < 0:
            self._group_log.setdefault(chat_id, []).extend([now] * cost)
        if self.overall:
            self._overall_log.extend([now] * cost)


def _bad(description: str) -> ApiError:
    """Build a 400 error with the usual ``Bad Request:`` prefix."""
    return ApiError(400, f"Bad Request: {description}")


@dataclass
class _StoredFile:
    """A file the fake knows about and can serve for download."""

    file_id: str
    file_unique_id: str
    kind: str
    data: bytes
    file_size: int
    file_path: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Entry:
    """A message in a chat log, sent either by the bot or by a simulated person."""

    message: dict[str, Any]
    from_bot: bool
    deleted: bool = False


@dataclass
class _Params:
    """Decoded parameters and uploaded files of one request."""

    values: dict[str, Any]
    files: dict[str, bytes]
    filenames: dict[str, str]

    def get(self, key: str, default: Any = None) -> Any:
        """Return a parameter value."""
        return self.values.get(key, default)

    def require(self, key: str) -> Any:
        """Return a parameter value or fail like Telegram does when it is missing."""
        value = self.values.get(key)
        if value is None or value == "":
            raise _bad(f"{key} is empty")
        return value


# --------------------------------------------------------------------------- text formatting


def _u16(text: str) -> int:
    """Return the length of ``text`` in UTF-16 code units (Telegram offsets)."""
    return len(text.encode("utf-16-le")) // 2


_SPACES = frozenset(" \t\r\n\v\f\0")
_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_HTML_SIMPLE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
# As Telegram (tdlib's decode_html_entity): the ";" is optional, hex references take a
# lower-case "x", and a reference that names no character is kept as literal text.
_HTML_ENTITY = re.compile(r"&(?:#x([0-9a-fA-F]{1,16})|#([0-9]{1,16})|([a-zA-Z]+));?")


class _ParseError(Exception):
    """Raised by the formatting parsers with Telegram's wording."""


def _decode_html_entity(text: str, pos: int) -> tuple[str, int] | None:
    """Decode an HTML entity at ``pos``; return (character, consumed length) or None."""
    match = _HTML_ENTITY.match(text, pos)
    if match is None:
        return None
    hexa, dec, name = match.groups()
    if name is not None:
        char = _HTML_NAMED.get(name)
        return (char, match.end() - pos) if char is not None else None
    code = int(dec) if dec is not None else int(hexa, 16)
    if code == 0 or code >= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), match.end() - pos


def _parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into plain text and entities, raising like Telegram does."""
    out: list[str] = []
    u16 = 0
    entities: list[dict[str, Any]] = []
    # stack items: [tag, argument, utf16 start, expandable, pre language]
    stack: list[list[Any]] = []
    n = len(text)
    i = 0

    def byte_offset(pos: int) -> int:
        return len(text[:pos].encode())

    def unclosed(begin: int) -> _ParseError:
        return _ParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")

    while i < n:
        char = text[i]
        if char == "&":
            decoded = _decode_html_entity(text, i)
            if decoded is not None:
                out.append(decoded[0])
                u16 += _u16(decoded[0])
                i += decoded[1]
                continue
        if char != "<":
            out.append(char)
            u16 += _u16(char)
            i += 1
            continue
        begin = i
        if i + 1 < n and text[i + 1] == "/":
            if not stack:
                raise _ParseError(f"Unexpected end tag at byte offset {byte_offset(begin)}")
            i += 2
            name_start = i
            while i < n and text[i] not in _SPACES and text[i] != ">":
                i += 1
            end_name = text[name_start:i].lower()
            while i < n and text[i] in _SPACES:
                i += 1
            if i >= n or text[i] != ">":
                raise _ParseError(f"Unclosed end tag at byte offset {byte_offset(begin)}")
            i += 1
            tag, argument, start, expandable, language = stack.pop()
            if end_name and end_name != tag:
                raise _ParseError(
                    f"Unmatched end tag at byte offset {byte_offset(begin)}, "
                    f'expected "</{tag}>", found "</{end_name}>"'
                )
            length = u16 - start
            if tag == "code" and argument and stack and stack[-1][0] == "pre":
                stack[-1][4] = argument
                continue
            if length <= 0:
                continue
            entity: dict[str, Any] = {"offset": start, "length": length}
            if tag in _HTML_SIMPLE:
                entity["type"] = _HTML_SIMPLE[tag]
            elif tag == "a":
                if not argument:
                    continue
                entity.update(type="text_link", url=argument)
            elif tag == "code":
                entity["type"] = "code"
            elif tag == "pre":
                entity["type"] = "pre"
                if language:
                    entity["language"] = language
            elif tag == "blockquote":
                entity["type"] = "expandable_blockquote" if expandable else "blockquote"
            else:  # tg-emoji
                entity.update(type="custom_emoji", custom_emoji_id=argument)
            entities.append(entity)
            continue
        # start tag
        i += 1
        name_start = i
        while i < n and text[i] not in _SPACES and text[i] != ">":
            i += 1
        if i >= n:
            raise unclosed(begin)
        tag = text[name_start:i].lower()
        if tag not in _HTML_TAGS:
            raise _ParseError(f'Unsupported start tag "{tag}" at byte offset {byte_offset(begin)}')
        argument = ""
        expandable = False
        while True:
            while i < n and text[i] in _SPACES:
                i += 1
            if i >= n:
                raise unclosed(begin)
            if text[i] == ">":
                i += 1
                break
            attr_start = i
            while i < n and text[i] not in _SPACES and text[i] not in "=>":
                i += 1
            attribute = text[attr_start:i].lower()
            if not attribute:
                raise _ParseError(
                    f'Empty attribute name in the tag "{tag}" at byte offset {byte_offset(begin)}'
                )
            while i < n and text[i] in _SPACES:
                i += 1
            if i >= n:
                raise unclosed(begin)
            if text[i] != "=":
                if tag == "blockquote" and attribute == "expandable":
                    expandable = True
                    continue
                raise _ParseError(
                    "Expected equal sign in declaration of an attribute of the tag "
                    f'"{tag}" at byte offset {byte_offset(begin)}'
                )
            i += 1
            while i < n and text[i] in _SPACES:
                i += 1
            if i >= n:
                raise unclosed(begin)
            if text[i] in "'\"":
                quote = text[i]
                i += 1
                value_chars: list[str] = []
                while i < n and text[i] != quote:
                    if text[i] == "&":
                        decoded = _decode_html_entity(text, i)
                        if decoded is not None:
                            value_chars.append(decoded[0])
                            i += decoded[1]
                            continue
                    value_chars.append(text[i])
                    i += 1
                if i >= n:
                    raise unclosed(begin)
                i += 1
                value = "".join(value_chars)
            else:
                token_start = i
                while i < n and (text[i].isalnum() or text[i] in ".-"):
                    i += 1
                value = text[token_start:i].lower()
                if i >= n:
                    raise unclosed(begin)
                if text[i] not in _SPACES and text[i] != ">":
                    raise _ParseError(
                        f"Unexpected end of name token at byte offset {byte_offset(token_start)}"
                    )
            if tag == "a" and attribute == "href":
                argument = value
            elif tag == "code" and attribute == "class" and value.startswith("language-"):
                argument = value[len("language-") :]
            elif tag == "span" and attribute == "class" and value.startswith("tg-"):
                argument = value[len("tg-") :]
            elif tag == "tg-emoji" and attribute == "emoji-id":
                argument = value
        if tag == "span" and argument != "spoiler":
            raise _ParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(begin)}'
            )
        stack.append([tag, argument, u16, expandable, ""])
    if stack:
        raise _ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return "".join(out), entities


_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


def _parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram MarkdownV2 into plain text and entities, raising like Telegram does."""
    out: list[str] = []
    u16 = 0
    entities: list[dict[str, Any]] = []
    # stack items: [type, argument, utf16 start, byte offset, index into out]
    stack: list[list[Any]] = []
    quote_start: int | None = None
    n = len(text)
    i = 0

    def at(pos: int) -> str:
        return text[pos] if pos < n else ""

    def escapable(pos: int) -> bool:
        return pos < n and 0 < ord(text[pos]) <= 126

    def byte_offset(pos: int) -> int:
        return len(text[:pos].encode())

    def emit(chars: str) -> None:
        nonlocal u16
        out.append(chars)
        u16 += _u16(chars)

    def reserved_error(char: str) -> _ParseError:
        return _ParseError(
            f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
        )

    while i < n:
        char = text[i]
        if char == "\\" and escapable(i + 1):
            emit(text[i + 1])
            i += 2
            continue
        in_code = bool(stack) and stack[-1][0] in ("code", "pre")
        if char == "\n" and quote_start is not None and at(i + 1) != ">":
            if u16 > quote_start:
                entities.append(
                    {"type": "blockquote", "offset": quote_start, "length": u16 - quote_start}
                )
            quote_start = None
        if char == ">" and not in_code and (i == 0 or text[i - 1] == "\n"):
            if quote_start is None:
                quote_start = u16
            i += 1
            continue
        if char != "`" if in_code else char not in _MDV2_RESERVED:
            emit(char)
            i += 1
            continue
        is_end = False
        if stack:
            kind = stack[-1][0]
            is_end = {
                "bold": char == "*",
                "italic": char == "_" and at(i + 1) != "_",
                "code": char == "`",
                "pre": text.startswith("```", i),
                "text_link": char == "]",
                "underline": text.startswith("__", i),
                "strikethrough": char == "~",
                "spoiler": text.startswith("||", i),
                "custom_emoji": char == "]",
            }[kind]
        if not is_end:
            begin = i
            argument = ""
            if char == "_":
                if at(i + 1) == "_":
                    kind = "underline"
                    i += 1
                else:
                    kind = "italic"
            elif char == "*":
                kind = "bold"
            elif char == "~":
                kind = "strikethrough"
            elif char == "|":
                if at(i + 1) != "|":
                    raise reserved_error(char)
                kind = "spoiler"
                i += 1
            elif char == "[":
                kind = "text_link"
            elif char == "`":
                if text.startswith("```", i):
                    kind = "pre"
                    i += 3
                    lang_end = i
                    while lang_end < n and text[lang_end] not in _SPACES and text[lang_end] != "`":
                        lang_end += 1
                    if i != lang_end and lang_end < n and text[lang_end] != "`":
                        argument = text[i:lang_end]
                        i = lang_end
                    if at(i) in ("\n", "\r"):
                        pair = at(i + 1) in ("\n", "\r") and at(i) != at(i + 1)
                        i += 2 if pair else 1
                    i -= 1
                else:
                    kind = "code"
            elif char == "!" and at(i + 1) == "[":
                kind = "custom_emoji"
                i += 1
            else:
                raise reserved_error(char)
            stack.append([kind, argument, u16, byte_offset(begin), len(out)])
            i += 1
            continue
        kind, argument, start, _, out_index = stack.pop()
        skip = u16 == start
        if kind in ("underline", "spoiler"):
            i += 1
        elif kind == "pre":
            i += 2
        elif kind in ("text_link", "custom_emoji"):
            if at(i + 1) != "(":
                if kind == "custom_emoji":
                    raise _ParseError("Custom emoji entity must contain a tg://emoji URL")
                url = "".join(out[out_index:])
            else:
                i += 2
                url_begin = i
                url_chars: list[str] = []
                while i < n and text[i] != ")":
                    if text[i] == "\\" and escapable(i + 1):
                        url_chars.append(text[i + 1])
                        i += 2
                        continue
                    url_chars.append(text[i])
                    i += 1
                if i >= n:
                    raise _ParseError(f"Can't find end of a URL at byte offset {url_begin}")
                url = "".join(url_chars)
            if kind == "custom_emoji":
                if not url.startswith("tg://emoji?id="):
                    raise _ParseError("Custom emoji entity must contain a tg://emoji URL")
                argument = url.removeprefix("tg://emoji?id=")
            else:
                argument = url
                skip = skip or not url
        if not skip:
            entity: dict[str, Any] = {"type": kind, "offset": start, "length": u16 - start}
            if kind == "text_link":
                entity["url"] = argument
            elif kind == "pre" and argument:
                entity["language"] = argument
            elif kind == "custom_emoji":
                entity["custom_emoji_id"] = argument
            entities.append(entity)
        i += 1
    if stack:
        kind, argument, _, begin_byte, _ = stack[-1]
        name = "PreCode" if kind == "pre" and argument else _MDV2_NAMES[kind]
        raise _ParseError(f"Can't find end of {name} entity at byte offset {begin_byte}")
    if quote_start is not None and u16 > quote_start:
        entities.append({"type": "blockquote", "offset": quote_start, "length": u16 - quote_start})
    return "".join(out), entities


def _parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse legacy Telegram Markdown into plain text and entities."""
    out: list[str] = []
    u16 = 0
    entities: list[dict[str, Any]] = []
    n = len(text)
    i = 0
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.append(text[i + 1])
            u16 += 1
            i += 2
            continue
        if char not in "_*`[":
            out.append(char)
            u16 += _u16(char)
            i += 1
            continue
        begin = i
        end_char = "]" if char == "[" else char
        is_pre = False
        language = ""
        i += 1
        if char == "`" and text.startswith("``", i):
            is_pre = True
            i += 2
            lang_end = i
            while lang_end < n and text[lang_end] not in _SPACES and text[lang_end] != "`":
                lang_end += 1
            if i != lang_end and lang_end < n and text[lang_end] != "`":
                language = text[i:lang_end]
                i = lang_end
        start = u16
        start_index = len(out)
        while i < n and (text[i] != end_char or (is_pre and not text.startswith("```", i))):
            out.append(text[i])
            u16 += _u16(text[i])
            i += 1
        if i >= n:
            raise _ParseError(
                "Can't find end of the entity starting at byte offset "
                f"{len(text[:begin].encode())}"
            )
        if u16 != start:
            entity: dict[str, Any] = {"offset": start, "length": u16 - start}
            if char == "_":
                entity["type"] = "italic"
            elif char == "*":
                entity["type"] = "bold"
            elif char == "[":
                url = "".join(out[start_index:])
                if i + 1 < n and text[i + 1] == "(":
                    close = text.find(")", i + 2)
                    close = n if close < 0 else close
                    url = text[i + 2 : close]
                    i = close
                entity.update(type="text_link", url=url)
            elif is_pre:
                entity["type"] = "pre"
                if language:
                    entity["language"] = language
            else:
                entity["type"] = "code"
            entities.append(entity)
        i += 3 if is_pre else 1
    return "".join(out), entities


def _trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Strip leading/trailing whitespace as Telegram does and fix entity offsets."""
    stripped_left = text.lstrip()
    shift = _u16(text) - _u16(stripped_left)
    result = stripped_left.rstrip()
    total = _u16(result)
    fixed: list[dict[str, Any]] = []
    for entity in entities:
        begin = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, total)
        if end > begin:
            fixed.append({**entity, "offset": begin, "length": end - begin})
    fixed.sort(key=lambda e: (e["offset"], -e["length"]))
    return result, fixed


def _format(
    text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None
) -> tuple[str, list[dict[str, Any]]]:
    """Apply parse_mode (or explicit entities) like Telegram and return text and entities."""
    if entities:
        return _trim(text, [dict(e) for e in entities])
    mode = (parse_mode or "").lower()
    parsers: dict[str, Callable[[str], tuple[str, list[dict[str, Any]]]]] = {
        "html": _parse_html,
        "markdownv2": _parse_markdown_v2,
        "markdown": _parse_markdown,
    }
    if not mode:
        return _trim(text, [])
    if mode not in parsers:
        raise _bad(f"unsupported parse_mode {parse_mode!r}")
    try:
        plain, found = parsers[mode](text)
    except _ParseError as exc:
        raise _bad(f"can't parse entities: {exc}") from None
    return _trim(plain, found)


# --------------------------------------------------------------------------- images


def tiny_png(width: int = 2, height: int = 2, rgb: tuple[int, int, int] = (40, 160, 60)) -> bytes:
    """Return a small valid PNG image, handy as photo bytes in tests and the demo."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def _image_size(data: bytes) -> tuple[int, int] | None:
    """Return (width, height) of a PNG, JPEG, GIF, BMP or WebP image, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data.startswith(b"BM") and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return abs(int(width)), abs(int(height))
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return 512, 512
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker == 0xFF:
                i += 1
                continue
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(width), int(height)
            i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return None


# --------------------------------------------------------------------------- the server

CallHook = Callable[[ApiCall], None]
UpdateHook = Callable[[dict[str, Any]], None]


class FakeBotAPI:
    """In-process fake of the Telegram Bot API, driven by tests and the demo."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        bot_username: str = "hotline_test_bot",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Configure the fake; call :meth:`start` to serve it."""
        bot_id, sep, _ = token.partition(":")
        if not sep or not bot_id.isdigit():
            raise ValueError(f"token must look like '<digits>:<secret>', got {token!r}")
        self.token = token
        self.bot_id = int(bot_id)
        self.bot_username = bot_username
        self.bot_first_name = "Hotline Test Bot"
        self.host = host
        self.port = port
        self.base_url = ""
        # observation
        self.calls: list[ApiCall] = []
        self.on_call: CallHook | None = None
        self.on_update: UpdateHook | None = None
        self.dropped_updates: list[dict[str, Any]] = []
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.callback_answers: dict[str, dict[str, Any]] = {}
        # faults
        self.blocked_users: set[int] = set()
        self.fault_rate = 0.0
        self.fault_retry_after = 1
        # Kinds of random faults and their weights (FAULT_KINDS); timeouts and disconnects
        # need a client with a short request timeout, so only answers are on by default.
        self.fault_kinds: dict[str, float] = {"5xx": 1.0, "429": 1.0}
        self.fault_hold_s = 30.0  # how long a "timeout" holds a request the client left
        self.faults: Counter[str] = Counter()  # faults given, by kind (queued and random)
        self.rate_limited = 0  # 429s given by flood control (enforce_rate_limits)
        self._flood: _FloodControl | None = None
        self._fault_seed = 0
        self._rng = random.Random(0)
        self._faults: dict[str, deque[ApiError]] = {}
        self.strict_images = True
        # File downloads: held while `hold_file_downloads()` is on; how many are in flight.
        self._files_released: asyncio.Event | None = None
        self.files_in_flight = 0
        self.max_files_in_flight = 0
        # state
        self._chats: dict[int, dict[str, Any]] = {}
        self._membership: dict[int, str] = {}
        self._log: dict[int, list[_Entry]] = {}
        self._next_message_id: dict[int, int] = {}
        self._keyboards: dict[int, dict[str, Any] | None] = {}
        # forum topics: (chat id, message_thread_id) -> {"name", "closed"}
        self.topics: dict[tuple[int, int], dict[str, Any]] = {}
        self._next_thread_id = 1000
        self._files: dict[str, _StoredFile] = {}
        self._paths: dict[str, _StoredFile] = {}
        self._file_seq = 0
        self._callback_seq = 0
        self._pending_callbacks: set[str] = set()
        self._updates: list[dict[str, Any]] = []
        self._raw_updates: list[Any] = []  # served as given, once (push_raw_update)
        self._next_update_id = 1
        self._fetched_upto = 0
        self._allowed_updates: frozenset[str] | None = None
        self._poll_waiters: set[asyncio.Future[str]] = set()
        self._message_cursor: dict[int, int] = {}
        self._call_cursor: dict[str, int] = {}
        self._changed = asyncio.Event()
        self._inflight = 0
        self._last_activity = time.monotonic()
        self._stopping = False
        self._runner: web.AppRunner | None = None
        self._methods: dict[str, tuple[str, Callable[[_Params], Any]]] = {}
        for name, handler in self._method_table().items():
            self._methods[name.lower()] = (name, handler)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        """Start serving and return the base URL, e.g. ``http://127.0.0.1:PORT``."""
        app = web.Application(client_max_size=MAX_UPLOAD_SIZE + 8 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.base_url = f"http://{self.host}:{self.port}"
        self._stopping = False
        return self.base_url

    async def stop(self) -> None:
        """Stop serving; pending long polls return at once and waiters are woken."""
        self._stopping = True
        self.release_file_downloads()
        for waiter in list(self._poll_waiters):
            if not waiter.done():
                waiter.set_result("stop")
        self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotAPI:
        """Start the server."""
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop the server."""
        await self.stop()

    def create_bot(self, **kwargs: Any) -> Bot:
        """Return an aiogram ``Bot`` talking to this fake (close ``bot.session`` when done)."""
        from aiogram import Bot
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer

        class LocalSession(AiohttpSession):
            """AiohttpSession whose close() skips the 250 ms SSL-shutdown grace period."""

            async def close(self) -> None:
                """Close the HTTP session at once (plain HTTP on localhost)."""
                if self._session is not None and not self._session.closed:
                    await self._session.close()

        if not self.base_url:
            raise RuntimeError("call start() before create_bot()")
        session = LocalSession(api=TelegramAPIServer.from_base(self.base_url))
        return Bot(kwargs.pop("token", self.token), session=session, **kwargs)

    @asynccontextmanager
    async def run_polling(self, dp: Dispatcher, bot: Bot, **kwargs: Any) -> AsyncIterator[None]:
        """Run ``dp.start_polling(bot)`` in a task for the duration of the block."""
        kwargs.setdefault("handle_signals", False)
        task = asyncio.create_task(dp.start_polling(bot, **kwargs))
        await asyncio.sleep(0)
        try:
            yield
        finally:
            if not task.done():
                with suppress(RuntimeError):
                    await dp.stop_polling()
            await task

    # ------------------------------------------------------------------ HTTP handlers

    async def _handle_api(self, request: web.Request) -> web.Response:
        """Serve ``/bot{token}/{method}``."""
        method = request.match_info["method"]
        is_poll = method.lower() == "getupdates"
        call = ApiCall(method=method, params={}, time=time.time())
        started = time.monotonic()
        if not is_poll:
            self._inflight += 1
            self._touch()
        try:
            try:
                params = await self._read_params(request)
                call.params, call.files, call.filenames = (
                    params.values,
                    params.files,
                    params.filenames,
                )
                if request.match_info["token"] != self.token:
                    raise ApiError(401, "Unauthorized")
                entry = self._methods.get(method.lower())
                if entry is None:
                    raise ApiError(404, "Not Found")
                call.method, handler = entry
                fault = self._inject_fault(call.method)
                if fault is not None and fault.kind != "error":
                    return await self._no_answer(request, call, fault, started)
                if fault is not None:
                    raise fault
                flood = self._flood_check(call.method, params)
                result = handler(params)
                if inspect.isawaitable(result):
                    result = await result
                if flood is not None:
                    self._flood_count(*flood)
                call.result = result
                body: dict[str, Any] = {"ok": True, "result": result}
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                logger.warning("fake API rejected %s: %r", method, exc)
                call.ok, call.status = False, 400
                call.error = f"Bad Request: invalid parameters ({exc})"
                body = {"ok": False, "error_code": 400, "description": call.error}
            except ApiError as exc:
                call.ok, call.status, call.error = False, exc.status, exc.description
                call.retry_after = exc.retry_after
                body = {"ok": False, "error_code": exc.status, "description": exc.description}
                if exc.retry_after is not None:
                    body["parameters"] = {"retry_after": exc.retry_after}
        finally:
            if not is_poll:
                self._inflight -= 1
                self._touch()
        call.duration = time.monotonic() - started
        self._record(call)
        return web.json_response(body, status=call.status)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        """Serve ``/file/bot{token}/{path}`` downloads."""
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        stored = self._paths.get(request.match_info["path"])
        if stored is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        self.files_in_flight += 1
        self.max_files_in_flight = max(self.max_files_in_flight, self.files_in_flight)
        self._touch()
        self._notify()
        try:
            released = self._files_released
            if released is not None:  # a slow download: nothing arrives until released
                await released.wait()
            return web.Response(body=stored.data, content_type="application/octet-stream")
        finally:
            self.files_in_flight -= 1
            self._touch()
            self._notify()

    def hold_file_downloads(self) -> None:
        """Make file downloads hang (a slow file server) until `release_file_downloads()`."""
        if self._files_released is None:
            self._files_released = asyncio.Event()

    def release_file_downloads(self) -> None:
        """Let held file downloads (and later ones) complete."""
        released, self._files_released = self._files_released, None
        if released is not None:
            released.set()

    async def _read_params(self, request: web.Request) -> _Params:
        """Decode query, urlencoded, multipart or JSON parameters of a request."""
        values: dict[str, Any] = {k: _decode_field(k, v) for k, v in request.query.items()}
        files: dict[str, bytes] = {}
        filenames: dict[str, str] = {}
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader) or part.name is None:
                    continue
                if part.filename is not None:
                    files[part.name] = bytes(await part.read(decode=True))
                    filenames[part.name] = part.filename
                else:
                    values[part.name] = _decode_field(part.name, await part.text())
        elif request.content_type == "application/x-www-form-urlencoded":
            form = await request.post()
            values.update({k: _decode_field(k, str(v)) for k, v in form.items()})
        elif request.content_type == "application/json" and request.can_read_body:
            body = await request.json()
            if not isinstance(body, dict):
                raise _bad("request body must be a JSON object")
            values.update(body)
        return _Params(values, files, filenames)

    def _record(self, call: ApiCall) -> None:
        """Store a finished call and run the ``on_call`` hook."""
        self.calls.append(call)
        self._notify()
        if self.on_call is not None:
            try:
                self.on_call(call)
            except Exception:
                logger.exception("on_call hook failed")

    def _inject_fault(self, method: str) -> ApiError | None:
        """A queued or random fault for ``method``, if any (counted in ``faults``)."""
        fault: ApiError | None = None
        for key in (method.lower(), "*"):
            queue = self._faults.get(key)
            if queue:
                fault = queue.popleft()
                break
        if fault is None and self.fault_rate > 0 and self._is_message_call(method):
            if self._rng.random() < self.fault_rate:
                kinds = [k for k, w in self.fault_kinds.items() if w > 0]
                weights = [self.fault_kinds[k] for k in kinds]
                fault = self._make_fault(self._rng.choices(kinds, weights)[0])
        if fault is not None:
            self.faults[self._fault_kind(fault)] += 1
        return fault

    @staticmethod
    def _is_message_call(method: str) -> bool:
        lowered = method.lower()
        return lowered.startswith(("send", "edit")) and lowered not in _NOT_MESSAGES

    @staticmethod
    def _fault_kind(fault: ApiError) -> str:
        if fault.kind != "error":
            return fault.kind
        return "429" if fault.status == 429 else ("5xx" if fault.status >= 500 else "4xx")

    def _make_fault(self, kind: str) -> ApiError:
        if kind == "5xx":
            return ApiError(500, "Internal Server Error")
        if kind == "429":
            return ApiError(
                429,
                f"Too Many Requests: retry after {self.fault_retry_after}",
                retry_after=self.fault_retry_after,
            )
        if kind in ("timeout", "disconnect"):
            return ApiError(0, kind, kind=kind)
        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")

    async def _no_answer(
        self, request: web.Request, call: ApiCall, fault: ApiError, started: float
    ) -> web.Response:
        """Serve a fault that gets no answer: hold the request, or drop the connection."""
        call.ok, call.status, call.error = False, 0, fault.kind
        call.duration = time.monotonic() - started
        self._record(call)
        if fault.kind == "timeout":
            # The client gives up first; closing its connection cancels this handler.
            await asyncio.sleep(self.fault_hold_s)
        elif request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError  # no response: the connection is gone or abandoned

    # ------------------------------------------------------------------ flood control

    def enforce_rate_limits(
        self,
        *,
        per_chat_interval: float | None = None,
        per_chat_burst: int = 1,
        per_group_per_window: tuple[int, float] | None = None,
        global_per_second: int | None = None,
        global_per_window: tuple[int, float] | None = None,
    ) -> None:
        """Refuse messages over these limits with 429 and retry_after, as Telegram does.

        ``per_chat_interval``: seconds between messages to one chat (``per_chat_burst`` may
        go back to back); ``per_group_per_window``: (n, seconds) for each group chat;
        ``global_per_second`` or ``global_per_window``: for all chats together. An album of
        N items counts as N messages; only calls that were applied count. Call with no
        arguments to stop enforcing.
        """
        overall = global_per_window or (
            (global_per_second, 1.0) if global_per_second is not None else None
        )
        if per_chat_interval is None and per_group_per_window is None and overall is None:
            self._flood = None
            return
        self._flood = _FloodControl(
            per_chat_interval, per_chat_burst, per_group_per_window, overall
        )

    def _flood_check(self, method: str, params: _Params) -> tuple[int, int, float] | None:
        """Raise 429 if this message is over a limit; else what to count once it applied."""
        if self._flood is None or not self._is_message_call(method):
            return None
        try:
            chat_id = int(params.get("chat_id"))
        except (TypeError, ValueError):
            return None
        media = params.get("media")
        cost = len(media) if method.lower() == "sendmediagroup" and isinstance(media, list) else 1
        now = time.monotonic()
        wait = self._flood.wait(chat_id, cost, now)
        if wait > 0:
            self.rate_limited += 1
            retry_after = max(1, math.ceil(wait))
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )
        return chat_id, cost, now

    def _flood_count(self, chat_id: int, cost: int, now: float) -> None:
        if self._flood is not None:
            self._flood.count(chat_id, cost, now)

    # ------------------------------------------------------------------ faults

    @property
    def fault_seed(self) -> int:
        """Seed of the random generator behind ``fault_rate``."""
        return self._fault_seed

    @fault_seed.setter
    def fault_seed(self, value: int) -> None:
        self._fault_seed = value
        self._rng = random.Random(value)

    def fail_next(
        self,
        method: str,
        *,
        status: int = 500,
        description: str = "Internal Server Error",
        retry_after: int | None = None,
        count: int = 1,
        kind: str = "error",
    ) -> None:
        """Make the next ``count`` calls of ``method`` (``"*"`` = any) fail with this error.

        ``kind="timeout"``: hold the request (``fault_hold_s``) so the client times out;
        ``kind="disconnect"``: drop the connection. Neither applies the call.
        """
        if kind not in ("error", "timeout", "disconnect"):
            raise ValueError(f"unknown fault kind {kind!r}")
        queue = self._faults.setdefault(method.lower(), deque())
        for _ in range(count):
            queue.append(ApiError(status, description, retry_after, kind=kind))

    # ------------------------------------------------------------------ simulated people

    def register_chat(self, chat: FakeChat | FakeUser) -> dict[str, Any]:
        """Make a chat known (as if the user started the bot / the bot was added to a group)."""
        if isinstance(chat, FakeUser):
            data = chat.private_chat()
        elif chat.type == "private":
            data = {"id": chat.id, "type": "private", "first_name": chat.title or "Dân"}
        else:
            data = chat.to_dict()
        self._chats[data["id"]] = data
        self._membership[data["id"]] = "member"
        return copy.deepcopy(data)

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update (assigning ``update_id`` if missing) and wake long polls."""
        update = copy.deepcopy(update)
        if "update_id" not in update:
            update["update_id"] = self._next_update_id
        self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
        self._absorb_update(update)
        self._updates.append(update)
        self._updates.sort(key=lambda u: u["update_id"])
        self._touch()
        for waiter in list(self._poll_waiters):
            if not waiter.done():
                waiter.set_result("update")
        self._notify()
        if self.on_update is not None:
            try:
                self.on_update(copy.deepcopy(update))
            except Exception:
                logger.exception("on_update hook failed")
        return copy.deepcopy(update)

    def push_raw_update(self, item: Any) -> None:
        """Serve ``item`` exactly as given (a malformed update, say one whose update_id is
        not a number) in the next getUpdates answer, after the queued updates; once."""
        self._raw_updates.append(copy.deepcopy(item))
        self._touch()
        for waiter in list(self._poll_waiters):
            if not waiter.done():
                waiter.set_result("update")
        self._notify()

    def send_text(
        self,
        user: FakeUser,
        text: str,
        *,
        chat: FakeChat | None = None,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """Simulate a user sending a text message (leading ``/command`` gets an entity)."""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": _u16(command)}]
        return self._user_message(user, chat, content, reply_to_message_id)

    def send_command(
        self,
        user: FakeUser,
        command: str,
        args: str | None = None,
        *,
        chat: FakeChat | None = None,
    ) -> dict[str, Any]:
        """Simulate a user sending ``/command [args]``."""
        text = "/" + command.lstrip("/")
        if args:
            text += f" {args}"
        return self.send_text(user, text, chat=chat)

    def send_photo(
        self,
        user: FakeUser,
        data: bytes,
        *,
        chat: FakeChat | None = None,
        caption: str | None = None,
        media_group_id: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """Simulate a user sending a photo; both PhotoSizes are downloadable."""
        content: dict[str, Any] = {"photo": self._photo_sizes(data)}
        if caption is not None:
            content["caption"] = caption
        if media_group_id is not None:
            content["media_group_id"] = media_group_id
        return self._user_message(user, chat, content, reply_to_message_id)

    def send_document(
        self,
        user: FakeUser,
        data: bytes,
        *,
        file_name: str,
        mime_type: str,
        chat: FakeChat | None = None,
        file_size: int | None = None,
        caption: str | None = None,
    ) -> dict[str, Any]:
        """Simulate a user sending a file; ``file_size`` may claim more than ``data`` holds."""
        stored = self._register_file(
            data,
            "document",
            file_size=file_size,
            meta={"file_name": file_name, "mime_type": mime_type},
        )
        content: dict[str, Any] = {"document": self._media_object(stored)}
        if caption is not None:
            content["caption"] = caption
        return self._user_message(user, chat, content, None)

    def send_video(
        self,
        user: FakeUser,
        data: bytes,
        *,
        chat: FakeChat | None = None,
        caption: str | None = None,
        duration: int = 5,
        width: int = 640,
        height: int = 360,
        mime_type: str = "video/mp4",
        file_size: int | None = None,
        media_group_id: str | None = None,
    ) -> dict[str, Any]:
        """Simulate a user sending a video."""
        stored = self._register_file(
            data,
            "video",
            file_size=file_size,
            meta={"width": width, "height": height, "duration": duration, "mime_type": mime_type},
        )
        content: dict[str, Any] = {"video": self._media_object(stored)}
        if caption is not None:
            content["caption"] = caption
        if media_group_id is not None:
            content["media_group_id"] = media_group_id
        return self._user_message(user, chat, content, None)

    def send_voice(
        self,
        user: FakeUser,
        data: bytes,
        *,
        chat: FakeChat | None = None,
        duration: int = 3,
        file_size: int | None = None,
    ) -> dict[str, Any]:
        """Simulate a user sending a voice note."""
        stored = self._register_file(
            data,
            "voice",
            file_size=file_size,
            meta={"duration": duration, "mime_type": "audio/ogg"},
        )
        return self._user_message(user, chat, {"voice": self._media_object(stored)}, None)

    def send_sticker(
        self, user: FakeUser, *, chat: FakeChat | None = None, emoji: str = "👍"
    ) -> dict[str, Any]:
        """Simulate a user sending a sticker."""
        stored = self._register_file(
            b"RIFF\x00\x00\x00\x00WEBPVP8 ",
            "sticker",
            meta={
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": emoji,
            },
        )
        return self._user_message(user, chat, {"sticker": self._media_object(stored)}, None)

    def send_location(
        self, user: FakeUser, lat: float, lon: float, *, chat: FakeChat | None = None
    ) -> dict[str, Any]:
        """Simulate a user sharing a location (e.g. via a ``request_location`` button)."""
        content = {"location": {"latitude": lat, "longitude": lon}}
        return self._user_message(user, chat, content, None)

    def send_contact(
        self, user: FakeUser, phone: str, *, chat: FakeChat | None = None, own: bool = True
    ) -> dict[str, Any]:
        """Simulate a user sharing a contact; ``own`` = their own (``request_contact``)."""
        contact: dict[str, Any] = {"phone_number": phone}
        if own:
            contact["first_name"] = user.first_name
            if user.last_name:
                contact["last_name"] = user.last_name
            contact["user_id"] = user.id
        else:
            contact["first_name"] = "Liên hệ"
        return self._user_message(user, chat, {"contact": contact}, None)

    def send_animation(
        self, user: FakeUser, data: bytes = b"GIF89a", *, chat: FakeChat | None = None
    ) -> dict[str, Any]:
        """Simulate a user sending a GIF (Telegram sends it as both animation and document)."""
        meta = {"file_name": "animation.mp4", "mime_type": "video/mp4"}
        stored = self._register_file(
            data, "animation", meta={**meta, "width": 320, "height": 240, "duration": 2}
        )
        animation = self._media_object(stored)
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            **meta,
        }
        content = {"animation": animation, "document": document}
        return self._user_message(user, chat, content, None)

    def send_poll(
        self,
        user: FakeUser,
        question: str = "?",
        options: tuple[str, ...] = ("A", "B"),
        *,
        chat: FakeChat | None = None,
    ) -> dict[str, Any]:
        """Simulate a user sending a poll."""
        self._file_seq += 1
        poll = {
            "id": str(5_000_000 + self._file_seq),
            "question": question,
            "options": [
                {"persistent_id": str(i), "text": o, "voter_count": 0}
                for i, o in enumerate(options)
            ],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
            "allows_revoting": True,
            "members_only": False,
        }
        return self._user_message(user, chat, {"poll": poll}, None)

    def send_dice(
        self, user: FakeUser, *, chat: FakeChat | None = None, emoji: str = "🎲"
    ) -> dict[str, Any]:
        """Simulate a user throwing a dice (or another animated emoji game)."""
        return self._user_message(user, chat, {"dice": {"emoji": emoji, "value": 4}}, None)

    def send_venue(
        self,
        user: FakeUser,
        lat: float,
        lon: float,
        *,
        title: str = "Chợ",
        address: str = "",
        chat: FakeChat | None = None,
    ) -> dict[str, Any]:
        """Simulate a user sending a venue (a named place; it carries a location too)."""
        location = {"latitude": lat, "longitude": lon}
        venue = {"location": location, "title": title, "address": address}
        return self._user_message(user, chat, {"venue": venue, "location": location}, None)

    def send_forwarded(
        self,
        user: FakeUser,
        origin: FakeUser | FakeChat,
        *,
        text: str | None = None,
        photo: bytes | None = None,
        contact_phone: str | None = None,
        chat: FakeChat | None = None,
    ) -> dict[str, Any]:
        """Simulate a user forwarding a text, photo or contact that ``origin`` sent first.

        ``origin`` is a person (a contact forwarded from them carries their user id) or a
        channel."""
        content: dict[str, Any] = {}
        if text is not None:
            content["text"] = text
        if photo is not None:
            content["photo"] = self._photo_sizes(photo)
        if contact_phone is not None:
            content["contact"] = {"phone_number": contact_phone, "first_name": "Liên hệ"}
            if isinstance(origin, FakeUser):
                content["contact"]["user_id"] = origin.id
        date = int(time.time()) - 60
        if isinstance(origin, FakeUser):
            content["forward_origin"] = {
                "type": "user",
                "date": date,
                "sender_user": origin.to_dict(),
            }
        else:
            content["forward_origin"] = {
                "type": "channel",
                "date": date,
                "chat": origin.to_dict(),
                "message_id": 1,
            }
        return self._user_message(user, chat, content, None)

    def edit_user_message(
        self,
        user: FakeUser,
        message: dict[str, Any],
        *,
        text: str | None = None,
        caption: str | None = None,
        location: tuple[float, float] | None = None,
    ) -> dict[str, Any]:
        """Simulate ``user`` editing a message they sent (an ``edited_message`` update).

        ``message`` is the one a ``send_*`` call queued (its update's ``"message"``);
        ``location`` moves a live location, which Telegram also reports as an edit."""
        chat_id = message["chat"]["id"]
        entry = self._find_entry(chat_id, message["message_id"])
        if entry is None or entry.from_bot or entry.message["from"]["id"] != user.id:
            raise ValueError(f"{user.id} sent no message {message['message_id']} in {chat_id}")
        edited = copy.deepcopy(entry.message)
        if text is not None:
            edited["text"] = text
        if caption is not None:
            edited["caption"] = caption
        if location is not None:
            edited["location"] = {"latitude": location[0], "longitude": location[1]}
        edited["edit_date"] = int(time.time())
        entry.message = copy.deepcopy(edited)
        return self.push_update({"edited_message": edited})

    def send_as_channel(
        self, channel: FakeChat, group: FakeChat, text: str, *, automatic_forward: bool = False
    ) -> dict[str, Any]:
        """A message in ``group`` on behalf of ``channel``: posted as the channel by one of its
        admins, or (``automatic_forward``) a channel post copied by Telegram into the
        channel's linked discussion group."""
        chat_data = self._chats.get(group.id) or self.register_chat(group)
        if automatic_forward:
            sender = {"id": 777000, "is_bot": False, "first_name": "Telegram"}
        else:
            sender = {"id": 136817688, "is_bot": True, "first_name": "Channel"}
        content: dict[str, Any] = {"text": text, "sender_chat": channel.to_dict()}
        if automatic_forward:
            content["is_automatic_forward"] = True
            content["forward_origin"] = {
                "type": "channel",
                "date": int(time.time()),
                "chat": channel.to_dict(),
                "message_id": 1,
            }
        message = self._new_message(chat_data, sender, content)
        return self.push_update({"message": message})

    def post_to_channel(self, channel: FakeChat, text: str) -> dict[str, Any]:
        """A post in a channel the bot is a member of (a ``channel_post`` update)."""
        chat_data = self._chats.get(channel.id) or self.register_chat(channel)
        message = self._new_message(chat_data, {}, {"text": text, "sender_chat": chat_data})
        message.pop("from")
        return self.push_update({"channel_post": message})

    def press_button(
        self,
        user: FakeUser,
        message: dict[str, Any],
        data: str,
        *,
        chat: FakeChat | None = None,
        check: bool = True,
    ) -> dict[str, Any]:
        """Simulate pressing an inline button with ``data`` on a bot message."""
        chat_id = chat.id if chat is not None else message["chat"]["id"]
        entry = self._find_entry(chat_id, message["message_id"])
        if entry is None or entry.deleted:
            raise ValueError(f"message {message['message_id']} is not in chat {chat_id}")
        current = entry.message
        if check:
            datas = [b.get("callback_data") for b in self.inline_buttons(current)]
            if data not in datas:
                raise ValueError(
                    f"no inline button with callback_data={data!r} on message "
                    f"{current['message_id']}; buttons: {_describe_buttons(current)}"
                )
        self._callback_seq += 1
        query_id = str(4_200_000_000_000_000 + self._callback_seq)
        self.callback_answers.pop(query_id, None)
        query = {
            "id": query_id,
            "from": user.to_dict(),
            "message": _api_view(current),
            "chat_instance": str(abs(chat_id) * 7919 % 10**12),
            "data": data,
        }
        return self.push_update({"callback_query": query})

    def press_reply_button(
        self, user: FakeUser, text: str, *, chat: FakeChat | None = None
    ) -> dict[str, Any]:
        """Simulate tapping a plain button of the current reply keyboard (sends its text)."""
        chat_id = chat.id if chat is not None else user.id
        keyboard = self.current_keyboard(chat_id)
        if keyboard is None:
            raise ValueError(f"no reply keyboard is shown in chat {chat_id}")
        for row in keyboard.get("keyboard", []):
            for button in row:
                button_text = button if isinstance(button, str) else button.get("text")
                if button_text != text:
                    continue
                if isinstance(button, dict):
                    special = [k for k in _REQUEST_BUTTON_KEYS if button.get(k)]
                    if special:
                        raise ValueError(
                            f"button {text!r} uses {special[0]}; the user answers with "
                            "send_location()/send_contact() instead of text"
                        )
                return self.send_text(user, text, chat=chat)
        raise ValueError(f"no button {text!r} in keyboard {keyboard.get('keyboard')}")

    def bot_added_to_group(self, user: FakeUser, chat: FakeChat) -> dict[str, Any]:
        """Queue a ``my_chat_member`` update: ``user`` added the bot to ``chat``."""
        chat_data = self.register_chat(chat)
        return self._my_chat_member(user, chat_data, {"status": "left"}, {"status": "member"})

    def bot_removed_from_group(self, user: FakeUser, chat: FakeChat) -> dict[str, Any]:
        """Queue a ``my_chat_member`` update: ``user`` removed the bot from ``chat``."""
        chat_data = self._chats.get(chat.id) or self.register_chat(chat)
        self._membership[chat.id] = "kicked"
        return self._my_chat_member(
            user, chat_data, {"status": "member"}, {"status": "kicked", "until_date": 0}
        )

    # ------------------------------------------------------------------ observation

    def chat_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """Return the current state of the bot's (non-deleted) messages in a chat, in order."""
        # reply_markup holds whatever the bot attached, reply keyboards included (the API
        # itself only echoes inline keyboards); texts are as the user sees them, i.e. with
        # parse_mode markup converted to entities.
        return [
            copy.deepcopy(e.message)
            for e in self._log.get(chat_id, [])
            if e.from_bot and not e.deleted
        ]

    def current_keyboard(self, chat_id: int) -> dict[str, Any] | None:
        """Return the reply keyboard currently shown in a chat, if any."""
        return copy.deepcopy(self._keyboards.get(chat_id))

    def file_data(self, file_id: str) -> bytes:
        """Return the bytes behind a file_id the fake created."""
        return self._files[file_id].data

    @staticmethod
    def inline_buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
        """Return a message's inline buttons, flattened."""
        markup = message.get("reply_markup") or {}
        return [button for row in markup.get("inline_keyboard", []) for button in row]

    @staticmethod
    def button_data(message: dict[str, Any], text: str) -> str:
        """Return callback_data of the first inline button whose text contains ``text``."""
        for button in FakeBotAPI.inline_buttons(message):
            if text in button.get("text", "") and button.get("callback_data") is not None:
                return str(button["callback_data"])
        raise ValueError(f"no inline button containing {text!r}: {_describe_buttons(message)}")

    @property
    def long_poll_pending(self) -> bool:
        """Whether a getUpdates long poll is currently waiting."""
        return any(not w.done() for w in self._poll_waiters)

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Return queued updates not yet confirmed by an offset."""
        return copy.deepcopy(self._updates)

    def transcript(self, chat_id: int) -> str:
        """Return a readable listing of a chat: user and bot messages in order."""
        lines = []
        for entry in self._log.get(chat_id, []):
            msg = entry.message
            who = "bot" if entry.from_bot else msg.get("from", {}).get("first_name", "user")
            flags = " (deleted)" if entry.deleted else ""
            flags += " (edited)" if "edit_date" in msg else ""
            lines.append(f"  #{msg['message_id']} {who}{flags}: {_summary(msg)}")
        return "\n".join(lines) or "  (no messages)"

    def mark_read(self, chat_id: int) -> None:
        """Move the chat's read cursor past every message sent so far."""
        self._message_cursor[chat_id] = len(self._log.get(chat_id, []))

    async def wait_until(
        self,
        condition: Callable[[], Any],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
        what: str = "condition",
    ) -> Any:
        """Wait until ``condition()`` returns a truthy value and return it."""
        return await self._wait(lambda: condition() or None, timeout, lambda: f"{what} not met")

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """Return the next unread bot message in a chat matching ``predicate``."""
        # Each chat has a read cursor: a returned message and any unmatched ones before it
        # count as read, so successive calls step through the conversation.

        def check() -> dict[str, Any] | None:
            entries = self._log.get(chat_id, [])
            for index in range(self._message_cursor.get(chat_id, 0), len(entries)):
                entry = entries[index]
                if not entry.from_bot or entry.deleted:
                    continue
                if predicate is None or predicate(copy.deepcopy(entry.message)):
                    self._message_cursor[chat_id] = index + 1
                    return copy.deepcopy(entry.message)
            return None

        def explain() -> str:
            cursor = self._message_cursor.get(chat_id, 0)
            return (
                f"no {'matching ' if predicate else ''}bot message in chat {chat_id} after "
                f"the first {cursor} log entries within {timeout}s.\n"
                f"Chat transcript:\n{self.transcript(chat_id)}\n{self._failures_text()}"
            )

        return await self._wait(check, timeout, explain)

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[ApiCall], bool] | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> ApiCall:
        """Return the next call of ``method`` (after those returned before) matching it."""
        key = method.lower()

        def check() -> ApiCall | None:
            for index in range(self._call_cursor.get(key, 0), len(self.calls)):
                call = self.calls[index]
                if call.method.lower() == key and (predicate is None or predicate(call)):
                    self._call_cursor[key] = index + 1
                    return call
            return None

        def explain() -> str:
            seen = [str(c) for c in self.calls if c.method.lower() == key][-10:]
            listing = "\n".join(f"  {s}" for s in seen) or "  (none)"
            return f"no matching {method} call within {timeout}s; recent calls of it:\n{listing}"

        return await self._wait(check, timeout, explain)

    async def wait_idle(self, quiet: float = 0.3, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until all queued updates were fetched and no call arrived for ``quiet`` s."""
        deadline = time.monotonic() + timeout
        while True:
            unfetched = self._unfetched()
            now = time.monotonic()
            idle_for = now - self._last_activity
            if not unfetched and self._inflight == 0 and idle_for >= quiet:
                return
            if now >= deadline:
                raise TimeoutError(
                    f"bot not idle after {timeout}s: {unfetched} update(s) never fetched "
                    f"(is the bot polling?), {self._inflight} call(s) in flight, "
                    f"last activity {idle_for:.2f}s ago"
                )
            await asyncio.sleep(min(max(quiet - idle_for, 0.01), 0.05, deadline - now))

    # ------------------------------------------------------------------ internals: waiting

    def _notify(self) -> None:
        """Wake everything waiting in :meth:`_wait`."""
        self._changed.set()
        self._changed = asyncio.Event()

    def _touch(self) -> None:
        """Remember that something happened (for :meth:`wait_idle`)."""
        self._last_activity = time.monotonic()

    def _unfetched(self) -> int:
        """Count queued updates never returned by getUpdates."""
        queued = sum(1 for u in self._updates if u["update_id"] > self._fetched_upto)
        return queued + len(self._raw_updates)

    async def _wait(
        self, check: Callable[[], Any], seconds: float, explain: Callable[[], str]
    ) -> Any:
        """Re-run ``check`` on every change until it returns non-None or time runs out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            result = check()
            if result is not None:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(explain())
            if self._stopping and self._runner is None:
                raise RuntimeError(f"FakeBotAPI stopped while waiting: {explain()}")
            event = self._changed
            with suppress(TimeoutError):  # re-check periodically for outside conditions
                await asyncio.wait_for(event.wait(), min(remaining, 0.1))

    def _failures_text(self) -> str:
        """Describe recent failed calls for timeout messages."""
        failed = [str(c) for c in self.calls if not c.ok][-10:]
        if not failed:
            return "No failed API calls."
        return "Recent failed API calls:\n" + "\n".join(f"  {f}" for f in failed)

    # ------------------------------------------------------------------ internals: state

    @property
    def bot_user(self) -> dict[str, Any]:
        """Return the bot's ``User`` object."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def _absorb_update(self, update: dict[str, Any]) -> None:
        """Learn chats, messages and callback ids from a queued update."""
        query = update.get("callback_query")
        if isinstance(query, dict) and "id" in query:
            self._pending_callbacks.add(str(query["id"]))
        message = update.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("chat"), dict):
            return
        chat = message["chat"]
        self._chats.setdefault(chat["id"], copy.deepcopy(chat))
        self._membership.setdefault(chat["id"], "member")
        message_id = message.get("message_id")
        if isinstance(message_id, int) and self._find_entry(chat["id"], message_id) is None:
            self._log.setdefault(chat["id"], []).append(_Entry(copy.deepcopy(message), False))
            following = max(self._next_message_id.get(chat["id"], 1), message_id + 1)
            self._next_message_id[chat["id"]] = following

    def _user_chat(self, user: FakeUser, chat: FakeChat | None) -> dict[str, Any]:
        """Return (registering if needed) the chat a simulated message is sent in."""
        if chat is None or (chat.type == "private" and chat.id == user.id):
            data = user.private_chat()
            self._chats[user.id] = data
            self._membership.setdefault(user.id, "member")
            return copy.deepcopy(data)
        if self._membership.get(chat.id) in ("left", "kicked"):
            raise ValueError(f"the bot is not a member of chat {chat.id}; no update is sent")
        if chat.id not in self._chats:
            self.register_chat(chat)
        return copy.deepcopy(self._chats[chat.id])

    def _user_message(
        self,
        user: FakeUser,
        chat: FakeChat | None,
        content: dict[str, Any],
        reply_to_message_id: int | None,
    ) -> dict[str, Any]:
        """Store a simulated person's message and queue it as an update."""
        chat_data = self._user_chat(user, chat)
        reply_to = None
        if reply_to_message_id is not None:
            entry = self._find_entry(chat_data["id"], reply_to_message_id)
            if entry is None or entry.deleted:
                raise ValueError(f"no message {reply_to_message_id} in chat {chat_data['id']}")
            reply_to = entry.message
        message = self._new_message(chat_data, user.to_dict(), content, reply_to)
        return self.push_update({"message": message})  # logged by _absorb_update

    def _my_chat_member(
        self,
        user: FakeUser,
        chat: dict[str, Any],
        old: dict[str, Any],
        new: dict[str, Any],
    ) -> dict[str, Any]:
        """Queue a ``my_chat_member`` update about the bot."""
        member_update = {
            "chat": copy.deepcopy(chat),
            "from": user.to_dict(),
            "date": int(time.time()),
            "old_chat_member": {**old, "user": self.bot_user},
            "new_chat_member": {**new, "user": self.bot_user},
        }
        return self.push_update({"my_chat_member": member_update})

    def _new_message(
        self,
        chat: dict[str, Any],
        sender: dict[str, Any],
        content: dict[str, Any],
        reply_to: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Build a Message with the chat's next message id."""
        chat_id = chat["id"]
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": copy.deepcopy(sender),
            "chat": copy.deepcopy(chat),
            "date": int(time.time()),
        }
        if reply_to is not None:
            nested = _api_view(reply_to)
            nested.pop("reply_to_message", None)
            message["reply_to_message"] = nested
        message.update(copy.deepcopy(content))
        return message

    def _find_entry(self, chat_id: int, message_id: int) -> _Entry | None:
        """Find a message in a chat log."""
        for entry in self._log.get(chat_id, []):
            if entry.message["message_id"] == message_id:
                return entry
        return None

    def _register_file(
        self,
        data: bytes,
        kind: str,
        *,
        file_size: int | None = None,
        meta: dict[str, Any] | None = None,
    ) -> _StoredFile:
        """Create a downloadable file and return its record."""
        self._file_seq += 1
        seq = self._file_seq
        meta = {k: v for k, v in (meta or {}).items() if v is not None}
        name = meta.get("file_name")
        ext = ""
        if name and "." in name:
            ext = "." + name.rsplit(".", 1)[1]
        elif meta.get("mime_type"):
            ext = mimetypes.guess_extension(meta["mime_type"]) or ""
        elif kind == "photo":
            ext = ".png" if data.startswith(b"\x89PNG") else ".jpg"
        stored = _StoredFile(
            file_id=f"FAKE-{kind}-{seq}-{self._rng_token(seq)}",
            file_unique_id=f"U{seq}",
            kind=kind,
            data=data,
            file_size=len(data) if file_size is None else file_size,
            file_path=f"{_FILE_FOLDERS[kind]}/file_{seq}{ext}",
            meta=meta,
        )
        self._files[stored.file_id] = stored
        self._paths[stored.file_path] = stored
        return stored

    @staticmethod
    def _rng_token(seq: int) -> str:
        """Return a deterministic pseudo-random suffix for file ids."""
        return f"{(seq * 2654435761) % 2**32:08x}"

    def _photo_sizes(self, data: bytes, reuse: _StoredFile | None = None) -> list[dict[str, Any]]:
        """Register a small and a large PhotoSize for an image and return both."""
        width, height = _image_size(data) or (1280, 960)
        scale = min(1.0, 1280 / max(width, height, 1))
        large_dims = (max(1, round(width * scale)), max(1, round(height * scale)))
        small_scale = 90 / max(width, height, 1)
        small_dims = (max(1, round(width * small_scale)), max(1, round(height * small_scale)))
        sizes = []
        for dims in (small_dims, large_dims):
            is_large = dims is large_dims
            stored = reuse if (is_large and reuse is not None) else None
            if stored is None:
                stored = self._register_file(data, "photo")
            stored.meta = {"width": dims[0], "height": dims[1]}
            sizes.append(self._media_object(stored))
        return sizes

    @staticmethod
    def _media_object(stored: _StoredFile) -> dict[str, Any]:
        """Return the Telegram object (PhotoSize, Document, ...) for a stored file."""
        data: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
        }
        data.update(stored.meta)
        data["file_size"] = stored.file_size
        if stored.kind in ("video", "animation"):
            data.setdefault("width", 640)
            data.setdefault("height", 360)
            data.setdefault("duration", 0)
        elif stored.kind in ("audio", "voice"):
            data.setdefault("duration", 0)
        elif stored.kind == "video_note":
            data.setdefault("length", 240)
            data.setdefault("duration", 0)
        elif stored.kind == "photo":
            data.setdefault("width", 1280)
            data.setdefault("height", 960)
        return data

    def _target_chat(self, p: _Params, key: str = "chat_id", *, send: bool = True) -> dict:
        """Resolve a chat parameter, enforcing blocks and membership for sends."""
        raw = p.require(key)
        chat: dict[str, Any] | None = None
        if isinstance(raw, str) and raw.startswith("@"):
            chat = next((c for c in self._chats.values() if c.get("username") == raw[1:]), None)
        else:
            try:
                chat = self._chats.get(int(raw))
                if send and int(raw) in self.blocked_users:
                    raise ApiError(403, "Forbidden: bot was blocked by the user")
            except (TypeError, ValueError):
                chat = None
        if chat is None:
            raise _bad("chat not found")
        state = self._membership.get(chat["id"], "member")
        if send and chat["type"] != "private" and state in ("left", "kicked"):
            kind = "supergroup" if chat["type"] == "supergroup" else chat["type"]
            if kind == "channel":
                raise ApiError(403, "Forbidden: bot is not a member of the channel chat")
            if state == "kicked":
                raise ApiError(403, f"Forbidden: bot was kicked from the {kind} chat")
            raise ApiError(403, f"Forbidden: bot is not a member of the {kind} chat")
        return chat

    def _resolve_reply(self, p: _Params, chat_id: int) -> dict[str, Any] | None:
        """Resolve reply_parameters / reply_to_message_id to the replied message."""
        params = p.get("reply_parameters") or {}
        message_id = params.get("message_id", p.get("reply_to_message_id"))
        if message_id is None:
            return None
        allow = params.get("allow_sending_without_reply", p.get("allow_sending_without_reply"))
        target_chat = params.get("chat_id", chat_id)
        entry = self._find_entry(int(target_chat), int(message_id))
        if entry is None or entry.deleted:
            if allow:
                return None
            raise _bad("message to be replied not found")
        return entry.message

    def _check_markup(self, markup: Any) -> dict[str, Any] | None:
        """Validate a reply_markup parameter like Telegram does."""
        if markup in (None, ""):
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                size = len(str(data).encode())
                if data is not None and not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
                    raise _bad("BUTTON_DATA_INVALID")
        return markup

    def _store_bot_message(
        self,
        chat: dict[str, Any],
        content: dict[str, Any],
        p: _Params,
        reply_to: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """Store a message sent by the bot and return it as the API shows it."""
        content = {**content, **self._thread_content(chat, p)}
        markup = self._check_markup(p.get("reply_markup"))
        if markup is not None:
            content = {**content, "reply_markup": markup}
            if "keyboard" in markup:
                self._keyboards[chat["id"]] = markup
            elif markup.get("remove_keyboard"):
                self._keyboards[chat["id"]] = None
        message = self._new_message(chat, self.bot_user, content, reply_to)
        self._log.setdefault(chat["id"], []).append(_Entry(message, from_bot=True))
        self._notify()
        return _api_view(message)

    def _thread_content(self, chat: dict[str, Any], p: _Params) -> dict[str, Any]:
        """message_thread_id checked like Telegram: a forum, an existing, open topic."""
        thread = p.get("message_thread_id")
        if thread in (None, "", 0):
            return {}
        topic = self.topics.get((chat["id"], int(thread)))
        if not chat.get("is_forum") or topic is None:
            raise _bad("message thread not found")
        if topic["closed"]:
            raise _bad("TOPIC_CLOSED")
        return {"message_thread_id": int(thread), "is_topic_message": True}

    def _create_forum_topic(self, p: _Params) -> dict[str, Any]:
        """createForumTopic (forum supergroups only)."""
        chat = self._target_chat(p)
        if not chat.get("is_forum"):
            raise _bad("the chat is not a forum")
        name = str(p.require("name"))
        if not 1 <= len(name) <= 128:
            raise _bad("TOPIC_NAME_INVALID")
        self._next_thread_id += 1
        thread = self._next_thread_id
        self.topics[(chat["id"], thread)] = {"name": name, "closed": False}
        return {"message_thread_id": thread, "name": name, "icon_color": 7322096}

    def _set_topic_closed(self, p: _Params, closed: bool) -> bool:
        chat = self._target_chat(p)
        topic = self.topics.get((chat["id"], int(p.require("message_thread_id"))))
        if topic is None:
            raise _bad("message thread not found")
        if topic["closed"] == closed:
            raise _bad("TOPIC_NOT_MODIFIED")
        topic["closed"] = closed
        return True

    def _text_content(self, p: _Params) -> dict[str, Any]:
        """Parse and check the text of sendMessage / editMessageText."""
        raw = p.get("text")
        if raw is None or str(raw) == "":
            raise _bad("message text is empty")
        text, entities = _format(str(raw), p.get("parse_mode"), p.get("entities"))
        if not text:
            raise _bad("message text is empty")
        if _u16(text) > MAX_TEXT_LENGTH:
            raise _bad("message is too long")
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return content

    @staticmethod
    def _caption_content(caption: Any, parse_mode: Any, entities: Any) -> dict[str, Any]:
        """Parse and check a caption."""
        if caption is None or str(caption) == "":
            return {}
        text, found = _format(str(caption), parse_mode, entities)
        if _u16(text) > MAX_CAPTION_LENGTH:
            raise _bad("message caption is too long")
        content: dict[str, Any] = {"caption": text} if text else {}
        if found:
            content["caption_entities"] = found
        return content

    def _input_file(
        self, p: _Params, ref: Any, kind: str, field_name: str, extra: dict[str, Any]
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Resolve an InputFile reference (attach://, file_id, URL, part) to a media object."""
        if ref is None and field_name in p.files:
            ref = f"attach://{field_name}"
        if not isinstance(ref, str) or not ref:
            raise _bad(f"there is no {kind} in the request")
        meta = {k: v for k, v in extra.items() if v is not None}
        if ref.startswith("attach://"):
            name = ref.removeprefix("attach://")
            if name not in p.files:
                raise _bad(_WRONG_FILE.removeprefix("Bad Request: "))
            data = p.files[name]
            if len(data) > MAX_UPLOAD_SIZE:
                raise ApiError(413, "Request Entity Too Large")
            file_name = p.filenames.get(name)
            if kind == "photo":
                if self.strict_images and _image_size(data) is None:
                    raise _bad("IMAGE_PROCESS_FAILED")
                return self._photo_sizes(data)
            if kind in ("document", "video", "audio", "animation"):
                meta.setdefault("file_name", file_name)
                guessed = mimetypes.guess_type(file_name or "")[0]
                meta.setdefault("mime_type", guessed or "application/octet-stream")
            if kind == "voice":
                meta.setdefault("mime_type", "audio/ogg")
            if kind == "sticker":
                meta.update(type="regular", width=512, height=512, is_animated=False)
                meta["is_video"] = False
            return self._media_object(self._register_file(data, kind, meta=meta))
        if ref.startswith(("http://", "https://")):
            if kind == "photo":
                return self._photo_sizes(b"")
            name = ref.rsplit("/", 1)[-1]
            if kind == "document" and name:
                meta.setdefault("file_name", name)
            return self._media_object(self._register_file(b"", kind, meta=meta))
        stored = self._files.get(ref)
        if stored is None:
            raise _bad(_WRONG_FILE.removeprefix("Bad Request: "))
        if stored.kind != kind:
            raise _bad(
                f"can't use file of type {stored.kind.title()} as {kind.replace('_', ' ').title()}"
            )
        if kind == "photo":
            return self._photo_sizes(stored.data, reuse=stored)
        return self._media_object(stored)

    # ------------------------------------------------------------------ API methods

    def _method_table(self) -> dict[str, Callable[[_Params], Any]]:
        """Return the implemented Bot API methods."""
        table: dict[str, Callable[[_Params], Any]] = {
            "getMe": self._get_me,
            "logOut": lambda p: True,
            "close": lambda p: True,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "sendLocation": self._send_location,
            "sendVenue": self._send_venue,
            "sendContact": self._send_contact,
            "sendMediaGroup": self._send_media_group,
            "forwardMessage": self._forward_message,
            "copyMessage": self._copy_message,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "answerCallbackQuery": self._answer_callback_query,
            "getFile": self._get_file,
            "sendChatAction": self._send_chat_action,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getChat": self._get_chat,
            "leaveChat": self._leave_chat,
            "deleteMessage": self._delete_message,
            "createForumTopic": self._create_forum_topic,
            "closeForumTopic": lambda p: self._set_topic_closed(p, True),
            "reopenForumTopic": lambda p: self._set_topic_closed(p, False),
        }
        for name, kind in _MEDIA_SENDS.items():
            table[name] = self._make_media_sender(kind)
        return table

    def _get_me(self, p: _Params) -> dict[str, Any]:
        """getMe."""
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _delete_webhook(self, p: _Params) -> bool:
        """deleteWebhook (drop_pending_updates honoured)."""
        if p.get("drop_pending_updates"):
            ids = [u["update_id"] for u in self._updates]
            self._fetched_upto = max([self._fetched_upto, *ids])
            self._updates.clear()
        return True

    def _get_webhook_info(self, p: _Params) -> dict[str, Any]:
        """getWebhookInfo."""
        pending = len(self._updates)
        return {"url": "", "has_custom_certificate": False, "pending_update_count": pending}

    async def _get_updates(self, p: _Params) -> list[dict[str, Any]]:
        """getUpdates with offset/limit/timeout long polling and allowed_updates."""
        offset = int(p.get("offset") or 0)
        limit = min(max(int(p.get("limit") or 100), 1), 100)
        timeout = max(float(p.get("timeout") or 0), 0.0)
        if "allowed_updates" in p.values:
            allowed = p.get("allowed_updates") or []
            self._allowed_updates = frozenset(allowed) if allowed else None
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        for other in list(self._poll_waiters):
            if not other.done():
                other.set_result("conflict")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            batch = self._take_updates(limit)
            remaining = deadline - loop.time()
            if batch or self._stopping or remaining <= 0:
                break
            waiter: asyncio.Future[str] = loop.create_future()
            self._poll_waiters.add(waiter)
            self._notify()
            try:
                reason = await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                reason = "timeout"
            finally:
                self._poll_waiters.discard(waiter)
            if reason == "conflict":
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
        if batch:
            self._touch()
        return batch

    def _take_updates(self, limit: int) -> list[dict[str, Any]]:
        """Return up to ``limit`` deliverable updates, dropping ones not allowed."""
        allowed = self._allowed_updates or DEFAULT_UPDATE_TYPES
        batch: list[dict[str, Any]] = []
        for update in list(self._updates):
            kind = next((k for k in update if k != "update_id"), "")
            if kind not in allowed:
                self._updates.remove(update)
                self.dropped_updates.append(update)
                self._fetched_upto = max(self._fetched_upto, update["update_id"])
                continue
            batch.append(copy.deepcopy(update))
            if len(batch) >= limit:
                break
        if batch:
            self._fetched_upto = max(self._fetched_upto, batch[-1]["update_id"])
        if self._raw_updates and len(batch) < limit:
            batch.extend(self._raw_updates)
            self._raw_updates.clear()
        return batch

    def _send_message(self, p: _Params) -> dict[str, Any]:
        """sendMessage."""
        chat = self._target_chat(p)
        content = self._text_content(p)
        return self._store_bot_message(chat, content, p, self._resolve_reply(p, chat["id"]))

    def _make_media_sender(self, kind: str) -> Callable[[_Params], dict[str, Any]]:
        """Build the handler of sendPhoto, sendDocument, ... for one media kind."""

        def send(p: _Params) -> dict[str, Any]:
            chat = self._target_chat(p)
            extra = {
                key: p.get(key)
                for key in ("duration", "width", "height", "performer", "title", "length")
            }
            if kind == "sticker":
                extra["emoji"] = p.get("emoji")
            media = self._input_file(p, p.get(kind), kind, kind, extra)
            content: dict[str, Any] = {kind: media}
            if kind != "sticker":
                content.update(
                    self._caption_content(
                        p.get("caption"), p.get("parse_mode"), p.get("caption_entities")
                    )
                )
            return self._store_bot_message(chat, content, p, self._resolve_reply(p, chat["id"]))

        return send

    def _send_media_group(self, p: _Params) -> list[dict[str, Any]]:
        """sendMediaGroup: 2-10 items sharing a media_group_id."""
        chat = self._target_chat(p)
        media = p.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise _bad("wrong number of media items in the media group (must be 2-10)")
        kinds = {item.get("type") for item in media if isinstance(item, dict)}
        if not kinds <= {"photo", "video"} and len(kinds) > 1:
            raise _bad("documents and audio can't be mixed with other media types")
        reply_to = self._resolve_reply(p, chat["id"])
        contents = []
        for index, item in enumerate(media):
            kind = item.get("type") if isinstance(item, dict) else None
            if kind not in ("photo", "video", "document", "audio"):
                raise _bad(f"can't parse InputMedia: media #{index + 1} has unknown type")
            extra = {k: item.get(k) for k in ("duration", "width", "height", "performer")}
            content: dict[str, Any] = {
                kind: self._input_file(p, item.get("media"), kind, f"media{index}", extra)
            }
            content.update(
                self._caption_content(
                    item.get("caption"), item.get("parse_mode"), item.get("caption_entities")
                )
            )
            contents.append(content)
        group_id = str(13_000_000_000_000_000 + len(self.calls))
        thread = self._thread_content(chat, p)
        results = []
        for content in contents:
            content["media_group_id"] = group_id
            content.update(thread)
            message = self._new_message(chat, self.bot_user, content, reply_to)
            self._log.setdefault(chat["id"], []).append(_Entry(message, from_bot=True))
            results.append(_api_view(message))
        self._notify()
        return results

    def _send_location(self, p: _Params) -> dict[str, Any]:
        """sendLocation."""
        chat = self._target_chat(p)
        location: dict[str, Any] = {
            "latitude": float(p.require("latitude")),
            "longitude": float(p.require("longitude")),
        }
        for key in ("horizontal_accuracy", "live_period", "heading"):
            if p.get(key) is not None:
                location[key] = p.get(key)
        content = {"location": location}
        return self._store_bot_message(chat, content, p, self._resolve_reply(p, chat["id"]))

    def _send_venue(self, p: _Params) -> dict[str, Any]:
        """sendVenue."""
        chat = self._target_chat(p)
        location = {
            "latitude": float(p.require("latitude")),
            "longitude": float(p.require("longitude")),
        }
        venue = {
            "location": location,
            "title": p.require("title"),
            "address": p.require("address"),
        }
        content = {"venue": venue, "location": location}
        return self._store_bot_message(chat, content, p, self._resolve_reply(p, chat["id"]))

    def _send_contact(self, p: _Params) -> dict[str, Any]:
        """sendContact."""
        chat = self._target_chat(p)
        contact = {
            "phone_number": p.require("phone_number"),
            "first_name": p.require("first_name"),
        }
        if p.get("last_name"):
            contact["last_name"] = p.get("last_name")
        content = {"contact": contact}
        return self._store_bot_message(chat, content, p, self._resolve_reply(p, chat["id"]))

    def _source_message(self, p: _Params, what: str) -> dict[str, Any]:
        """Find the message a forwardMessage/copyMessage call refers to."""
        source_chat = self._target_chat(p, "from_chat_id", send=False)
        entry = self._find_entry(source_chat["id"], int(p.require("message_id")))
        if entry is None or entry.deleted:
            raise _bad(f"message to {what} not found")
        return entry.message

    def _forward_message(self, p: _Params) -> dict[str, Any]:
        """forwardMessage."""
        source = self._source_message(p, "forward")
        chat = self._target_chat(p)
        content = {k: copy.deepcopy(source[k]) for k in _CONTENT_KEYS if k in source}
        content["forward_origin"] = {
            "type": "user",
            "sender_user": copy.deepcopy(source.get("from", self.bot_user)),
            "date": source["date"],
        }
        content["forward_date"] = source["date"]
        return self._store_bot_message(chat, content, _Params({}, {}, {}), None)

    def _copy_message(self, p: _Params) -> dict[str, Any]:
        """copyMessage (returns a MessageId)."""
        source = self._source_message(p, "copy")
        chat = self._target_chat(p)
        content = {k: copy.deepcopy(source[k]) for k in _CONTENT_KEYS if k in source}
        if p.get("caption") is not None and "text" not in content:
            content.pop("caption", None)
            content.pop("caption_entities", None)
            content.update(
                self._caption_content(
                    p.get("caption"), p.get("parse_mode"), p.get("caption_entities")
                )
            )
        message = self._store_bot_message(chat, content, p, self._resolve_reply(p, chat["id"]))
        return {"message_id": message["message_id"]}

    def _editable(self, p: _Params) -> _Entry:
        """Find the bot message an edit* call refers to."""
        if p.get("inline_message_id"):
            raise _bad("inline messages are not supported by the fake API")
        chat = self._target_chat(p)
        entry = self._find_entry(chat["id"], int(p.require("message_id")))
        if entry is None or entry.deleted:
            raise _bad("message to edit not found")
        if not entry.from_bot:
            raise _bad("message can't be edited")
        return entry

    def _apply_edit(self, entry: _Entry, changes: dict[str, Any], markup: Any) -> dict:
        """Apply an edit unless nothing changes (then fail like Telegram)."""
        message = entry.message
        current_markup = message.get("reply_markup")
        new_markup = self._check_markup(markup)
        if current_markup is not None and "inline_keyboard" not in current_markup:
            new_markup = current_markup  # reply keyboards are not touched by edits
        updated = {k: v for k, v in message.items() if k not in changes}
        updated.update({k: v for k, v in changes.items() if v is not None})
        updated.pop("reply_markup", None)
        if new_markup is not None:
            updated["reply_markup"] = new_markup
        keys = (*_CONTENT_KEYS, "reply_markup")
        if all(updated.get(k) == message.get(k) for k in keys):
            raise _bad(_NOT_MODIFIED.removeprefix("Bad Request: "))
        updated["edit_date"] = int(time.time())
        entry.message = updated
        self._notify()
        return _api_view(updated)

    def _edit_message_text(self, p: _Params) -> dict[str, Any]:
        """editMessageText (an omitted reply_markup removes the inline keyboard)."""
        entry = self._editable(p)
        if "text" not in entry.message:
            raise _bad("there is no text in the message to edit")
        content = self._text_content(p)
        content.setdefault("entities", None)
        return self._apply_edit(entry, content, p.get("reply_markup"))

    def _edit_message_caption(self, p: _Params) -> dict[str, Any]:
        """editMessageCaption."""
        entry = self._editable(p)
        if "text" in entry.message:
            raise _bad("there is no caption in the message to edit")
        content = self._caption_content(
            p.get("caption"), p.get("parse_mode"), p.get("caption_entities")
        )
        changes = {"caption": None, "caption_entities": None, **content}
        return self._apply_edit(entry, changes, p.get("reply_markup"))

    def _edit_message_reply_markup(self, p: _Params) -> dict[str, Any]:
        """editMessageReplyMarkup."""
        entry = self._editable(p)
        return self._apply_edit(entry, {}, p.get("reply_markup"))

    def _answer_callback_query(self, p: _Params) -> bool:
        """answerCallbackQuery (each query can be answered once)."""
        query_id = str(p.require("callback_query_id"))
        if query_id not in self._pending_callbacks:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        self._pending_callbacks.discard(query_id)
        self.callback_answers[query_id] = dict(p.values)
        return True

    def _get_file(self, p: _Params) -> dict[str, Any]:
        """getFile (20 MB download limit)."""
        stored = self._files.get(str(p.require("file_id")))
        if stored is None:
            raise _bad("invalid file_id")
        if stored.file_size > MAX_DOWNLOAD_SIZE:
            raise _bad("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": stored.file_path,
        }

    def _send_chat_action(self, p: _Params) -> bool:
        """sendChatAction."""
        self._target_chat(p)
        if p.get("action") not in CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    @staticmethod
    def _commands_key(p: _Params) -> str:
        """Key of a command list by scope and language."""
        scope = p.get("scope") or {"type": "default"}
        return json.dumps([scope, p.get("language_code") or ""], sort_keys=True)

    def _set_my_commands(self, p: _Params) -> bool:
        """setMyCommands with Telegram's validation of names and descriptions."""
        commands = p.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            name = str(command.get("command", ""))
            description = str(command.get("description", ""))
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(p)] = copy.deepcopy(commands)
        return True

    def _get_my_commands(self, p: _Params) -> list[dict[str, Any]]:
        """getMyCommands."""
        return copy.deepcopy(self.commands.get(self._commands_key(p), []))

    def _delete_my_commands(self, p: _Params) -> bool:
        """deleteMyCommands."""
        self.commands.pop(self._commands_key(p), None)
        return True

    def _get_chat(self, p: _Params) -> dict[str, Any]:
        """getChat (a ChatFullInfo)."""
        chat = self._target_chat(p, send=False)
        gifts = chat["type"] == "private"
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": gifts,
                "limited_gifts": gifts,
                "unique_gifts": gifts,
                "premium_subscription": gifts,
                "gifts_from_channels": gifts,
            },
        }

    def _leave_chat(self, p: _Params) -> bool:
        """leaveChat (queues the resulting my_chat_member update)."""
        chat = self._target_chat(p)
        if chat["type"] == "private":
            raise _bad("chat member status can't be changed in private chats")
        self._membership[chat["id"]] = "left"
        member_update = {
            "chat": copy.deepcopy(chat),
            "from": self.bot_user,
            "date": int(time.time()),
            "old_chat_member": {"status": "member", "user": self.bot_user},
            "new_chat_member": {"status": "left", "user": self.bot_user},
        }
        self.push_update({"my_chat_member": member_update})
        return True

    def _delete_message(self, p: _Params) -> bool:
        """deleteMessage (bot's own or users' messages)."""
        chat = self._target_chat(p)
        entry = self._find_entry(chat["id"], int(p.require("message_id")))
        if entry is None or entry.deleted:
            raise _bad("message to delete not found")
        entry.deleted = True
        self._notify()
        return True


# --------------------------------------------------------------------------- helpers


def _decode_field(key: str, value: str) -> Any:
    """Decode a form field: JSON for structured/number/bool fields, raw for free text."""
    if key in _TEXT_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _api_view(message: dict[str, Any]) -> dict[str, Any]:
    """Return a message as the Bot API shows it (only inline keyboards are echoed)."""
    view = copy.deepcopy(message)
    markup = view.get("reply_markup")
    if markup is not None and "inline_keyboard" not in markup:
        del view["reply_markup"]
    return view


def _describe_buttons(message: dict[str, Any]) -> str:
    """Describe a message's buttons for error messages."""
    markup = message.get("reply_markup") or {}
    if "inline_keyboard" in markup:
        buttons = [
            f"{b.get('text')!r}->{b.get('callback_data') or b.get('url')}"
            for row in markup["inline_keyboard"]
            for b in row
        ]
        return "inline [" + ", ".join(buttons) + "]"
    if "keyboard" in markup:
        texts = [b if isinstance(b, str) else b.get("text") for r in markup["keyboard"] for b in r]
        return "keyboard [" + ", ".join(repr(t) for t in texts) + "]"
    return "(none)"


def _summary(message: dict[str, Any]) -> str:
    """Summarize a message in one line."""
    parts = []
    if "text" in message:
        text = message["text"]
        parts.append(repr(text if len(text) <= 120 else text[:117] + "..."))
    for key in ("photo", "document", "video", "voice", "audio", "animation", "sticker"):
        if key in message:
            parts.append(f"[{key}]")
    if "location" in message:
        loc = message["location"]
        parts.append(f"[location {loc['latitude']}, {loc['longitude']}]")
    if "contact" in message:
        parts.append(f"[contact {message['contact']['phone_number']}]")
    if "caption" in message:
        parts.append(f"caption={message['caption'][:80]!r}")
    if message.get("reply_markup"):
        parts.append(_describe_buttons(message))
    return " ".join(parts) or "(service message)"
