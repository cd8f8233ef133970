"""Telegram's long polling, over raw HTTP: store each batch in the inbox, then confirm it.

Shared by both Telegram runtimes: our own loop (not the client library's) is the receiver,
so that every batch is stored before Telegram is told it was received (the next
getUpdates offset), and a crash at any moment loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import aiohttp

from bot import failpoints, services
from bot.channels.telegram.routing import ALLOWED_UPDATES
from bot.db import session_scope
from bot.inbox import InboxDispatcher, backoff
from bot.services.inbox import Arrival
from models.types import utcnow

if TYPE_CHECKING:
    from bot.app import Hotline
    from bot.channels.base import Channel

log = logging.getLogger(__name__)

POLL_TIMEOUT_S = 10
POLL_LIMIT = 100  # updates per getUpdates answer: what is held between fetch and store
INBOX_KEEP = timedelta(days=7)  # processed ids kept to recognise redeliveries
PRUNE_EVERY_S = 6 * 3600
BACKLOG_CHECK_S = 0.5  # while paused, how often the backlog is counted again


class TelegramPolling:
    """The Telegram receiver with long polling: `run()` until `stop()`.

    It stores every batch in the inbox before Telegram is told it was received, and does
    nothing else; the inbox dispatcher (bot/inbox.py, `dispatcher`) hands the stored
    updates to the channel, per chat in order.

    - Backpressure: while `inbox_max_pending` stored updates wait to be handled, it stops
      fetching, until fewer than half of that wait (Telegram keeps undelivered updates for
      24 hours: nothing is lost by not fetching).
    - Groups that are not linked: their updates are dropped before storing, except what
      the hotline answers there (/link, membership changes, button presses).
    - Database errors (down, disk full, read-only file): logged at ERROR, the batch is not
      confirmed (Telegram gives it again) and storing is retried with backoff, 1 s
      doubling to 60 s; the process stays up.
    """

    def __init__(
        self,
        hotline: Hotline,
        channel: Channel,
        token: str,
        api_url: str,
        *,
        poll_timeout: int = POLL_TIMEOUT_S,
    ) -> None:
        self.hotline = hotline
        self.channel = channel
        self.token = token
        self.api_url = api_url
        self.poll_timeout = poll_timeout
        self.started = asyncio.Event()
        self.stopped = asyncio.Event()  # run() returned (stop(), or it failed)
        self._stopping = asyncio.Event()
        self._poll_task: asyncio.Task[Any] | None = None
        self.dispatcher: InboxDispatcher | None = None  # woken after each stored batch
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
        """Receive until stopped."""
        try:
            self.started.set()
            await self._poll()
        finally:
            self.stopped.set()

    async def _get_updates(self, http: aiohttp.ClientSession, offset: int | None) -> list[Any]:
        """One long poll, raw: each update is read on its own later, so one that the
        client library cannot read is skipped instead of blocking all the others."""
        params: dict[str, Any] = {
            "timeout": self.poll_timeout,
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
                    self._backlog = await services.count_pending_inbound(
                        session, self.channel.name
                    )
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
        self, raw_updates: list[dict[str, Any]], linked: frozenset[str]
    ) -> tuple[list[Arrival], int | None]:
        """What of a batch goes into the inbox, and the batch's last usable update id."""
        arrivals: list[Arrival] = []
        last: int | None = None
        for raw in raw_updates:
            uid = self.channel.update_id(raw)
            if uid is None:
                self.skipped += 1
                log.warning(
                    "an update without a usable update_id (%s) skipped",
                    type(raw.get("update_id")).__name__,
                )
                continue
            last = uid if last is None else max(last, uid)
            route = self.channel.route(raw)
            if route.refused(linked):
                self.refused += 1
                continue
            if not self.channel.readable(raw):
                log.warning("update %s: unreadable, skipped", uid)
                arrivals.append(Arrival(uid, None))  # known, and closed at once
                continue
            arrivals.append(Arrival(uid, raw, route.chat_key, route.group_key, route.has_files))
        return arrivals, last

    async def _poll(self) -> None:
        offset: int | None = None
        fetch_failures = store_failures = 0
        loop = asyncio.get_running_loop()
        pruned_at: float | None = None
        name = self.channel.name
        timeout = aiohttp.ClientTimeout(total=self.poll_timeout + 15)
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
                    linked = await self.hotline.linked_chats.of(name)
                    arrivals, last = self._arrivals(raw_updates, linked)
                    async with session_scope(self.hotline.sessionmaker) as session:
                        await services.store_inbound(session, name, arrivals)
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
                if self.dispatcher is not None:
                    self.dispatcher.wake()

    async def stop(self) -> None:
        """Stop polling; run() returns soon after."""
        self._stopping.set()
        if self._poll_task is not None and not self._poll_task.done():
            self._poll_task.cancel()
