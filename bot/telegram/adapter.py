"""Telegram updates in (aiogram routers, one per audience), neutral events out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    CallbackQuery,
    ChatMemberUpdated,
    Message,
    Update,
)

from bot.app import Hotline
from bot.i18n import t
from handlers.events import Event, FileRef

log = logging.getLogger(__name__)

CHANNEL = "telegram"
ALBUM_QUIET_S = 0.8  # an album has no end marker: it is complete after this much quiet


class TelegramFetcher:
    """Downloads files through the Bot API's file endpoint."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def fetch(self, ref: FileRef, destination: str) -> None:
        """Write the file to `destination`."""
        await self.bot.download(ref.file_id, destination=destination)


def make_bot(token: str, api_url: str) -> Bot:
    """An aiogram Bot talking to `api_url` ({url}/bot{token}/{method})."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url))
    return Bot(token=token, session=session)


def _chat_type(message: Message) -> str | None:
    if message.chat.type == "private":
        return "private"
    if message.chat.type in ("group", "supergroup"):
        return "group"
    return None  # channels: not an audience of ours


def _files(message: Message) -> tuple[FileRef, ...]:
    if message.photo:
        best = message.photo[-1]
        return (FileRef(best.file_id, "photo", best.file_size, "image/jpeg"),)
    if message.video:
        v = message.video
        return (FileRef(v.file_id, "video", v.file_size, v.mime_type, v.file_name),)
    if message.video_note:
        vn = message.video_note
        return (FileRef(vn.file_id, "video", vn.file_size, "video/mp4"),)
    if message.voice:
        vo = message.voice
        return (FileRef(vo.file_id, "voice", vo.file_size, vo.mime_type or "audio/ogg"),)
    if message.audio:
        a = message.audio
        return (FileRef(a.file_id, "audio", a.file_size, a.mime_type, a.file_name),)
    if message.document and not message.animation:
        d = message.document
        return (FileRef(d.file_id, "document", d.file_size, d.mime_type, d.file_name),)
    return ()


def message_to_event(message: Message, update_id: int | None, bot_username: str) -> Event | None:
    """Translate a Telegram message into a neutral event (None: not for us)."""
    chat_type = _chat_type(message)
    if chat_type is None or message.from_user is None:
        return None
    user = message.from_user
    # Anonymous group admins post as GroupAnonymousBot on behalf of the group itself.
    anonymous_admin = message.sender_chat is not None and message.sender_chat.id == message.chat.id
    if user.is_bot and not anonymous_admin:
        return None
    base: dict[str, Any] = {
        "channel": CHANNEL,
        "chat_id": str(message.chat.id),
        "chat_type": chat_type,
        "user_id": str(user.id),
        "user_name": (message.chat.title or "") if anonymous_admin else user.full_name,
        "language_code": user.language_code,
        "update_id": update_id,
        "message_id": message.message_id,
        "reply_to_message_id": (
            message.reply_to_message.message_id if message.reply_to_message else None
        ),
    }
    text = message.text
    if text is not None and text.startswith("/"):
        head, _, rest = text[1:].partition(" ")
        name, _, mention = head.partition("@")
        if mention and mention.lower() != bot_username.lower():
            return None  # a command for another bot in the group
        return Event(kind="command", command=name.lower()[:32], text=rest.strip(), **base)
    if text is not None:
        return Event(kind="text", text=text, **base)
    location = message.location or (message.venue.location if message.venue else None)
    if location is not None:
        return Event(
            kind="location", latitude=location.latitude, longitude=location.longitude, **base
        )
    if message.contact is not None:
        own = message.contact.user_id is not None and message.contact.user_id == user.id
        return Event(
            kind="contact", phone=message.contact.phone_number, contact_is_own=own, **base
        )
    files = _files(message)
    if files:
        return Event(kind="media", files=files, text=message.caption, **base)
    kind = (
        "sticker"
        if message.sticker
        else "animation"
        if message.animation
        else "poll"
        if message.poll
        else str(message.content_type)
    )
    return Event(kind="unsupported", unsupported_kind=kind, **base)


@dataclass
class _Album:
    messages: list[Message]
    touched: asyncio.Event = field(default_factory=asyncio.Event)


class TelegramAdapter:
    """Routers per audience, filtered once, all feeding the same hotline core."""

    def __init__(self, hotline: Hotline, bot: Bot, bot_username: str) -> None:
        self.hotline = hotline
        self.bot = bot
        self.bot_username = bot_username
        self.fetcher = TelegramFetcher(bot)
        self._albums: dict[tuple[int, str], _Album] = {}

    def build_dispatcher(self) -> Dispatcher:
        """A dispatcher with the private, group and membership routers."""
        private = Router(name="citizens")
        private.message.filter(F.chat.type == "private")
        private.callback_query.filter(F.message.chat.type == "private")
        groups = Router(name="officers")
        groups.message.filter(F.chat.type.in_({"group", "supergroup"}))
        groups.callback_query.filter(F.message.chat.type.in_({"group", "supergroup"}))
        for router in (private, groups):
            router.message.register(self.on_message)
            router.callback_query.register(self.on_button)
        membership = Router(name="membership")
        membership.my_chat_member.register(self.on_membership)
        dp = Dispatcher()
        dp.include_routers(private, groups, membership)
        return dp

    async def on_message(self, message: Message, event_update: Update) -> None:
        """A message from a citizen or an officer group."""
        if message.media_group_id:
            await self._on_album_item(message, event_update.update_id)
            return
        event = message_to_event(message, event_update.update_id, self.bot_username)
        if event is None:
            return
        async with self.hotline.chat_turn(CHANNEL, event.chat_id):
            await self.hotline.process(event, self.fetcher)

    async def _on_album_item(self, message: Message, update_id: int) -> None:
        key = (message.chat.id, str(message.media_group_id))
        album = self._albums.get(key)
        if album is not None:
            album.messages.append(message)
            album.touched.set()
            return
        album = _Album([message])
        self._albums[key] = album
        # Take the chat's turn now, so events sent after the album wait for it.
        async with self.hotline.chat_turn(CHANNEL, str(message.chat.id)):
            while True:
                album.touched.clear()
                try:
                    await asyncio.wait_for(album.touched.wait(), ALBUM_QUIET_S)
                except TimeoutError:
                    break
            del self._albums[key]
            first = message_to_event(album.messages[0], update_id, self.bot_username)
            if first is None:
                return
            files: list[FileRef] = []
            caption = None
            for item in sorted(album.messages, key=lambda m: m.message_id):
                files.extend(_files(item))
                caption = caption or item.caption
            event = replace(first, kind="media", files=tuple(files), text=caption)
            await self.hotline.process(event, self.fetcher)

    async def on_button(self, query: CallbackQuery, event_update: Update) -> None:
        """A button press; always answered so the client stops its spinner."""
        message = query.message
        if message is None or query.data is None:
            await query.answer()
            return
        chat_type: Literal["private", "group"] = (
            "private" if message.chat.type == "private" else "group"
        )
        event = Event(
            channel=CHANNEL,
            chat_id=str(message.chat.id),
            chat_type=chat_type,
            user_id=str(query.from_user.id),
            user_name=query.from_user.full_name,
            language_code=query.from_user.language_code,
            update_id=event_update.update_id,
            message_id=message.message_id,
            kind="button",
            button_data=query.data[:64],
        )
        async with self.hotline.chat_turn(CHANNEL, event.chat_id):
            reply = await self.hotline.process(event, self.fetcher)
        text = reply.callback_text if reply else None
        try:
            await query.answer(text=text, show_alert=bool(reply and reply.callback_alert))
        except Exception:  # noqa: BLE001  (an expired query cannot be answered; nothing lost)
            log.debug("could not answer callback query", exc_info=True)

    async def on_membership(self, update: ChatMemberUpdated, event_update: Update) -> None:
        """The bot was added to or removed from a group."""
        if update.new_chat_member.status in ("left", "kicked"):
            event = Event(
                channel=CHANNEL,
                chat_id=str(update.chat.id),
                chat_type="group",
                user_id=str(update.from_user.id),
                user_name=update.from_user.full_name,
                update_id=event_update.update_id,
                kind="bot_removed",
            )
            async with self.hotline.chat_turn(CHANNEL, event.chat_id):
                await self.hotline.process(event, self.fetcher)


PRIVATE_COMMANDS = ("report", "mycases", "cancel", "help", "lang")
GROUP_COMMANDS = (("link", "cmd.link"), ("help", "cmd.group_help"))


async def register_commands(bot: Bot) -> None:
    """Fill Telegram's command menu: citizens' commands in private chats, officers' in groups.

    Vietnamese is the default list; English for clients set to English. A failure here is
    logged and the bot runs on: the menu is a convenience.
    """
    try:
        for locale, language_code in (("vi", None), ("en", "en")):
            await bot.set_my_commands(
                [
                    BotCommand(command=c, description=t(locale, f"cmd.{c}"))
                    for c in PRIVATE_COMMANDS
                ],
                scope=BotCommandScopeAllPrivateChats(),
                language_code=language_code,
            )
            await bot.set_my_commands(
                [BotCommand(command=c, description=t(locale, key)) for c, key in GROUP_COMMANDS],
                scope=BotCommandScopeAllGroupChats(),
                language_code=language_code,
            )
    except Exception:  # noqa: BLE001
        log.warning("could not set the command menu", exc_info=True)


class TelegramPolling:
    """The Telegram channel with long polling: `run()` until `stop()`."""

    def __init__(self, hotline: Hotline, token: str, api_url: str) -> None:
        self.hotline = hotline
        self.token = token
        self.api_url = api_url
        self._dp: Dispatcher | None = None
        self.started = asyncio.Event()

    async def run(self) -> None:
        """Poll and deliver until stopped; the outbox sender runs alongside."""
        from bot.telegram.transport import TelegramTransport

        bot = make_bot(self.token, self.api_url)
        try:
            me = await bot.get_me()
            await register_commands(bot)
            adapter = TelegramAdapter(self.hotline, bot, me.username or "")
            self.hotline.add_transport(TelegramTransport(bot, self.hotline.media))
            self._dp = adapter.build_dispatcher()
            sender_task = asyncio.create_task(self.hotline.sender.run(), name="outbox-sender")
            self._dp.startup.register(self.started.set)
            try:
                await self._dp.start_polling(
                    bot,
                    handle_signals=False,
                    allowed_updates=["message", "callback_query", "my_chat_member"],
                )
            finally:
                self.hotline.sender.stop()
                await sender_task
        finally:
            await bot.session.close()

    async def stop(self) -> None:
        """Stop polling; run() returns once the current updates are handled."""
        if self._dp is not None:
            with contextlib.suppress(RuntimeError):  # not polling (yet, or any more)
                await self._dp.stop_polling()
