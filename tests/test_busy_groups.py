"""Busy officer groups: new cases go before answers to commands; commands have a per-user limit.

A group may receive 20 messages a minute. Forty members typing /open used to queue forty
answers ahead of the next new case's card (issue 8, item 11). The sender now serves a
chat's rows by class (bot/outbox.py): answers to group commands come after everything
else, and each member may give `HOTLINE_GROUP_COMMANDS_PER_MINUTE` commands a minute.

Positions are counted in the fake Bot API's call log; time is a clock the test moves.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot import db, services
from bot.app import Hotline
from bot.channels.telegram.delivery import TelegramTransport
from bot.channels.telegram_aiogram import AiogramOps
from bot.fakes.telegram import ApiCall, FakeBotAPI, FakeChat, FakeUser
from bot.outbox import OutboxSender
from bot.ratelimit import RateLimiter
from handlers.events import Outgoing
from handlers.limits import limits_for
from models.enums import OutboxPriority
from models.tables import Case
from tests.harness import Person, file_report
from tests.test_officer import link_group
from tests.test_outbox import drain

GROUP = FakeChat(-1001, type="supergroup", title="Tổ Kỳ Lừa")
CITIZEN = FakeUser(1001, first_name="Lan")


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        fake.register_chat(GROUP)
        fake.register_chat(CITIZEN)
        yield fake


@pytest.fixture
async def sender(hotline: Hotline, api: FakeBotAPI) -> AsyncIterator[tuple[OutboxSender, Clock]]:
    """The real Telegram transport, and Telegram's limits on a clock the test moves."""
    clock = Clock()
    bot = api.create_bot()
    hotline.add_transport(TelegramTransport(AiogramOps(bot), hotline.media))
    limiter = RateLimiter(chat_interval_s=1.0, chat_burst=10, group_limit=(20, 60.0), clock=clock)
    hotline.sender = OutboxSender(hotline.sessionmaker, hotline.transports, limiter=limiter)
    yield hotline.sender, clock
    await bot.session.close()


def group_sends(api: FakeBotAPI) -> list[ApiCall]:
    """The bot's messages to the group, in the order Telegram accepted them."""
    return [
        c
        for c in api.calls
        if c.ok and c.method.startswith("send") and str(c.chat_id) == str(GROUP.id)
    ]


def label(call: ApiCall, code: str | None = None) -> str:
    """What a message to the group is: an /open answer, the card, its photo or its pin."""
    text = str(call.params.get("text") or call.params.get("caption") or "")
    if call.method == "sendLocation":
        return "pin"
    if call.method == "sendPhoto":
        return "photo"
    if code and code in text and "c1:ack" in str(call.params.get("reply_markup")):
        return "card"
    if "Phản ánh đang mở" in text or "không có phản ánh nào đang mở" in text:
        return "open"
    return text[:40]


async def pump(sender: OutboxSender, clock: Clock, done: Any) -> None:
    """Deliver pass after pass, moving the clock when the limits hold everything back."""
    for _ in range(2000):
        if done():
            return
        if not await sender.deliver_due():
            clock.now += 1.0
    raise AssertionError("the outbox did not deliver what was expected")


async def test_a_new_case_goes_before_forty_answers_to_open(
    hotline: Hotline, api: FakeBotAPI, sender: tuple[OutboxSender, Clock]
) -> None:
    outbox, clock = sender
    await link_group(hotline, str(GROUP.id))
    members = [
        Person(hotline, str(7000 + i), chat_id=str(GROUP.id), chat_type="group", name=f"CB {i}")
        for i in range(40)
    ]
    for member in members:  # forty members: no per-user limit holds them back
        await member.command("open")
    await pump(outbox, clock, lambda: len(group_sends(api)) >= 11)  # "linked", 10 answers
    code = await file_report(Person(hotline, str(CITIZEN.id)), photos=1)
    await pump(outbox, clock, lambda: len(group_sends(api)) >= 1 + 40 + 3)
    order = [label(c, code) for c in group_sends(api)][1:]
    # The card, its photo and its pin go out as soon as the group may receive messages,
    # before the 30 answers still waiting (before: after all 40).
    assert order == ["open"] * 10 + ["card", "photo", "pin"] + ["open"] * 30, order


async def test_case_rows_keep_their_order_across_classes(
    hotline: Hotline, api: FakeBotAPI, sender: tuple[OutboxSender, Clock]
) -> None:
    """/case re-sends a card (a command answer); an officer's action on the same case,
    queued after it, must not overtake it: the action's card edit would miss that card."""
    # No limits here (a row of two calls would wait for a clock nobody moves): only the
    # order of the rows matters.
    outbox = OutboxSender(
        hotline.sessionmaker, hotline.transports, limiter=RateLimiter.unlimited()
    )
    officer = await link_group(hotline, str(GROUP.id))
    code = await file_report(Person(hotline, str(CITIZEN.id)), photos=0)
    await drain(hotline, outbox)
    async with hotline.sessionmaker() as s:
        case = await services.case_by_code(s, code)
    assert case is not None
    members = [
        Person(hotline, str(7000 + i), chat_id=str(GROUP.id), chat_type="group", name=f"CB {i}")
        for i in range(5)
    ]
    for member in members:
        await member.command("open")
    await officer.command("case", code)
    await officer.press(f"c1:ack:{case.id}")
    await drain(hotline, outbox)
    cards = [c for c in group_sends(api) if label(c, code) == "card"]
    assert len(cards) == 2  # the card, and the card again from /case
    edits = [c for c in api.calls if c.ok and c.method == "editMessageText"]
    # The acknowledgement redrew both cards: /case's went out before the edit was made.
    assert {int(c.params["message_id"]) for c in edits} == {c.result["message_id"] for c in cards}
    assert api.calls.index(cards[1]) < api.calls.index(edits[0])


