"""The reporter's loop after filing: adding information, answering questions, satisfaction."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from bot import db, services
from bot.app import Hotline
from bot.i18n import t
from handlers.events import Outgoing
from handlers.followup import MODE_STATES
from handlers.intake import STEPS
from models.enums import CaseAction, CaseStatus, OutboxStatus
from models.tables import Case, CaseEvent, Conversation, Evidence, Outbox
from tests.conftest import make_settings
from tests.harness import JPEG, Person, advance_to, buttons
from tests.test_duplicates import (
    T0,
    Clock,
    clock,
    confirm,
    events,
    file_at,
    get_case,
    north,
    to_summary,
)
from tests.test_officer import card_sent, link_group, prompt_sent


@pytest.fixture
async def hl(hotline: Hotline) -> AsyncIterator[Hotline]:
    """A hotline on an explicit clock, without the per-minute limit of a scripted citizen."""
    hotline.deps.user_messages_per_minute = 10_000
    hotline.deps.limits.now = Clock(T0)
    yield hotline


QUESTION = "Khói bốc lên vào khoảng mấy giờ?"


@pytest.fixture
async def any_hl(any_hotline: Hotline) -> AsyncIterator[Hotline]:
    """The same on each database (PostgreSQL when HOTLINE_TEST_POSTGRES_URL is set)."""
    any_hotline.deps.user_messages_per_minute = 10_000
    any_hotline.deps.limits.now = Clock(T0)
    yield any_hotline


async def add_info(citizen: Person, case: Case) -> None:
    await citizen.press(f"c1:add:{case.id}")
    assert await citizen.state() == "followup"


async def resolve(hotline: Hotline, officer: Person, case: Case, message_id: int) -> None:
    await officer.press(f"c1:cls:{case.id}")
    await prompt_sent(hotline, officer, message_id)
    await officer.text(
        "Đã yêu cầu cơ sở ngừng đốt, phạt 5 triệu đồng.", reply_to_message_id=message_id
    )
    await officer.press(f"c1:rok:{case.id}")  # «Gửi» on the preview
    assert (await get_case(hotline, case.id)).status == CaseStatus.RESOLVED


async def ask(hotline: Hotline, citizen: Person, case: Case, message_id: int) -> None:
    """What the officers' ❓ tool leaves behind: an ASK line and the tracked question."""
    async with db.session_scope(hotline.sessionmaker) as s:
        row = await s.get(Case, case.id)
        assert row is not None
        await services.note_event(s, row, CaseAction.ASK, actor="telegram:9 Cán bộ", note=QUESTION)
        await services.remember_message(
            s, "telegram", citizen.chat_id, message_id, case.id or 0, "question"
        )


def media_files(hotline: Hotline) -> list[Path]:
    return [p for p in hotline.settings.media_dir.glob("*") if p.is_file()]


# ---------------------------------------------------------------- adding information


async def test_add_text_and_photo_reaches_the_ward_group_only(hl: Hotline) -> None:
    ward = await link_group(hl, "-1001")
    other = await link_group(hl, "-1003", ward="06193")
    citizen = Person(hl, "1001")
    case = await file_at(citizen, photos=1)
    await card_sent(hl, "-1001", case.id or 0)
    await ward.new_messages()
    await other.new_messages()
    await citizen.command("mycases")
    listing = await citizen.last()
    assert buttons(listing) == [f"c1:add:{case.id}"]
    await add_info(citizen, case)
    await citizen.text("Tối qua khói còn dày hơn, có mùi nhựa cháy.")
    await citizen.photos(JPEG, JPEG, caption="Ảnh chụp lúc 21 giờ")
    assert await ward.new_messages() == []  # nothing leaves before Send
    await citizen.new_messages()
    await citizen.press(f"c1:fu:done:{case.id}")
    assert await citizen.state() is None
    (sent,) = await citizen.texts()
    assert case.code in sent and "Đã chuyển" in sent
    message, album, card = await ward.new_messages()
    assert message.payload["reply_to_card"] and message.payload["in_topic"]
    text = message.payload["text"]
    assert case.code in text and "nhựa cháy" in text and "Ảnh chụp lúc 21 giờ" in text
    assert "ẩn danh" in text
    assert album.kind == "album" and len(album.payload["media"]) == 2
    assert album.payload["reply_to_card"] and album.payload["in_topic"]
    assert card.kind == "edit" and "3 ảnh" in card.payload["text"]
    assert await other.new_messages() == []
    async with hl.sessionmaker() as s:
        files = (await s.exec(select(Evidence).where(Evidence.case_id == case.id))).all()
    assert len(files) == 3 and not any(f.from_officer for f in files)
    answer = (await events(hl, case.id))[-1]
    assert answer.action == "answer" and answer.actor == "reporter"
    assert "nhựa cháy" in (answer.note or "") and "[2 ảnh]" in (answer.note or "")


