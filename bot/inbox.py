"""The inbox is the queue: receivers store updates, a dispatcher hands them to the channel.

A receiver (Telegram's long polling today; webhooks and other channels later) does nothing
but store each batch of raw updates in one transaction, with the routing facts its channel
reads from the raw data (`chat_key`: the chat whose order an update belongs to;
`group_key`: the album it is an item of), and then confirm the batch to the channel.

The dispatcher reads pending updates from the database and hands them to the channel's
`InboxHandler`:

- A chat's updates strictly one at a time, in arrival order (update id); up to
  `concurrency` chats at once. Only the updates in hand are in memory: a flood waits in
  the table, not in tasks.
- Updates that carry files to download (`has_files`) have a lane of their own: at most
  `file_concurrency` chats with such an update in hand, so slow downloads never hold every
  slot and other chats' messages go on being handled meanwhile.
- An album (a chat's updates sharing `group_key`) whole, once no item of it has arrived
  for `album_quiet_s` (albums have no end marker); the chat's later updates wait behind it.
- Before a round is handed over, one committed UPDATE takes its rows in hand:
  `attempts + 1` and a claim `claimed_until` (a lease, renewed during long handlings).
  Rows under a live claim belong to another dispatcher and are left alone, so several
  processes can share one inbox; only a chat's head (no earlier pending row of that chat)
  is ever taken.
- A pending row with attempts > 0 and no live claim was in hand when a process died: a
  suspect. Suspects are handled alone (nothing else in hand in this process), one at a
  time, oldest first, so that a later crash counts only against the one in hand. One in
  hand at `give_up` crashes is given up: logged (ids only), closed, and its sender gets
  the handler's apology. Updates that merely waited at a crash are never counted.
- The handling transaction closes a row (`services.claim_update` flips `processed_at`);
  rows the handler ignored (noise) are closed at the start of the next round.
- A database error (down, disk full, read-only file) never ends the loop: it is logged at
  ERROR, rows whose handling met it are put back uncounted, and the loop retries with
  backoff (1 s doubling to 60 s) until the database is back.

This module imports no messaging library; the channel-specific parts live with the channel
(bot/channels/: the contract in base.py, each channel in its package).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import services
from bot.db import session_scope, storage_unavailable
from handlers.events import Outgoing
from models.tables import InboundUpdate
from models.types import utcnow

if TYPE_CHECKING:
    from bot.channels.base import Channel

log = logging.getLogger(__name__)

ALBUM_QUIET_S = 0.8  # an album has no end marker: it is complete after this much quiet
REPLAY_GIVE_UP = 3  # an update in hand at this many crashes is given up
LEASE_S = 60.0  # how long a round's claim holds; renewed while the handling goes on
IDLE_POLL_S = 5.0  # look at the table this often without a wake-up (other receivers)
MAX_BACKOFF_S = 60.0
DRAIN_S = 30.0  # at stop, how long the updates in hand may take to finish


@dataclass(frozen=True)
class InboxItem:
    """An update taken in hand: what the channel stored, and how often it was taken."""

    update_id: int
    payload: dict[str, Any] | None
    chat_key: str | None
    group_key: str | None
    attempts: int
    received_at: datetime | None = None  # when it was stored (handling latency)


class InboxHandler(Protocol):
    """A channel's side of the dispatcher."""

    @property
    def channel(self) -> str:
        """The channel whose updates it handles."""
        ...

    async def handle(self, items: Sequence[InboxItem]) -> bool:
        """Handle one update, or an album's items (oldest first).

        True when the handling closed them (marked processed in its transaction). False
        for updates it ignored: the dispatcher closes them. Raises what
        `db.storage_unavailable` recognises when the database failed: the items are put
        back and handled again once it is back.
        """
        ...

    async def apology(self, session: AsyncSession, item: InboxItem) -> Outgoing | None:
        """The message that tells the sender of a given-up update (None: nobody to tell)."""
        ...


