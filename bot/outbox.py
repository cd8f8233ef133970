"""The outbox sender: delivers queued messages in order per chat, within rate limits.

Every message to a person is first committed to the outbox with the change that causes it;
this sender delivers it through the channel's transport and records the outcome.

A delivery goes in three steps, and only the middle one talks to the channel:

1. Claim: in its own committed transaction, one conditional UPDATE turns the row from
   'pending' (and due) to 'sending' with `claimed_until = now + claim_s`. If it changes no
   row, another sender got there first and this one moves on.
2. Send, outside any transaction (a slow channel never holds the database), within the
   rate limits (`bot.ratelimit`): a chat whose budget is spent waits, the others go on.
3. Record, again with a conditional UPDATE that holds only while the claim is still ours:
   'sent'; or back to 'pending' with a later `next_attempt_at` (transient failures back off
   exponentially, a 429's retry_after is honoured and pauses the chat); or 'failed'
   (a permanent error, or MAX_ATTEMPTS used up). The claim is cleared.

A row that takes several calls (an album with documents: the photos' album, then each
file) commits its progress after each call but the last (`Pace.checkpoint`: a conditional
UPDATE of the payload's "progress" that holds only while the claim is ours, and renews it).

A sender that dies between 1 and 3 leaves its row in 'sending'. Once the claim runs out the
row is due again and another sender (or this one, restarted) takes it over, logs
"interrupted delivery, resending", counts the interrupted try as an attempt and resumes
after the calls already committed. That is the one at-least-once window, one call wide: if
the channel had accepted the call in flight before the process died, that call (one
message, or one album) arrives twice. Everywhere else a message goes out once. A row's
payload keeps the ids of the messages it made (`sent_ids`) and, after a try whose outcome
is unknown (this takeover, a timeout), since when a copy may exist unrecorded
(`uncertain_since`): a case's card sent again after such a try has that earlier copy looked
for and redrawn with it (services.suspect_card_copies, settle_card_copies), so no copy is
left stale.

Which of a chat's rows goes next: a row being sent (the chat is busy until it is done, or
resumed after a crash), else the oldest row of the lowest class (`OutboxPriority`, the
`priority` column; `services.due_outbox`). There are two classes:

- NORMAL (0): new cases (topic, card, evidence album, map pin), alerts (deadlines, an
  unreachable reporter), officers' actions (card edits, prompts, confirmations, whatever is
  posted under a case), the digest, and everything sent to a reporter's private chat;
- COMMAND (1): answers to commands typed in a group (/open, /overdue, /case, /report,
  /help, /merge... every command but /link), queued while the core handles such a command
  (`services.answering_command`).

So forty members typing /open cannot hold a new case's card back: it goes out as soon as
the group may receive a message, before the answers still waiting (a group may receive
20 a minute). Within a class a chat's rows keep their order, so a card, its album and its
pin, or a prompt and what follows it, stay together. Rows of one case in one chat keep
their order across classes too: queuing a row of a case moves that case's rows still
waiting in a later class up to its class (`services.enqueue`), so an officer's action on
a case never overtakes the card that /case sent again. Private chats have one class, so a
conversation is never reordered.

Which chat goes first, when the bot's 30 a second cannot serve them all: of the chats'
next rows, the lowest class, then the one due the longest, then the oldest. A row that
answers someone's own message or press (queued while the core handles an update from that
chat: `services.replying_to`) counts as due REPLY_HEAD_START (30 s) before it was queued:
the person is looking at the chat, and a backlog of other chats' notices and cards can go
a moment later. So a citizen reporting during a surge of notices hears back within a
second or two instead of after the whole backlog, and no row waits behind answers newer
than it by more than REPLY_HEAD_START.

Because claims are decided by the database, several sender processes may share one
PostgreSQL database: each row is sent by the one sender that claimed it, and a chat whose
next row is claimed is busy for everyone, which keeps the per-chat order. On SQLite every
transaction begins IMMEDIATE, which serialises the claims as well. Rate limits are counted
per process: give each of N senders 1/N of them.

Within one process up to `concurrency` chats are served at once (one row per chat at a
time; 48 by default, HOTLINE_SEND_CONCURRENCY: enough to keep Telegram's 30 a second while
each row takes 1.5 s from claim to record in a busy process), so a slow upload or a timeout
in one chat holds up no other chat. The run loop claims a chat's row as soon as the chat's
own limits let it go, even while the bot's window is full, up to CLAIM_AHEAD rows beyond the
window's room: such a row waits in the limiter and goes the moment the window has room, not
a pass later. A pass that could claim nothing (everything paused; the window full and rows
already waiting; or, in `deliver_due`, the window full) does not read the outbox.

When a message to a reporter is refused for good (blocked, account deleted) or given up
after MAX_ATTEMPTS, the officers of the case's ward are told, in the same transaction that
records the failure, that the reporter could not be reached for that case (no personal
data). They are told once per case, reporter and reason until a message reaches that
reporter again: a reporter who blocked the bot fails every later message too, and the group
hears it once per case.

When a row the core cares about is given up (a case's card, the full text sent under it,
an edit of a card), the hook the core registered for it in GIVE_UP_HOOKS runs in the same
transaction: handlers/officer.py tells the province group, so that a card is never
dropped without anyone knowing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import failpoints, services
from bot.db import session_scope
from bot.i18n import t
from bot.ratelimit import RateLimiter, Reservation
from handlers.context import OFFICER_LOCALE
from handlers.events import Outgoing
from models.enums import OutboxStatus
from models.tables import Case, Outbox
from models.types import utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
CLAIM_AHEAD = 4  # rows the run loop claims beyond the bot's room (they wait for it)
BASE_BACKOFF_S = 1.0
MAX_BACKOFF_S = 300.0
ChatKey = tuple[str, str]  # (channel, chat_id)

# Why officers are told that a reporter is out of reach (the outbox payload's alert reason).
ALERT_UNREACHABLE = "unreachable"  # blocked the bot, deactivated or deleted the account
ALERT_UNDELIVERED = "undelivered"  # transient failures until the retry budget ran out
_ALERT_KEYS = {
    ALERT_UNREACHABLE: "officer.reporter_unreachable",
    ALERT_UNDELIVERED: "officer.reporter_undelivered",
}


class RetryLater(Exception):
    """A transient failure (rate limit, 5xx, timeout, network); try again after `delay` s.

    `rate_limited`: the channel refused for sending too fast (Telegram's 429); the chat is
    paused for `delay`, everything if `whole_channel`. `progress`: what a row of several
    calls (an album with documents) already delivered, so a retry does not repeat it.
    `maybe_delivered`: the outcome is unknown (a timeout, a dropped connection).
    """

    def __init__(
        self,
        reason: str,
        delay: float | None = None,
        *,
        rate_limited: bool = False,
        whole_channel: bool = False,
        progress: dict[str, Any] | None = None,
        maybe_delivered: bool = False,
    ) -> None:
        super().__init__(reason)
        self.delay = delay
        self.rate_limited = rate_limited
        self.whole_channel = whole_channel
        self.progress = progress
        self.maybe_delivered = maybe_delivered  # a timeout: the channel may have accepted it


class PermanentFailure(Exception):
    """The message can never be delivered (blocked by the user, chat gone, bad request)."""

    def __init__(self, reason: str, *, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.unreachable = unreachable


class SenderStopping(RetryLater):
    """The sender stops before this call went out: the row waits for the next start."""

    def __init__(self) -> None:
        super().__init__("sender stopping", 0.0)


class ClaimLost(Exception):
    """This sender's claim ran out during a long delivery and another sender took over."""


@dataclass
class Sent:
    """What the transport reports back: ids of the messages it created."""

    message_ids: list[int]


class Pace(Protocol):
    """Wraps each call to the channel: waits for the rate limits, then counts the call.

    ``async with pace(messages):`` around every API call of a row (an album of N items is
    N messages). A row of several calls reports what it delivered after each call but the
    last with ``await pace.checkpoint(progress)``: once that returns, the progress is
    committed, and a retry or a restart after a crash resumes after those calls.
    """

    def __call__(self, messages: int = 1, /) -> AbstractAsyncContextManager[None]:
        """A context for one call that sends `messages` messages."""
        ...

    async def checkpoint(self, progress: dict[str, Any], /) -> None:
        """Make the calls delivered so far durable (raises ClaimLost if the row was lost)."""
        ...


class _NoPace:
    """A Pace that never waits and keeps nothing (for transports used outside the sender)."""

    @asynccontextmanager
    async def __call__(self, messages: int = 1, /) -> AsyncIterator[None]:
        yield

    async def checkpoint(self, progress: dict[str, Any], /) -> None:
        return None


no_pace: Pace = _NoPace()


class Transport(Protocol):
    """One channel's way of delivering an outbox row."""

    @property
    def channel(self) -> str:
        """The channel whose rows it delivers."""
        ...

    def is_group(self, chat_id: str) -> bool:
        """Whether the chat is a group (groups have a rate limit of their own)."""
        ...

    async def deliver(self, row: Outbox, edit_targets: list[int], pace: Pace) -> Sent:
        """Send the row (editing `edit_targets` for edits), each call inside `pace`.

        Raise RetryLater or PermanentFailure when it cannot be delivered now or ever.
        """
        ...


def backoff(attempts: int, base: float = BASE_BACKOFF_S, cap: float = MAX_BACKOFF_S) -> float:
    """Seconds to wait before attempt number `attempts + 1`."""
    return float(min(cap, base * 2 ** max(attempts - 1, 0)))


@dataclass
class _Claim:
    """A row this sender holds, and until when."""

    row: Outbox  # with its anchors resolved for the transport (see _anchored)
    key: ChatKey
    group: bool
    until: datetime
    targets: list[int]  # for an edit: the ids of the messages to edit
    payload: dict[str, Any]  # the payload as stored (flags, not ids), with its progress
    started: datetime | None = None  # when this claim was taken
    uncertain_since: datetime | None = None  # an earlier try may have been delivered since


class OutboxSender:
    """Delivers due outbox rows until stopped; `wake()` after each commit that queued rows."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        transports: dict[str, Transport],
        *,
        limiter: RateLimiter | None = None,
        claim_s: float = 60.0,
        concurrency: int = 48,
        max_attempts: int = MAX_ATTEMPTS,
        backoff_base_s: float = BASE_BACKOFF_S,
        max_backoff_s: float = MAX_BACKOFF_S,
        idle_poll_s: float = 5.0,
    ) -> None:
        if claim_s <= 0 or concurrency < 1 or max_attempts < 1:
            raise ValueError("claim_s > 0, concurrency >= 1 and max_attempts >= 1 required")
        self._sessionmaker = sessionmaker
        self._transports = transports
        self.limiter = limiter or RateLimiter.unlimited()
        self.claim_s = claim_s
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.max_backoff_s = max_backoff_s
        self.idle_poll_s = idle_poll_s
        self._wake = asyncio.Event()
        self._stopping = False
        self._stopped = asyncio.Event()  # set by stop(): waits for the limits end at once
        self._in_flight: dict[ChatKey, asyncio.Task[bool]] = {}
        # Due rows read per query: a few more than the free slots (the limiter may hold some
        # back; the pass then reads the next ones), never the whole queue.
        self.batch = max(8, 2 * concurrency)
        # What the last pass found: chats the limiter held back (-> when they may go), the
        # next moment a row becomes due, whether every slot is taken.
        self._held_back: dict[ChatKey, float] = {}
        self._upcoming: datetime | None = None
        self._full = False
        self._bot_ready_at: float | None = None  # the bot could send nothing until then
        self._awaiting_room = 0  # calls of claimed rows waiting for the limits

    def wake(self) -> None:
        """Look at the outbox now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the calls on the wire, put back what still waits, return from run()."""
        self._stopping = True
        self._stopped.set()
        self._wake.set()

    async def run(self) -> None:
        """Deliver until stopped."""
        while not self._stopping:
            # Clear before looking, so a wake() or stop() that lands while we look is kept.
            self._wake.clear()
            try:
                await self._start_due(ahead=True)
                timeout = self._sleep_time()
            except Exception:
                log.exception("outbox pass failed; retrying shortly")
                timeout = 1.0
            if self._stopping:
                break
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
            except TimeoutError:
                pass
        await self._drain()

    async def deliver_due(self) -> int:
        """One pass: start each due chat's first row that the limits allow, wait for them.

        Returns how many were delivered. A chat whose budget is spent is left for a later
        pass; so is everything beyond `concurrency` chats.
        """
        started = await self._start_due()
        return sum(await asyncio.gather(*started))

    async def _drain(self) -> None:
        if self._in_flight:
            await asyncio.gather(*self._in_flight.values(), return_exceptions=True)

    # ------------------------------------------------------------ choosing and claiming

    async def _start_due(self, *, ahead: bool = False) -> list[asyncio.Task[bool]]:
        """Claim and start each due chat's first row that the limits allow.

        Looking and claiming share one short transaction (on SQLite every transaction
        takes the write lock, so fewer of them leave more room for the handlers).

        `ahead` (the run loop): a chat whose own limits let it go is claimed even while the
        bot's window is full; its row waits in the limiter and goes the moment the window
        has room, rather than a pass (a transaction) after it. Without it (one pass,
        `deliver_due`), only as many rows are claimed as the bot's window has room for.
        """
        self._held_back = {}
        self._upcoming = None
        self._bot_ready_at = None
        free = self.concurrency - len(self._in_flight)
        self._full = free <= 0
        if self._full or self._stopping:
            return []
        room = self.limiter.bot_room()
        if room <= 0 and (not ahead or self.limiter.paused_all_until > self.limiter.clock()):
            # The bot may send nothing now (everything paused, or its window full): the
            # outbox is not read until it may.
            self._bot_ready_at = self.limiter.bot_ready_at()
            return []
        if not ahead:
            free = int(min(free, room))
        else:
            # Ahead of the window, but not far: rows already waiting for room count, and a
            # few more than the room are enough to have the next ones ready when it opens.
            free = int(min(free, max(0, room + CLAIM_AHEAD - self._awaiting_room)))
            if free <= 0:
                # Enough rows wait for the window: sleep until it has room, or until one of
                # them is sent and finishes (that wakes the loop).
                ready = self.limiter.bot_ready_at()
                if ready > self.limiter.clock():
                    self._bot_ready_at = ready
                else:
                    self._full = True
                return []
        now = utcnow()
        busy = sorted(self._in_flight)
        claims: list[_Claim] = []
        async with session_scope(self._sessionmaker) as session:
            taken: set[ChatKey] = set()  # claimed by this pass, or by another sender
            while not self._full:
                seen = sorted({*busy, *self._held_back, *taken})
                rows = await services.due_outbox(session, now, limit=self.batch, exclude=seen)
                for row in rows:
                    if len(claims) >= free:
                        self._full = True
                        break
                    key = (row.channel, row.chat_id)
                    transport = self._transports.get(row.channel)
                    group = transport.is_group(row.chat_id) if transport is not None else False
                    # The chat's own limits (the bot's were looked at above).
                    ready = self.limiter.chat_ready_at(key, group=group)
                    if ready > self.limiter.clock():
                        self._held_back[key] = ready  # its budget is spent: others go on
                        continue
                    taken.add(key)
                    claim = await self._claim(session, row, key, group, now)
                    if claim is not None:
                        claims.append(claim)
                if len(rows) < self.batch:
                    break
            self._full = len(claims) >= free
            if not self._full:
                # When the next row becomes due, to sleep until then (with every slot taken,
                # a delivery finishing wakes the loop first: no need to look).
                mine = sorted({*busy, *taken})
                self._upcoming = await services.next_outbox_due_at(session, mine, after=now)
        started: list[asyncio.Task[bool]] = []
        for claim in claims:  # committed: the claims hold
            task = asyncio.create_task(self._deliver(claim), name=f"outbox-{claim.row.id}")
            self._in_flight[claim.key] = task
            task.add_done_callback(functools.partial(self._finished, claim.key))
            started.append(task)
        return started

    def _finished(self, key: ChatKey, _task: asyncio.Task[bool]) -> None:
        self._in_flight.pop(key, None)
        self._wake.set()  # the chat's next row may go, and a slot is free

    def _sleep_time(self) -> float:
        """Until the earliest moment something can go; wake() and finishing deliveries
        (each of which may let its chat's next row go) interrupt the sleep."""
        if self._full:
            return self.idle_poll_s
        now = self.limiter.clock()
        if self._bot_ready_at is not None:
            return max(0.0, min(self.idle_poll_s, self._bot_ready_at - now))
        waits = [self.idle_poll_s]
        if self._upcoming is not None:
            waits.append((self._upcoming - utcnow()).total_seconds())
        waits.extend(ready - now for ready in self._held_back.values())
        return max(0.0, min(waits))

    async def _claim(
        self, session: AsyncSession, row: Outbox, key: ChatKey, group: bool, now: datetime
    ) -> _Claim | None:
        assert row.id is not None
        until = now + timedelta(seconds=self.claim_s)
        claimed = await services.claim_outbox(session, row.id, now=now, until=until)
        if claimed is None:
            return None
        fresh, interrupted = claimed
        uncertain_since = None
        if interrupted:
            log.warning(
                "outbox %s: interrupted delivery, resending (attempt %s)", row.id, fresh.attempts
            )
            # The sender that died may have been answered: its try began with its claim.
            if row.claimed_until is not None:
                uncertain_since = row.claimed_until - timedelta(seconds=self.claim_s)
        targets: list[int] = []
        if fresh.kind == "edit" and fresh.case_id is not None:
            purpose = fresh.payload.get("edit_purpose") or "card"
            refs = await services.messages_of_case(session, fresh.case_id, fresh.chat_id, purpose)
            targets = [ref.message_id for ref in refs]
        stored = dict(fresh.payload)
        fresh = await _anchored(session, fresh)
        return _Claim(fresh, key, group, until, targets, stored, now, uncertain_since)

    async def _keep_claim(self, claim: _Claim) -> None:
        """Before each call of a long delivery: renew the claim once half of it is used."""
        now = utcnow()
        if (claim.until - now).total_seconds() > self.claim_s / 2:
            return
        until = now + timedelta(seconds=self.claim_s)
        assert claim.row.id is not None
        async with session_scope(self._sessionmaker) as session:
            renewed = await services.renew_outbox_claim(session, claim.row.id, claim.until, until)
        if not renewed:
            raise ClaimLost(f"outbox {claim.row.id}: claim ran out and was taken over")
        claim.until = until

    async def _checkpoint(self, claim: _Claim, progress: dict[str, Any]) -> None:
        """Commit what a row of several calls delivered so far, and renew its claim.

        Between two calls of an album with documents: a crash after this repeats none of
        the calls already made (without it, a restart would send them all again).
        """
        now = utcnow()
        until = now + timedelta(seconds=self.claim_s)
        payload = {**claim.payload, "progress": progress}
        assert claim.row.id is not None
        async with session_scope(self._sessionmaker) as session:
            saved = await services.renew_outbox_claim(
                session, claim.row.id, claim.until, until, payload=payload
            )
        if not saved:
            raise ClaimLost(f"outbox {claim.row.id}: claim ran out and was taken over")
        claim.until = until
        claim.payload = payload

    def _pace(self, claim: _Claim) -> Pace:
        return _SenderPace(self, claim)

    async def _acquire(self, claim: _Claim, messages: int) -> Reservation:
        """Wait for the rate limits, unless the sender stops first (SenderStopping)."""
        if self._stopping:
            raise SenderStopping
        reservation = self.limiter.try_reserve(claim.key, group=claim.group, cost=messages)
        if reservation is not None:
            return reservation
        acquiring = asyncio.ensure_future(
            self.limiter.acquire(claim.key, group=claim.group, cost=messages)
        )
        stopped = asyncio.ensure_future(self._stopped.wait())
        # Counted when it waits for the bot's window, not for its own chat's limits (a
        # group's minute must not keep other chats from being claimed ahead).
        for_the_bot = self.limiter.chat_ready_at(claim.key, group=claim.group, cost=messages)
        waits = int(for_the_bot <= self.limiter.clock())
        self._awaiting_room += waits
        try:
            await asyncio.wait({acquiring, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._awaiting_room -= waits
            stopped.cancel()
        if acquiring.done():
            return acquiring.result()
        acquiring.cancel()
        raise SenderStopping

    # ------------------------------------------------------------ sending and recording

    async def _deliver(self, claim: _Claim) -> bool:
        row = claim.row
        try:
            if row.attempts >= self.max_attempts:  # only after interrupted deliveries
                outcome: BaseException | Sent = RetryLater("interrupted delivery")
                return await self._record(claim, outcome, count_attempt=False)
            transport = self._transports.get(row.channel)
            if transport is None:
                outcome = PermanentFailure(f"no transport for channel {row.channel}")
            else:
                failpoints.hit("outbox.before_send")
                try:
                    outcome = await transport.deliver(row, claim.targets, self._pace(claim))
                except (RetryLater, PermanentFailure) as exc:
                    outcome = exc
                except ClaimLost:
                    raise
                except Exception as exc:  # unknown errors are retried, then given up
                    log.exception("outbox %s: unexpected delivery error", row.id)
                    outcome = RetryLater(f"{type(exc).__name__}: {exc}")
                else:
                    failpoints.hit("outbox.after_send")
            return await self._record(claim, outcome)
        except ClaimLost as exc:
            log.warning("%s; its outcome is the other sender's to record", exc)
            return False
        except Exception:
            log.exception("outbox %s: delivery not recorded; its claim will run out", row.id)
            return False

    async def _record(
        self, claim: _Claim, outcome: BaseException | Sent, *, count_attempt: bool = True
    ) -> bool:
        row = claim.row
        assert row.id is not None
        if isinstance(outcome, SenderStopping):
            count_attempt = False  # nothing was sent
        attempts = row.attempts + (1 if count_attempt else 0)
        now = utcnow()
        values: dict[str, Any] = {"attempts": attempts}
        alert: str | None = None
        # Copies of a message that may exist without our knowing their ids (a try cut short
        # after the channel accepted it) are looked for once the row is sent: handlers/
        # officer.py and services.suspect_card_copies keep every copy of a card current.
        notes = _delivery_notes(row, claim, outcome)
        if notes:
            values["payload"] = {**claim.payload, **notes}
        if isinstance(outcome, Sent):
            values.update(status=OutboxStatus.SENT.value, sent_at=now)
        elif isinstance(outcome, RetryLater):
            values["last_error"] = str(outcome)[:500]
            if outcome.progress is not None:
                payload = values.get("payload") or claim.payload
                values["payload"] = {**payload, "progress": outcome.progress}
            if outcome.rate_limited and outcome.delay:
                if self.limiter.note_rate_limited(
                    claim.key, outcome.delay, whole_channel=outcome.whole_channel
                ):
                    log.warning("rate limited in several chats: pausing all sends")
            if attempts >= self.max_attempts:
                values["status"] = OutboxStatus.FAILED.value
                alert = ALERT_UNDELIVERED
                log.warning("outbox %s: giving up after %s attempts", row.id, attempts)
            else:
                delay = outcome.delay
                if delay is None:
                    delay = backoff(attempts, self.backoff_base_s, self.max_backoff_s)
                values.update(
                    status=OutboxStatus.PENDING.value,
                    next_attempt_at=now + timedelta(seconds=delay),
                )
                log.info("outbox %s: retry in %.1fs (%s)", row.id, delay, outcome)
        elif isinstance(outcome, PermanentFailure):
            values.update(status=OutboxStatus.FAILED.value, last_error=str(outcome)[:500])
            log.warning("outbox %s: not deliverable (%s)", row.id, outcome)
            if outcome.unreachable:
                alert = ALERT_UNREACHABLE
        else:  # pragma: no cover  (the callers pass nothing else)
            raise TypeError(outcome)
        async with session_scope(self._sessionmaker) as session:
            if not await services.finish_outbox(session, row.id, claim.until, **values):
                raise ClaimLost(f"outbox {row.id}: claim ran out and was taken over")
            if isinstance(outcome, Sent):
                await self._after_sent(session, row, claim, outcome, values.get("payload"))
            elif alert == ALERT_UNREACHABLE:
                await services.mark_reporter_reachable(session, row.channel, row.chat_id, False)
            if alert is not None:
                await _tell_officers(session, row, alert)
            if values.get("status") == OutboxStatus.FAILED.value:
                await _given_up(session, row)
        return isinstance(outcome, Sent)

    async def _after_sent(
        self,
        session: AsyncSession,
        row: Outbox,
        claim: _Claim,
        sent: Sent,
        payload: dict[str, Any] | None = None,
    ) -> None:
        track = row.payload.get("track")
        if track and row.case_id is not None and sent.message_ids:
            extra = {k: v for k, v in track.items() if k != "purpose"}
            purpose = track.get("purpose", "card")
            since = (payload or row.payload).get("uncertain_since")
            if purpose == "card" and since:
                # An earlier try may have left a copy whose id we never learnt.
                await services.suspect_card_copies(
                    session, row, datetime.fromisoformat(since), sent.message_ids[0]
                )
            await services.remember_message(
                session,
                row.channel,
                row.chat_id,
                sent.message_ids[0],
                row.case_id,
                purpose,
                extra,
            )
        if row.kind == "edit" and row.case_id is not None:
            await services.settle_card_copies(session, row, claim.targets, sent.message_ids)
        if not claim.group:  # it reached a private chat: its person is reachable
            await services.mark_reporter_reachable(session, row.channel, row.chat_id, True)


# Run in the transaction that gives a row up for good, chosen by what the row is: its
# track purpose ("card", "card_more"), or "edit:<edit_purpose>" for an edit. The core
# registers them (handlers/officer.py: a card nobody received is reported to the province).
GiveUpHook = Callable[[AsyncSession, Outbox], Awaitable[None]]
GIVE_UP_HOOKS: dict[str, GiveUpHook] = {}


async def _given_up(session: AsyncSession, row: Outbox) -> None:
    """Let the core know that a row it cares about will never be delivered."""
    track = row.payload.get("track") or {}
    what = (
        f"edit:{row.payload.get('edit_purpose')}" if row.kind == "edit" else track.get("purpose")
    )
    hook = GIVE_UP_HOOKS.get(str(what))
    if hook is not None:
        await hook(session, row)


def _delivery_notes(row: Outbox, claim: _Claim, outcome: BaseException | Sent) -> dict[str, Any]:
    """What the payload keeps of a delivery: the ids of the messages it made (sent_ids), and
    since when a try whose outcome is unknown may have delivered it (uncertain_since)."""
    notes: dict[str, Any] = {}
    unknown = claim.uncertain_since
    if unknown is None and isinstance(outcome, RetryLater) and outcome.maybe_delivered:
        unknown = claim.started
    if unknown is not None and not row.payload.get("uncertain_since"):
        notes["uncertain_since"] = unknown.isoformat()
    if isinstance(outcome, Sent) and row.kind not in ("edit", "topic_close", "topic_reopen"):
        notes["sent_ids"] = list(outcome.message_ids)
    return notes


class _SenderPace:
    """The sender's Pace for one claimed row: rate limits, claim renewal, checkpoints."""

    def __init__(self, sender: OutboxSender, claim: _Claim) -> None:
        self._sender = sender
        self._claim = claim

    @asynccontextmanager
    async def __call__(self, messages: int = 1, /) -> AsyncIterator[None]:
        sender, claim = self._sender, self._claim
        reservation = await sender._acquire(claim, messages)
        try:
            await sender._keep_claim(claim)
            yield
        finally:
            sender.limiter.finish(reservation)

    async def checkpoint(self, progress: dict[str, Any], /) -> None:
        await self._sender._checkpoint(self._claim, progress)


async def _anchored(session: AsyncSession, row: Outbox) -> Outbox:
    """The row with its case anchors in that chat resolved for the transport: the case's
    forum topic (`message_thread_id`) and its card (`reply_to_message_id`).

    Resolved at delivery, not when queued, because the topic and the card get their ids
    only once sent (earlier rows of the same chat, which per-chat order sends first). The
    row handed back is a detached copy: the stored payload keeps the flags, not the ids.
    """
    p = row.payload
    wants_topic = p.get("in_topic") or row.kind in ("topic_close", "topic_reopen")
    if row.case_id is None or not (wants_topic or p.get("reply_to_card")):
        return row
    payload = dict(p)
    if wants_topic:
        topics = await services.messages_of_case(session, row.case_id, row.chat_id, "topic")
        if topics:
            payload["message_thread_id"] = topics[-1].message_id
    if p.get("reply_to_card"):
        cards = await services.messages_of_case(session, row.case_id, row.chat_id, "card")
        if cards:
            payload["reply_to_message_id"] = cards[-1].message_id
    return Outbox(**{**row.model_dump(), "payload": payload})


async def _tell_officers(session: AsyncSession, row: Outbox, reason: str) -> None:
    """Tell the case's officers that its reporter could not be reached (once; see above)."""
    if row.case_id is None:
        return
    case = await session.get(Case, row.case_id)
    if case is None:
        return
    reporter = await services.reporter_of_chat(session, row.channel, row.chat_id)
    if reporter is None:
        return  # not a message to a reporter (a card to a group, say)
    if await services.officers_told_of_unreachable_reporter(session, case, reason, reporter):
        log.info("outbox %s: officers of case %s already told (%s)", row.id, case.code, reason)
        return
    groups = await services.officer_groups_of_case(session, case)
    text = t(OFFICER_LOCALE, _ALERT_KEYS[reason], code=case.code)
    for group in groups:
        alert = await services.enqueue(
            session, group.channel, Outgoing(chat_id=group.chat_id, text=text, case_id=case.id)
        )
        notice = {"reason": reason, "reporter": reporter.id, "outbox_id": row.id}
        alert.payload = {**alert.payload, "alert": notice}
    await session.flush()
    log.warning(
        "outbox %s: reporter of case %s out of reach (%s); told %s officer group(s)",
        row.id,
        case.code,
        reason,
        len(groups),
    )