async def test_a_shared_contact_is_shown_to_the_ward(hl: Hotline) -> None:
    ward = await link_group(hl, "-1001")
    citizen = Person(hl, "1001", name="Trần Văn Rõ")
    case = await file_at(citizen, phone="+84912000111")
    await ward.new_messages()
    await add_info(citizen, case)
    await citizen.text("Xe chở rác đổ trộm lúc 3 giờ sáng.")
    await citizen.press(f"c1:fu:done:{case.id}")
    (message,) = await ward.new_messages()
    assert "+84912000111" in message.payload["text"]
    assert "Trần Văn Rõ" not in message.payload["text"]  # the phone alone, as it was asked


async def test_adding_information_keeps_a_draft_in_progress(hl: Hotline) -> None:
    ward = await link_group(hl, "-1001")
    citizen = Person(hl, "1001")
    case = await file_at(citizen)
    await ward.new_messages()
    await advance_to(citizen, "description")
    await citizen.photos(JPEG)  # not evidence here: the draft is at the description
    await citizen.command("cancel")
    await advance_to(citizen, "evidence")
    await citizen.photos(JPEG)
    draft = await citizen.draft()
    await add_info(citizen, case)
    await citizen.text("Thêm: khói có màu vàng.")
    await citizen.new_messages()
    await citizen.press(f"c1:fu:done:{case.id}")
    sent, resumed, step = await citizen.texts()
    assert "Đã chuyển" in sent and "soạn dở" in resumed and "Bước 3" in step
    assert await citizen.state() == "evidence" and await citizen.draft() == draft
    assert "khói có màu vàng" in (await ward.new_messages())[0].payload["text"]
    # The draft goes on and files as usual.
    await citizen.press("c1:ev:done")
    assert await citizen.state() == "description"


async def test_cancel_drops_only_the_additions(hl: Hotline) -> None:
    ward = await link_group(hl, "-1001")
    citizen = Person(hl, "1001")
    case = await file_at(citizen)
    await ward.new_messages()
    await advance_to(citizen, "evidence")
    await citizen.photos(JPEG)
    draft = await citizen.draft()
    await add_info(citizen, case)
    await citizen.photos(JPEG)
    assert len(media_files(hl)) == 2
    await citizen.command("cancel")
    assert await citizen.state() == "evidence" and await citizen.draft() == draft
    assert [p.name for p in media_files(hl)] == [draft["evidence"][0]["path"]]
    assert await ward.new_messages() == []
    # Without a draft, the Cancel button ends the conversation.
    await citizen.command("cancel")
    await add_info(citizen, case)
    await citizen.press(f"c1:fu:cancel:{case.id}")
    assert await citizen.state() is None
    assert [e.action for e in await events(hl, case.id)] == ["file"]


