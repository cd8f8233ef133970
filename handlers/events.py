"""Channel-neutral inbound events and outbound messages.

Every channel adapter translates its updates into an `Event` and renders `Outgoing`
messages back; nothing here knows about Telegram or Zalo.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

EventKind = Literal[
    "command",
    "text",
    "location",
    "media",
    "contact",
    "button",
    "unsupported",  # stickers, polls, GIFs and anything else we cannot use
    "edited",  # the user edited an earlier message (the edit itself is not used)
    "bot_removed",
]


@dataclass(frozen=True)
class FileRef:
    """A file the user sent, still on the channel's servers."""

    file_id: str
    kind: str  # photo | video | voice | audio | document
    size: int | None = None
    mime_type: str | None = None
    file_name: str | None = None


class FileFetcher(Protocol):
    """Downloads a channel file to a local path (implemented by each channel)."""

    async def fetch(self, ref: FileRef, destination: str) -> None:
        """Write the file's bytes to `destination`."""


@dataclass(frozen=True)
class Event:
    """One thing a user did, as every channel can describe it."""

    channel: str
    chat_id: str
    chat_type: Literal["private", "group"]
    user_id: str
    kind: EventKind
    user_name: str | None = None
    language_code: str | None = None
    update_id: int | None = None
    message_id: int | None = None
    text: str | None = None  # text, caption, or the command's argument string
    command: str | None = None  # without the slash, lower case
    latitude: float | None = None
    longitude: float | None = None
    files: tuple[FileRef, ...] = ()
    phone: str | None = None  # shared contact
    contact_is_own: bool = True
    button_data: str | None = None
    reply_to_message_id: int | None = None
    reply_to_bot: bool = False  # the replied-to message is the bot's
    reply_to_text: str | None = None  # its text or caption (to find a prompt by it)
    unsupported_kind: str | None = None  # sticker, animation, poll...
    forwarded: bool = False  # forwarded from someone else (or from a channel)
    other_bot: bool = False  # a command addressed to another bot (/report@otherbot)
    chat_is_forum: bool = False  # a forum supergroup (topics)
    # Updates folded into this event (an album's other items): claimed with it.
    more_update_ids: tuple[int, ...] = ()


@dataclass
class Button:
    """An inline button: a label and compact callback data."""

    text: str
    data: str


@dataclass
class KeyButton:
    """A reply-keyboard button; may ask the client to share location or contact."""

    text: str
    request_location: bool = False
    request_contact: bool = False


@dataclass
class Outgoing:
    """A message for one chat; serialised into the outbox as JSON."""

    chat_id: str
    # document: one file (media[0]: {"path", "kind": "document", "filename"}), e.g. a report
    # topic / topic_close / topic_reopen: the case's forum topic in a group (text = name)
    kind: Literal[
        "message", "album", "location", "edit", "document", "topic", "topic_close", "topic_reopen"
    ] = "message"
    text: str = ""
    buttons: list[list[Button]] = field(default_factory=list)
    keyboard: list[list[KeyButton]] = field(default_factory=list)
    remove_keyboard: bool = False
    force_reply: bool = False
    # With force_reply in a group: only the people the text mentions get the reply box.
    selective: bool = False
    html: bool = False
    media: list[dict[str, Any]] = field(default_factory=list)  # [{"path", "kind"}]
    latitude: float | None = None
    longitude: float | None = None
    case_id: int | None = None
    # After sending, remember the message: {"purpose": "card"|"prompt", ...extra}
    track: dict[str, Any] | None = None
    # For kind == "edit": which remembered messages to edit.
    edit_purpose: str | None = None
    # In an officer group: post as a reply to the case's card there ("under the case"),
    # and inside the case's forum topic when the group is a forum with one.
    reply_to_card: bool = False
    in_topic: bool = False

    def to_payload(self) -> dict[str, Any]:
        """JSON-ready form kept in the outbox."""
        return {
            "text": self.text,
            "buttons": [[{"text": b.text, "data": b.data} for b in row] for row in self.buttons],
            "keyboard": [
                [
                    {
                        "text": k.text,
                        "request_location": k.request_location,
                        "request_contact": k.request_contact,
                    }
                    for k in row
                ]
                for row in self.keyboard
            ],
            "remove_keyboard": self.remove_keyboard,
            "force_reply": self.force_reply,
            "selective": self.selective,
            "html": self.html,
            "media": self.media,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "track": self.track,
            "edit_purpose": self.edit_purpose,
            "reply_to_card": self.reply_to_card,
            "in_topic": self.in_topic,
        }


@dataclass
class Reply:
    """What handling an event produced besides outbox rows: the answer to a button press,
    and work to run once the event's transaction has committed."""

    callback_text: str | None = None
    callback_alert: bool = False
    # Long reads (a report) that must not hold the write transaction: each is called with
    # the runtime's sessionmaker after the commit, and opens its own transactions.
    after_commit: list[Callable[[Any], Awaitable[None]]] = field(default_factory=list)
