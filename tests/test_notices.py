"""Messages held a moment so that several reach a person as one (bot/services/notices.py):
a reporter's progress notices, and the photo count of the evidence step."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col, select

from bot import services
from bot.app import Hotline
from bot.i18n import t
from models.enums import OutboxPriority, OutboxStatus
from models.tables import Case, Outbox
from models.types import utcnow
from tests.harness import JPEG, Person, advance_to, file_report
from tests.test_officer import link_group, prompt_sent, the_case


async def rows_to(hotline: Hotline, chat_id: str) -> list[Outbox]:
    async with hotline.sessionmaker() as s:
        stmt = select(Outbox).where(Outbox.chat_id == chat_id).order_by(col(Outbox.id))
        return list((await s.exec(stmt)).all())


async def all_sent(hotline: Hotline, chat_id: str) -> None:
    """What the sender would have done by now with the chat's rows so far."""
    async with hotline.sessionmaker() as s:
        await s.exec(  # type: ignore[call-overload]
            update(Outbox)
            .where(col(Outbox.chat_id) == chat_id)
            .values(status=OutboxStatus.SENT.value, sent_at=utcnow())
        )
        await s.commit()


async def reported(hotline: Hotline) -> tuple[Person, Person, Case]:
    """A ward group's officer, and a citizen whose report it received (read so far)."""
    officer = await link_group(hotline, "-1001")
    citizen = Person(hotline, "1001")
    await file_report(citizen, photos=0)
    await citizen.new_messages()
    return officer, citizen, await the_case(hotline)


async def test_an_officers_quick_actions_reach_the_reporter_as_one_message(
    any_hotline: Hotline,
) -> None:
    hotline = any_hotline
    officer, citizen, case = await reported(hotline)

    await officer.press(f"c1:ack:{case.id}")
    await officer.press(f"c1:take:{case.id}")
    await officer.press(f"c1:vfy:{case.id}")
    (notice,) = await citizen.new_messages()
    said = [
        t("vi", key, code=case.code)
        for key in ("notify.acknowledged", "notify.taken", "notify.verifying")
    ]
    assert notice.payload["text"] == "\n\n".join(said)  # in the order they happened
    # Held for the next one, in the class that never holds up the chat's other messages.
    assert notice.priority == OutboxPriority.HELD
    assert utcnow() < notice.next_attempt_at <= utcnow() + timedelta(seconds=3 * 5)

    # The result is news: it goes at once, and takes the held notice with it.
    await officer.press(f"c1:cls:{case.id}")
    await prompt_sent(hotline, officer, 7010)
    result = "Đã kiểm tra hiện trường, yêu cầu cơ sở dừng xả thải ngay trong ngày."
    await officer.text(result, reply_to_message_id=7010)
    await officer.press(f"c1:rok:{case.id}")
    rows = await rows_to(hotline, citizen.chat_id)
    (joined,) = [r for r in rows if r.id == notice.id]
    assert joined.payload["text"].startswith("\n\n".join(said) + "\n\n")
    assert result in joined.payload["text"]
    assert joined.priority == OutboxPriority.NORMAL and joined.next_attempt_at <= utcnow()
    later = [r.payload["text"] for r in rows if (r.id or 0) > (notice.id or 0)]
    assert later == [t("vi", "notify.satisfaction_question", code=case.code)]


async def test_a_held_notice_holds_up_nothing_else_in_the_chat(any_hotline: Hotline) -> None:
    hotline = any_hotline
    officer, citizen, case = await reported(hotline)
    await all_sent(hotline, citizen.chat_id)
    await officer.press(f"c1:ack:{case.id}")
    await citizen.new_messages()
    await citizen.command("help")
    (help_row,) = await citizen.new_messages()
    async with hotline.sessionmaker() as s:
        due = await services.due_outbox(s, utcnow())
    assert [r.id for r in due if r.chat_id == citizen.chat_id] == [help_row.id]
    # When its time comes it goes, like any row.
    async with hotline.sessionmaker() as s:
        later = await services.due_outbox(s, utcnow() + timedelta(seconds=6))
    assert len([r for r in later if r.chat_id == citizen.chat_id]) == 1


async def test_the_cases_next_message_to_the_reporter_sends_the_held_notice_first(
    any_hotline: Hotline,
) -> None:
    hotline = any_hotline
    """An officer's question to the reporter must not overtake the notice before it."""
    officer, citizen, case = await reported(hotline)
    await all_sent(hotline, citizen.chat_id)
    await officer.press(f"c1:ack:{case.id}")
    await officer.press(f"c1:ask:{case.id}")
    await prompt_sent(hotline, officer, 7020)
    await officer.text("Mùi xuất hiện vào giờ nào trong ngày?", reply_to_message_id=7020)
    notice, question = await citizen.new_messages()
    assert t("vi", "notify.acknowledged", code=case.code) == notice.payload["text"]
    assert "Mùi xuất hiện vào giờ nào" in question.payload["text"]
    assert notice.priority == question.priority == OutboxPriority.NORMAL
    assert notice.next_attempt_at <= utcnow()
    async with hotline.sessionmaker() as s:
        due = await services.due_outbox(s, utcnow())
    assert [r.id for r in due if r.chat_id == citizen.chat_id] == [notice.id]


async def test_photos_sent_one_by_one_get_one_count(any_hotline: Hotline) -> None:
    hotline = any_hotline
    citizen = Person(hotline, "1001")
    await advance_to(citizen, "evidence")
    await citizen.new_messages()
    for _ in range(3):
        await citizen.photos(JPEG)
    (count,) = await citizen.new_messages()
    assert count.payload["text"] == t(
        "vi", "intake.evidence_received", photos=3, max_photos=5, others=0
    )
    assert count.next_attempt_at > utcnow()
    assert [b["data"] for row in count.payload["buttons"] for b in row] == ["c1:ev:done"]
    # «Xong» comes after the count: the count is in the chat's ordinary class.
    await citizen.press("c1:ev:done")
    (step,) = await citizen.new_messages()
    assert "Bước 4/7" in step.payload["text"] and (step.id or 0) > (count.id or 0)
    assert count.priority == step.priority == OutboxPriority.NORMAL


async def test_no_hold_sends_each_notice_at_once(any_hotline: Hotline) -> None:
    hotline = any_hotline
    hotline.deps.notice_hold_s = 0
    officer, citizen, case = await reported(hotline)
    await officer.press(f"c1:ack:{case.id}")
    await officer.press(f"c1:vfy:{case.id}")
    first, second = await citizen.new_messages()
    assert first.next_attempt_at <= utcnow() and second.next_attempt_at <= utcnow()
    assert first.payload["text"] == t("vi", "notify.acknowledged", code=case.code)
