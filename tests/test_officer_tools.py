"""Officer tools on the card: take it on, notes, questions, escalation to the Sở, referral."""

from __future__ import annotations

import json

from sqlmodel import col, select

from bot import db, services
from bot.app import Hotline
from bot.i18n import t
from handlers import case_chats, officer
from handlers.events import Button
from handlers.officer_tools import parse_referral, tool_rows
from models.enums import CaseStatus
from models.tables import Case, CaseEvent, Evidence, GroupLink, Outbox
from models.types import utcnow
from tests.harness import JPEG, Person, buttons, card_actions, file_report
from tests.test_officer import card_sent, link_group, prompt_sent, the_case
from tests.test_security import NAME, PHONE, domain_state, leaks

WARD, PROVINCE, CAO_LOC = "-1001", "-2000", "-1003"


async def events(app: Hotline, action: str | None = None) -> list[CaseEvent]:
    async with app.sessionmaker() as s:
        stmt = select(CaseEvent).order_by(col(CaseEvent.id))
        if action:
            stmt = stmt.where(CaseEvent.action == action)
        return list((await s.exec(stmt)).all())


async def reply_to_prompt(
    app: Hotline, officer_: Person, message_id: int, text: str, *, photo: bool = False
) -> None:
    """Remember the latest prompt to the officer's group as `message_id`, then answer it."""
    await prompt_sent(app, officer_, message_id)
    await officer_.new_messages()
    if photo:
        await officer_.photos(JPEG, caption=text, reply_to_message_id=message_id)
    else:
        await officer_.text(text, reply_to_message_id=message_id)


async def setup(
    app: Hotline, *, province: bool = True, anonymous: bool = True, language: str = "vi"
) -> tuple[Person, Person | None, Person, Case]:
    """A ward group and (optionally) the province group, one case with its card in both."""
    ward = await link_group(app, WARD)
    prov = await link_group(app, PROVINCE, ward=None) if province else None
    citizen = Person(app, "1001", name=NAME, language_code=language)
    await file_report(citizen, photos=1, anonymous=anonymous)
    case = await the_case(app)
    await card_sent(app, WARD, case.id or 0, 7001)
    await ward.new_messages()
    await citizen.new_messages()
    return ward, prov, citizen, case


def under_the_case(row: Outbox) -> bool:
    return bool(row.payload["reply_to_card"] and row.payload["in_topic"])


# ---------------------------------------------------------------- I'll take it


async def test_take_shows_the_assignee_on_every_card_and_tells_the_reporter_once(
    hotline: Hotline,
) -> None:
    ward, prov, citizen, case = await setup(hotline, language="en")
    assert prov is not None
    await card_sent(hotline, PROVINCE, case.id or 0, 7002)
    await prov.new_messages()

    reply = await ward.press(f"c1:take:{case.id}")
    assert reply is not None and reply.callback_text == t(
        "vi", "officer.take_ok", who="Cán bộ Lan"
    )
    assert (await the_case(hotline)).assignee == "telegram:91001 Cán bộ Lan"
    edits = [*await ward.new_messages(), *await prov.new_messages()]
    assert [m.kind for m in edits] == ["edit", "edit"]
    assert all("Người xử lý: Cán bộ Lan" in m.payload["text"] for m in edits)
    (told,) = await citizen.texts()
    assert case.code in told and "An officer is now handling" in told and "Lan" not in told

    # The same officer again: nothing new. Another officer of the group: re-assigned, logged.
    await ward.press(f"c1:take:{case.id}")
    assert len(await events(hotline, "take")) == 1
    minh = Person(hotline, "555", chat_id=WARD, chat_type="group", name="Cán bộ Minh")
    await minh.press(f"c1:take:{case.id}")
    first, second = await events(hotline, "take")
    assert first.actor.endswith("Cán bộ Lan") and first.note is None
    assert second.actor.endswith("Cán bộ Minh") and second.note == first.actor
    assert (await the_case(hotline)).assignee == "telegram:555 Cán bộ Minh"
    edit = [m for m in await ward.new_messages() if m.kind == "edit"][-1]
    assert "Người xử lý: Cán bộ Minh" in edit.payload["text"]
    # Another officer acknowledges: the card keeps its one "Người xử lý", the assignee.
    await ward.press(f"c1:ack:{case.id}")
    edit = [m for m in await ward.new_messages() if m.kind == "edit"][-1]
    assert edit.payload["text"].count("Người xử lý") == 1
    assert "Người xử lý: Cán bộ Minh" in edit.payload["text"]
    assert "Cập nhật gần nhất: Cán bộ Lan" in edit.payload["text"]
    # The acknowledgement joined the notice held since the take (bot/services/notices.py):
    # one message, in which "taken" is said once.
    assert await citizen.texts() == []
    (notice,) = [r for r in await citizen.new_messages(citizen.chat_id) if r.case_id == case.id][
        -1:
    ]
    assert "taken by an officer" in notice.payload["text"]
    assert notice.payload["text"].count("An officer is now handling") == 1


