"""Outbound rate limits: the limiter's arithmetic, and a burst of new cases drawing no 429."""

from __future__ import annotations

import asyncio
import math
import random
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import select

from bot import db, services
from bot.app import Hotline
from bot.channels.telegram.delivery import TelegramTransport
from bot.channels.telegram_aiogram import AiogramOps
from bot.fakes.telegram import FakeBotAPI, FakeChat
from bot.fakes.telegram.limits import _FloodControl
from bot.outbox import OutboxSender
from bot.ratelimit import NEVER, RateLimiter, SlidingWindow
from bot.settings import Settings
from handlers.context import Turn
from handlers.events import Event
from handlers.officer import dispatch_new_case
from models.enums import OutboxStatus
from models.tables import Outbox
from tests.harness import FakeFetcher
from tests.test_officer import link_group


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def send(limiter: RateLimiter, key: str, *, group: bool = False, cost: int = 1) -> bool:
    """Send now if the limits allow it (the call returns at once)."""
    reservation = limiter.try_reserve(key, group=group, cost=cost)
    if reservation is None:
        return False
    limiter.finish(reservation)
    return True


# ---------------------------------------------------------------- the arithmetic


def test_one_chat_gets_a_burst_then_one_message_per_interval() -> None:
    clock = Clock()
    limiter = RateLimiter(chat_interval_s=1.0, chat_burst=3, clock=clock)
    assert [send(limiter, "a") for _ in range(4)] == [True, True, True, False]
    assert limiter.delay("a", group=False) == pytest.approx(1.0)
    assert send(limiter, "b")  # other chats are not held back
    clock.now += 0.999
    assert not send(limiter, "a")
    clock.now += 0.001
    assert send(limiter, "a") and not send(limiter, "a")
    clock.now += 10.0  # idle: the burst is available again, but no more than that
    assert [send(limiter, "a") for _ in range(4)] == [True, True, True, False]


def test_a_group_gets_n_messages_per_sliding_window() -> None:
    clock = Clock()
    limiter = RateLimiter(chat_interval_s=0.0, group_limit=(20, 60.0), clock=clock)
    for _ in range(20):
        assert send(limiter, "-1", group=True)
        clock.now += 1.0
    assert not send(limiter, "-1", group=True)  # 20 within the last 60 s
    assert limiter.delay("-1", group=True) == pytest.approx(40.0)
    assert send(limiter, "-2", group=True)  # each group has its own window
    assert send(limiter, "7", group=False)  # private chats have no group window
    clock.now += 40.0
    assert send(limiter, "-1", group=True) and not send(limiter, "-1", group=True)


def test_the_global_window_counts_every_chat() -> None:
    clock = Clock()
    limiter = RateLimiter(chat_interval_s=0.0, global_limit=(30, 1.0), clock=clock)
    assert all(send(limiter, str(i)) for i in range(30))
    assert not send(limiter, "new")
    clock.now += 1.0
    assert send(limiter, "new")


def test_an_album_counts_as_its_items() -> None:
    clock = Clock()
    limiter = RateLimiter(chat_interval_s=1.0, chat_burst=3, group_limit=(20, 60.0), clock=clock)
    assert send(limiter, "-1", group=True, cost=10)  # a full album
    assert send(limiter, "-1", group=True, cost=10) is False  # spacing: 10 s in debt
    assert limiter.delay("-1", group=True) == pytest.approx(8.0)  # 10 s less the burst
    clock.now += 8.0
    assert limiter.delay("-1", group=True, cost=11) == pytest.approx(52.0)  # 20 in window
    assert send(limiter, "-1", group=True, cost=10)
    assert limiter.delay("-1", group=True) == pytest.approx(52.0)


def test_a_send_larger_than_the_window_waits_for_it_to_empty() -> None:
    clock = Clock()
    window = SlidingWindow(5, 10.0)
    assert window.ready_at(clock.now, cost=8) == clock.now  # empty: it may go
    window.reserve(8)
    window.finish(8, clock.now)
    assert window.ready_at(clock.now + 5, cost=1) == clock.now + 10
    assert window.ready_at(clock.now + 10, cost=8) == clock.now + 10


