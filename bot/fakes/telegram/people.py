"""Simulated people: messages, presses and membership changes sent to the bot."""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass
from bot.fakes.telegram.html import _u16
from bot.fakes.telegram.models import (
    _REQUEST_BUTTON_KEYS,
    FakeChat,
    FakeUser,
    _api_view,
    _describe_buttons,
)
from bot.fakes.telegram.observe import Observation


class People(Observation):
    """Simulated people: what users and groups send to the bot."""

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