# ---------------------------------------------------------------- notes


async def test_notes_are_logged_confirmed_under_the_case_and_never_reach_the_reporter(
    hotline: Hotline,
) -> None:
    ward, _prov, citizen, case = await setup(hotline, province=False)
    secret = "Nghi do cơ sở của ông Tư xả đêm; chưa báo cho người dân."
    await ward.press(f"c1:note:{case.id}")
    (prompt,) = await ward.new_messages()
    assert prompt.payload["force_reply"] and case.code in prompt.payload["text"]
    await reply_to_prompt(hotline, ward, 7100, secret, photo=True)
    (confirm,) = await ward.new_messages()
    assert confirm.payload["text"] == t("vi", "officer.note_saved", code=case.code)
    assert under_the_case(confirm) and confirm.case_id == case.id
    (note,) = await events(hotline, "note")
    assert note.note == f"{secret}\n📎 1" and note.actor.endswith("Cán bộ Lan")
    assert note.from_status == note.to_status == "new"
    async with hotline.sessionmaker() as s:
        officer_files = (await s.exec(select(Evidence).where(col(Evidence.from_officer)))).all()
    assert len(officer_files) == 1

    # Too long: refused with the limit and asked again; nothing logged.
    await ward.press(f"c1:note:{case.id}")
    await reply_to_prompt(hotline, ward, 7101, "x" * 2001)
    length, again = await ward.texts()
    assert "2000" in length and case.code in again
    assert len(await events(hotline, "note")) == 1

    # Closing the case sends the result and its own photo, never the note or its photo.
    await ward.press(f"c1:cls:{case.id}")
    await reply_to_prompt(hotline, ward, 7102, "Đã kiểm tra, yêu cầu cơ sở dừng xả thải.")
    await ward.press(f"c1:rok:{case.id}")  # «Gửi» on the preview
    assert (await the_case(hotline)).status == CaseStatus.RESOLVED
    async with hotline.sessionmaker() as s:
        to_reporter = (await s.exec(select(Outbox).where(Outbox.chat_id == citizen.chat_id))).all()
    assert to_reporter and not any(
        "ông Tư" in json.dumps(r.payload, ensure_ascii=False) for r in to_reporter
    )
    sent_paths = {m["path"] for r in to_reporter for m in r.payload["media"]}
    assert officer_files[0].path not in sent_paths


# ---------------------------------------------------------------- questions to the reporter


async def test_question_reaches_the_reporter_in_their_language_as_a_tracked_force_reply(
    hotline: Hotline,
) -> None:
    ward, _prov, citizen, case = await setup(
        hotline, province=False, anonymous=False, language="en"
    )
    question = "Khói xuất hiện vào khoảng mấy giờ?"
    await ward.press(f"c1:ask:{case.id}")
    await reply_to_prompt(hotline, ward, 7200, question)
    (asked,) = await citizen.new_messages()
    assert asked.payload["force_reply"] and asked.case_id == case.id
    assert asked.payload["track"] == {"purpose": "question", "question": question}
    assert question in asked.payload["text"] and case.code in asked.payload["text"]
    assert "To answer, REPLY to this message." in asked.payload["text"]
    (line,) = await events(hotline, "ask")
    assert line.note == question
    (confirm,) = await ward.new_messages()
    assert confirm.payload["text"] == t("vi", "officer.ask_sent", code=case.code)
    assert under_the_case(confirm) and leaks(confirm.payload["text"]) == []


