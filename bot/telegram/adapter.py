"""Telegram updates in (aiogram routers, one per audience), neutral events out."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
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
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import failpoints, services
from bot.app import Hotline
from bot.db import session_scope, storage_unavailable
from bot.i18n import t
from bot.inbox import InboxDispatcher, InboxItem, backoff
from bot.services import Arrival
from handlers.context import OFFICER_LOCALE
from handlers.events import Event, FileRef, Outgoing, Reply
from handlers.language import normalize_locale, reporter_locale
from models.types import utcnow

log = logging.getLogger(__name__)

CHANNEL = "telegram"


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


@dataclass(frozen=True)
class Route:
    """What the inbox needs to know of a raw update, read without the client library."""

    chat_key: str | None  # the chat whose order it belongs to
    group_key: str | None  # the album it is an item of
    kind: str | None  # message, edited_message, callback_query, my_chat_member
    chat_type: str | None  # Telegram's: private, group, supergroup, channel
    language_code: str | None  # the sender's client language
    answered_unlinked: bool  # answered even in a group that is not linked
    has_files: bool = False  # carries files the core downloads before handling it

    def refused(self, linked: frozenset[str]) -> bool:
        """Whether a group that is not linked sent it and nothing about it is answered:
        dropped before it is stored (a flood there costs nothing)."""
        return (
            self.chat_type in ("group", "supergroup")
            and not self.answered_unlinked
            and self.chat_key not in linked
        )


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


# What makes a message carry a file the core downloads (see `_files`; a GIF is refused).
_FILE_FIELDS = ("photo", "video", "video_note", "voice", "audio")


def _carries_files(message: dict[str, Any]) -> bool:
    if any(message.get(name) for name in _FILE_FIELDS):
        return True
    return bool(message.get("document")) and not message.get("animation")


def _is_link_command(text: Any) -> bool:
    if not isinstance(text, str) or not text.startswith("/"):
        return False
    head = text[1:].split(maxsplit=1)[0] if text[1:].strip() else ""
    return head.partition("@")[0].lower() == "link"


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
                kind == "message" and _carries_files(message),
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


@dataclass
class _Ticket:
    """Whether the core's transaction closed the inbox rows of the update being fed."""

    closed: bool = False