def test_sends_in_flight_count_and_are_stamped_when_they_return() -> None:
    """A send counts from its start, and for the window from its end: never too early."""
    clock = Clock()
    limiter = RateLimiter(chat_interval_s=1.0, chat_burst=1, global_limit=(2, 1.0), clock=clock)
    slow = limiter.try_reserve("a", group=False)
    assert slow is not None
    assert limiter.try_reserve("a", group=False) is None  # spacing from the start
    other = limiter.try_reserve("b", group=False)
    assert other is not None
    assert limiter.try_reserve("c", group=False) is None  # both in flight fill the window
    assert limiter.ready_at("c", group=False) == NEVER  # until one of them returns
    clock.now += 3.0  # the slow call takes 3 s
    limiter.finish(slow)
    limiter.finish(other)
    assert limiter.delay("a", group=False) == pytest.approx(1.0)  # 1 s after it returned
    assert limiter.delay("c", group=False) == pytest.approx(1.0)  # stamped at the return
    limiter.finish(slow)  # finishing twice changes nothing
    assert limiter.delay("c", group=False) == pytest.approx(1.0)


def test_429_pauses_the_chat_and_a_second_chat_pauses_everything() -> None:
    clock = Clock()
    limiter = RateLimiter(chat_interval_s=0.0, clock=clock)
    assert limiter.note_rate_limited("a", 5.0) is False
    assert limiter.delay("a", group=False) == 5.0 and limiter.delay("b", group=False) == 0
    clock.now += 1.0
    assert limiter.note_rate_limited("b", 2.0) is True  # "a" is still paused
    assert limiter.delay("c", group=False) == 2.0 and limiter.delay("a", group=False) == 4.0
    clock.now += 10.0
    assert limiter.note_rate_limited("c", 1.0) is False  # nobody else paused any more
    assert limiter.note_rate_limited("d", 3.0, whole_channel=True) is True
    assert limiter.delay("e", group=True) == 3.0


def test_a_429_while_bursting_teaches_that_chat_strict_spacing_and_pauses_nothing_else() -> None:
    clock = Clock()
    limiter = RateLimiter(chat_interval_s=1.0, chat_burst=3, global_limit=None, clock=clock)
    assert send(limiter, "a") and send(limiter, "a")  # the second is ahead of spacing
    assert limiter.note_rate_limited("a", 2.0) is False  # its burst, not the bot's limit
    assert send(limiter, "b") and send(limiter, "b")  # other chats keep their burst
    clock.now += 2.0
    assert send(limiter, "a")
    assert not send(limiter, "a")  # from now on one a second, no burst
    clock.now += 1.0
    assert send(limiter, "a")
    assert limiter.learned_no_burst == 1 and limiter.chat_burst == 3


def test_when_enough_chats_show_no_burst_new_chats_start_strict() -> None:
    clock = Clock()
    limiter = RateLimiter(chat_interval_s=1.0, chat_burst=5, global_limit=None, clock=clock)
    for chat in ("a", "b"):
        assert send(limiter, chat) and send(limiter, chat)
        assert limiter.note_rate_limited(chat, 1.0) is False
    assert limiter.chat_burst == 1
    assert send(limiter, "new") and not send(limiter, "new")


def test_a_429_although_strictly_spaced_slows_the_chat_and_two_such_pause_everything() -> None:
    clock = Clock()
    limiter = RateLimiter(chat_interval_s=1.0, chat_burst=1, global_limit=None, clock=clock)
    assert send(limiter, "a")
    clock.now += 1.0
    assert send(limiter, "a")  # strictly spaced, and still refused:
    assert limiter.note_rate_limited("a", 3.0) is False
    clock.now += 3.0
    assert send(limiter, "a")
    clock.now += 1.0
    assert not send(limiter, "a")  # its interval grew to 1.5 s
    clock.now += 0.5
    assert send(limiter, "a")
    assert send(limiter, "b")
    assert limiter.note_rate_limited("a", 5.0) is False
    assert limiter.note_rate_limited("b", 5.0) is True  # two chats: the bot is limited
    assert limiter.delay("c", group=False) == 5.0