async def test_question_to_an_unreachable_reporter_is_not_sent_and_the_group_is_told(
    hotline: Hotline,
) -> None:
    ward, _prov, citizen, case = await setup(hotline, province=False)
    unreachable = t("vi", "officer.ask_unreachable", code=case.code)
    await ward.press(f"c1:ask:{case.id}")  # the prompt goes out while they are reachable...
    async with db.session_scope(hotline.sessionmaker) as s:
        await services.mark_reporter_reachable(s, "telegram", citizen.chat_id, False)
    await reply_to_prompt(hotline, ward, 7300, "Bạn có ảnh chụp ban đêm không?")  # ...not now
    (said,) = await ward.new_messages()
    assert said.payload["text"] == unreachable and under_the_case(said)
    reply = await ward.press(f"c1:ask:{case.id}")
    assert reply is not None and reply.callback_alert and reply.callback_text == unreachable
    (said,) = await ward.new_messages()  # said in the group, no prompt
    assert said.payload["text"] == unreachable and not said.payload["force_reply"]
    assert await citizen.new_messages() == [] and await events(hotline, "ask") == []


# ---------------------------------------------------------------- escalation


async def test_escalate_and_take_over_keep_the_reporter_confidential(
    any_hotline: Hotline,
) -> None:
    app = any_hotline
    ward, prov, citizen, case = await setup(app, anonymous=False)
    assert prov is not None
    # The ward's own card shows the contact...
    card = next(
        m for m in await ward.new_messages(WARD) if m.payload["track"] == {"purpose": "card"}
    )
    assert PHONE in card.payload["text"]
    actions = await card_actions(ward, card)
    assert f"c1:esc:{case.id}" in actions and f"c1:tkov:{case.id}" not in actions
    assert await prov.new_messages() == []  # ...and the province has none yet

    await ward.press(f"c1:esc:{case.id}")
    await reply_to_prompt(app, ward, 7400, "Vượt thẩm quyền: cần lấy mẫu khí thải.")
    case = await the_case(app)
    assert case.escalated_at is not None and not case.province_owned
    assert case.escalation_reason == "Vượt thẩm quyền: cần lấy mẫu khí thải."
    (line,) = await events(app, "escalate")
    assert line.note == case.escalation_reason and line.to_status == "new"
    ward_rows = await ward.new_messages()
    edit = next(m for m in ward_rows if m.kind == "edit")
    assert ward_rows[-1].payload["text"] == t("vi", "officer.escalated_ok", code=case.code)
    assert "Đã chuyển Sở" in edit.payload["text"]
    assert f"c1:esc:{case.id}" not in await card_actions(ward, edit)
    prov_card, album, _pin = await prov.new_messages()
    assert prov_card.kind == "message" and album.kind == "album"
    text = prov_card.payload["text"]
    assert (
        case.code in text
        and "Lý do: Vượt thẩm quyền" in text
        and "Phường Kỳ Lừa đề nghị Sở" in text
    )
    assert t("vi", "card.contact_ward_only") in text
    assert buttons(prov_card)[:2] == [f"c1:tkov:{case.id}", f"c1:sndbk:{case.id}"]
    assert f"c1:esc:{case.id}" not in await card_actions(prov, prov_card)

    # Escalating again is refused, from the button and from a prompt answered late.
    reply = await ward.press(f"c1:esc:{case.id}")
    assert reply is not None and reply.callback_alert
    assert reply.callback_text == t("vi", "officer.already_escalated")
    await ward.text("Lần nữa, vượt thẩm quyền.", reply_to_message_id=7400)  # the old prompt
    (said,) = await ward.new_messages()
    assert said.payload["text"] == t("vi", "officer.already_escalated")
    assert len(await events(app, "escalate")) == 1

    # Only the province takes over; the ward's forged press changes nothing.
    before = await domain_state(app)
    for op in ("tkov", "sndbk"):
        reply = await ward.press(f"c1:{op}:{case.id}")
        assert reply is not None and reply.callback_text == t("vi", "officer.province_only")
    assert await domain_state(app) == before
    await card_sent(app, PROVINCE, case.id or 0, 7401)
    await ward.new_messages()
    reply = await prov.press(f"c1:tkov:{case.id}")
    assert reply is not None and not reply.callback_alert
    case = await the_case(app)
    assert case.province_owned and case.escalated_at is not None
    (line,) = await events(app, "take_over")
    assert line.actor.endswith("Cán bộ Lan") and line.actor.startswith("telegram:92000")
    ward_rows = await ward.new_messages()
    ward_edit = next(m for m in ward_rows if m.kind == "edit")
    assert "Sở đang xử lý" in ward_edit.payload["text"]
    # The ward's card keeps only what the ward may still do: an internal note for the Sở.
    assert buttons(ward_edit) == [f"c1:note:{case.id}"]
    assert ward_rows[-1].payload["text"] == t("vi", "officer.province_took_over", code=case.code)
    assert under_the_case(ward_rows[-1])
    prov_edit = next(m for m in await prov.new_messages() if m.kind == "edit")
    assert "Sở đang xử lý" in prov_edit.payload["text"]
    assert f"c1:tkov:{case.id}" not in buttons(prov_edit)
    assert f"c1:sndbk:{case.id}" in buttons(prov_edit)
    reply = await prov.press(f"c1:tkov:{case.id}")
    assert reply is not None and reply.callback_text == t("vi", "officer.already_taken_over")
    assert len(await events(app, "take_over")) == 1
    # A press on an older copy of the ward's card acts on nothing, and says why.
    before = await domain_state(app)
    for op in ("ack", "cls", "rsg", "esc", "take"):
        reply = await ward.press(f"c1:{op}:{case.id}")
        assert reply is not None and reply.callback_text == t("vi", "officer.province_owns")
    assert await domain_state(app) == before
    await ward.new_messages()

    # Nothing the province received carries the reporter's phone or name; the reporter
    # heard nothing of the escalation.
    rows = await prov.new_messages(PROVINCE)
    assert rows and all(leaks(json.dumps(r.payload, ensure_ascii=False)) == [] for r in rows)
    assert await citizen.new_messages() == []