async def test_send_with_nothing_and_unusable_input(hl: Hotline) -> None:
    citizen = Person(hl, "1001")
    case = await file_at(citizen)
    await add_info(citizen, case)
    await citizen.new_messages()
    await citizen.sticker()
    await citizen.location(*north(10))
    assert await citizen.state() == "followup"
    sticker, location = await citizen.texts()
    assert "nhãn dán" in sticker and "Gửi bổ sung" in sticker and "vị trí" in location
    await citizen.text("x" * 3001)
    assert "3000" in (await citizen.texts())[0]
    await citizen.press(f"c1:fu:done:{case.id}")
    assert "chưa gửi nội dung nào" in (await citizen.texts())[0]
    assert await citizen.state() is None
    assert [e.action for e in await events(hl, case.id)] == ["file"]


async def test_forged_and_closed_cases_cannot_be_added_to(hl: Hotline) -> None:
    officer = await link_group(hl, "-1001")
    owner, stranger = Person(hl, "1001"), Person(hl, "1002")
    case = await file_at(owner)
    await advance_to(stranger, "nature")
    await stranger.new_messages()
    for data in (f"c1:add:{case.id}", "c1:add:999999", "c1:add:abc"):
        reply = await stranger.press(data)
        assert reply is not None and reply.callback_alert
        assert await stranger.state() == "nature"
    assert all("Không tìm thấy phản ánh này" in x for x in await stranger.texts())
    await resolve(hl, officer, case, 7001)
    reply = await owner.press(f"c1:add:{case.id}")
    assert reply is not None and "đã kết thúc" in (reply.callback_text or "")
    assert await owner.state() is None
    await owner.command("mycases")
    assert buttons(await owner.last()) == []


async def test_a_case_closed_while_adding_gets_nothing(hl: Hotline) -> None:
    officer = await link_group(hl, "-1001")
    citizen = Person(hl, "1001")
    case = await file_at(citizen)
    await add_info(citizen, case)
    await citizen.photos(JPEG)
    await officer.press(f"c1:rej:{case.id}")
    await officer.press(f"c1:rjr:{case.id}:not_pollution")
    await prompt_sent(hl, officer, 7002)
    await officer.text("Không phải ô nhiễm.", reply_to_message_id=7002)
    await officer.press(f"c1:rok:{case.id}")  # «Gửi» on the preview
    await officer.new_messages()
    await citizen.new_messages()
    await citizen.press(f"c1:fu:done:{case.id}")
    assert "đã kết thúc" in (await citizen.texts())[0]
    assert await officer.new_messages() == [] and media_files(hl) == []
    assert await citizen.state() is None


# ---------------------------------------------------------------- answers to questions


async def test_an_answer_reaches_the_ward_under_the_case(hl: Hotline) -> None:
    ward = await link_group(hl, "-1001")
    other = await link_group(hl, "-1003", ward="06193")
    citizen = Person(hl, "1001")
    case = await file_at(citizen)
    await advance_to(citizen, "source")
    draft = await citizen.draft()
    await ask(hl, citizen, case, 8001)
    await ward.new_messages()
    await other.new_messages()
    await citizen.new_messages()
    await citizen.text("Khoảng 19 giờ đến 22 giờ.", reply_to_message_id=8001)
    (confirmation,) = await citizen.texts()
    assert case.code in confirmation and "câu trả lời" in confirmation
    assert await citizen.state() == "source" and await citizen.draft() == draft
    (message,) = await ward.new_messages()
    assert message.payload["reply_to_card"] and message.payload["in_topic"]
    text = message.payload["text"]
    assert case.code in text and QUESTION in text and "19 giờ đến 22 giờ" in text
    assert await other.new_messages() == []
    answer = (await events(hl, case.id))[-1]
    assert answer.action == "answer" and "19 giờ" in (answer.note or "")
    assert answer.note == f"↩ {QUESTION}\nKhoảng 19 giờ đến 22 giờ."  # an answer, not added info
    # A photo as an answer becomes evidence and goes as an album.
    await citizen.photos(JPEG, reply_to_message_id=8001)
    # ... and the card (queued, not yet recorded as sent here) is updated with it.
    assert [m.kind for m in await ward.new_messages()] == ["message", "album", "edit"]


