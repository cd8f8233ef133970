"""Assembly: settings to engine, dependencies, the outbox sender and per-chat ordering."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import failpoints
from bot.db import make_engine, make_sessionmaker, session_scope, storage_unavailable
from bot.deadlines import DeadlinePolicyError, load_policy
from bot.geo import get_gazetteer
from bot.i18n import t
from bot.inbox import LinkedChats
from bot.media import MediaStore, PrefetchedFiles
from bot.outbox import OutboxSender, Transport
from bot.ratelimit import RateLimiter
from bot.scheduler import DeadlineScheduler
from bot.services import enqueue, finish_inbound
from bot.settings import Settings
from bot.web.public.site import case_url
from handlers.context import HotlineDeps
from handlers.core import handle_event
from handlers.events import Event, FileFetcher, Outgoing, Reply
from handlers.language import normalize_locale

log = logging.getLogger(__name__)


@dataclass
class _ChatTurn:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # holding or waiting for the lock


class Hotline:
    """The running hotline: one per process, shared by every channel adapter."""

    def __init__(self, settings: Settings, *, engine: AsyncEngine | None = None) -> None:
        self.settings = settings
        province = settings.require_province()
        try:
            self.deadlines = load_policy(settings)
        except DeadlinePolicyError as exc:
            raise SystemExit(str(exc)) from None
        self.engine = engine or make_engine(settings.database_url)
        self.sessionmaker: async_sessionmaker[AsyncSession] = make_sessionmaker(self.engine)
        self.media = MediaStore(settings.media_dir, settings.max_file_mb * 1024 * 1024)
        self.deps = HotlineDeps(
            province_code=province,
            gazetteer=get_gazetteer(province),
            media=self.media,
            verify_hours=self.deadlines.verify_hours,
            deadlines=self.deadlines,
            max_photos=settings.max_photos,
            max_file_mb=settings.max_file_mb,
            user_messages_per_minute=settings.user_messages_per_minute,
            user_cases_per_hour=settings.user_cases_per_hour,
            group_commands_per_minute=settings.group_commands_per_minute,
            link_max_failures=settings.link_max_failures,
            link_failure_window_min=settings.link_failure_window_min,
            duplicate_radius_m=settings.duplicate_radius_m,
            duplicate_hours=settings.duplicate_hours,
            agency_name=settings.agency_name,
            notice_hold_s=settings.notice_hold_s,
            evidence_ack_hold_s=settings.evidence_ack_hold_s,
            case_url=functools.partial(case_url, settings) if settings.public_url else None,
        )
        self.transports: dict[str, Transport] = {}
        self.sender = OutboxSender(
            self.sessionmaker,
            self.transports,
            limiter=RateLimiter(
                chat_interval_s=settings.send_chat_interval_s,
                chat_burst=settings.send_chat_burst,
                group_limit=(settings.send_group_per_minute, 60.0),
                global_limit=(settings.send_global_per_second, 1.0),
            ),
            claim_s=settings.outbox_claim_s,
            concurrency=settings.send_concurrency,
        )
        # Per-chat turns, only while someone holds or waits for one (a map of every chat
        # ever seen would grow for as long as the bot runs).
        self._chat_locks: dict[tuple[str, str], _ChatTurn] = {}
        # Linked groups, for receivers that refuse the floods of groups that are not.
        self.linked_chats = LinkedChats(self.sessionmaker)
        # Reminders, overdue alerts and the daily digest (run beside the sender).
        self.scheduler = DeadlineScheduler(self.sessionmaker, self.deps, wake=self.sender.wake)

    def add_transport(self, transport: Transport) -> None:
        """Register a channel's way of delivering outbox rows."""
        self.transports[transport.channel] = transport

    @asynccontextmanager
    async def chat_turn(self, channel: str, chat_id: str) -> AsyncIterator[None]:
        """Serialise the events of one chat, in arrival order (asyncio locks are FIFO)."""
        key = (channel, chat_id)
        turn = self._chat_locks.get(key)
        if turn is None:
            turn = self._chat_locks[key] = _ChatTurn()
        turn.users += 1
        try:
            async with turn.lock:
                yield
        finally:
            turn.users -= 1
            if turn.users == 0:
                del self._chat_locks[key]

    async def process(self, event: Event, fetcher: FileFetcher) -> Reply | None:
        """Handle an event in its own transaction; the caller holds the chat's turn.

        If handling fails, the transaction is rolled back (the conversation stays where it
        was) and the person is told politely to try again, instead of hearing nothing. If
        the database itself failed (down, disk full, read-only), the error is raised: the
        update stays in the inbox and is handled once the database is back.
        """
        failpoints.hit(f"update.{event.update_id}")
        links_change = event.chat_type == "group" and (
            event.kind == "bot_removed" or (event.kind == "command" and event.command == "link")
        )
        if links_change:
            self.linked_chats.mark_stale()
        if event.files:
            prefetched = PrefetchedFiles(self.media)
            await prefetched.prefetch(fetcher, event.files)
            fetcher = prefetched
        try:
            async with session_scope(self.sessionmaker) as session:
                reply = await handle_event(self.deps, session, event, fetcher)
                failpoints.hit("event.before_commit")
            failpoints.hit("event.after_commit")
        except Exception as exc:
            if storage_unavailable(exc):
                raise
            # Only ids go to the log: never the text, names or numbers people sent.
            log.exception(
                "handling failed: channel=%s update=%s kind=%s",
                event.channel,
                event.update_id,
                event.kind,
            )
            reply = await self._apologise(event)
        finally:
            if isinstance(fetcher, PrefetchedFiles):
                fetcher.cleanup()
            if links_change:  # again, now that the link or unlink is committed
                self.linked_chats.mark_stale()
        for job in reply.after_commit if reply is not None else ():
            try:
                await job(self.sessionmaker)
            except Exception:
                log.exception("after-commit work failed: update=%s", event.update_id)
        self.sender.wake()
        return reply

    async def _apologise(self, event: Event) -> Reply:
        text = t(normalize_locale(event.language_code), "error.generic")
        ids = [i for i in (event.update_id, *event.more_update_ids) if i is not None]
        try:
            async with session_scope(self.sessionmaker) as session:
                # Answered with an apology: not to be replayed at the next start.
                await finish_inbound(session, event.channel, ids)
                if event.chat_type == "private" or event.kind == "command":
                    await enqueue(
                        session, event.channel, Outgoing(chat_id=event.chat_id, text=text)
                    )
        except Exception as exc:
            if storage_unavailable(exc):
                raise  # handled again once the database is back
            log.exception("could not queue the apology for update %s", event.update_id)
        return Reply(callback_text=text, callback_alert=False)

    async def close(self) -> None:
        """Stop sending and release the database."""
        self.scheduler.stop()
        self.sender.stop()
        await self.engine.dispose()
