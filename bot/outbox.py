"""The outbox sender: delivers queued messages in order per chat, with retries.

Every message to a person is first committed to the outbox with the change that causes it;
this loop sends it through the channel's transport, records the outcome, retries transient
failures with exponential backoff and honours the channel's retry_after.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import services
from bot.db import session_scope
from models.enums import OutboxStatus
from models.tables import Outbox, Reporter
from models.types import utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
MAX_BACKOFF_S = 300.0


class RetryLater(Exception):
    """A transient failure (rate limit, 5xx, network); try again after `delay` seconds."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


class PermanentFailure(Exception):
    """The message can never be delivered (blocked by the user, chat gone, bad request)."""

    def __init__(self, reason: str, *, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.unreachable = unreachable


@dataclass
class Sent:
    """What the transport reports back: ids of the messages it created."""

    message_ids: list[int]


class Transport(Protocol):
    """One channel's way of delivering an outbox row."""

    channel: str

    async def deliver(self, row: Outbox, edit_targets: list[int]) -> Sent:
        """Send the row (editing `edit_targets` for edits); raise RetryLater/PermanentFailure."""


def backoff(attempts: int) -> float:
    """Seconds to wait before attempt number `attempts + 1`."""
    return float(min(MAX_BACKOFF_S, 2 ** max(attempts - 1, 0)))


class OutboxSender:
    """Delivers due outbox rows until stopped; `wake()` after each commit that queued rows."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        transports: dict[str, Transport],
        *,
        idle_poll_s: float = 5.0,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._transports = transports
        self._idle_poll_s = idle_poll_s
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Look at the outbox now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the current batch and return from run()."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Deliver until stopped."""
        while not self._stopping:
            # Clear before looking, so a wake() or stop() that lands while we look is kept.
            self._wake.clear()
            try:
                delivered = await self.deliver_due()
                timeout = 0.0 if delivered else await self._sleep_time()
            except Exception:
                log.exception("outbox pass failed; retrying shortly")
                timeout = 1.0
            if self._stopping:
                break
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
            except TimeoutError:
                pass

    async def _sleep_time(self) -> float:
        async with self._sessionmaker() as session:
            due = await services.next_outbox_due_at(session)
        if due is None:
            return self._idle_poll_s
        return max(0.0, min(self._idle_poll_s, (due - utcnow()).total_seconds()))

    async def deliver_due(self) -> int:
        """One pass: try every chat's oldest due row once; returns how many were sent."""
        async with self._sessionmaker() as session:
            rows = await services.due_outbox(session, utcnow())
            ids = [row.id for row in rows if row.id is not None]
        sent = 0
        for row_id in ids:
            if self._stopping:
                break
            if await self._deliver_one(row_id):
                sent += 1
        return sent

    async def _deliver_one(self, row_id: int) -> bool:
        # Read, send, record: the network call happens outside any transaction so a slow
        # channel never holds the database (SQLite has one writer at a time).
        async with session_scope(self._sessionmaker) as session:
            row = await session.get(Outbox, row_id)
            if row is None or row.status != OutboxStatus.PENDING.value:
                return False
            targets: list[int] = []
            if row.kind == "edit" and row.case_id is not None:
                refs = await services.messages_of_case(
                    session, row.case_id, row.chat_id, row.payload.get("edit_purpose") or "card"
                )
                targets = [ref.message_id for ref in refs]
        transport = self._transports.get(row.channel)
        outcome: BaseException | Sent
        if transport is None:
            outcome = PermanentFailure(f"no transport for channel {row.channel}")
        else:
            try:
                outcome = await transport.deliver(row, targets)
            except (RetryLater, PermanentFailure) as exc:
                outcome = exc
            except Exception as exc:  # noqa: BLE001  (unknown errors are retried, then dropped)
                log.exception("outbox %s: unexpected delivery error", row_id)
                outcome = RetryLater(f"{type(exc).__name__}: {exc}")
        async with session_scope(self._sessionmaker) as session:
            row = await session.get(Outbox, row_id)
            if row is None:
                return False
            return await self._record(session, row, outcome)

    async def _record(
        self, session: AsyncSession, row: Outbox, outcome: BaseException | Sent
    ) -> bool:
        row.attempts += 1
        if isinstance(outcome, RetryLater):
            delay = outcome.delay if outcome.delay is not None else backoff(row.attempts)
            row.last_error = str(outcome)[:500]
            if row.attempts >= MAX_ATTEMPTS:
                row.status = OutboxStatus.FAILED.value
                log.warning("outbox %s: giving up after %s attempts", row.id, row.attempts)
            else:
                row.next_attempt_at = utcnow() + timedelta(seconds=delay)
                log.info("outbox %s: retry in %.1fs (%s)", row.id, delay, outcome)
            return False
        if isinstance(outcome, PermanentFailure):
            row.status = OutboxStatus.FAILED.value
            row.last_error = str(outcome)[:500]
            log.warning("outbox %s: not deliverable (%s)", row.id, outcome)
            if outcome.unreachable:
                await _mark_unreachable(session, row)
            return False
        assert isinstance(outcome, Sent)
        row.status = OutboxStatus.SENT.value
        row.sent_at = utcnow()
        track = row.payload.get("track")
        if track and row.case_id is not None and outcome.message_ids:
            extra = {k: v for k, v in track.items() if k != "purpose"}
            await services.remember_message(
                session,
                row.channel,
                row.chat_id,
                outcome.message_ids[0],
                row.case_id,
                track.get("purpose", "card"),
                extra,
            )
        return True


async def _mark_unreachable(session: AsyncSession, row: Outbox) -> None:
    """Remember that a reporter cannot be reached (blocked the bot, deleted the account)."""
    stmt = select(Reporter).where(Reporter.channel == row.channel, Reporter.chat_id == row.chat_id)
    reporter = (await session.exec(stmt)).first()
    if reporter is not None:
        reporter.unreachable = True