def test_unlimited_holds_nothing_back() -> None:
    limiter = RateLimiter.unlimited(Clock())
    assert all(send(limiter, "-1", group=True, cost=10) for _ in range(100))
    with pytest.raises(ValueError):
        RateLimiter(chat_interval_s=-1)


def test_idle_chats_are_forgotten() -> None:
    clock = Clock()
    limiter = RateLimiter(
        chat_interval_s=1.0, group_limit=(20, 60.0), global_limit=None, clock=clock
    )
    assert all(send(limiter, f"-{i}", group=True) for i in range(10_001))
    clock.now += 120.0
    send(limiter, "new")
    assert len(limiter._chats) == 1 and not limiter._groups


async def test_acquire_waits_for_a_send_in_flight() -> None:
    limiter = RateLimiter(chat_interval_s=0.0, global_limit=(1, 1.0), clock=Clock())
    first = await limiter.acquire("a", group=False)
    waiting = asyncio.create_task(limiter.acquire("b", group=False))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # the window is full while "a" is in flight
    limiter.finish(first)
    limiter.clock.now += 1.0  # type: ignore[attr-defined]
    second = await asyncio.wait_for(waiting, 5)
    assert second.key == "b"


def test_the_bot_wide_limits_apart_from_each_chats() -> None:
    clock = Clock()
    limiter = RateLimiter(chat_interval_s=1.0, chat_burst=1, global_limit=(3, 1.0), clock=clock)
    assert limiter.bot_room() == 3
    assert send(limiter, "a") and send(limiter, "b")
    assert limiter.bot_room() == 1 and limiter.bot_ready_at() == clock.now
    assert limiter.chat_ready_at("a", group=False) == clock.now + 1.0  # its spacing
    assert limiter.chat_ready_at("c", group=False) == clock.now
    assert send(limiter, "c")
    assert limiter.bot_room() == 0 and limiter.bot_ready_at() == clock.now + 1.0
    assert limiter.chat_ready_at("d", group=False) == clock.now  # "d" itself may go
    assert limiter.ready_at("d", group=False) == clock.now + 1.0  # the bot may not
    limiter.pause_all(5.0)
    assert limiter.bot_room() == 0 and limiter.paused_all_until == clock.now + 5.0
    assert RateLimiter.unlimited(clock).bot_room() == math.inf


def test_the_default_limits_never_draw_a_429_and_keep_near_the_allowed_rate() -> None:
    """The hotline's default limits against the fake's strict model of Telegram (one
    message a second per chat and no burst, 20 a minute per group, 30 a second overall),
    on a virtual clock: 40 private chats and 5 groups always have a message waiting, each
    call reaches Telegram up to 50 ms after it starts and returns up to 50 ms after that.
    Telegram never refuses one, and the bot sends at least 0.9x its 30 a second."""
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    clock = Clock(0.0)
    limiter = RateLimiter(
        chat_interval_s=defaults.send_chat_interval_s,
        chat_burst=defaults.send_chat_burst,
        group_limit=(defaults.send_group_per_minute, 60.0),
        global_limit=(defaults.send_global_per_second, 1.0),
        clock=clock,
    )
    telegram = _FloodControl(1.0, 1, (20, 60.0), (30, 1.0))
    rng = random.Random(13)
    chats = list(range(1, 41)) + [-1, -2, -3, -4, -5]
    events: list[tuple[float, int, str, Any]] = []  # (when, order, what, detail)
    accepted = refused = 0
    step, order = 0.005, 0
    for tick in range(int(20 / step)):
        moment = tick * step
        events.sort()
        while events and events[0][0] <= moment:
            when, _, what, detail = events.pop(0)
            clock.now = when
            if what == "arrives":
                chat = detail
                if telegram.wait(chat, 1, when) > 0:
                    refused += 1
                else:
                    telegram.count(chat, 1, when)
                    accepted += 1
            else:
                limiter.finish(detail)
        clock.now = moment
        for chat in rng.sample(chats, len(chats)):
            reservation = limiter.try_reserve(chat, group=chat < 0)
            if reservation is None:
                continue
            arrives = moment + rng.uniform(0, 0.05)
            order += 1
            events.append((arrives, order, "arrives", chat))
            events.append((arrives + rng.uniform(0, 0.05), order, "returns", reservation))
    assert refused == 0
    assert accepted / 20 >= 0.9 * 30