def _aware(moment: datetime) -> datetime:
    """SQLite gives back naive UTC datetimes; PostgreSQL aware ones."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def backoff(failures: int) -> float:
    """Seconds to wait after `failures` database errors in a row: 1, 2, 4 … 60."""
    return float(min(MAX_BACKOFF_S, 2.0 ** max(failures - 1, 0)))


@dataclass
class _InHand:
    ids: list[int]
    has_files: bool = False
    task: asyncio.Task[None] | None = None
    renewed_at: datetime = field(default_factory=utcnow)


class InboxDispatcher:
    """Hands a channel's pending updates to its handler until stopped (see module doc)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        handler: InboxHandler,
        *,
        concurrency: int = 64,
        file_concurrency: int | None = None,
        album_quiet_s: float = ALBUM_QUIET_S,
        lease_s: float = LEASE_S,
        give_up: int = REPLAY_GIVE_UP,
        idle_poll_s: float = IDLE_POLL_S,
        clock: Callable[[], datetime] = utcnow,
        wake_sender: Callable[[], None] = lambda: None,
        on_handled: Callable[[float], None] | None = None,
    ) -> None:
        if concurrency < 1 or lease_s <= 0 or give_up < 1:
            raise ValueError("concurrency >= 1, lease_s > 0 and give_up >= 1 required")
        self._sessionmaker = sessionmaker
        self.handler = handler
        self.channel = handler.channel
        self.concurrency = concurrency
        # Chats in hand with files to download: a lane within `concurrency`.
        self.file_concurrency = max(1, min(file_concurrency or concurrency, concurrency))
        self.album_quiet_s = album_quiet_s
        self.lease_s = lease_s
        self.give_up = give_up
        self.idle_poll_s = idle_poll_s
        self.clock = clock
        self._wake_sender = wake_sender  # an apology was queued in the outbox
        # Told, per update handled, the seconds from its storing to the end of its handling.
        self._on_handled = on_handled
        self._in_hand: dict[str, _InHand] = {}  # by chat (or "#<update id>" without one)
        self._to_close: list[int] = []  # ignored by the handler: closed next round
        self._to_release: list[int] = []  # met a database error: put back next round
        # Database errors in a row, of rounds and of handlings: while either is > 0 the
        # loop waits out the backoff between rounds.
        self._round_failures = 0
        self._handling_failures = 0
        self._wake = asyncio.Event()
        self._stopping = False
        # Observed bounds (tests and operators): most chats and updates in hand at once.
        self.peak_in_hand = 0
        self.peak_updates_in_hand = 0
        self.handled = 0  # updates handed over since start
        self.rounds = 0  # rounds that took updates in hand
        self.given_up = 0

    @property
    def in_hand(self) -> int:
        """Chats (an update, or an album) being handled now."""
        return len(self._in_hand)

    def wake(self) -> None:
        """Look at the table now (a receiver stored updates)."""
        self._wake.set()

    def stop(self) -> None:
        """Take nothing more in hand; run() returns once the updates in hand are handled."""
        self._stopping = True
        self._wake.set()

    async def run(self, *, clear_claims: bool = False) -> None:
        """Dispatch until stopped. `clear_claims`: this process is the inbox's only
        dispatcher (one `hotline run`): claims left by a dead run are dropped at once."""
        if clear_claims:
            await self._retrying(self._clear_claims)
        while not self._stopping:
            self._wake.clear()
            try:
                delay = await self._round()
                self._round_failures = 0
            except Exception as exc:  # noqa: BLE001  (the loop must outlive any failure)
                self._round_failures += 1
                delay = backoff(self._round_failures)
                self._log_failure(exc, f"inbox: dispatching failed; retrying in {delay:.0f}s")
            if self._stopping:
                break
            failures = max(self._round_failures, self._handling_failures)
            if failures:
                # The database is failing: wait out the backoff (wake-ups would only fail).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._until_stopped(), backoff(failures))
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
        await self._drain()

    async def _until_stopped(self) -> None:
        while not self._stopping:
            self._wake.clear()
            await self._wake.wait()

    async def _retrying(self, work: Callable[[], Any]) -> None:
        failures = 0
        while not self._stopping:
            try:
                await work()
                return
            except Exception as exc:  # noqa: BLE001
                failures += 1
                delay = backoff(failures)
                self._log_failure(exc, f"inbox: database unavailable; retrying in {delay:.0f}s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._until_stopped(), delay)

    async def _clear_claims(self) -> None:
        async with session_scope(self._sessionmaker) as session:
            cleared = await services.clear_inbound_claims(session, self.channel)
        if cleared:
            log.warning("inbox: %s update(s) were in hand when the last run stopped", cleared)

    @staticmethod
    def _log_failure(exc: BaseException, message: str) -> None:
        if storage_unavailable(exc):
            # The error's text, without statement parameters (db.make_engine hides them).
            log.error("%s (%s: %s)", message, type(exc).__name__, str(exc).splitlines()[0])
        else:
            log.exception(message)

    # ------------------------------------------------------------------ rounds

    async def _round(self) -> float:
        """Close, put back, renew, then take in hand what may start; returns how long to
        wait for a wake-up before the next round."""
        now = self.clock()
        until = now + timedelta(seconds=self.lease_s)
        to_close, to_release = list(self._to_close), list(self._to_release)
        renew = [
            uid
            for hand in self._in_hand.values()
            if (now - hand.renewed_at).total_seconds() >= self.lease_s / 3
            for uid in hand.ids
        ]
        delay = self.idle_poll_s
        taken: list[InboundUpdate] = []
        given_up: list[InboundUpdate] = []
        async with session_scope(self._sessionmaker) as session:
            await services.finish_inbound(session, self.channel, to_close)
            await services.release_inbound(session, self.channel, to_release)
            await services.renew_inbound(session, self.channel, renew, until)
            if len(self._in_hand) < self.concurrency and not self._stopping:
                ids, delay, give_up = await self._choose(session, now)
                if give_up:
                    given_up = await self._give_up(session, give_up)
                    delay = 0.0  # the next suspect, or the fresh updates, at once
                taken = await services.take_inbound(
                    session, self.channel, ids, now=now, until=until
                )
        # Committed: the closes, releases and claims hold.
        del self._to_close[: len(to_close)]
        del self._to_release[: len(to_release)]
        for hand in self._in_hand.values():
            if hand.ids and hand.ids[0] in renew:
                hand.renewed_at = now
        for row in given_up:
            log.error(
                "update %s (%s): given up, in hand at %s crashes",
                row.update_id,
                self.channel,
                row.attempts,
            )
        self.given_up += len(given_up)
        if given_up:
            self._wake_sender()
        self._start(taken, now)
        if self._in_hand:  # claims must be renewed in time
            delay = min(delay, self.lease_s / 3)
        return delay

    async def _choose(
        self, session: AsyncSession, now: datetime
    ) -> tuple[list[int], float, list[int]]:
        """Which updates to take in hand now, how long until an album may be ready, and
        which suspects to give up."""
        files_free = self.file_concurrency - sum(h.has_files for h in self._in_hand.values())
        heads = await services.inbox_heads(
            session,
            self.channel,
            now,
            limit=max(2 * self.concurrency, 32),
            with_files=files_free > 0,
        )
        # Counted now, not before: on SQLite the first statement waited for the write
        # lock, and the handlings that finished meanwhile freed their slots.
        free = self.concurrency - len(self._in_hand)
        files_free = self.file_concurrency - sum(h.has_files for h in self._in_hand.values())
        albums = [
            (h.chat_key, h.group_key)
            for h in heads
            if h.chat_key is not None and h.group_key is not None
        ]
        items: dict[tuple[str | None, str | None], list[services.InboxHead]] = {}
        for item in await services.album_items(session, self.channel, albums):
            items.setdefault((item.chat_key, item.group_key), []).append(item)

        def members(head: services.InboxHead) -> list[services.InboxHead]:
            if head.chat_key is not None and head.group_key is not None:
                return items.get((head.chat_key, head.group_key)) or [head]
            return [head]

        suspects = [h for h in heads if h.attempts > 0]
        if suspects:
            if self._in_hand:
                return [], self.idle_poll_s, []  # a suspect waits until it can be alone
            first = members(suspects[0])
            if suspects[0].attempts >= self.give_up:
                return [], 0.0, [m.update_id for m in first]
            return [m.update_id for m in first], self.idle_poll_s, []
        chosen: list[int] = []
        delay = self.idle_poll_s
        quiet = timedelta(seconds=self.album_quiet_s)
        for head in heads:
            if free <= 0:
                break
            group = members(head)
            if head.group_key:
                ready_at = max(m.received_at for m in group) + quiet
                if ready_at > now:  # more items may still come
                    delay = min(delay, (ready_at - now).total_seconds())
                    continue
            if any(m.has_files for m in group):
                if files_free <= 0:
                    continue  # its lane is full; the chats after it may go on
                files_free -= 1
            chosen.extend(m.update_id for m in group)
            free -= 1
        return chosen, delay, []

    async def _give_up(self, session: AsyncSession, ids: list[int]) -> list[InboundUpdate]:
        rows = await services.inbound_payloads(session, self.channel, ids)
        if rows:
            first = rows[0]
            item = InboxItem(
                first.update_id, first.payload, first.chat_key, first.group_key, first.attempts
            )
            message = await self.handler.apology(session, item)
            if message is not None:
                await services.enqueue(session, self.channel, message)
        await services.finish_inbound(session, self.channel, ids)
        return rows

    # ------------------------------------------------------------------ handling

    def _start(self, taken: Sequence[InboundUpdate], now: datetime) -> None:
        batches: dict[str, list[InboxItem]] = {}
        with_files: set[str] = set()
        for row in taken:
            key = row.chat_key if row.chat_key is not None else f"#{row.update_id}"
            batches.setdefault(key, []).append(
                InboxItem(
                    row.update_id,
                    row.payload,
                    row.chat_key,
                    row.group_key,
                    row.attempts,
                    row.received_at,
                )
            )
            if row.has_files:
                with_files.add(key)
        for key, batch in batches.items():
            hand = _InHand([item.update_id for item in batch], key in with_files, renewed_at=now)
            self._in_hand[key] = hand
            hand.task = asyncio.create_task(self._handle(key, hand, batch), name=f"inbox-{key}")
        self.handled += len(taken)
        self.rounds += bool(taken)
        self.peak_in_hand = max(self.peak_in_hand, len(self._in_hand))
        self.peak_updates_in_hand = max(
            self.peak_updates_in_hand, sum(len(h.ids) for h in self._in_hand.values())
        )

    async def _handle(self, key: str, hand: _InHand, batch: list[InboxItem]) -> None:
        ids = hand.ids
        try:
            closed = await self.handler.handle(batch)
        except Exception as exc:  # noqa: BLE001  (one update must not stop the others)
            if storage_unavailable(exc):
                self._handling_failures += 1
                self._log_failure(exc, f"update {ids[0]}: database unavailable; put back")
                self._to_release.extend(ids)
            else:
                log.exception("update %s: handling failed", ids[0])
                self._handling_failures = 0
                self._to_close.extend(ids)
        else:
            self._handling_failures = 0
            if not closed:
                self._to_close.extend(ids)
            if self._on_handled is not None:
                done = self.clock()
                for item in batch:
                    if item.received_at is not None:
                        self._on_handled(
                            max(0.0, (done - _aware(item.received_at)).total_seconds())
                        )
        finally:
            # Once its update is closed a chat's next one may already be in hand (this
            # task was still answering, say, a button press): leave that one be.
            if self._in_hand.get(key) is hand:
                del self._in_hand[key]
            self._wake.set()

    async def _drain(self) -> None:
        """At stop: let the updates in hand finish, then record what they left open."""
        tasks = [hand.task for hand in self._in_hand.values() if hand.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=DRAIN_S)
        if self._to_close or self._to_release:
            try:
                async with session_scope(self._sessionmaker) as session:
                    await services.finish_inbound(session, self.channel, self._to_close)
                    await services.release_inbound(session, self.channel, self._to_release)
            except Exception as exc:  # noqa: BLE001  (they are suspects at the next start)
                self._log_failure(exc, "inbox: could not record the last handled updates")


class LinkedChats:
    """The chats linked as officer groups, cached for receivers that refuse, before storing
    anything, the updates of groups that are not linked.

    Refreshed when stale: after a link or unlink handled in this process (`mark_stale`),
    and every `refresh_s` (links made or ended by another process or the CLI).
    """

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, refresh_s: float = 60.0
    ) -> None:
        self._sessionmaker = sessionmaker
        self.refresh_s = refresh_s
        self._chats: dict[str, frozenset[str]] = {}
        self._loaded_at: dict[str, float] = {}
        self._generation = 0  # bumped by mark_stale: a read begun before it is stale

    def mark_stale(self) -> None:
        """Read the links again before the next use."""
        self._generation += 1
        self._loaded_at.clear()

    async def of(self, channel: str) -> frozenset[str]:
        """The linked chat ids of a channel (read from the database when stale)."""
        loop = asyncio.get_running_loop()
        loaded = self._loaded_at.get(channel)
        if loaded is None or loop.time() - loaded >= self.refresh_s:
            started, generation = loop.time(), self._generation
            async with self._sessionmaker() as session:
                chats = await services.linked_chat_ids(session, channel)
            self._chats[channel] = frozenset(chats)
            if generation == self._generation:  # not marked stale meanwhile
                self._loaded_at[channel] = started
        return self._chats.get(channel, frozenset())