async def test_send_back_returns_the_case_with_the_reason_and_it_may_go_up_again(
    any_hotline: Hotline,
) -> None:
    app = any_hotline
    ward, prov, _citizen, case = await setup(app)
    assert prov is not None
    await ward.press(f"c1:esc:{case.id}")
    await reply_to_prompt(app, ward, 7500, "Cơ sở thuộc khu công nghiệp của tỉnh.")
    await card_sent(app, PROVINCE, case.id or 0, 7501)
    await prov.press(f"c1:tkov:{case.id}")
    await ward.new_messages()
    await prov.new_messages()

    await prov.press(f"c1:sndbk:{case.id}")
    (prompt,) = await prov.new_messages()
    assert prompt.payload["force_reply"] and case.code in prompt.payload["text"]
    reason = "Cơ sở đã chuyển ra ngoài khu công nghiệp, thuộc thẩm quyền phường."
    await reply_to_prompt(app, prov, 7502, reason)
    case = await the_case(app)
    assert case.escalated_at is None and not case.province_owned
    assert case.escalation_reason is None
    (line,) = await events(app, "send_back")
    assert line.note == reason
    ward_rows = await ward.new_messages()
    told = ward_rows[-1]
    assert told.payload["text"] == t("vi", "officer.sent_back", code=case.code, reason=reason)
    assert under_the_case(told)
    ward_edit = next(m for m in ward_rows if m.kind == "edit")
    assert "Đã chuyển Sở" not in ward_edit.payload["text"]
    assert "Sở đang xử lý" not in ward_edit.payload["text"]
    assert f"c1:esc:{case.id}" in await card_actions(ward, ward_edit)
    prov_rows = await prov.new_messages()
    assert prov_rows[-1].payload["text"] == t(
        "vi", "officer.send_back_ok", code=case.code, ward="Phường Kỳ Lừa"
    )
    prov_edit = next(m for m in prov_rows if m.kind == "edit")
    assert f"c1:sndbk:{case.id}" not in buttons(prov_edit)

    # Sent back, it may be escalated again: the province, which holds the card, is told.
    await ward.press(f"c1:esc:{case.id}")
    await reply_to_prompt(app, ward, 7503, "Cơ sở tái phạm, đề nghị Sở kiểm tra liên ngành.")
    assert len(await events(app, "escalate")) == 2
    notice = [m for m in await prov.new_messages() if m.kind == "message"]
    assert len(notice) == 1 and "tái phạm" in notice[0].payload["text"]
    assert under_the_case(notice[0])


