"""The deadline scheduler: reminders, overdue alerts and the daily digest, on time.

A loop beside the outbox sender. Each `tick()` looks at the clock once and, in one
transaction per batch of alerts, records each alert that has fallen due (`deadline_alert`)
with the outbox rows that carry it, then sends the day's digest if its time has come
(`digest_run`); what to send is decided in `handlers/deadlines.py`. It writes outbox rows
only and wakes the sender. Between ticks it sleeps until the next moment something falls
due, at most `max_sleep_s` (new cases and changed deadlines are seen at the next tick).

Nothing is kept in memory between ticks: what was sent is in the database, so a restart
(or a second process) neither loses an alert nor sends one twice. The clock is injectable:
by default it is the core's (`handlers.deadlines.now_of`), which tests freeze.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db import session_scope
from handlers import deadlines as officer_deadlines
from handlers.context import HotlineDeps

log = logging.getLogger(__name__)

MAX_SLEEP_S = 60.0
ERROR_SLEEP_S = 10.0


class DeadlineScheduler:
    """Runs `tick()` until stopped; `stop()` ends `run()` at once, between ticks."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        deps: HotlineDeps,
        *,
        wake: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] | None = None,
        max_sleep_s: float = MAX_SLEEP_S,
        batch: int = 50,
    ) -> None:
        if max_sleep_s <= 0 or batch < 1:
            raise ValueError("max_sleep_s > 0 and batch >= 1 required")
        self._sessionmaker = sessionmaker
        self._deps = deps
        self._wake_sender = wake
        self.clock: Callable[[], datetime] = clock or (lambda: officer_deadlines.now_of(deps))
        self.max_sleep_s = max_sleep_s
        self.batch = batch
        self._stopping = asyncio.Event()

    async def tick(self) -> datetime:
        """Send what is due now; returns when something falls due next."""
        now = self.clock()
        queued = 0
        while True:
            async with session_scope(self._sessionmaker) as session:
                sent, more = await officer_deadlines.send_due_alerts(
                    self._deps, session, now, limit=self.batch
                )
            queued += sent
            if not more or not sent:  # none sent: the rest were taken by another process
                break
        async with session_scope(self._sessionmaker) as session:
            digest = await officer_deadlines.send_digest(self._deps, session, now)
        if queued or digest:
            self._wake_sender()
        async with self._sessionmaker() as session:
            return await officer_deadlines.next_moment(self._deps, session, now)

    async def run(self) -> None:
        """Tick, sleep until the next due moment (at most `max_sleep_s`), until stopped."""
        while not self._stopping.is_set():
            try:
                upcoming = await self.tick()
                delay = (upcoming - self.clock()).total_seconds()
                delay = min(self.max_sleep_s, max(delay, 0.5))
            except Exception:
                log.exception("deadline tick failed; retrying shortly")
                delay = ERROR_SLEEP_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    def stop(self) -> None:
        """Make `run()` return (a tick in progress finishes first)."""
        self._stopping.set()
