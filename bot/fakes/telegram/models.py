"""The fake Bot API's public models (users, chats, calls, errors) and its constants."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass


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


def _bad(description: str) -> ApiError:
    """Build a 400 error with the usual ``Bad Request:`` prefix."""
    return ApiError(400, f"Bad Request: {description}")


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


CallHook = Callable[[ApiCall], None]


UpdateHook = Callable[[dict[str, Any]], None]


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
