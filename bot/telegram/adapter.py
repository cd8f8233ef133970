"""Telegram updates in (aiogram routers, one per audience), neutral events out."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Literal

import aiohttp
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
from pydantic import ValidationError

from bot import failpoints, services
from bot.app import Hotline
from bot.db import session_scope
from bot.i18n import t
from handlers.events import Event, FileRef, Reply
from models.types import utcnow

log = logging.getLogger(__name__)

CHANNEL = "telegram"
ALBUM_QUIET_S = 0.8  # an album has no end marker: it is complete after this much quiet


DOWNLOAD_CONCURRENCY = 4  # HOTLINE_DOWNLOAD_CONCURRENCY's default


class TelegramFetcher:
    """Downloads files through the Bot API's file endpoint, apart from the sending.

    Downloads (getFile, then the file itself) go through a Bot of their own, with its own
    HTTP session and connection pool: a slow file server must never hold a connection
    that a message to someone else waits for. At most `concurrency` downloads run at
    once; the others wait for a slot (each in its own chat's turn, so other chats go on).
    """

    def __init__(self, bot: Bot, *, concurrency: int = DOWNLOAD_CONCURRENCY) -> None:
        session = AiohttpSession(api=bot.session.api, limit=concurrency)
        self.bot = Bot(token=bot.token, session=session)
        self._slots = asyncio.Semaphore(concurrency)

    async def fetch(self, ref: FileRef, destination: str) -> None:
        """Write the file to `destination`."""
        async with self._slots:
            await self.bot.download(ref.file_id, destination=destination)

    async def close(self) -> None:
        """Close the download connections."""
        await self.bot.session.close()


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


# Content a person chose to send that the hotline cannot use: answered politely in private
# chats. Everything else without text, place, contact or file (pinned messages, auto-delete
# timers, members joining and other service messages) is noise and ignored.
USER_CONTENT_UNUSABLE = frozenset(
    {
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
    }
)


def message_to_event(message: Message, update_id: int | None, bot_username: str) -> Event | None:
    """Translate a Telegram message (new or edited) into a neutral event (None: not for us).

    Ignored: channels, bots, posts on behalf of a channel (a channel admin posting in a
    group as the channel, the automatic forward of a channel post into its linked
    discussion group), service messages, edits in groups and live-location updates.
    Anonymous group admins (the group itself as sender) are kept, named after the group.
    """
    chat_type = _chat_type(message)
    if chat_type is None or message.from_user is None:
        return None
    user = message.from_user
    # Anonymous group admins post as GroupAnonymousBot on behalf of the group itself.
    anonymous_admin = message.sender_chat is not None and message.sender_chat.id == message.chat.id
    if message.is_automatic_forward or (message.sender_chat is not None and not anonymous_admin):
        return None  # on behalf of a channel: nobody to answer
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
        "chat_is_forum": bool(message.chat.is_forum),
        "reply_to_message_id": (
            message.reply_to_message.message_id if message.reply_to_message else None
        ),
    }
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.is_bot:
        base["reply_to_bot"] = True
        base["reply_to_text"] = replied.text or replied.caption
    if message.edit_date is not None:
        # An edit of an earlier message. Citizens are told edits do not count; groups are
        # not answered; a live location moving is an edit too, and is noise.
        if chat_type != "private" or message.location is not None:
            return None
        return Event(kind="edited", **base)
    forwarded = message.forward_origin is not None
    base["forwarded"] = forwarded
    text = message.text
    if text is not None and text.startswith("/") and not forwarded:
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
    if text is not None:
        return Event(kind="text", text=text, **base)
    location = message.location or (message.venue.location if message.venue else None)
    if location is not None:
        return Event(
            kind="location", latitude=location.latitude, longitude=location.longitude, **base
        )
    if message.contact is not None:
        # A forwarded contact card is never the sender's own number, whoever's it is.
        own = (
            not forwarded
            and message.contact.user_id is not None
            and message.contact.user_id == user.id
        )
        return Event(
            kind="contact", phone=message.contact.phone_number, contact_is_own=own, **base
        )
    files = _files(message)
    if files:  # forwarded files are evidence like any other
        return Event(kind="media", files=files, text=message.caption, **base)
    kind = str(getattr(message.content_type, "value", message.content_type))
    if kind not in USER_CONTENT_UNUSABLE:
        return None
    return Event(kind="unsupported", unsupported_kind=kind, **base)


@dataclass
class _Album:
    messages: list[Message]
    updates: list[int]
    touched: asyncio.Event = field(default_factory=asyncio.Event)


class TelegramAdapter:
    """Routers per audience, filtered once, all feeding the same hotline core."""

    def __init__(self, hotline: Hotline, bot: Bot, bot_username: str) -> None:
        self.hotline = hotline
        self.bot = bot
        self.bot_username = bot_username
        self.fetcher = TelegramFetcher(bot, concurrency=hotline.settings.download_concurrency)
        self._albums: dict[tuple[int, str], _Album] = {}
        self.dispatcher: Dispatcher | None = None
        # Inbox bookkeeping: updates whose processing closed their inbox row, and album
        # items waiting for their album (closed when the album is processed).
        self._closed: set[int] = set()
        self._deferred: set[int] = set()

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
        # Edits of earlier messages, in private chats only: the citizen hears that edits do
        # not count. An edited album item is not handled (so not mistaken for new photos).
        private.edited_message.filter(F.chat.type == "private")
        private.edited_message.register(self.on_message, F.media_group_id.is_(None))
        membership = Router(name="membership")
        membership.my_chat_member.register(self.on_membership)
        dp = Dispatcher()
        dp.include_routers(private, groups, membership)
        self.dispatcher = dp
        return dp

    async def handle_update(self, update: Update) -> None:
        """Handle one update from the inbox (fresh or replayed after a restart).

        Its inbox row is closed by the handling transaction; updates the routers ignore
        (noise, bots, other bots' commands) are closed here, so they are not replayed.
        """
        assert self.dispatcher is not None, "build_dispatcher() first"
        uid = update.update_id
        try:
            await self.dispatcher.feed_update(self.bot, update)
        except Exception:  # noqa: BLE001  (one bad update must not stop the others)
            log.exception("update %s: handling failed", uid)
        finally:
            if uid in self._closed:
                self._closed.discard(uid)
            elif uid not in self._deferred:
                try:
                    async with session_scope(self.hotline.sessionmaker) as session:
                        await services.finish_inbound(session, CHANNEL, [uid])
                except Exception:  # noqa: BLE001  (it is replayed, harmlessly, on restart)
                    log.warning("update %s: could not close its inbox row", uid, exc_info=True)

    async def _process(self, event: Event) -> Reply | None:
        """Run the core on an event, under its chat's turn held by the caller."""
        try:
            return await self.hotline.process(event, self.fetcher)
        finally:
            ids = [i for i in (event.update_id, *event.more_update_ids) if i is not None]
            self._closed.update(ids)
            self._deferred.difference_update(ids)

    async def on_message(self, message: Message, event_update: Update) -> None:
        """A message from a citizen or an officer group."""
        if message.media_group_id:
            await self._on_album_item(message, event_update.update_id)
            return
        event = message_to_event(message, event_update.update_id, self.bot_username)
        if event is None:
            return
        async with self.hotline.chat_turn(CHANNEL, event.chat_id):
            await self._process(event)

    async def _on_album_item(self, message: Message, update_id: int) -> None:
        key = (message.chat.id, str(message.media_group_id))
        album = self._albums.get(key)
        if album is not None:
            album.messages.append(message)
            album.updates.append(update_id)
            self._deferred.add(update_id)  # closed with the album, not on its own
            album.touched.set()
            return
        album = _Album([message], [update_id])
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
                self._deferred.difference_update(album.updates)
                async with session_scope(self.hotline.sessionmaker) as session:
                    await services.finish_inbound(session, CHANNEL, album.updates)
                return
            files: list[FileRef] = []
            caption = None
            for item in sorted(album.messages, key=lambda m: m.message_id):
                files.extend(_files(item))
                caption = caption or item.caption
            event = replace(
                first,
                kind="media",
                files=tuple(files),
                text=caption,
                more_update_ids=tuple(album.updates[1:]),
            )
            await self._process(event)

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
            chat_is_forum=bool(message.chat.is_forum),
            user_id=str(query.from_user.id),
            user_name=query.from_user.full_name,
            language_code=query.from_user.language_code,
            update_id=event_update.update_id,
            message_id=message.message_id,
            kind="button",
            button_data=query.data[:64],
        )
        async with self.hotline.chat_turn(CHANNEL, event.chat_id):
            reply = await self._process(event)
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
                await self._process(event)


PRIVATE_COMMANDS = ("report", "mycases", "cancel", "help", "lang")
GROUP_COMMANDS = (
    ("link", "cmd.link"),
    ("help", "cmd.group_help"),
    ("report", "cmd.group_report"),
    ("open", "cmd.open"),
    ("overdue", "cmd.overdue"),
    ("case", "cmd.case"),
)


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


ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
POLL_TIMEOUT_S = 10
INBOX_KEEP = timedelta(days=7)  # processed ids kept to recognise redeliveries
PRUNE_EVERY_S = 6 * 3600
REPLAY_GIVE_UP = 3  # an update whose handling killed the process this often is dropped


class TelegramPolling:
    """The Telegram channel with long polling: `run()` until `stop()`.

    Our own polling loop (instead of aiogram's) so that every batch of updates is in the
    inbox before Telegram is told it was received (the next getUpdates offset): a crash
    at any moment loses nothing. At start, updates left unhandled by the last run are
    handled first, in order.
    """

    def __init__(self, hotline: Hotline, token: str, api_url: str) -> None:
        self.hotline = hotline
        self.token = token
        self.api_url = api_url
        self.started = asyncio.Event()
        self._stopping = asyncio.Event()
        self._poll_task: asyncio.Task[Any] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Poll and deliver until stopped; the outbox sender runs alongside."""
        from bot.telegram.transport import TelegramTransport

        bot = make_bot(self.token, self.api_url)
        adapter: TelegramAdapter | None = None
        try:
            me = await bot.get_me()
            await register_commands(bot)
            adapter = TelegramAdapter(self.hotline, bot, me.username or "")
            self.hotline.add_transport(TelegramTransport(bot, self.hotline.media))
            adapter.build_dispatcher()
            sender_task = asyncio.create_task(self.hotline.sender.run(), name="outbox-sender")
            scheduler_task = asyncio.create_task(self.hotline.scheduler.run(), name="deadlines")
            try:
                await self._replay(adapter, bot)
                self.started.set()
                await self._poll(adapter, bot)
            finally:
                if self._tasks:
                    await asyncio.wait(self._tasks, timeout=30)
                self.hotline.scheduler.stop()
                await scheduler_task
                self.hotline.sender.stop()
                await sender_task
        finally:
            if adapter is not None:
                await adapter.fetcher.close()
            await bot.session.close()

    def _spawn(self, adapter: TelegramAdapter, update: Update) -> None:
        # Tasks start in creation order, so a chat's updates take its turn in order.
        task = asyncio.create_task(adapter.handle_update(update))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _replay(self, adapter: TelegramAdapter, bot: Bot) -> None:
        """Handle the updates a previous run stored but did not finish."""
        async with session_scope(self.hotline.sessionmaker) as session:
            await services.prune_inbound(session, utcnow() - INBOX_KEEP)
            rows = await services.pending_inbound(session, CHANNEL)
            replay: list[Update] = []
            for row in rows:
                if row.failures >= REPLAY_GIVE_UP or row.payload is None:
                    log.error("update %s: given up after %s replays", row.update_id, row.failures)
                    row.processed_at = utcnow()
                    row.payload = None
                    continue
                row.failures += 1
                replay.append(Update.model_validate(row.payload, context={"bot": bot}))
        if replay:
            log.warning("handling %s update(s) left over from the last run", len(replay))
        for update in replay:
            self._spawn(adapter, update)

    async def _get_updates(self, http: aiohttp.ClientSession, offset: int | None) -> list[Any]:
        """One long poll, raw: each update is read on its own, so one that the client
        library cannot read is skipped (and logged) instead of blocking all the others."""
        params: dict[str, Any] = {
            "timeout": POLL_TIMEOUT_S,
            "allowed_updates": json.dumps(ALLOWED_UPDATES),
        }
        if offset is not None:
            params["offset"] = offset
        url = f"{self.api_url}/bot{self.token}/getUpdates"
        async with http.post(url, data=params) as response:
            body = await response.json(content_type=None)
        if not isinstance(body, dict) or not body.get("ok"):
            description = body.get("description") if isinstance(body, dict) else None
            raise RuntimeError(f"getUpdates: HTTP {response.status} {description or ''}")
        result = body.get("result") or []
        return [item for item in result if isinstance(item, dict) and "update_id" in item]

    async def _poll(self, adapter: TelegramAdapter, bot: Bot) -> None:
        offset: int | None = None
        failures = 0
        loop = asyncio.get_running_loop()
        pruned_at = loop.time()  # _replay pruned at start
        timeout = aiohttp.ClientTimeout(total=POLL_TIMEOUT_S + 15)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while not self._stopping.is_set():
                self._poll_task = asyncio.ensure_future(self._get_updates(http, offset))
                try:
                    raw_updates = await self._poll_task
                except asyncio.CancelledError:
                    if self._stopping.is_set():
                        return
                    raise
                except Exception as exc:  # noqa: BLE001  (network, 5xx, 409: wait, poll again)
                    failures += 1
                    delay = min(30.0, 2.0 ** min(failures - 1, 5))
                    log.warning("getUpdates failed (%s); retrying in %.0fs", exc, delay)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), delay)
                    continue
                failures = 0
                if not raw_updates:
                    continue
                updates: list[Update] = []
                # Into the inbox first: only then may Telegram forget them (next offset).
                async with session_scope(self.hotline.sessionmaker) as session:
                    if loop.time() - pruned_at > PRUNE_EVERY_S:  # a bot may run for months
                        await services.prune_inbound(session, utcnow() - INBOX_KEEP)
                        pruned_at = loop.time()
                    for raw in raw_updates:
                        uid = int(raw["update_id"])
                        try:
                            update = Update.model_validate(raw, context={"bot": bot})
                        except ValidationError:
                            log.warning("update %s: unreadable, skipped", uid)
                            await services.store_inbound(session, CHANNEL, uid, None)
                            await services.finish_inbound(session, CHANNEL, [uid], failed=True)
                            continue
                        await services.store_inbound(session, CHANNEL, uid, raw)
                        updates.append(update)
                failpoints.hit("event.received")
                offset = int(raw_updates[-1]["update_id"]) + 1
                for update in updates:
                    self._spawn(adapter, update)

    async def stop(self) -> None:
        """Stop polling; run() returns once the updates in hand are handled."""
        self._stopping.set()
        if self._poll_task is not None and not self._poll_task.done():
            self._poll_task.cancel()
