"""The outbox sender: order per chat, claims, retries, rate limits, unreachable reporters."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import col, select

from bot import db, services
from bot.app import Hotline
from bot.channels.telegram.delivery import TelegramTransport
from bot.channels.telegram_aiogram import AiogramOps
from bot.fakes.telegram import FakeBotAPI, FakeChat, FakeUser, tiny_png
from bot.outbox import (
    MAX_ATTEMPTS,
    OutboxSender,
    Pace,
    PermanentFailure,
    RetryLater,
    Sent,
    backoff,
    no_pace,
)
from bot.ratelimit import RateLimiter
from handlers.events import Outgoing
from models.enums import OutboxStatus
from models.tables import Case, MessageRef, Outbox, Reporter
from models.types import utcnow
from tests.harness import Person, file_report

CITIZEN = FakeUser(1001, first_name="Lan")
GROUP = FakeChat(-1001, type="supergroup", title="Kỳ Lừa officers")


class ScriptedTransport:
    """Records deliveries; fails according to a script of exceptions per call.

    With `gate`, each delivery waits for it (after setting `entered`): a send in flight.
    """

    channel = "telegram"

    def __init__(
        self,
        script: list[BaseException | None] | None = None,
        gate: asyncio.Event | None = None,
    ) -> None:
        self.script = list(script or [])
        self.delivered: list[tuple[str, str]] = []
        self.next_id = 100
        self.gate = gate
        self.entered = asyncio.Event()

    def is_group(self, chat_id: str) -> bool:
        return chat_id.startswith("-")

    async def deliver(self, row: Outbox, edit_targets: list[int], pace: Pace = no_pace) -> Sent:
        async with pace(1):
            if self.gate is not None:
                self.entered.set()
                await self.gate.wait()
            outcome = self.script.pop(0) if self.script else None
            if outcome is not None:
                raise outcome
            self.delivered.append((row.chat_id, row.payload["text"]))
            self.next_id += 1
            return Sent([self.next_id])


def new_sender(hotline: Hotline, **kw: Any) -> OutboxSender:
    """Give the hotline a sender with no rate limits (unless `limiter=` says otherwise)."""
    kw.setdefault("limiter", RateLimiter.unlimited())
    hotline.sender = OutboxSender(hotline.sessionmaker, hotline.transports, **kw)
    return hotline.sender


async def drain(hotline: Hotline, sender: OutboxSender | None = None) -> None:
    """Deliver until no row is due (rows given up count as done)."""
    sender = sender or hotline.sender
    for _ in range(200):
        await sender.deliver_due()
        async with hotline.sessionmaker() as s:
            if not await services.due_outbox(s, utcnow()):
                return
    raise AssertionError("the outbox does not drain")


async def passes(sender: OutboxSender) -> None:
    """Deliver while passes deliver something (a chat held back ends it)."""
    while await sender.deliver_due():
        pass


async def queue(hotline: Hotline, chat: str, *texts: str, **kw: Any) -> None:
    async with db.session_scope(hotline.sessionmaker) as s:
        for text in texts:
            await services.enqueue(s, "telegram", Outgoing(chat_id=chat, text=text, **kw))


async def rows(hotline: Hotline) -> list[Outbox]:
    async with hotline.sessionmaker() as s:
        return list((await s.exec(select(Outbox).order_by(col(Outbox.id)))).all())


async def make_due(hotline: Hotline) -> None:
    async with db.session_scope(hotline.sessionmaker) as s:
        for row in (await s.exec(select(Outbox))).all():
            row.next_attempt_at = utcnow() - timedelta(seconds=1)


async def set_claim(hotline: Hotline, row_id: int, seconds: float, attempts: int = 0) -> None:
    """Leave a row as a sender leaves it while sending: claimed for `seconds` from now."""
    async with db.session_scope(hotline.sessionmaker) as s:
        row = await s.get(Outbox, row_id)
        assert row is not None
        row.status = OutboxStatus.SENDING.value
        row.claimed_until = utcnow() + timedelta(seconds=seconds)
        row.attempts = attempts


# ---------------------------------------------------------------- order, retries, failures


async def test_delivers_in_order_per_chat(hotline: Hotline) -> None:
    transport = ScriptedTransport()
    hotline.add_transport(transport)
    sender = new_sender(hotline)
    await queue(hotline, "1", "a1", "a2", "a3")
    await queue(hotline, "2", "b1")
    await drain(hotline, sender)
    assert [t for c, t in transport.delivered if c == "1"] == ["a1", "a2", "a3"]
    assert all(
        r.status == OutboxStatus.SENT and r.claimed_until is None for r in await rows(hotline)
    )


async def test_an_answer_goes_before_other_chats_backlog_but_not_forever(
    any_hotline: Hotline,
) -> None:
    """A citizen who writes waits for the answer, not for other chats' older rows (a
    reply used to wait up to 20 s behind a backlog of notices during a surge); older than
    REPLY_HEAD_START, a backlog row goes first all the same; within a chat nothing moves."""
    hotline = any_hotline
    transport = ScriptedTransport()
    hotline.add_transport(transport)
    sender = new_sender(hotline, concurrency=3)
    backlog = [str(700 + n) for n in range(12)]
    for chat in backlog:
        await queue(hotline, chat, f"notice to {chat}", f"second to {chat}")
    async with db.session_scope(hotline.sessionmaker) as s:
        stale = (await s.exec(select(Outbox).where(col(Outbox.chat_id) == backlog[5]))).all()
        for row in stale:  # queued long ago: it waited long enough already
            row.next_attempt_at = utcnow() - services.outbox.REPLY_HEAD_START * 2
    # Someone else's action queues a row to the citizen: no head start for it.
    await queue(hotline, "9001", "a notice before the citizen wrote")
    citizen = Person(hotline, "9002")
    await citizen.send("command", command="start")
    reply_rows = [r for r in await rows(hotline) if r.chat_id == "9002"]
    assert reply_rows
    async with hotline.sessionmaker() as s:
        order = [r.chat_id for r in await services.due_outbox(s, utcnow())]
    assert order[:2] == [backlog[5], "9002"]
    assert order[2:] == [*backlog[:5], *backlog[6:], "9001"]
    assert await sender.deliver_due() == 3
    assert [c for c, _ in transport.delivered] == [backlog[5], "9002", backlog[0]]
    await drain(hotline, sender)
    for chat in backlog:  # each chat's own order is untouched
        assert [t for c, t in transport.delivered if c == chat] == [
            f"notice to {chat}",
            f"second to {chat}",
        ]
    assert [t for c, t in transport.delivered if c == "9002"] == [
        r.payload["text"] for r in reply_rows
    ]


async def test_retry_after_is_honoured_and_blocks_only_that_chat(hotline: Hotline) -> None:
    transport = ScriptedTransport([RetryLater("429", delay=30, rate_limited=True)])
    hotline.add_transport(transport)
    sender = new_sender(hotline)
    await queue(hotline, "1", "a1", "a2")
    await queue(hotline, "2", "b1")
    await drain(hotline, sender)
    first, second, other = await rows(hotline)
    assert first.status == OutboxStatus.PENDING and first.attempts == 1
    assert first.last_error == "429" and first.claimed_until is None
    waited = (first.next_attempt_at - utcnow()).total_seconds()
    assert 25 < waited <= 30
    assert second.status == OutboxStatus.PENDING and second.attempts == 0  # order kept
    assert other.status == OutboxStatus.SENT
    # The 429 paused the chat in the limiter too, and only that chat.
    assert 25 < sender.limiter.delay(("telegram", "1"), group=False) <= 30
    assert sender.limiter.delay(("telegram", "2"), group=False) == 0
    await make_due(hotline)
    sender.limiter.pause(("telegram", "1"), -60)  # (the pause itself is tested elsewhere)
    new_sender(hotline)  # a fresh limiter: the pause is over
    await drain(hotline)
    assert [t for c, t in transport.delivered if c == "1"] == ["a1", "a2"]


async def test_transient_failures_back_off_then_give_up(hotline: Hotline) -> None:
    transport = ScriptedTransport([RetryLater("502") for _ in range(MAX_ATTEMPTS)])
    hotline.add_transport(transport)
    sender = new_sender(hotline)
    await queue(hotline, "1", "a1")
    delays = []
    for _ in range(MAX_ATTEMPTS):
        await sender.deliver_due()
        (row,) = await rows(hotline)
        delays.append(round((row.next_attempt_at - utcnow()).total_seconds()))
        await make_due(hotline)
    (row,) = await rows(hotline)
    assert row.status == OutboxStatus.FAILED and row.attempts == MAX_ATTEMPTS
    assert row.last_error == "502"
    assert delays[:4] == [backoff(1), backoff(2), backoff(3), backoff(4)] == [1, 2, 4, 8]


async def test_backoff_is_configurable(hotline: Hotline) -> None:
    hotline.add_transport(ScriptedTransport([RetryLater("502"), RetryLater("502")]))
    sender = new_sender(hotline, backoff_base_s=0.5, max_backoff_s=0.75, max_attempts=3)
    await queue(hotline, "1", "a1")
    await sender.deliver_due()
    (row,) = await rows(hotline)
    assert 0 < (row.next_attempt_at - utcnow()).total_seconds() <= 0.5
    await make_due(hotline)
    await sender.deliver_due()
    (row,) = await rows(hotline)
    assert 0.5 < (row.next_attempt_at - utcnow()).total_seconds() <= 0.75  # capped
    await make_due(hotline)
    await sender.deliver_due()
    (row,) = await rows(hotline)
    assert row.status == OutboxStatus.SENT and row.attempts == 3


async def test_blocked_reporter_is_marked_unreachable(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await citizen.command("help")
    transport = ScriptedTransport([PermanentFailure("403 blocked", unreachable=True)])
    hotline.add_transport(transport)
    new_sender(hotline)
    await drain(hotline)
    (row,) = await rows(hotline)
    assert row.status == OutboxStatus.FAILED and "403" in (row.last_error or "")
    async with hotline.sessionmaker() as s:
        assert (await s.exec(select(Reporter))).one().unreachable
    # A message that gets through later shows the block was lifted.
    await citizen.command("help")
    await drain(hotline)
    async with hotline.sessionmaker() as s:
        assert not (await s.exec(select(Reporter))).one().unreachable


async def test_sent_card_is_remembered_for_later_presses(hotline: Hotline) -> None:
    from tests.test_officer import link_group

    await link_group(hotline, "-1001")
    await file_report(Person(hotline, "1001"), photos=0)
    hotline.add_transport(ScriptedTransport())
    new_sender(hotline)
    await drain(hotline)
    async with hotline.sessionmaker() as s:
        case = (await s.exec(select(Case))).one()
        refs = (await s.exec(select(MessageRef))).all()
    assert [(r.chat_id, r.case_id, r.purpose) for r in refs] == [("-1001", case.id, "card")]


async def test_run_loop_wakes_and_stops(hotline: Hotline) -> None:
    transport = ScriptedTransport()
    hotline.add_transport(transport)
    sender = new_sender(hotline)
    task = asyncio.create_task(sender.run())
    await queue(hotline, "1", "hello")
    sender.wake()
    for _ in range(250):
        if transport.delivered:
            break
        await asyncio.sleep(0.02)
    sender.stop()
    await asyncio.wait_for(task, 5)
    assert transport.delivered == [("1", "hello")]


# ---------------------------------------------------------------- claims


async def test_a_claimed_row_is_not_sent_by_a_second_sender(any_hotline: Hotline) -> None:
    """Two senders (two processes) share the database: each row goes out once, in order."""
    hotline = any_hotline
    gate = asyncio.Event()
    slow = ScriptedTransport(gate=gate)
    first = OutboxSender(hotline.sessionmaker, {"telegram": slow})
    fast = ScriptedTransport()
    second = OutboxSender(hotline.sessionmaker, {"telegram": fast})
    await queue(hotline, "1", "a1", "a2")
    in_flight = asyncio.create_task(first.deliver_due())
    await asyncio.wait_for(slow.entered.wait(), 10)
    head = (await rows(hotline))[0]
    assert head.status == OutboxStatus.SENDING and head.claimed_until is not None
    assert head.claimed_until > utcnow() + timedelta(seconds=50)  # claim_s = 60
    await queue(hotline, "2", "b1")
    # The second sender leaves chat 1 alone (its head is claimed: a2 must wait for a1)...
    assert await second.deliver_due() == 1
    assert fast.delivered == [("2", "b1")]
    async with hotline.sessionmaker() as s:
        due = await services.due_outbox(s, utcnow())
        assert [r.chat_id for r in due] == []
        assert await services.next_outbox_due_at(s) == head.claimed_until
        # ...and cannot claim the row behind the first sender's back either.
    async with db.session_scope(hotline.sessionmaker) as s:
        assert head.id is not None
        later = utcnow() + timedelta(seconds=5)
        assert await services.claim_outbox(s, head.id, now=utcnow(), until=later) is None
    gate.set()
    assert await in_flight == 1
    await drain(hotline, second)
    assert slow.delivered == [("1", "a1")]
    assert fast.delivered == [("2", "b1"), ("1", "a2")]
    assert all(r.status == OutboxStatus.SENT for r in await rows(hotline))


async def test_an_expired_claim_is_resent_once_and_counted(
    any_hotline: Hotline, caplog: pytest.LogCaptureFixture
) -> None:
    """A sender died while sending: once its claim runs out the row goes out again."""
    hotline = any_hotline
    transport = ScriptedTransport()
    hotline.add_transport(transport)
    sender = new_sender(hotline)
    await queue(hotline, "1", "a1", "a2")
    first_id = (await rows(hotline))[0].id or 0
    await set_claim(hotline, first_id, seconds=30, attempts=0)
    assert await sender.deliver_due() == 0  # the claim is live: the chat is busy
    await set_claim(hotline, first_id, seconds=-1, attempts=0)
    caplog.set_level(logging.WARNING, logger="bot.outbox")
    await drain(hotline, sender)
    assert transport.delivered == [("1", "a1"), ("1", "a2")]
    first, second = await rows(hotline)
    assert first.status == OutboxStatus.SENT and first.attempts == 2  # interrupted + this
    assert second.attempts == 1
    assert f"outbox {first_id}: interrupted delivery, resending" in caplog.text


async def test_interrupted_deliveries_use_up_the_retry_budget(hotline: Hotline) -> None:
    """A row whose delivery kills the process every time is given up, not sent forever."""
    transport = ScriptedTransport()
    hotline.add_transport(transport)
    sender = new_sender(hotline, max_attempts=3)
    await queue(hotline, "1", "poison", "next")
    first_id = (await rows(hotline))[0].id or 0
    await set_claim(hotline, first_id, seconds=-1, attempts=2)
    await drain(hotline, sender)
    first, second = await rows(hotline)
    assert first.status == OutboxStatus.FAILED and first.attempts == 3
    assert first.last_error == "interrupted delivery"
    assert transport.delivered == [("1", "next")]


async def test_a_sender_that_lost_its_claim_does_not_record(any_hotline: Hotline) -> None:
    """A send outlives its claim; another sender takes the row over. One record wins."""
    hotline = any_hotline
    gate = asyncio.Event()
    slow = ScriptedTransport(gate=gate)
    first = OutboxSender(hotline.sessionmaker, {"telegram": slow}, claim_s=0.05)
    fast = ScriptedTransport()
    second = OutboxSender(hotline.sessionmaker, {"telegram": fast})
    await queue(hotline, "1", "a1")
    in_flight = asyncio.create_task(first.deliver_due())
    await asyncio.wait_for(slow.entered.wait(), 10)
    await set_claim(hotline, (await rows(hotline))[0].id or 0, seconds=-1, attempts=0)
    assert await second.deliver_due() == 1  # took over the interrupted delivery
    gate.set()
    assert await in_flight == 0  # delivered, but the outcome is no longer its to record
    (row,) = await rows(hotline)
    assert row.status == OutboxStatus.SENT and row.attempts == 2
    assert fast.delivered == slow.delivered == [("1", "a1")]  # the at-least-once window


# ---------------------------------------------------------------- rate limits in the sender


async def test_a_chat_over_its_budget_waits_and_the_others_go_on(hotline: Hotline) -> None:
    now = [100.0]
    limiter = RateLimiter(
        chat_interval_s=1.0, chat_burst=1, group_limit=(2, 60.0), clock=lambda: now[0]
    )
    transport = ScriptedTransport()
    hotline.add_transport(transport)
    sender = new_sender(hotline, limiter=limiter, idle_poll_s=600)
    await queue(hotline, "1", "a1", "a2")
    await queue(hotline, "-5", "g1", "g2", "g3")
    await queue(hotline, "2", "b1")
    await passes(sender)
    assert transport.delivered == [("1", "a1"), ("-5", "g1"), ("2", "b1")]
    # Held back, the sender sleeps until the earliest chat may go again (a1's second).
    assert sender._sleep_time() == pytest.approx(1.0)
    now[0] += 1.0
    await passes(sender)
    assert transport.delivered[3:] == [("1", "a2"), ("-5", "g2")]
    now[0] += 5.0
    await passes(sender)  # the group has used its 2 per minute
    assert len(transport.delivered) == 5
    assert sender._sleep_time() == pytest.approx(54.0)
    now[0] += 54.0
    await passes(sender)
    assert transport.delivered[5:] == [("-5", "g3")]


async def test_chats_held_back_do_not_hide_the_others(hotline: Hotline) -> None:
    """More held-back chats than a batch: the pass looks further and finds the free one."""
    limiter = RateLimiter(chat_interval_s=0.0, group_limit=(1, 60.0), clock=lambda: 0.0)
    for chat in ("-1", "-2"):
        reservation = limiter.try_reserve(("telegram", chat), group=True)
        assert reservation is not None
        limiter.finish(reservation)
    transport = ScriptedTransport()
    hotline.add_transport(transport)
    sender = new_sender(hotline, limiter=limiter, idle_poll_s=600)
    sender.batch = 1
    await queue(hotline, "-1", "g1")
    await queue(hotline, "-2", "g2")
    await queue(hotline, "3", "p1")
    assert await sender.deliver_due() == 1
    assert transport.delivered == [("3", "p1")]
    assert sender._sleep_time() == pytest.approx(60.0)  # no busy loop over held-back rows


async def test_429s_in_two_chats_pause_everything(hotline: Hotline) -> None:
    now = [0.0]
    limiter = RateLimiter(chat_interval_s=0.0, clock=lambda: now[0])
    refusals = [RetryLater("429", delay=7, rate_limited=True)]
    refusals.append(RetryLater("429", delay=3, rate_limited=True))
    transport = ScriptedTransport(list(refusals))
    hotline.add_transport(transport)
    sender = new_sender(hotline, limiter=limiter, concurrency=1)
    await queue(hotline, "1", "a1")
    await queue(hotline, "2", "b1")
    await queue(hotline, "3", "c1")
    await sender.deliver_due()  # a1: refused, chat 1 waits 7 s
    assert limiter.delay(("telegram", "3"), group=False) == 0
    await sender.deliver_due()  # b1: refused as well: the bot as a whole is limited
    assert await sender.deliver_due() == 0  # c1 waits with everything else
    assert transport.delivered == []
    assert limiter.delay(("telegram", "3"), group=False) == pytest.approx(3.0)
    assert limiter.delay(("telegram", "1"), group=False) == pytest.approx(7.0)
    now[0] += 3.0
    assert await sender.deliver_due() == 1
    assert transport.delivered == [("3", "c1")]


async def test_a_pass_with_the_bots_window_full_reads_nothing(hotline: Hotline) -> None:
    """deliver_due claims no more rows than the bot's window has room for, and with none
    it does not read the outbox at all (a pass per finishing send would, for nothing)."""
    now = [0.0]
    limiter = RateLimiter(chat_interval_s=0.0, global_limit=(2, 1.0), clock=lambda: now[0])
    transport = ScriptedTransport()
    hotline.add_transport(transport)
    sender = new_sender(hotline, limiter=limiter, idle_poll_s=600)
    for chat in ("1", "2", "3"):
        await queue(hotline, chat, f"m{chat}")
    assert await sender.deliver_due() == 2  # the window's room, not the three due
    statements = []
    listener = lambda *_: statements.append(1)  # noqa: E731
    event.listen(hotline.engine.sync_engine, "before_cursor_execute", listener)
    try:
        assert await sender.deliver_due() == 0
    finally:
        event.remove(hotline.engine.sync_engine, "before_cursor_execute", listener)
    assert statements == []
    assert sender._sleep_time() == pytest.approx(1.0)  # until the window has room
    now[0] += 1.0
    assert await sender.deliver_due() == 1
    assert sorted(transport.delivered) == [("1", "m1"), ("2", "m2"), ("3", "m3")]


async def test_the_run_loop_claims_ahead_of_the_bots_window(hotline: Hotline) -> None:
    """While the bot's window is full, the run loop still claims a chat whose own limits
    let it go: the row waits in the limiter, not in the table, and goes when there is room."""
    now = [0.0]
    limiter = RateLimiter(chat_interval_s=0.0, global_limit=(1, 0.05), clock=lambda: now[0])
    reservation = limiter.try_reserve(("telegram", "9"), group=False)
    assert reservation is not None
    limiter.finish(reservation)  # the window is full for 50 ms of the test's clock
    transport = ScriptedTransport()
    hotline.add_transport(transport)
    sender = new_sender(hotline, limiter=limiter, idle_poll_s=600)
    await queue(hotline, "1", "a1")
    (task,) = await sender._start_due(ahead=True)
    (row,) = await rows(hotline)
    assert row.status == OutboxStatus.SENDING.value  # claimed
    await asyncio.sleep(0.1)
    assert transport.delivered == [] and not task.done()  # waiting for the window
    now[0] += 0.05
    assert await asyncio.wait_for(task, 5) is True
    assert transport.delivered == [("1", "a1")]


async def test_stopping_puts_back_a_row_still_waiting_for_the_limits(hotline: Hotline) -> None:
    """A row of two calls: the first went out, the second waits; stop() puts the row back."""

    class TwoCalls(ScriptedTransport):
        async def deliver(
            self, row: Outbox, edit_targets: list[int], pace: Pace = no_pace
        ) -> Sent:
            for part in ("first", "second"):
                async with pace(1):
                    self.delivered.append((row.chat_id, part))
            return Sent([1])

    limiter = RateLimiter(chat_interval_s=1.0, chat_burst=1, clock=lambda: 0.0)
    transport = TwoCalls()
    hotline.add_transport(transport)
    sender = new_sender(hotline, limiter=limiter)
    await queue(hotline, "1", "a1")
    passing = asyncio.create_task(sender.deliver_due())
    for _ in range(500):
        if transport.delivered:
            break
        await asyncio.sleep(0.01)
    assert transport.delivered == [("1", "first")]
    sender.stop()
    assert await asyncio.wait_for(passing, 5) == 0
    (row,) = await rows(hotline)
    assert (row.status, row.attempts, row.claimed_until) == ("pending", 0, None)
    assert row.last_error == "sender stopping"


# ---------------------------------------------------------------- Telegram, for real


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        fake.register_chat(CITIZEN)
        fake.register_chat(GROUP)
        fake.fault_hold_s = 5.0
        yield fake


@pytest.fixture
async def telegram(hotline: Hotline, api: FakeBotAPI) -> AsyncIterator[TelegramTransport]:
    bot = api.create_bot()
    transport = TelegramTransport(
        AiogramOps(bot), hotline.media, request_timeout=0.5, upload_timeout=0.5
    )
    hotline.add_transport(transport)
    new_sender(hotline, backoff_base_s=0.01, max_backoff_s=0.01)
    yield transport
    await bot.session.close()


FAULTS = [
    # (fail_next arguments, expected status, in last_error, reporter unreachable)
    ({"status": 502, "description": "Bad Gateway"}, "pending", "5xx Bad Gateway", False),
    ({"kind": "timeout"}, "pending", "network: ", False),
    ({"kind": "disconnect"}, "pending", "Server disconnected", False),
    (
        {"status": 429, "description": "Too Many Requests: retry after 3", "retry_after": 3},
        "pending",
        "429 ",
        False,
    ),
    (
        {"status": 403, "description": "Forbidden: bot was blocked by the user"},
        "failed",
        "403 Forbidden: bot was blocked by the user",
        True,
    ),
    (
        {"status": 403, "description": "Forbidden: user is deactivated"},
        "failed",
        "403 Forbidden: user is deactivated",
        True,
    ),
    ({"status": 400, "description": "Bad Request: chat not found"}, "failed", "400 ", True),
    ({"status": 400, "description": "Bad Request: can't parse entities"}, "failed", "400 ", False),
]


@pytest.mark.parametrize(
    ("fault", "status", "error", "unreachable"), FAULTS, ids=[str(f[0]) for f in FAULTS]
)
async def test_telegram_errors_are_classified_and_recorded(
    hotline: Hotline,
    api: FakeBotAPI,
    telegram: TelegramTransport,
    fault: dict[str, Any],
    status: str,
    error: str,
    unreachable: bool,
) -> None:
    await Person(hotline, "1001").command("help")
    api.fail_next("sendMessage", **fault)
    await hotline.sender.deliver_due()
    (row,) = await rows(hotline)
    assert (row.status, row.attempts, row.claimed_until) == (status, 1, None)
    assert error in (row.last_error or ""), row.last_error
    if "retry_after" in fault:
        assert 2 < (row.next_attempt_at - utcnow()).total_seconds() <= 3
    async with hotline.sessionmaker() as s:
        assert (await s.exec(select(Reporter))).one().unreachable is unreachable
    assert api.chat_messages(CITIZEN.id) == []  # a fault never delivers
    if status == "pending":  # and the retry delivers exactly once
        await make_due(hotline)
        new_sender(hotline)  # (a 429 also paused the chat in the first one's limiter)
        assert await hotline.sender.deliver_due() == 1
        await api.wait_idle(quiet=0.05)
        assert len(api.chat_messages(CITIZEN.id)) == 1


async def test_album_retry_resumes_after_the_delivered_part(
    hotline: Hotline, api: FakeBotAPI, telegram: TelegramTransport
) -> None:
    hotline.media.ensure_dir()
    (hotline.media.root / "p.png").write_bytes(tiny_png(4, 4))
    (hotline.media.root / "d.pdf").write_bytes(b"%PDF-1.4 result")
    media = [{"path": "p.png", "kind": "photo"}, {"path": "d.pdf", "kind": "document"}]
    async with db.session_scope(hotline.sessionmaker) as s:
        await services.enqueue(
            s, "telegram", Outgoing(chat_id="1001", kind="album", media=media, text="PA20")
        )
    api.fail_next("sendDocument", status=500, description="Internal Server Error")
    assert await hotline.sender.deliver_due() == 0
    (row,) = await rows(hotline)
    assert row.payload["progress"]["done"] == 1
    await make_due(hotline)
    assert await hotline.sender.deliver_due() == 1
    sent = api.chat_messages(CITIZEN.id)
    assert ["photo" in m for m in sent] == [True, False] and "document" in sent[1]
    assert [c.method for c in api.calls if c.ok] == ["sendPhoto", "sendDocument"]


class Parts(ScriptedTransport):
    """A row of three calls, each checkpointed but the last; `between` runs before call 2."""

    def __init__(self, between: Any = None) -> None:
        super().__init__()
        self.between = between

    async def deliver(self, row: Outbox, edit_targets: list[int], pace: Pace = no_pace) -> Sent:
        done = int((row.payload.get("progress") or {}).get("done", 0))
        for part in range(done, 3):
            async with pace(1):
                self.delivered.append((row.chat_id, f"part {part + 1}"))
            if part < 2:
                await pace.checkpoint({"done": part + 1, "message_ids": []})
                if part == 0 and self.between is not None:
                    await self.between(row)
        return Sent([1])


async def test_progress_is_committed_after_each_call_of_a_row(any_hotline: Hotline) -> None:
    """Between two calls of a row the progress is already in the database, claim held."""
    hotline = any_hotline
    seen: list[tuple[str, dict[str, Any] | None, bool]] = []

    async def look(row: Outbox) -> None:
        async with hotline.sessionmaker() as s:
            stored = await s.get(Outbox, row.id)
            assert stored is not None
            seen.append(
                (stored.status, stored.payload.get("progress"), bool(stored.claimed_until))
            )

    transport = Parts(between=look)
    hotline.add_transport(transport)
    sender = new_sender(hotline)
    await queue(hotline, "1", "album")
    assert await sender.deliver_due() == 1
    assert seen == [("sending", {"done": 1, "message_ids": []}, True)]
    assert [part for _, part in transport.delivered] == ["part 1", "part 2", "part 3"]
    (row,) = await rows(hotline)
    assert (row.status, row.claimed_until) == ("sent", None)


async def test_a_restart_resumes_after_the_committed_calls(any_hotline: Hotline) -> None:
    """A sender dies between two calls (nothing after the first is recorded); once its
    claim runs out, the next sender makes the two calls left and repeats none."""
    hotline = any_hotline

    async def die(row: Outbox) -> None:
        raise asyncio.CancelledError  # like SIGKILL: no except clause records anything

    dying = Parts(between=die)
    hotline.add_transport(dying)
    await queue(hotline, "1", "album")
    with pytest.raises(asyncio.CancelledError):
        await new_sender(hotline).deliver_due()
    (row,) = await rows(hotline)
    assert (row.status, row.payload["progress"]["done"]) == ("sending", 1)
    await set_claim(hotline, row.id or 0, seconds=-1, attempts=1)
    restarted = Parts()
    hotline.add_transport(restarted)
    await drain(hotline, new_sender(hotline))
    assert dying.delivered == [("1", "part 1")]
    assert restarted.delivered == [("1", "part 2"), ("1", "part 3")]
    (row,) = await rows(hotline)
    assert row.status == OutboxStatus.SENT


# ---------------------------------------------------------------- officers hear of it


async def officer_alerts(hotline: Hotline) -> list[Outbox]:
    return [r for r in await rows(hotline) if r.chat_id == "-1001" and r.payload.get("alert")]


async def test_unreachable_reporter_officers_told_once_per_case(
    hotline: Hotline, api: FakeBotAPI, telegram: TelegramTransport
) -> None:
    from tests.test_officer import link_group

    officer = await link_group(hotline, "-1001")
    citizen = Person(hotline, "1001", name="Trần Thị Bí Mật")
    code = await file_report(citizen, photos=0, anonymous=False)
    api.blocked_users.add(CITIZEN.id)
    await drain(hotline)
    async with hotline.sessionmaker() as s:
        first = (await s.exec(select(Case))).one()
        assert (await s.exec(select(Reporter))).one().unreachable
    # The filing receipt was refused: the group is told at once.
    (alert,) = await officer_alerts(hotline)
    assert alert.case_id == first.id and alert.status == OutboxStatus.SENT
    assert alert.payload["alert"]["reason"] == "unreachable"
    told = [m for m in api.chat_messages(GROUP.id) if "người phản ánh" in m.get("text", "")]
    assert len(told) == 1 and code in told[0]["text"] and "chặn bot" in told[0]["text"]
    assert "Bí Mật" not in told[0]["text"] and "912345678" not in told[0]["text"]
    # Further notices of the same case fail too; the group hears nothing more.
    await officer.press(f"c1:ack:{first.id}")
    await officer.press(f"c1:vfy:{first.id}")
    await make_due(hotline)  # the notice held for the next one: its time has come
    await drain(hotline)
    notices = [r for r in await rows(hotline) if r.chat_id == "1001" and r.case_id]
    # The receipt, and the acknowledgement with the verification joined to it (they came
    # within HOTLINE_NOTICE_HOLD_S: one message, bot/services/notices.py).
    assert len(notices) == 2 and all(r.status == OutboxStatus.FAILED for r in notices)
    assert "đang được xác minh" in notices[1].payload["text"]
    assert len(await officer_alerts(hotline)) == 1
    # Another case of the same reporter is another case: its officers are told.
    await file_report(citizen, photos=0)
    async with hotline.sessionmaker() as s:
        second = (await s.exec(select(Case).where(Case.id != first.id))).one()
    await officer.press(f"c1:ack:{second.id}")
    await drain(hotline)
    assert [a.case_id for a in await officer_alerts(hotline)] == [first.id, second.id]
    # Unblocked and reached, then blocked again: that is news again.
    api.blocked_users.clear()
    await citizen.command("help")
    await drain(hotline)
    api.blocked_users.add(CITIZEN.id)
    await officer.press(f"c1:vfy:{second.id}")
    await make_due(hotline)
    await drain(hotline)
    alerts = await officer_alerts(hotline)
    assert [a.case_id for a in alerts] == [first.id, second.id, second.id]
    assert all(a.status == OutboxStatus.SENT for a in alerts)


async def test_reporter_given_up_after_max_attempts_officers_told(
    hotline: Hotline, api: FakeBotAPI, telegram: TelegramTransport
) -> None:
    from tests.test_officer import link_group

    officer = await link_group(hotline, "-1001")
    code = await file_report(Person(hotline, "1001"), photos=0)
    await drain(hotline)
    async with hotline.sessionmaker() as s:
        case = (await s.exec(select(Case))).one()
    new_sender(hotline, max_attempts=2, backoff_base_s=0.01, max_backoff_s=0.01)
    hotline.deps.notice_hold_s = 0  # the notice goes at once (not held for the next one)
    await officer.press(f"c1:ack:{case.id}")
    api.fail_next("sendMessage", status=502, description="Bad Gateway", count=2)
    await hotline.sender.deliver_due()  # the card's edit goes; the notice fails once
    await make_due(hotline)
    await hotline.sender.deliver_due()  # and again: given up
    # The reporter's rows of the case: the filing receipt (sent), then this notice.
    receipt, notice = [r for r in await rows(hotline) if r.chat_id == "1001" and r.case_id]
    assert receipt.status == OutboxStatus.SENT
    assert notice.status == OutboxStatus.FAILED and notice.attempts == 2
    (alert,) = await officer_alerts(hotline)
    async with hotline.sessionmaker() as s:
        reporter = (await s.exec(select(Reporter))).one()
    assert alert.payload["alert"] == {
        "reason": "undelivered",
        "reporter": reporter.id,
        "outbox_id": notice.id,
    }
    await drain(hotline)
    last = api.chat_messages(GROUP.id)[-1]["text"]
    assert code in last and "đã thử nhiều lần" in last
    async with hotline.sessionmaker() as s:
        assert not (await s.exec(select(Reporter))).one().unreachable  # not blocked