async def test_an_answer_before_the_question_was_recorded_is_an_answer(hl: Hotline) -> None:
    """A quick reporter answers while the sender has not yet recorded the question's id
    (it is being sent, or Telegram / Zalo accepted it a moment ago): the question on its
    way to the chat is the one answered, not an idle text."""
    ward = await link_group(hl, "-1001")
    citizen = Person(hl, "1001")
    case = await file_at(citizen)
    async with db.session_scope(hl.sessionmaker) as s:
        row = await s.get(Case, case.id)
        assert row is not None
        await services.note_event(s, row, CaseAction.ASK, actor="telegram:9 Cán bộ", note=QUESTION)
        question = await services.enqueue(
            s,
            "telegram",
            Outgoing(
                chat_id=citizen.chat_id,
                text=QUESTION,
                case_id=case.id,
                force_reply=True,
                track={"purpose": "question", "question": QUESTION},
            ),
        )
        question.status = OutboxStatus.SENDING.value  # claimed by the sender, on the wire
    await ward.new_messages()
    await citizen.new_messages()
    await citizen.text("Khoảng 19 giờ đến 22 giờ.", reply_to_message_id=8100, reply_to_bot=True)
    (confirmation,) = await citizen.texts()
    assert case.code in confirmation and "câu trả lời" in confirmation
    (message,) = await ward.new_messages()
    assert QUESTION in message.payload["text"] and "19 giờ đến 22 giờ" in message.payload["text"]


async def test_an_answer_about_a_closed_case_is_not_passed_on(hl: Hotline) -> None:
    officer = await link_group(hl, "-1001")
    citizen = Person(hl, "1001")
    case = await file_at(citizen)
    await ask(hl, citizen, case, 8002)
    await resolve(hl, officer, case, 7003)
    await officer.new_messages()
    await citizen.new_messages()
    await citizen.text("Khoảng 19 giờ.", reply_to_message_id=8002)
    (closed,) = await citizen.texts()
    assert case.code in closed and "đã kết thúc" in closed
    assert await officer.new_messages() == []
    assert [e.action for e in await events(hl, case.id)][-1] == "resolve"


async def test_a_reply_to_another_message_is_not_an_answer(hl: Hotline) -> None:
    ward = await link_group(hl, "-1001")
    citizen = Person(hl, "1001")
    case = await file_at(citizen)
    await ask(hl, citizen, case, 8003)
    await ward.new_messages()
    await citizen.new_messages()
    await citizen.text("Xin chào", reply_to_message_id=8999)
    assert "/report" in (await citizen.texts())[0]  # the idle hint, nothing passed on
    stranger = Person(hl, "1002")
    await stranger.text("Tôi trả lời thay", reply_to_message_id=8003)  # not their chat
    assert await ward.new_messages() == []


# ---------------------------------------------------------------- satisfaction


async def test_yes_is_recorded_once(hl: Hotline) -> None:
    officer = await link_group(hl, "-1001")
    citizen = Person(hl, "1001")
    case = await file_at(citizen)
    await card_sent(hl, "-1001", case.id or 0)
    await resolve(hl, officer, case, 7004)
    question = (await citizen.new_messages())[-1]
    assert "vấn đề đã được giải quyết chưa?" in question.payload["text"]
    assert buttons(question) == [f"c1:sat:{case.id}:yes", f"c1:sat:{case.id}:no"]
    await officer.new_messages()
    toast = await citizen.press(f"c1:sat:{case.id}:yes")
    assert toast is not None and case.code in (toast.callback_text or "")
    assert "{" not in (toast.callback_text or "")  # no raw placeholder in the toast
    case = await get_case(hl, case.id)
    assert case.satisfaction == "yes" and case.satisfaction_at == T0
    assert "Cảm ơn" in (await citizen.texts())[0]
    (card,) = await officer.new_messages()
    assert card.kind == "edit" and "xác nhận vấn đề đã được giải quyết" in card.payload["text"]
    reply = await citizen.press(f"c1:sat:{case.id}:no")
    assert reply is not None and "đã được ghi nhận" in (reply.callback_text or "")
    assert case.code in (reply.callback_text or "")
    case = await get_case(hl, case.id)
    assert case.satisfaction == "yes" and case.status == CaseStatus.RESOLVED
    lines = [(e.action, e.note) for e in await events(hl, case.id)]
    assert lines[-1] == ("satisfaction", "yes") and lines.count(("satisfaction", "yes")) == 1