async def test_escalation_needs_a_linked_province_group(hotline: Hotline) -> None:
    ward, prov, _citizen, case = await setup(hotline)
    assert prov is not None
    await ward.press(f"c1:esc:{case.id}")  # asked while the province group is linked...
    await prompt_sent(hotline, ward, 7800)
    await ward.new_messages()
    await prov.send("bot_removed")  # ...which it no longer is when the reason comes
    await ward.text("Cần Sở lấy mẫu nước thải.", reply_to_message_id=7800)
    (said,) = await ward.new_messages()
    assert said.payload["text"] == t("vi", "officer.no_province_group") and under_the_case(said)
    reply = await ward.press(f"c1:esc:{case.id}")
    assert reply is not None and reply.callback_text == t("vi", "officer.no_province_group")
    assert await ward.new_messages() == [] and await prov.new_messages() == []
    assert (await the_case(hotline)).escalated_at is None
    assert await events(hotline, "escalate") == []


async def test_province_cannot_take_over_or_send_back_a_case_not_escalated(
    hotline: Hotline,
) -> None:
    _ward, prov, _citizen, case = await setup(hotline)
    assert prov is not None
    before = await domain_state(hotline)
    for op in ("tkov", "sndbk"):
        reply = await prov.press(f"c1:{op}:{case.id}")
        assert reply is not None and reply.callback_text == t("vi", "officer.not_escalated")
    assert await domain_state(hotline) == before


# ---------------------------------------------------------------- referral


async def test_referral_shows_the_agency_and_tells_the_reporter_without_the_reason(
    hotline: Hotline,
) -> None:
    ward, _prov, citizen, case = await setup(hotline, province=False, language="en")
    await ward.press(f"c1:refer:{case.id}")
    await reply_to_prompt(hotline, ward, 7600, "Công an tỉnh")  # no reason: asked again
    hint, again = await ward.texts()
    assert "«tên cơ quan: lý do»" in hint and "↪️" in again and case.code in again
    assert await events(hotline, "refer") == [] and await citizen.new_messages() == []

    await reply_to_prompt(hotline, ward, 7601, "Công an tỉnh: dấu hiệu tội phạm môi trường")
    case = await the_case(hotline)
    assert case.referred_to == "Công an tỉnh" and case.status == CaseStatus.NEW  # still open
    (line,) = await events(hotline, "refer")
    assert line.note == "Công an tỉnh: dấu hiệu tội phạm môi trường"
    rows = await ward.new_messages()
    edit = next(m for m in rows if m.kind == "edit")
    assert "Đã chuyển cơ quan khác: Công an tỉnh" in edit.payload["text"]
    assert f"c1:cls:{case.id}" in buttons(edit)  # the ward still closes it with a result
    assert under_the_case(rows[-1]) and "Công an tỉnh" in rows[-1].payload["text"]
    (told,) = await citizen.texts()
    assert "referred to Công an tỉnh" in told and case.code in told
    assert "tội phạm" not in told


# ---------------------------------------------------------------- permissions


