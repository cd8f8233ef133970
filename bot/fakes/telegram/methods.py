"""The Bot API methods the fake serves."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass
from bot.fakes.telegram.models import (
    _CONTENT_KEYS,
    _MEDIA_SENDS,
    _NOT_MODIFIED,
    CHAT_ACTIONS,
    DEFAULT_UPDATE_TYPES,
    MAX_DOWNLOAD_SIZE,
    ApiError,
    _api_view,
    _bad,
    _Entry,
    _Params,
)
from bot.fakes.telegram.people import People


class ApiMethods(People):
    """The Bot API methods the fake serves."""

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