async def test_not_solved_reopens_alerts_and_takes_a_comment(any_hl: Hotline) -> None:
    hl = any_hl
    ward = await link_group(hl, "-1001")
    other = await link_group(hl, "-1003", ward="06193")
    citizen = Person(hl, "1001")
    case = await file_at(citizen)
    await card_sent(hl, "-1001", case.id or 0)
    await ward.press(f"c1:ack:{case.id}")
    await resolve(hl, ward, case, 7005)
    await ward.new_messages()
    await other.new_messages()
    await citizen.new_messages()
    clock(hl).advance(hours=30)
    await citizen.press(f"c1:sat:{case.id}:no")
    case = await get_case(hl, case.id)
    assert case.status == CaseStatus.ACKNOWLEDGED and case.satisfaction == "no"
    assert case.reopened_count == 1 and case.result_text is None and case.closed_at is None
    assert case.handled_by is not None and "Cán bộ Lan" in case.handled_by
    assert case.ack_due_at is not None and case.ack_due_at > T0 + timedelta(hours=30)
    lines = [(e.action, e.from_status, e.to_status) for e in await events(hl, case.id)]
    assert lines[-2:] == [
        ("satisfaction", "resolved", "resolved"),
        ("reopen", "resolved", "acknowledged"),
    ]
    alert, card = await ward.new_messages()
    assert alert.payload["reply_to_card"] and alert.payload["in_topic"]
    assert case.code in alert.payload["text"] and "CHƯA" in alert.payload["text"]
    assert card.kind == "edit" and f"c1:cls:{case.id}" in buttons(card)
    assert "chưa được giải quyết" in card.payload["text"] and "Đã mở lại" in card.payload["text"]
    assert await other.new_messages() == []
    reopened, comment_question = await citizen.new_messages()
    assert "mở lại" in reopened.payload["text"]
    assert buttons(comment_question) == [f"c1:sat:{case.id}:skip"]
    assert await citizen.state() == "sat_comment"
    await citizen.text("Tối nay khói vẫn bốc lên như cũ.")
    assert await citizen.state() is None
    (comment,) = await ward.new_messages()
    assert comment.payload["reply_to_card"] and "vẫn bốc lên" in comment.payload["text"]
    assert (await events(hl, case.id))[-1].action == "answer"
    # The old question, pressed again: already answered.
    reply = await citizen.press(f"c1:sat:{case.id}:yes")
    assert reply is not None and "đã được ghi nhận" in (reply.callback_text or "")
    # A new resolution is asked afresh, and may be answered again.
    await resolve(hl, ward, case, 7006)
    assert (await get_case(hl, case.id)).satisfaction is None
    card = [m for m in await ward.new_messages() if m.kind == "edit"][-1]
    assert "chưa được giải quyết" not in card.payload["text"]  # that was the earlier result
    assert "Đã mở lại" in card.payload["text"]
    await citizen.press(f"c1:sat:{case.id}:yes")
    assert (await get_case(hl, case.id)).satisfaction == "yes"


