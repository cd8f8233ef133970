"""The outbox sender: order per chat, retries with backoff, retry_after, permanent failures."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from bot import db, services
from bot.app import Hotline
from bot.outbox import MAX_ATTEMPTS, PermanentFailure, RetryLater, Sent, backoff
from handlers.events import Outgoing
from models.enums import OutboxStatus
from models.tables import Case, MessageRef, Outbox, Reporter
from models.types import utcnow
from tests.harness import Person, file_report


class ScriptedTransport:
    """Records deliveries; fails according to a script of exceptions per call."""

    channel = "telegram"

    def __init__(self, script: list[BaseException | None] | None = None) -> None:
        self.script = list(script or [])
        self.delivered: list[tuple[str, str]] = []
        self.next_id = 100

    async def deliver(self, row: Outbox, edit_targets: list[int]) -> Sent:
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        self.delivered.append((row.chat_id, row.payload["text"]))
        self.next_id += 1
        return Sent([self.next_id])


async def queue(hotline: Hotline, chat: str, *texts: str, **kw: object) -> None:
    async with db.session_scope(hotline.sessionmaker) as s:
        for text in texts:
            await services.enqueue(s, "telegram", Outgoing(chat_id=chat, text=text, **kw))  # type: ignore[arg-type]


async def rows(hotline: Hotline) -> list[Outbox]:
    async with hotline.sessionmaker() as s:
        return list((await s.exec(select(Outbox).order_by(col(Outbox.id)))).all())


async def make_due(hotline: Hotline) -> None:
    async with db.session_scope(hotline.sessionmaker) as s:
        for row in (await s.exec(select(Outbox))).all():
            row.next_attempt_at = utcnow() - timedelta(seconds=1)


async def test_delivers_in_order_per_chat(hotline: Hotline) -> None:
    transport = ScriptedTransport()
    hotline.add_transport(transport)
    await queue(hotline, "1", "a1", "a2", "a3")
    await queue(hotline, "2", "b1")
    while await hotline.sender.deliver_due():
        pass
    assert [t for c, t in transport.delivered if c == "1"] == ["a1", "a2", "a3"]
    assert all(r.status == OutboxStatus.SENT for r in await rows(hotline))


async def test_retry_after_is_honoured_and_blocks_only_that_chat(hotline: Hotline) -> None:
    transport = ScriptedTransport([RetryLater("429", delay=30)])
    hotline.add_transport(transport)
    await queue(hotline, "1", "a1", "a2")
    await queue(hotline, "2", "b1")
    while await hotline.sender.deliver_due():
        pass
    first, second, other = await rows(hotline)
    assert first.status == OutboxStatus.PENDING and first.attempts == 1
    waited = (first.next_attempt_at - utcnow()).total_seconds()
    assert 25 < waited <= 30
    assert second.status == OutboxStatus.PENDING and second.attempts == 0  # order kept
    assert other.status == OutboxStatus.SENT
    await make_due(hotline)
    while await hotline.sender.deliver_due():
        pass
    assert [t for c, t in transport.delivered if c == "1"] == ["a1", "a2"]


async def test_transient_failures_back_off_then_give_up(hotline: Hotline) -> None:
    transport = ScriptedTransport([RetryLater("502") for _ in range(MAX_ATTEMPTS)])
    hotline.add_transport(transport)
    await queue(hotline, "1", "a1")
    delays = []
    for _ in range(MAX_ATTEMPTS):
        await hotline.sender.deliver_due()
        (row,) = await rows(hotline)
        delays.append(round((row.next_attempt_at - utcnow()).total_seconds()))
        await make_due(hotline)
    (row,) = await rows(hotline)
    assert row.status == OutboxStatus.FAILED and row.attempts == MAX_ATTEMPTS
    assert row.last_error == "502"
    assert delays[:4] == [backoff(1), backoff(2), backoff(3), backoff(4)] == [1, 2, 4, 8]


async def test_blocked_reporter_is_marked_unreachable(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await citizen.command("help")
    transport = ScriptedTransport([PermanentFailure("403 blocked", unreachable=True)])
    hotline.add_transport(transport)
    while await hotline.sender.deliver_due():
        pass
    (row,) = await rows(hotline)
    assert row.status == OutboxStatus.FAILED and "403" in (row.last_error or "")
    async with hotline.sessionmaker() as s:
        assert (await s.exec(select(Reporter))).one().unreachable


async def test_sent_card_is_remembered_for_later_presses(hotline: Hotline) -> None:
    from tests.test_officer import link_group

    await link_group(hotline, "-1001")
    await file_report(Person(hotline, "1001"), photos=0)
    hotline.add_transport(ScriptedTransport())
    while await hotline.sender.deliver_due():
        pass
    async with hotline.sessionmaker() as s:
        case = (await s.exec(select(Case))).one()
        refs = (await s.exec(select(MessageRef))).all()
    assert [(r.chat_id, r.case_id, r.purpose) for r in refs] == [("-1001", case.id, "card")]


async def test_run_loop_wakes_and_stops(hotline: Hotline) -> None:
    import asyncio

    transport = ScriptedTransport()
    hotline.add_transport(transport)
    task = asyncio.create_task(hotline.sender.run())
    await queue(hotline, "1", "hello")
    hotline.sender.wake()
    for _ in range(100):
        if transport.delivered:
            break
        await asyncio.sleep(0.02)
    hotline.sender.stop()
    await asyncio.wait_for(task, 5)
    assert transport.delivered == [("1", "hello")]
