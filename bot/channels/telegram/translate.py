"""What a Telegram update means as a neutral `Event`, read from the Bot API JSON.

Both Telegram runtimes (aiogram, python-telegram-bot) hand their handlers' raw update here,
so every rule is written once: channels and bots ignored, anonymous group admins kept,
forwards, edits, commands with @mention, content the hotline cannot use.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

from bot.channels.telegram.routing import CHANNEL
from handlers.events import Event, FileRef

# Content a person chose to send that the hotline cannot use: answered politely in private
# chats. Everything else without text, place, contact or file (pinned messages, auto-delete
# timers, members joining and other service messages) is noise and ignored.
USER_CONTENT_UNUSABLE = (
    "sticker",
    "animation",
    "poll",
    "dice",
    "game",
    "story",
    "paid_media",
    "checklist",
    "invoice",
    "live_photo",
    "giveaway",
)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def full_name(user: dict[str, Any]) -> str:
    """A Telegram user's first and last name, as clients show them."""
    first, last = user.get("first_name") or "", user.get("last_name")
    return f"{first} {last}" if last else str(first)


def _chat_type(chat: dict[str, Any]) -> Literal["private", "group"] | None:
    if chat.get("type") == "private":
        return "private"
    if chat.get("type") in ("group", "supergroup"):
        return "group"
    return None  # channels: not an audience of ours


def files_of(message: dict[str, Any]) -> tuple[FileRef, ...]:
    """The file a message carries (the largest size of a photo), as the core fetches it."""
    if message.get("photo"):
        best = message["photo"][-1]
        return (FileRef(best["file_id"], "photo", best.get("file_size"), "image/jpeg"),)
    if message.get("video"):
        v = message["video"]
        return (
            FileRef(
                v["file_id"], "video", v.get("file_size"), v.get("mime_type"), v.get("file_name")
            ),
        )
    if message.get("video_note"):
        vn = message["video_note"]
        return (FileRef(vn["file_id"], "video", vn.get("file_size"), "video/mp4"),)
    if message.get("voice"):
        vo = message["voice"]
        mime = vo.get("mime_type") or "audio/ogg"
        return (FileRef(vo["file_id"], "voice", vo.get("file_size"), mime),)
    if message.get("audio"):
        a = message["audio"]
        return (
            FileRef(
                a["file_id"], "audio", a.get("file_size"), a.get("mime_type"), a.get("file_name")
            ),
        )
    if message.get("document") and not message.get("animation"):
        d = message["document"]
        return (
            FileRef(
                d["file_id"],
                "document",
                d.get("file_size"),
                d.get("mime_type"),
                d.get("file_name"),
            ),
        )
    return ()