async def test_skip_the_comment_and_the_draft_comes_back(hl: Hotline) -> None:
    officer = await link_group(hl, "-1001")
    citizen = Person(hl, "1001")
    case = await file_at(citizen)
    await resolve(hl, officer, case, 7007)
    await advance_to(citizen, "summary")
    draft = await citizen.draft()
    await citizen.press(f"c1:sat:{case.id}:no")
    assert await citizen.state() == "sat_comment"
    await citizen.new_messages()
    await citizen.press(f"c1:sat:{case.id}:skip")
    skipped, resumed, summary = await citizen.texts()
    assert "soạn dở" in resumed and "Vui lòng kiểm tra" in summary
    assert await citizen.state() == "summary" and await citizen.draft() == draft
    reply = await citizen.press(f"c1:sat:{case.id}:skip")  # once more: nothing to skip
    assert reply is not None and reply.callback_text == "Nút này không còn dùng được nữa."


async def test_only_the_cases_reporters_may_answer(hl: Hotline) -> None:
    officer = await link_group(hl, "-1001")
    owner, stranger = Person(hl, "1001"), Person(hl, "1002")
    case = await file_at(owner)
    await resolve(hl, officer, case, 7008)
    for data in (f"c1:sat:{case.id}:no", "c1:sat:999999:no", f"c1:sat:{case.id}:maybe"):
        reply = await stranger.press(data)
        assert reply is not None and reply.callback_text
    case = await get_case(hl, case.id)
    assert case.status == CaseStatus.RESOLVED and case.satisfaction is None
    assert "satisfaction" not in [e.action for e in await events(hl, case.id)]


async def test_each_joined_reporter_answers_for_themselves(hl: Hotline) -> None:
    officer = await link_group(hl, "-1001")
    owner, joiner = Person(hl, "1001"), Person(hl, "1002", language_code="en")
    case = await file_at(owner)
    await to_summary(joiner)
    await confirm(joiner)
    await joiner.press(f"c1:dup:{case.id}")
    await resolve(hl, officer, case, 7009)
    await owner.press(f"c1:sat:{case.id}:yes")
    await joiner.new_messages()
    await joiner.press(f"c1:sat:{case.id}:no")  # the joined reporter is not satisfied
    case = await get_case(hl, case.id)
    assert case.status == CaseStatus.ACKNOWLEDGED and case.satisfaction == "no"
    actors = [(e.action, e.actor) for e in await events(hl, case.id) if e.action != "resolve"]
    assert ("satisfaction", "reporter") in actors
    assert any(a == "satisfaction" and actor.startswith("reporter:") for a, actor in actors)
    texts = await joiner.texts()
    assert any("reopened" in t for t in texts)


async def test_a_result_without_joined_reporters_asks_only_the_reporter(hl: Hotline) -> None:
    officer = await link_group(hl, "-1001")
    citizen = Person(hl, "1001")
    case = await file_at(citizen)
    await resolve(hl, officer, case, 7010)
    async with hl.sessionmaker() as s:
        rows = (await s.exec(select(Outbox).where(col(Outbox.chat_id).not_like("-%")))).all()
    questions = [r for r in rows if "c1:sat:" in str(r.payload.get("buttons"))]
    assert [r.chat_id for r in questions] == [citizen.chat_id]


# ---------------------------------------------------------------- random sequences


