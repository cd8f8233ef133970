"""What a Zalo update means as a neutral `Event`, read from the JSON alone.

- `message.text.received`: a command typed with or without the slash ("/baocao", "bao
  cao", "huy", "menu"), a choice from the chat's numbered menu (the button's event), the
  answer to an officer's pending question (a reply to it), or plain text;
- `message.image.received`: a photo (`photo_url` in real payloads, `photo` in the docs)
  with an optional caption; the core downloads it at once (the URL expires);
- `message.sticker.received`: content the hotline cannot use (answered politely);
- `message.unsupported.received`: the same, or with no content at all what the platform
  sends for people it protects: the channel answers those with the contact points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.channels.zalo import menus
from bot.channels.zalo.routing import CHANNEL, chat_of, event_of, message_of, sender_id
from bot.geo import fold
from handlers.events import Event, FileRef

# Commands typed without the slash (folded: lower case, no accents, no spaces).
ALIASES: dict[str, str] = {
    "report": "report",
    "baocao": "report",
    "phananh": "report",
    "guiphananh": "report",
    "start": "start",
    "batdau": "start",
    "mycases": "mycases",
    "cuatoi": "mycases",
    "phananhcuatoi": "mycases",
    "cancel": "cancel",
    "huy": "cancel",
    "huybo": "cancel",
    "help": "help",
    "trogiup": "help",
    "huongdan": "help",
    "lang": "lang",
    "ngonngu": "lang",
    "language": "lang",
    "menu": "menu",
}
# Slash commands of our own names for the same things.
SLASH = {**ALIASES}
MENU_COMMAND = "menu"  # the channel's own help menu (see channel.ZaloChannel)
COMMAND_DATA_PREFIX = "zalo:cmd:"  # menu options that stand for a command


@dataclass(frozen=True)
class Translation:
    """An update's event, or what the channel answers itself."""

    event: Event | None = None
    # The channel's own answers: "menu" (the command menu), "hidden" (an unsupported event
    # with no content: the contact points), "out_of_range" (a number that is no option).
    own: str | None = None
    out_of_range: menus.OutOfRange | None = None
    answers: int | None = None  # the pending question this event answers


def _name(message: dict[str, Any]) -> str | None:
    sender = message.get("from")
    if not isinstance(sender, dict):
        return None
    name = sender.get("display_name") or sender.get("name")
    return str(name)[:256] if name else None


def _command(text: str) -> tuple[str, str] | None:
    """(command, argument) for a typed command, with or without the slash."""
    stripped = text.strip()
    if stripped.startswith("/"):
        body = stripped[1:]
        if not body or body[0].isspace():
            return "", body.strip()
        head, *rest = body.split(maxsplit=1)
        name = head.partition("@")[0]
        key = fold(name).replace(" ", "")
        return SLASH.get(key, name.lower()[:32]), rest[0].strip() if rest else ""
    key = fold(stripped).replace(" ", "")
    if key in ALIASES and len(stripped) <= 40:
        return ALIASES[key], ""
    return None


def translate(
    raw: Any,
    update_id: int | None,
    *,
    options: list[menus.Option] | None = None,
    pending_question: int | None = None,
) -> Translation:
    """The event of one raw Zalo update, given the chat's menu and pending question."""
    event = event_of(raw)
    if event is None:
        return Translation()
    message = message_of(event)
    user_id = sender_id(message)
    chat_id, chat_type = chat_of(message)
    sender = message.get("from")
    if (
        user_id is None
        or chat_id is None
        or chat_type != "PRIVATE"
        or (isinstance(sender, dict) and sender.get("is_bot") is True)
    ):
        return Translation()  # groups are not ours on Zalo; bots are not answered
    base: dict[str, Any] = {
        "channel": CHANNEL,
        "chat_id": chat_id,
        "chat_type": "private",
        "user_id": user_id,
        "user_name": _name(message),
        "update_id": update_id,
    }
    name = event["event_name"]
    if name == "message.text.received":
        text = message.get("text")
        text = text if isinstance(text, str) else ""
        command = _command(text) if text.strip() else None
        if command is not None:
            cmd, arg = command
            if cmd == MENU_COMMAND:
                return Translation(own="menu")
            return Translation(Event(kind="command", command=cmd, text=arg, **base))
        choice = menus.choose(options or [], text)
        if isinstance(choice, menus.OutOfRange):
            return Translation(own="out_of_range", out_of_range=choice)
        if choice is not None:
            option = (options or [])[choice]
            if option.data and option.data.startswith(COMMAND_DATA_PREFIX):
                cmd = option.data.removeprefix(COMMAND_DATA_PREFIX)
                return Translation(Event(kind="command", command=cmd, text="", **base))
            if option.data:
                return Translation(Event(kind="button", button_data=option.data[:64], **base))
            return Translation(Event(kind="text", text=option.label, **base))
        if pending_question is not None and text.strip():
            return Translation(
                Event(
                    kind="text",
                    text=text,
                    reply_to_message_id=pending_question,
                    reply_to_bot=True,
                    **base,
                ),
                answers=pending_question,
            )
        return Translation(Event(kind="text", text=text, **base))
    if name == "message.image.received":
        url = message.get("photo_url") or message.get("photo")
        caption = message.get("caption")
        caption = caption if isinstance(caption, str) and caption.strip() else None
        if not isinstance(url, str) or not url.strip():
            return Translation(Event(kind="unsupported", unsupported_kind="image", **base))
        ref = FileRef(url.strip(), "photo", None, "image/jpeg")
        if pending_question is not None:
            return Translation(
                Event(
                    kind="media",
                    files=(ref,),
                    text=caption,
                    reply_to_message_id=pending_question,
                    reply_to_bot=True,
                    **base,
                ),
                answers=pending_question,
            )
        return Translation(Event(kind="media", files=(ref,), text=caption, **base))
    if name == "message.sticker.received":
        return Translation(Event(kind="unsupported", unsupported_kind="sticker", **base))
    if name == "message.unsupported.received":
        content = any(
            message.get(k) for k in ("text", "photo_url", "photo", "sticker", "url", "caption")
        )
        if not content:
            return Translation(own="hidden")
        return Translation(Event(kind="unsupported", unsupported_kind="unsupported", **base))
    return Translation()  # an event of a kind we do not know: nothing for the core