@dataclass
class StoreOutcome:
    """What became of a request's (or a poll's) raw updates."""

    stored: int = 0  # rows written (an unreadable update is stored closed)
    pending: int = 0  # of which wait to be handled
    refused: int = 0  # from groups that are not linked: dropped, nothing stored
    skipped: int = 0  # without a usable update id


async def store_raw_updates(
    sessionmaker: async_sessionmaker[AsyncSession],
    linked: LinkedChats,
    channel: Channel,
    raws: Sequence[dict[str, Any]],
) -> StoreOutcome:
    """Store raw updates in the inbox in one transaction, as a receiver does (webhooks).

    The same rules as long polling (bot/channels/telegram/polling.py): an update without a
    usable id is skipped, one from a group that is not linked and not answered there is
    refused before storing, one the runtime cannot read is stored already closed (its id is
    known). When this returns the rows are committed; it raises when they could not be.
    """
    outcome = StoreOutcome()
    chats = await linked.of(channel.name)
    arrivals: list[services.Arrival] = []
    for raw in raws:
        uid = channel.update_id(raw)
        if uid is None:
            outcome.skipped += 1
            log.warning("an update without a usable update id (%s) skipped", channel.name)
            continue
        route = channel.route(raw)
        if route.refused(chats):
            outcome.refused += 1
            continue
        if not channel.readable(raw):
            log.warning("update %s (%s): unreadable, skipped", uid, channel.name)
            arrivals.append(services.Arrival(uid, None))
            continue
        arrivals.append(
            services.Arrival(uid, raw, route.chat_key, route.group_key, route.has_files)
        )
        outcome.pending += 1
    if arrivals:
        async with session_scope(sessionmaker) as session:
            await services.store_inbound(session, channel.name, arrivals)
    outcome.stored = len(arrivals)
    return outcome