async def test_a_foreign_ward_group_changes_nothing_by_press_or_prompt_reply(
    hotline: Hotline,
) -> None:
    ward, _prov, citizen, case = await setup(hotline)
    foreign = await link_group(hotline, CAO_LOC, ward="06193")
    before = await domain_state(hotline)
    for op in ("take", "note", "ask", "esc", "refer", "tkov", "sndbk"):
        reply = await foreign.press(f"c1:{op}:{case.id}")
        assert reply is not None and reply.callback_alert, op
        assert reply.callback_text == t("vi", "officer.not_allowed"), op
    assert await domain_state(hotline) == before and await foreign.new_messages() == []

    # Prompts asked in the Kỳ Lừa group, then the case goes to Cao Lộc: Kỳ Lừa is now a
    # foreign group, and its late replies change nothing.
    prompts = {}
    for number, op in enumerate(("note", "ask", "esc", "refer")):
        await ward.press(f"c1:{op}:{case.id}")
        await prompt_sent(hotline, ward, 7700 + number)
        prompts[op] = 7700 + number
    await ward.press(f"c1:rsg:{case.id}")
    await prompt_sent(hotline, ward, 7710)
    await ward.text("Cao Lộc", reply_to_message_id=7710)
    await ward.press(f"c1:rsw:{case.id}:06193")  # confirmed
    assert (await the_case(hotline)).ward_code == "06193"
    await ward.new_messages()
    await foreign.new_messages()
    await citizen.new_messages()
    before = await domain_state(hotline)
    for message_id in prompts.values():
        await ward.text("Công an tỉnh: ghi chú, câu hỏi, lý do", reply_to_message_id=message_id)
        # ...and the same ids replied to in the Cao Lộc group are no prompts there.
        await foreign.text("Công an tỉnh: ghi chú", reply_to_message_id=message_id)
    assert await domain_state(hotline) == before
    assert await ward.texts() == [t("vi", "officer.not_allowed")] * len(prompts)
    assert await foreign.new_messages() == []
    assert await citizen.new_messages() == []


# ---------------------------------------------------------------- buttons


def _case(**fields: object) -> Case:
    values: dict[str, object] = {
        "id": 999_999_999_999,
        "code": "PA20-999999",
        "province_code": "20",
        "seq": 999_999,
        "ward_code": "06187",
        "category": "other",
        "status": CaseStatus.NEW.value,
        "location_source": "gps",
        "nature": "now",
        "description": "x",
        "description_language": "vi",
        "reporter_id": 1,
        "channel": "telegram",
        "verify_due_at": utcnow(),
    }
    values.update(fields)
    return Case(**values)  # type: ignore[arg-type]


def _ops(rows: list[list[Button]]) -> list[list[str]]:
    return [[b.data.split(":")[1] for b in row] for row in rows]


def test_tool_buttons_follow_the_chat_and_the_case() -> None:
    ward = GroupLink(
        channel="telegram", chat_id="-1", ward_code="06187", province_code="20", linked_by="x"
    )
    other = GroupLink(
        channel="telegram", chat_id="-3", ward_code="06193", province_code="20", linked_by="x"
    )
    prov = GroupLink(
        channel="telegram", chat_id="-2", ward_code=None, province_code="20", linked_by="x"
    )
    foreign_prov = GroupLink(
        channel="telegram", chat_id="-9", ward_code=None, province_code="01", linked_by="x"
    )
    fresh, now = _case(), utcnow()
    escalated = _case(escalated_at=now, escalation_reason="r")
    owned = _case(escalated_at=now, escalation_reason="r", province_owned=True)
    assert _ops(tool_rows(fresh, ward)) == [["take", "note", "ask"], ["esc", "refer"]]
    assert _ops(tool_rows(escalated, ward)) == [["take", "note", "ask"], ["refer"]]
    assert _ops(tool_rows(fresh, prov)) == [["take", "note", "ask"], ["refer"]]
    assert _ops(tool_rows(escalated, prov)) == [["take", "note", "ask"], ["tkov", "sndbk"]]
    assert _ops(tool_rows(owned, prov)) == [["take", "note", "ask"], ["refer", "sndbk"]]
    for link in (other, foreign_prov, None):
        assert tool_rows(escalated, link) == []
    for status in (CaseStatus.RESOLVED, CaseStatus.REJECTED):
        assert tool_rows(_case(status=status.value), ward) == []
    # The whole card in the province's chat: the status actions and the Sở's take-over on
    # the card, the rest behind «Thêm…»; every callback ≤ 64 bytes.
    datas = [b.data for row in case_chats.card_buttons_for(escalated, prov) for b in row]
    assert "c1:ack:999999999999" in datas and "c1:tkov:999999999999" in datas
    assert "c1:more:999999999999" in datas and "c1:take:999999999999" not in datas
    more = [b.data for row in case_chats.more_buttons_for(escalated, prov) for b in row]
    assert "c1:take:999999999999" in more and more[-1] == "c1:back:999999999999"
    assert all(len(d.encode()) <= 64 and officer.CALLBACK_RE.match(d) for d in datas + more)


