"""What the inbox needs of a raw Telegram update, read from the Bot API JSON alone."""

from __future__ import annotations

from typing import Any

from bot.channels.base import Route

CHANNEL = "telegram"
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]


def _int_id(value: Any) -> str | None:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _chat(obj: Any) -> tuple[str | None, str | None]:
    chat = obj.get("chat") if isinstance(obj, dict) else None
    if not isinstance(chat, dict):
        return None, None
    chat_type = chat.get("type")
    return _int_id(chat.get("id")), chat_type if isinstance(chat_type, str) else None


def _language(obj: Any) -> str | None:
    sender = obj.get("from") if isinstance(obj, dict) else None
    code = sender.get("language_code") if isinstance(sender, dict) else None
    return code if isinstance(code, str) else None


# What makes a message carry a file the core downloads (see translate.files_of; a GIF is
# refused).
_FILE_FIELDS = ("photo", "video", "video_note", "voice", "audio")


def carries_files(message: dict[str, Any]) -> bool:
    """Whether a message carries a file the core downloads."""
    if any(message.get(name) for name in _FILE_FIELDS):
        return True
    return bool(message.get("document")) and not message.get("animation")


def _is_link_command(text: Any) -> bool:
    if not isinstance(text, str) or not text.startswith("/"):
        return False
    head = text[1:].split(maxsplit=1)[0] if text[1:].strip() else ""
    return head.partition("@")[0].lower() == "link"


def update_id(raw: dict[str, Any]) -> int | None:
    """A raw update's `update_id`, when it is a usable integer."""
    uid = raw.get("update_id")
    return uid if isinstance(uid, int) and not isinstance(uid, bool) else None


def route_update(raw: dict[str, Any]) -> Route:
    """The routing facts of a raw Telegram update (see bot/inbox.py).

    The chat: a message's (new or edited) chat; a button press's message's chat, or the
    presser's own id when the message is missing; a membership change's chat. Album items
    carry their `media_group_id` (edits of album items do not: they are not handled).
    Groups that are not linked are answered only to /link, membership changes and button
    presses (the same refusal for all); everything else from them is refused.
    """
    for kind in ("message", "edited_message"):
        message = raw.get(kind)
        if isinstance(message, dict):
            chat_key, chat_type = _chat(message)
            group = message.get("media_group_id") if kind == "message" else None
            return Route(
                chat_key,
                str(group)[:64] if group else None,
                kind,
                chat_type,
                _language(message),
                kind == "message" and _is_link_command(message.get("text")),
                kind == "message" and carries_files(message),
            )
    query = raw.get("callback_query")
    if isinstance(query, dict):
        chat_key, chat_type = _chat(query.get("message"))
        if chat_key is None:
            sender = query.get("from")
            chat_key = _int_id(sender.get("id")) if isinstance(sender, dict) else None
        return Route(chat_key, None, "callback_query", chat_type, _language(query), True)
    member = raw.get("my_chat_member")
    if isinstance(member, dict):
        chat_key, chat_type = _chat(member)
        return Route(chat_key, None, "my_chat_member", chat_type, None, True)
    return Route(None, None, None, None, None, False)