FOLLOWUP_EVENTS = st.sampled_from(
    [
        ("press", "c1:add:{case}"),
        ("press", "c1:add:{other}"),
        ("press", "c1:fu:done:{case}"),
        ("press", "c1:fu:cancel:{case}"),
        ("press", "c1:sat:{case}:no"),
        ("press", "c1:sat:{case}:yes"),
        ("press", "c1:sat:{case}:skip"),
        ("press", "c1:sum:ok"),
        ("press", "c1:ev:done"),
        ("text", "Thêm thông tin: khói đen lúc 20 giờ."),
        ("text", "x" * 3500),
        ("answer", "Khoảng 20 giờ."),
        ("photos", None),
        ("command", "cancel"),
        ("command", "report"),
        ("command", "mycases"),
        ("sticker", None),
    ]
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with a linked ward group, case 1 of citizen 1001 in that ward and case 2
    of citizen 1002 in another ward."""
    root = tmp_path_factory.mktemp("followup-template")

    async def build() -> None:
        url = f"sqlite+aiosqlite:///{root / 'hotline.db'}"
        await db.upgrade_async(url)
        hotline = Hotline(make_settings(url, root / "media"))
        hotline.deps.user_messages_per_minute = 10_000
        hotline.deps.limits.now = Clock(T0)
        try:
            await link_group(hotline, "-1001")
            await file_at(Person(hotline, "1001"))
            await file_at(Person(hotline, "1002"), address="xa Cao Loc", ward="06193")
        finally:
            await hotline.close()

    asyncio.run(build())
    return root


async def _conversation(hotline: Hotline) -> tuple[str | None, dict[str, Any]]:
    async with hotline.sessionmaker() as s:
        conv = (await s.exec(select(Conversation))).first()
    return (conv.state, dict(conv.data)) if conv else (None, {})


async def _play(workdir: Path, events_: list[tuple[str, object]], draft_at: str | None) -> None:
    """Play the events as citizen 1001 (a resolved case, a question pending, perhaps a
    draft in progress) and check that drafts are set aside and given back untouched."""
    url = f"sqlite+aiosqlite:///{workdir / 'hotline.db'}"
    hotline = Hotline(make_settings(url, workdir / "media"))
    hotline.deps.user_messages_per_minute = 10_000
    hotline.deps.limits.now = Clock(T0)
    try:
        citizen = Person(hotline, "1001")
        officer = Person(hotline, "91001", chat_id="-1001", chat_type="group", name="Cán bộ")
        await resolve(hotline, officer, await get_case(hotline, 1), 7500)
        await ask(hotline, citizen, await get_case(hotline, 1), 8500)
        if draft_at:
            await advance_to(citizen, draft_at)
        for kind, arg in events_:
            before, data_before = await _conversation(hotline)
            if kind == "press":
                await citizen.press(str(arg).format(case=1, other=2))
            elif kind == "text":
                await citizen.text(str(arg))
            elif kind == "answer":
                await citizen.text(str(arg), reply_to_message_id=8500)
            elif kind == "photos":
                await citizen.photos(JPEG)
            elif kind == "command":
                await citizen.command(str(arg))
            else:
                await citizen.sticker()
            after, data_after = await _conversation(hotline)
            assert after in {None, "summary", "duplicate", *STEPS, *MODE_STATES}
            was_mode, is_mode = before in MODE_STATES, after in MODE_STATES
            if before is not None and not was_mode and is_mode:
                # Entering a mode sets the draft aside exactly as it was.
                assert data_after["suspended"] == {"state": before, "data": data_before}
            elif was_mode and is_mode:
                assert data_after.get("suspended") == data_before.get("suspended")
            elif was_mode and data_before.get("suspended"):
                kept = data_before["suspended"]
                if kept["state"] != "category":  # /report there starts a report afresh
                    assert (after, data_after) == (kept["state"], kept["data"])
        async with hotline.sessionmaker() as s:
            other_lines = (await s.exec(select(CaseEvent).where(CaseEvent.case_id == 2))).all()
            texts = [r.payload["text"] for r in (await s.exec(select(Outbox))).all()]
            to_other_ward = (await s.exec(select(Outbox).where(Outbox.chat_id == "-1003"))).all()
        # Nothing ever reaches the other citizen's case, or a group of another ward.
        assert [e.action for e in other_lines] == ["file"]
        assert list(to_other_ward) == []
        assert not any(t(loc, "error.generic") in texts for loc in ("vi", "en"))
    finally:
        await hotline.close()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    events_=st.lists(FOLLOWUP_EVENTS, min_size=1, max_size=12),
    draft_at=st.sampled_from([None, "evidence", "description", "summary"]),
)
def test_random_follow_up_sequences_keep_drafts_and_cases_apart(
    events_: list[tuple[str, object]],
    draft_at: str | None,
    template: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    workdir = tmp_path_factory.mktemp("play")
    shutil.copy(template / "hotline.db", workdir / "hotline.db")
    asyncio.run(_play(workdir, events_, draft_at))