class TelegramAdapter:
    """Routers per audience, filtered once, all feeding the same hotline core.

    The inbox dispatcher (bot/inbox.py) hands it one update at a time per chat, or an
    album's items together; it feeds them to aiogram's dispatcher.
    """

    channel = CHANNEL

    def __init__(self, hotline: Hotline, bot: Bot, bot_username: str) -> None:
        self.hotline = hotline
        self.bot = bot
        self.bot_username = bot_username
        self.fetcher = TelegramFetcher(bot, concurrency=hotline.settings.download_concurrency)
        self.dispatcher: Dispatcher | None = None

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
        # The hotline keeps conversation state in its own table: no FSM storage, which
        # would also keep a record of every chat ever seen in memory.
        dp = Dispatcher(disable_fsm=True)
        dp.include_routers(private, groups, membership)
        self.dispatcher = dp
        return dp

    async def handle(self, items: Sequence[InboxItem]) -> bool:
        """Feed one update, or an album's items, to the routers (see InboxHandler.handle).

        Updates the routers ignore (noise, bots, other bots' commands) and ones that fail
        in aiogram leave their rows open: the dispatcher closes them. A database failure
        is raised: the dispatcher puts the updates back.
        """
        assert self.dispatcher is not None, "build_dispatcher() first"
        updates: list[Update] = []
        for item in items:
            try:
                updates.append(Update.model_validate(item.payload, context={"bot": self.bot}))
            except ValidationError:
                log.warning("update %s: unreadable, skipped", item.update_id)
        if not updates:
            return False
        ticket = _Ticket()
        album = updates if items[0].group_key is not None else None
        try:
            await self.dispatcher.feed_update(
                self.bot, updates[0], inbox_ticket=ticket, album=album
            )
        except Exception as exc:
            if storage_unavailable(exc):
                raise
            log.exception("update %s: handling failed", updates[0].update_id)
        return ticket.closed and len(updates) == len(items)

    async def apology(self, session: AsyncSession, item: InboxItem) -> Outgoing | None:
        """The catalogue's apology for a given-up update: to the citizen in their language,
        or to a linked group; nobody else (a group that is not linked hears nothing)."""
        route = route_update(item.payload or {})
        if route.chat_key is None or route.kind == "my_chat_member":
            return None
        if route.chat_type in ("private", None):
            reporter = await services.reporter_of_chat(session, CHANNEL, route.chat_key)
            if reporter is not None:
                locale = reporter_locale(reporter, route.language_code)
            else:
                locale = normalize_locale(route.language_code) or "vi"
        elif await services.link_of_chat(session, CHANNEL, route.chat_key) is not None:
            locale = OFFICER_LOCALE
        else:
            return None
        return Outgoing(chat_id=route.chat_key, text=t(locale, "error.generic"))

    async def _process(self, event: Event, ticket: _Ticket | None) -> Reply | None:
        """Run the core on an event, in its chat's turn; the ticket says it closed the rows."""
        async with self.hotline.chat_turn(CHANNEL, event.chat_id):
            reply = await self.hotline.process(event, self.fetcher)
        if ticket is not None:
            ticket.closed = True  # claimed in the core's transaction, or answered with regret
        return reply

    def _album_event(self, updates: list[Update]) -> Event | None:
        """One event for an album's items: the first one's, with every item's files."""
        messages = [u.message for u in updates if u.message is not None]
        if not messages:
            return None
        first = message_to_event(messages[0], updates[0].update_id, self.bot_username)
        if first is None:
            return None
        files: list[FileRef] = []
        caption = None
        for item in sorted(messages, key=lambda m: m.message_id):
            files.extend(_files(item))
            caption = caption or item.caption
        return replace(
            first,
            kind="media",
            files=tuple(files),
            text=caption,
            more_update_ids=tuple(u.update_id for u in updates[1:]),
        )

    async def on_message(
        self,
        message: Message,
        event_update: Update,
        inbox_ticket: _Ticket | None = None,
        album: list[Update] | None = None,
    ) -> None:
        """A message from a citizen or an officer group (or an album, whole)."""
        if album:
            event = self._album_event(album)
        else:
            event = message_to_event(message, event_update.update_id, self.bot_username)
        if event is None:
            return
        await self._process(event, inbox_ticket)

    async def on_button(
        self, query: CallbackQuery, event_update: Update, inbox_ticket: _Ticket | None = None
    ) -> None:
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
        reply = await self._process(event, inbox_ticket)
        text = reply.callback_text if reply else None
        try:
            await query.answer(text=text, show_alert=bool(reply and reply.callback_alert))
        except Exception:  # noqa: BLE001  (an expired query cannot be answered; nothing lost)
            log.debug("could not answer callback query", exc_info=True)

    async def on_membership(
        self,
        update: ChatMemberUpdated,
        event_update: Update,
        inbox_ticket: _Ticket | None = None,
    ) -> None:
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
            await self._process(event, inbox_ticket)


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
POLL_LIMIT = 100  # updates per getUpdates answer: what is held between fetch and store
INBOX_KEEP = timedelta(days=7)  # processed ids kept to recognise redeliveries
PRUNE_EVERY_S = 6 * 3600
BACKLOG_CHECK_S = 0.5  # while paused, how often the backlog is counted again