# ---------------------------------------------------------------- commands per user


async def test_commands_in_a_group_have_a_per_user_limit(hotline: Hotline) -> None:
    """Beyond the limit a member gets one polite notice, then silence, until the minute
    has passed; other members are not affected."""
    clock = Clock()
    limits_for(hotline.deps).commands.clock = clock
    limit = hotline.deps.group_commands_per_minute
    await link_group(hotline, str(GROUP.id))
    busy = Person(hotline, "7001", chat_id=str(GROUP.id), chat_type="group", name="CB Một")
    other = Person(hotline, "7002", chat_id=str(GROUP.id), chat_type="group", name="CB Hai")
    await busy.new_messages()
    for _ in range(40):
        await busy.command("open")
    texts = await busy.texts()
    assert len(texts) == limit + 1
    assert all("đang mở" in text for text in texts[:limit])
    assert str(limit) in texts[-1] and "lệnh" in texts[-1]  # the notice, once
    await other.command("overdue")
    assert len(await busy.texts()) == 1  # another member is answered
    clock.now += 60.0
    await busy.command("open")
    assert len(await busy.texts()) == 1  # a minute later: answered again


async def test_a_group_that_is_not_linked_hears_no_notice(hotline: Hotline) -> None:
    stranger = Person(hotline, "7001", chat_id="-1002", chat_type="group", name="Ai đó")
    for _ in range(40):
        await stranger.command("open")
    assert await stranger.texts() == []


async def test_answers_to_group_commands_are_queued_in_their_class(hotline: Hotline) -> None:
    """Rows queued while a group's command is handled, to that group, are answers; the
    rest (other chats, other events) are not."""
    officer = await link_group(hotline, str(GROUP.id))
    await officer.command("open")
    await officer.command("help")
    code = await file_report(Person(hotline, str(CITIZEN.id)), photos=0)
    async with hotline.sessionmaker() as s:
        case = await services.case_by_code(s, code)
    assert isinstance(case, Case)
    await officer.press(f"c1:ack:{case.id}")
    rows = await officer.new_messages(str(GROUP.id))
    classes = [(r.priority, _kind(r, code)) for r in rows]
    assert classes == [
        (0, "linked"),
        (1, "open"),
        (1, "help"),
        (0, "card"),
        (0, "pin"),
        (0, "edit"),
    ], classes
    async with db.session_scope(hotline.sessionmaker) as s:
        row = await services.enqueue(s, "telegram", Outgoing(chat_id=str(GROUP.id), text="x"))
        assert row.priority == 0  # outside a command's handling: the normal class


def _kind(row: Any, code: str) -> str:
    text = row.payload.get("text") or ""
    if row.kind == "location":
        return "pin"
    if row.kind == "edit":
        return "edit"
    if code in text:
        return "card"
    if "/open" in text and "/case" in text:
        return "help"
    if "đang mở" in text:
        return "open"
    if re.search("liên kết|Kỳ Lừa", text):
        return "linked"
    return text[:30]


async def test_a_row_being_sent_keeps_its_chat_busy_whatever_arrives(
    any_hotline: Hotline,
) -> None:
    """An answer to a command is on the wire when a new case's card is queued: the card
    waits for it (two senders never send to one chat at once), then goes first."""
    from tests.test_outbox import ScriptedTransport, queue, rows

    hotline = any_hotline
    gate = asyncio.Event()
    slow = ScriptedTransport(gate=gate)
    first = OutboxSender(hotline.sessionmaker, {"telegram": slow})
    fast = ScriptedTransport()
    second = OutboxSender(hotline.sessionmaker, {"telegram": fast})
    async with db.session_scope(hotline.sessionmaker) as s:
        for text in ("answer 1", "answer 2"):
            await services.enqueue(
                s,
                "telegram",
                Outgoing(chat_id="-1001", text=text),
                priority=OutboxPriority.COMMAND,
            )
    in_flight = asyncio.create_task(first.deliver_due())
    await asyncio.wait_for(slow.entered.wait(), 10)
    await queue(hotline, "-1001", "card")
    assert await second.deliver_due() == 0  # the chat is busy with "answer 1"
    gate.set()
    assert await in_flight == 1
    await drain(hotline, second)
    assert slow.delivered + fast.delivered == [
        ("-1001", "answer 1"),
        ("-1001", "card"),
        ("-1001", "answer 2"),
    ]
    assert {r.status for r in await rows(hotline)} == {"sent"}