def test_a_card_fits_a_phone_and_keeps_every_action_one_press_away() -> None:
    """At most six buttons in at most three rows on every card, in every kind of chat; what
    is not on the card is behind «Thêm…», and nothing is lost or shown twice."""
    ward = GroupLink(
        channel="telegram", chat_id="-1", ward_code="06187", province_code="20", linked_by="x"
    )
    prov = GroupLink(
        channel="telegram", chat_id="-2", ward_code=None, province_code="20", linked_by="x"
    )
    now = utcnow()
    variants = [
        {},
        {"escalated_at": now, "escalation_reason": "r"},
        {"escalated_at": now, "escalation_reason": "r", "province_owned": True},
        {"urgent": True},
        {"category": "odour", "nature": "now"},
    ]
    seen_more = 0
    for status in CaseStatus:
        for fields in variants:
            for link in (ward, prov):
                case = _case(status=status.value, **fields)
                rows = case_chats.card_buttons_for(case, link)
                assert len(rows) <= 3 and all(1 <= len(row) <= 2 for row in rows)
                shown = [b.data for row in rows for b in row]
                assert len(shown) <= 6 and len(set(shown)) == len(shown)
                every = [b.data for b in case_chats._chat_buttons(case, link)]
                more = f"c1:more:{case.id}"
                if more not in shown:
                    assert sorted(shown) == sorted(every)
                    continue
                seen_more += 1
                behind = [b.data for row in case_chats.more_buttons_for(case, link) for b in row]
                assert behind[-1] == f"c1:back:{case.id}"
                offered = [d for d in shown if d != more] + behind[:-1]
                assert sorted(offered) == sorted(every)
                # What moves a case along stays on the card, most pressing first.
                ops = [d.split(":")[1] for d in every]
                primary = [op for op in case_chats.PRIMARY_OPS if op in ops]
                assert [d.split(":")[1] for d in shown[:-1]] == primary[:5]
                if "tkov" not in ops:  # unless the Sở has a case sent up to decide on
                    assert {"ack", "vfy", "cls", "rej"} & set(ops) <= {
                        d.split(":")[1] for d in shown
                    }
    assert seen_more  # the open cases' cards do have more than six actions


def test_parse_referral() -> None:
    assert parse_referral("Công an tỉnh: dấu hiệu tội phạm môi trường") == (
        "Công an tỉnh",
        "dấu hiệu tội phạm môi trường",
    )
    assert parse_referral("  Thanh tra   Sở :  cần kiểm tra: gấp ") == (
        "Thanh tra Sở",
        "cần kiểm tra: gấp",
    )
    for bad in (
        "Công an tỉnh",
        "C: lý do",
        "Công an tỉnh: x",
        ":lý do dài",
        "A" * 201 + ": lý do",
    ):
        assert parse_referral(bad) is None, bad
    assert parse_referral("A" * 200 + ": lý do") == ("A" * 200, "lý do")


async def test_a_reassigned_case_starts_afresh_at_the_new_ward(hotline: Hotline) -> None:
    ward, prov, _citizen, case = await setup(hotline)
    assert prov is not None
    cao_loc = await link_group(hotline, CAO_LOC, ward="06193")
    await ward.press(f"c1:take:{case.id}")
    await ward.press(f"c1:esc:{case.id}")
    await reply_to_prompt(hotline, ward, 7900, "Vượt thẩm quyền của phường.")
    await prov.press(f"c1:tkov:{case.id}")
    case = await the_case(hotline)
    assert case.assignee and case.escalated_at and case.province_owned
    # The Sở finds it belongs to Cao Lộc: nobody there has taken it, nor sent it up.
    await prov.new_messages()
    await prov.press(f"c1:rsg:{case.id}")
    await reply_to_prompt(hotline, prov, 7901, "Cao Lộc")
    await prov.press(f"c1:rsw:{case.id}:06193")  # confirmed
    case = await the_case(hotline)
    assert case.ward_code == "06193" and case.assignee is None
    assert case.escalated_at is None and case.escalation_reason is None
    assert not case.province_owned
    card = next(m for m in await cao_loc.new_messages() if m.kind == "message")
    assert "Người xử lý" not in card.payload["text"] and "Sở" not in card.payload["text"]
    assert f"c1:esc:{case.id}" in await card_actions(cao_loc, card)