class TelegramPolling:
    """The Telegram channel with long polling: `run()` until `stop()`.

    Our own polling loop (instead of aiogram's) is the receiver: it stores every batch in
    the inbox before Telegram is told it was received (the next getUpdates offset), so a
    crash at any moment loses nothing, and does nothing else. The inbox dispatcher
    (bot/inbox.py) hands the stored updates to the adapter, per chat in order.

    - Backpressure: while `inbox_max_pending` stored updates wait to be handled, it stops
      fetching, until fewer than half of that wait (Telegram keeps undelivered updates for
      24 hours: nothing is lost by not fetching).
    - Groups that are not linked: their updates are dropped before storing, except what
      the hotline answers there (/link, membership changes, button presses).
    - Database errors (down, disk full, read-only file): logged at ERROR, the batch is not
      confirmed (Telegram gives it again) and storing is retried with backoff, 1 s
      doubling to 60 s; the process stays up.
    """

    def __init__(self, hotline: Hotline, token: str, api_url: str) -> None:
        self.hotline = hotline
        self.token = token
        self.api_url = api_url
        self.started = asyncio.Event()
        self.stopped = asyncio.Event()  # run() returned (stop(), or it failed)
        self._stopping = asyncio.Event()
        self._poll_task: asyncio.Task[Any] | None = None
        self.dispatcher: InboxDispatcher | None = None
        self.max_pending = hotline.settings.inbox_max_pending
        self.resume_below = max(1, self.max_pending // 2)
        # The backlog as last counted plus what was stored since: an upper bound (one
        # receiver per channel), counted again only when it reaches the high-water mark.
        self._backlog: int | None = None
        self.paused = False
        # Observed (tests and operators).
        self.pauses = 0
        self.peak_backlog = 0
        self.peak_unstored = 0  # fetched but not yet stored, at most one answer
        self.stored = 0
        self.refused = 0  # from groups that are not linked
        self.skipped = 0  # without a usable update_id

    async def run(self) -> None:
        """Receive and dispatch until stopped; the outbox sender and deadlines run alongside."""
        from bot.telegram.transport import TelegramTransport

        bot = make_bot(self.token, self.api_url)
        adapter: TelegramAdapter | None = None
        try:
            me = await bot.get_me()
            await register_commands(bot)
            adapter = TelegramAdapter(self.hotline, bot, me.username or "")
            self.hotline.add_transport(TelegramTransport(bot, self.hotline.media))
            adapter.build_dispatcher()
            self.dispatcher = InboxDispatcher(
                self.hotline.sessionmaker,
                adapter,
                concurrency=self.hotline.settings.inbox_concurrency,
                # Updates with files to download: enough to keep every download slot busy,
                # never so many that the other chats wait for slow downloads.
                file_concurrency=2 * self.hotline.settings.download_concurrency,
                wake_sender=self.hotline.sender.wake,
            )
            sender_task = asyncio.create_task(self.hotline.sender.run(), name="outbox-sender")
            scheduler_task = asyncio.create_task(self.hotline.scheduler.run(), name="deadlines")
            # One `hotline run` is the inbox's only dispatcher: what the last run held in
            # hand is suspect at once, not after its claim runs out.
            dispatch_task = asyncio.create_task(
                self.dispatcher.run(clear_claims=True), name="inbox"
            )
            try:
                self.started.set()
                await self._poll(bot, self.dispatcher)
            finally:
                self.dispatcher.stop()
                await dispatch_task
                self.hotline.scheduler.stop()
                await scheduler_task
                self.hotline.sender.stop()
                await sender_task
        finally:
            if adapter is not None:
                await adapter.fetcher.close()
            await bot.session.close()
            self.stopped.set()

    async def _get_updates(self, http: aiohttp.ClientSession, offset: int | None) -> list[Any]:
        """One long poll, raw: each update is read on its own later, so one that the
        client library cannot read is skipped instead of blocking all the others."""
        params: dict[str, Any] = {
            "timeout": POLL_TIMEOUT_S,
            "limit": POLL_LIMIT,
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
        return (
            [item for item in result if isinstance(item, dict)] if isinstance(result, list) else []
        )

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _room_for_more(self) -> bool:
        """Whether to fetch now; while the backlog is too large, wait until it shrinks."""
        if self._backlog is not None and self._backlog < self.max_pending:
            return True
        failures = 0
        while not self._stopping.is_set():
            try:
                async with self.hotline.sessionmaker() as session:
                    self._backlog = await services.count_pending_inbound(session, CHANNEL)
            except Exception as exc:  # noqa: BLE001  (the database is down: wait for it)
                failures += 1
                delay = backoff(failures)
                log.error(
                    "inbox: cannot count the backlog (%s); retrying in %.0fs",
                    type(exc).__name__,
                    delay,
                )
                await self._pause(delay)
                continue
            limit = self.resume_below if self.paused else self.max_pending
            if self._backlog < limit:
                if self.paused:
                    log.info("inbox: %s update(s) waiting; fetching again", self._backlog)
                    self.paused = False
                return True
            if not self.paused:
                self.paused = True
                self.pauses += 1
                log.warning(
                    "inbox: %s update(s) wait to be handled; not fetching until fewer than %s",
                    self._backlog,
                    self.resume_below,
                )
            await self._pause(BACKLOG_CHECK_S)
        return False

    def _arrivals(
        self, raw_updates: list[dict[str, Any]], bot: Bot, linked: frozenset[str]
    ) -> tuple[list[Arrival], int | None]:
        """What of a batch goes into the inbox, and the batch's last usable update id."""
        arrivals: list[Arrival] = []
        last: int | None = None
        for raw in raw_updates:
            uid = raw.get("update_id")
            if not isinstance(uid, int) or isinstance(uid, bool):
                self.skipped += 1
                log.warning(
                    "an update without a usable update_id (%s) skipped", type(uid).__name__
                )
                continue
            last = uid if last is None else max(last, uid)
            route = route_update(raw)
            if route.refused(linked):
                self.refused += 1
                continue
            try:
                Update.model_validate(raw, context={"bot": bot})
            except ValidationError:
                log.warning("update %s: unreadable, skipped", uid)
                arrivals.append(Arrival(uid, None))  # known, and closed at once
                continue
            arrivals.append(Arrival(uid, raw, route.chat_key, route.group_key, route.has_files))
        return arrivals, last

    async def _poll(self, bot: Bot, dispatcher: InboxDispatcher) -> None:
        offset: int | None = None
        fetch_failures = store_failures = 0
        loop = asyncio.get_running_loop()
        pruned_at: float | None = None
        timeout = aiohttp.ClientTimeout(total=POLL_TIMEOUT_S + 15)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while not self._stopping.is_set():
                if pruned_at is None or loop.time() - pruned_at > PRUNE_EVERY_S:
                    # A bot may run for months: forget old processed ids now and then.
                    try:
                        async with session_scope(self.hotline.sessionmaker) as session:
                            await services.prune_inbound(session, utcnow() - INBOX_KEEP)
                        pruned_at = loop.time()
                    except Exception:  # noqa: BLE001  (the store below reports the outage)
                        log.warning("inbox: could not prune old update ids", exc_info=True)
                if not await self._room_for_more():
                    return
                self._poll_task = asyncio.ensure_future(self._get_updates(http, offset))
                try:
                    raw_updates = await self._poll_task
                except asyncio.CancelledError:
                    if self._stopping.is_set():
                        return
                    raise
                except Exception as exc:  # noqa: BLE001  (network, 5xx, 409: wait, poll again)
                    fetch_failures += 1
                    delay = min(30.0, 2.0 ** min(fetch_failures - 1, 5))
                    log.warning("getUpdates failed (%s); retrying in %.0fs", exc, delay)
                    await self._pause(delay)
                    continue
                fetch_failures = 0
                if not raw_updates:
                    continue
                self.peak_unstored = max(self.peak_unstored, len(raw_updates))
                # Into the inbox first: only then may Telegram forget them (next offset).
                try:
                    linked = await self.hotline.linked_chats.of(CHANNEL)
                    arrivals, last = self._arrivals(raw_updates, bot, linked)
                    async with session_scope(self.hotline.sessionmaker) as session:
                        await services.store_inbound(session, CHANNEL, arrivals)
                except Exception as exc:  # noqa: BLE001  (disk full, read-only, database down)
                    store_failures += 1
                    delay = backoff(store_failures)
                    log.error(
                        "inbox: could not store %s update(s) (%s); not confirmed to Telegram, "
                        "retrying in %.0fs",
                        len(raw_updates),
                        type(exc).__name__,
                        delay,
                    )
                    await self._pause(delay)
                    continue
                store_failures = 0
                failpoints.hit("event.received")
                self.stored += len(arrivals)
                pending = sum(1 for a in arrivals if a.payload is not None)
                self._backlog = (self._backlog or 0) + pending
                self.peak_backlog = max(self.peak_backlog, self._backlog)
                if last is None:  # nothing usable to confirm: do not ask again at once
                    await self._pause(1.0)
                    continue
                offset = last + 1
                dispatcher.wake()

    async def stop(self) -> None:
        """Stop polling; run() returns once the updates in hand are handled."""
        self._stopping.set()
        if self._poll_task is not None and not self._poll_task.done():
            self._poll_task.cancel()