# ---------------------------------------------------------------- a burst, for real

# Telegram's limits scaled down 50 times, so that a minute of group traffic takes 1.2 s.
SCALE = 1 / 50
WARDS = {"06187": -1001, "06193": -1002, "05986": -1003, "05983": -1004}


def scaled_limiter() -> RateLimiter:
    return RateLimiter(
        chat_interval_s=1.0 * SCALE,
        chat_burst=10,
        group_limit=(20, 60.0 * SCALE),
        global_limit=(30, 1.0 * SCALE),
    )


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        for chat_id in WARDS.values():
            fake.register_chat(FakeChat(chat_id, type="supergroup", title=f"Tổ {chat_id}"))
        fake.enforce_rate_limits(
            per_chat_interval=1.0 * SCALE,
            per_chat_burst=10,
            per_group_per_window=(20, 60.0 * SCALE),
            global_per_window=(30, 1.0 * SCALE),
        )
        yield fake


async def file_cases(hotline: Hotline, count: int, wards: list[str]) -> list[str]:
    """New cases filed the way intake files them: create_case, then dispatch_new_case."""
    codes = []
    async with db.session_scope(hotline.sessionmaker) as session:
        event = Event(
            channel="telegram", chat_id="5000", chat_type="private", user_id="5000", kind="text"
        )
        turn = Turn(hotline.deps, session, event, FakeFetcher())
        reporter = await services.get_reporter(session, "telegram", "5000")
        for i in range(count):
            case = await services.create_case(
                session,
                province_code="20",
                reporter=reporter,
                fields={
                    "ward_code": wards[i % len(wards)],
                    "category": "noise",
                    "location_source": "address",
                    "address": f"số {i} đường Trần Đăng Ninh",
                    "nature": "now",
                    "description": "Tiếng ồn từ xưởng cưa suốt đêm, không ngủ được.",
                    "description_language": "vi",
                    "channel": "telegram",
                },
                evidence=[],
                verify_hours=24,
                actor="reporter",
            )
            await dispatch_new_case(turn, case)
            codes.append(case.code)
    return codes


async def run_sender(hotline: Hotline, api: FakeBotAPI, limiter: RateLimiter) -> OutboxSender:
    bot = api.create_bot()
    hotline.add_transport(TelegramTransport(AiogramOps(bot), hotline.media))
    hotline.sender = OutboxSender(hotline.sessionmaker, hotline.transports, limiter=limiter)
    return hotline.sender