def message_to_event(
    message: dict[str, Any], update_id: int | None, bot_username: str
) -> Event | None:
    """Translate a Telegram message (new or edited) into a neutral event (None: not for us).

    Ignored: channels, bots, posts on behalf of a channel (a channel admin posting in a
    group as the channel, the automatic forward of a channel post into its linked
    discussion group), service messages, edits in groups and live-location updates.
    Anonymous group admins (the group itself as sender) are kept, named after the group.
    """
    chat = _dict(message.get("chat"))
    chat_type = _chat_type(chat)
    user = message.get("from")
    if chat_type is None or not isinstance(user, dict):
        return None
    sender_chat = message.get("sender_chat")
    # Anonymous group admins post as GroupAnonymousBot on behalf of the group itself.
    anonymous_admin = isinstance(sender_chat, dict) and sender_chat.get("id") == chat.get("id")
    if message.get("is_automatic_forward") or (sender_chat is not None and not anonymous_admin):
        return None  # on behalf of a channel: nobody to answer
    if user.get("is_bot") and not anonymous_admin:
        return None
    replied = message.get("reply_to_message")
    base: dict[str, Any] = {
        "channel": CHANNEL,
        "chat_id": str(chat["id"]),
        "chat_type": chat_type,
        "user_id": str(user["id"]),
        "user_name": (chat.get("title") or "") if anonymous_admin else full_name(user),
        "language_code": user.get("language_code"),
        "update_id": update_id,
        "message_id": message.get("message_id"),
        "chat_is_forum": bool(chat.get("is_forum")),
        "reply_to_message_id": replied.get("message_id") if isinstance(replied, dict) else None,
    }
    if isinstance(replied, dict) and _dict(replied.get("from")).get("is_bot"):
        base["reply_to_bot"] = True
        base["reply_to_text"] = replied.get("text") or replied.get("caption")
    if message.get("edit_date") is not None:
        # An edit of an earlier message. Citizens are told edits do not count; groups are
        # not answered; a live location moving is an edit too, and is noise.
        if chat_type != "private" or message.get("location") is not None:
            return None
        return Event(kind="edited", **base)
    forwarded = message.get("forward_origin") is not None
    base["forwarded"] = forwarded
    text = message.get("text")
    if isinstance(text, str) and text.startswith("/") and not forwarded:
        body = text[1:]
        if not body or body[0].isspace():  # "/" alone, or "/ report"
            return Event(kind="command", command="", text=body.strip(), **base)
        head, *rest = body.split(maxsplit=1)  # "/report\nwords" too
        name, _, mention = head.partition("@")
        other_bot = bool(mention) and mention.lower() != bot_username.lower()
        if other_bot and chat_type == "group":
            return None  # a command for another bot in the group
        return Event(
            kind="command",
            command=name.lower()[:32],
            text=rest[0].strip() if rest else "",
            other_bot=other_bot,
            **base,
        )
    if isinstance(text, str):
        return Event(kind="text", text=text, **base)
    location = message.get("location") or _dict(message.get("venue")).get("location")
    if isinstance(location, dict):
        return Event(
            kind="location",
            latitude=location["latitude"],
            longitude=location["longitude"],
            **base,
        )
    contact = message.get("contact")
    if isinstance(contact, dict):
        # A forwarded contact card is never the sender's own number, whoever's it is.
        own = (
            not forwarded
            and contact.get("user_id") is not None
            and contact.get("user_id") == user["id"]
        )
        return Event(kind="contact", phone=contact.get("phone_number"), contact_is_own=own, **base)
    files = files_of(message)
    if files:  # forwarded files are evidence like any other
        return Event(kind="media", files=files, text=message.get("caption"), **base)
    kind = next((k for k in USER_CONTENT_UNUSABLE if message.get(k) is not None), None)
    if kind is None:
        return None
    return Event(kind="unsupported", unsupported_kind=kind, **base)


def button_event(query: dict[str, Any], update_id: int | None) -> Event | None:
    """A button press (None: no message or no data: nothing to act on, only answered)."""
    message = query.get("message")
    data = query.get("data")
    user = _dict(query.get("from"))
    if not isinstance(message, dict) or data is None or not user:
        return None
    chat = _dict(message.get("chat"))
    return Event(
        channel=CHANNEL,
        chat_id=str(chat.get("id")),
        chat_type="private" if chat.get("type") == "private" else "group",
        chat_is_forum=bool(chat.get("is_forum")),
        user_id=str(user["id"]),
        user_name=full_name(user),
        language_code=user.get("language_code"),
        update_id=update_id,
        message_id=message.get("message_id"),
        kind="button",
        button_data=str(data)[:64],
    )


def membership_event(member: dict[str, Any], update_id: int | None) -> Event | None:
    """The bot removed from a group (None: any other change of its membership)."""
    status = _dict(member.get("new_chat_member")).get("status")
    if status not in ("left", "kicked"):
        return None
    user = _dict(member.get("from"))
    return Event(
        channel=CHANNEL,
        chat_id=str(_dict(member.get("chat")).get("id")),
        chat_type="group",
        user_id=str(user.get("id")),
        user_name=full_name(user),
        update_id=update_id,
        kind="bot_removed",
    )


def update_to_event(raw: dict[str, Any], bot_username: str) -> Event | None:
    """The event of one raw update (None: nothing for the core)."""
    uid = raw.get("update_id")
    for kind in ("message", "edited_message"):
        if isinstance(raw.get(kind), dict):
            return message_to_event(raw[kind], uid, bot_username)
    if isinstance(raw.get("callback_query"), dict):
        return button_event(raw["callback_query"], uid)
    if isinstance(raw.get("my_chat_member"), dict):
        return membership_event(raw["my_chat_member"], uid)
    return None


def album_event(raws: list[dict[str, Any]], bot_username: str) -> Event | None:
    """One event for an album's items: the first one's, with every item's files."""
    items = [raw for raw in raws if isinstance(raw.get("message"), dict)]
    if not items:
        return None
    first = message_to_event(items[0]["message"], items[0].get("update_id"), bot_username)
    if first is None:
        return None
    files: list[FileRef] = []
    caption = None
    for raw in sorted(items, key=lambda r: r["message"].get("message_id") or 0):
        files.extend(files_of(raw["message"]))
        caption = caption or raw["message"].get("caption")
    return replace(
        first,
        kind="media",
        files=tuple(files),
        text=caption,
        more_update_ids=tuple(raw["update_id"] for raw in raws[1:]),
    )