async def test_a_burst_of_200_new_cases_draws_no_429(hotline: Hotline, api: FakeBotAPI) -> None:
    for ward, chat_id in WARDS.items():
        await link_group(hotline, str(chat_id), ward)
    codes = await file_cases(hotline, 200, list(WARDS))
    sender = await run_sender(hotline, api, scaled_limiter())
    task = asyncio.create_task(sender.run())
    try:
        await api.wait_until(
            lambda: sum(len(api.chat_messages(c)) for c in WARDS.values()) >= 204,
            timeout=60,
            what="every card delivered",
        )
        await api.wait_idle(quiet=0.1)
    finally:
        sender.stop()
        await asyncio.wait_for(task, 10)
        await hotline.transports["telegram"].ops.bot.session.close()  # type: ignore[attr-defined]
    assert api.rate_limited == 0
    assert not [c for c in api.calls if not c.ok]
    delivered: Counter[str] = Counter()
    for ward, chat_id in WARDS.items():
        for message in api.chat_messages(chat_id)[1:]:  # after the link confirmation
            code = next(c for c in codes if c in message["text"])
            delivered[code] += 1
            assert codes.index(code) % len(WARDS) == list(WARDS).index(ward)
    assert set(delivered) == set(codes) and set(delivered.values()) == {1}
    async with hotline.sessionmaker() as s:
        statuses = Counter(r.status for r in (await s.exec(select(Outbox))).all())
    assert statuses == {OutboxStatus.SENT.value: 204}


async def test_the_same_burst_without_the_limiter_is_refused(
    hotline: Hotline, api: FakeBotAPI
) -> None:
    """The control: the fake server does enforce the limits the burst test relies on.

    The group's window is Telegram's own minute here, not the scaled one: 40 messages in
    a minute are refused however slowly a busy machine sends them."""
    api.enforce_rate_limits(
        per_chat_interval=1.0 * SCALE,
        per_chat_burst=10,
        per_group_per_window=(20, 60.0),
        global_per_window=(30, 1.0 * SCALE),
    )
    await link_group(hotline, "-1001", "06187")
    await file_cases(hotline, 40, ["06187"])
    sender = await run_sender(hotline, api, RateLimiter.unlimited())
    task = asyncio.create_task(sender.run())
    try:
        await api.wait_until(lambda: api.rate_limited > 0, timeout=30, what="a 429")
    finally:
        sender.stop()
        await asyncio.wait_for(task, 10)
        await hotline.transports["telegram"].ops.bot.session.close()  # type: ignore[attr-defined]
    refused = [c for c in api.calls if c.status == 429]
    assert refused and all(c.retry_after and c.retry_after >= 1 for c in refused)


async def test_a_strict_channel_costs_a_couple_of_429s_then_none(hotline: Hotline) -> None:
    """Telegram granting no burst at all while the limiter assumes 10: the first chats
    refused teach it, every message still arrives once, and the 429s stop.

    The interval is a quarter of a second, not the scaled 20 ms: two messages sent back to
    back to a chat must fall inside it however busy the machine is (at 20 ms a slow sender
    spaced them by itself and was never refused)."""
    interval = 0.25
    async with FakeBotAPI() as fake:
        for chat_id in WARDS.values():
            fake.register_chat(FakeChat(chat_id, type="supergroup", title=f"Tổ {chat_id}"))
        fake.enforce_rate_limits(per_chat_interval=interval, per_chat_burst=1)
        for ward, chat_id in WARDS.items():
            await link_group(hotline, str(chat_id), ward)
        codes = await file_cases(hotline, 60, list(WARDS))
        limiter = RateLimiter(
            chat_interval_s=interval, chat_burst=10, group_limit=None, global_limit=None
        )
        sender = await run_sender(hotline, fake, limiter)
        task = asyncio.create_task(sender.run())
        try:
            await fake.wait_until(
                lambda: sum(len(fake.chat_messages(c)) for c in WARDS.values()) >= 64,
                timeout=90,
                what="every card delivered",
            )
        finally:
            sender.stop()
            await asyncio.wait_for(task, 10)
            await hotline.transports["telegram"].ops.bot.session.close()  # type: ignore[attr-defined]
    # Each chat refused at most once (2 teach it for all; others may have been bursting
    # at the same moment); after that, none.
    assert 1 <= fake.rate_limited <= len(WARDS)
    assert limiter.learned_no_burst == fake.rate_limited
    assert limiter.chat_burst == (1 if fake.rate_limited >= 2 else 10)
    texts = [m["text"] for c in WARDS.values() for m in fake.chat_messages(c)[1:]]
    assert sorted(next(code for code in codes if code in t) for t in texts) == sorted(codes)
