"""Officer groups: linking, the case card, acting on cases, and the reporter hearing back."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select

from bot import db, services
from bot.app import Hotline
from bot.channels.telegram.delivery import build_markup
from bot.fakes.telegram.html import _format
from bot.i18n import t
from models.enums import CaseStatus
from models.tables import Case, CaseEvent, Evidence, GroupLink, MessageRef, Outbox
from models.types import utcnow
from tests.harness import JPEG, Person, buttons, file_report


async def link_group(hotline: Hotline, chat_id: str, ward: str | None = "06187") -> Person:
    """An officer in a group linked to `ward` (None: the province group)."""
    async with db.session_scope(hotline.sessionmaker) as s:
        code = await services.create_link_code(s, "20", ward)
    officer = Person(
        hotline, f"9{abs(int(chat_id))}", chat_id=chat_id, chat_type="group", name="Cán bộ Lan"
    )
    await officer.command("link", code)
    await officer.new_messages()
    return officer


async def card_sent(hotline: Hotline, chat_id: str, case_id: int, message_id: int = 7001) -> None:
    """What the sender does after delivering a card: remember its message id."""
    async with db.session_scope(hotline.sessionmaker) as s:
        await services.remember_message(s, "telegram", chat_id, message_id, case_id, "card")


async def prompt_sent(hotline: Hotline, officer: Person, message_id: int) -> None:
    """Remember the latest tracked prompt as sent with `message_id`."""
    async with db.session_scope(hotline.sessionmaker) as s:
        row = (
            await s.exec(
                select(Outbox)
                .where(Outbox.chat_id == officer.chat_id)
                .order_by(col(Outbox.id).desc())
            )
        ).first()
        assert row is not None and row.payload["force_reply"]
        track = row.payload["track"]
        await services.remember_message(
            s,
            "telegram",
            officer.chat_id,
            message_id,
            row.case_id or 0,
            "prompt",
            {k: v for k, v in track.items() if k != "purpose"},
        )


async def the_case(hotline: Hotline) -> Case:
    async with hotline.sessionmaker() as s:
        return (await s.exec(select(Case))).one()


async def test_link_code_binds_group_and_is_single_use(hotline: Hotline) -> None:
    async with db.session_scope(hotline.sessionmaker) as s:
        code = await services.create_link_code(s, "20", "06187")
    officer = Person(hotline, "77", chat_id="-1001", chat_type="group")
    await officer.command("link", code)
    assert "Phường Kỳ Lừa" in (await officer.texts())[0]
    other = Person(hotline, "78", chat_id="-1002", chat_type="group")
    await other.command("link", code)
    assert "không đúng, đã dùng hoặc đã hết hạn" in (await other.texts())[0]
    await other.command("link", "WRONGCODE123")
    assert "không đúng" in (await other.texts())[0]
    await other.command("link")
    assert "/link" in (await other.texts())[0]


async def test_expired_link_code_is_refused(hotline: Hotline) -> None:
    async with db.session_scope(hotline.sessionmaker) as s:
        code = await services.create_link_code(
            s, "20", "06187", now=utcnow() - timedelta(hours=25)
        )
    officer = Person(hotline, "77", chat_id="-1001", chat_type="group")
    await officer.command("link", code)
    assert "hết hạn" in (await officer.texts())[0]
    async with hotline.sessionmaker() as s:
        assert (await s.exec(select(GroupLink))).all() == []


async def test_new_case_reaches_the_ward_group_as_card_album_and_pin(hotline: Hotline) -> None:
    officer = await link_group(hotline, "-1001")
    citizen = Person(hotline, "1001")
    code = await file_report(citizen, photos=3)
    card, album, pin = await officer.new_messages()
    assert card.payload["html"] and code in card.payload["text"]
    assert "Phường Kỳ Lừa" in card.payload["text"] and "ẩn danh" in card.payload["text"]
    assert buttons(card)[:2] == [f"c1:ack:{card.case_id}", f"c1:vfy:{card.case_id}"]
    assert card.payload["track"] == {"purpose": "card"}
    assert album.kind == "album" and len(album.payload["media"]) == 3
    assert pin.kind == "location" and pin.payload["latitude"] == 21.85926


async def test_card_escapes_html_in_user_text(hotline: Hotline) -> None:
    officer = await link_group(hotline, "-1001")
    citizen = Person(hotline, "1001")
    await citizen.command("report")
    await citizen.press("c1:cat:odour")
    await citizen.text("<b>so 1</b> & phuong Ky Lua")
    await citizen.press("c1:ward:06187")
    await citizen.press("c1:ev:done")
    await citizen.text("<script>alert(1)</script> mùi hôi & khói")
    await citizen.press("c1:nat:now")
    await citizen.text("Công ty <X> & Y")
    await citizen.text("🙈 Ẩn danh")
    await citizen.press("c1:sum:ok")
    (card,) = await officer.new_messages()
    text = card.payload["text"]
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "&lt;b&gt;so 1&lt;/b&gt; &amp; phuong" in text
    assert "Công ty &lt;X&gt; &amp; Y" in text


async def test_phone_shown_to_ward_only_when_shared(hotline: Hotline) -> None:
    officer = await link_group(hotline, "-1001")
    await file_report(Person(hotline, "1001"), photos=0, anonymous=False)
    await file_report(Person(hotline, "1002"), photos=0, anonymous=True)
    shared, anonymous = [m for m in await officer.new_messages() if m.kind == "message"]
    assert "+84912345678" in shared.payload["text"]
    assert "+84" not in anonymous.payload["text"] and "ẩn danh" in anonymous.payload["text"]


async def test_case_without_ward_group_goes_to_province_group(hotline: Hotline) -> None:
    province = await link_group(hotline, "-2000", ward=None)
    await file_report(Person(hotline, "1001"), photos=0)
    card, _pin = await province.new_messages()
    assert "chưa liên kết nhóm cán bộ" in card.payload["text"]
    # Why the Sở holds it stays on the card as it changes, until the ward has a group.
    case = await the_case(hotline)
    await card_sent(hotline, "-2000", case.id or 0)
    await province.press(f"c1:ack:{case.id}")
    (edit,) = [m for m in await province.new_messages() if m.kind == "edit"]
    assert "chưa liên kết nhóm cán bộ" in edit.payload["text"]
    ward = await link_group(hotline, "-1001")
    await ward.command("case", case.code)
    await province.press(f"c1:vfy:{case.id}")
    (edit,) = [m for m in await province.new_messages() if m.kind == "edit"]
    assert "chưa liên kết nhóm cán bộ" not in edit.payload["text"]


async def test_acknowledge_then_close_with_result_notifies_reporter(hotline: Hotline) -> None:
    officer = await link_group(hotline, "-1001")
    citizen = Person(hotline, "1001", language_code="en")
    code = await file_report(citizen, photos=0)
    case = await the_case(hotline)
    await card_sent(hotline, "-1001", case.id or 0)
    await officer.new_messages()

    reply = await officer.press(f"c1:ack:{case.id}")
    assert reply is not None and "Đã tiếp nhận" in (reply.callback_text or "")
    edit, *_ = await officer.new_messages()
    assert edit.kind == "edit" and "Cán bộ Lan" in edit.payload["text"]
    assert f"c1:ack:{case.id}" not in buttons(edit)
    (ack_row,) = await citizen.new_messages()
    ack_note = ack_row.payload["text"]
    assert code in ack_note and "taken by an officer" in ack_note

    await officer.press(f"c1:cls:{case.id}")
    (prompt,) = await officer.new_messages()
    assert prompt.payload["force_reply"] and code in prompt.payload["text"]
    # Only the officer who pressed gets the reply box: the prompt mentions them, selectively.
    assert prompt.payload["selective"] and prompt.payload["html"]
    assert f'<a href="tg://user?id={officer.user_id}">Cán bộ Lan</a>' in prompt.payload["text"]
    assert build_markup(prompt.payload) == {"force_reply": True, "selective": True}
    await prompt_sent(hotline, officer, 7002)
    await officer.photos(
        JPEG, caption="Đã yêu cầu cơ sở dừng đốt, phạt 5 triệu đồng.", reply_to_message_id=7002
    )
    await officer.press(f"c1:rok:{case.id}")  # «Gửi» on the preview
    case = await the_case(hotline)
    assert case.status == CaseStatus.RESOLVED
    assert case.result_text == "Đã yêu cầu cơ sở dừng đốt, phạt 5 triệu đồng."
    messages = await citizen.new_messages()
    # The result joined the acknowledgement, which was still held for what followed
    # (bot/services/notices.py): one message, then the officer's photo.
    (joined,) = [r for r in await citizen.new_messages(citizen.chat_id) if r.id == ack_row.id]
    assert joined.payload["text"].startswith(ack_note)
    assert "phạt 5 triệu" in joined.payload["text"] and "dealt with" in joined.payload["text"]
    assert messages[0].kind == "album" and len(messages[0].payload["media"]) == 1
    async with hotline.sessionmaker() as s:
        events = (await s.exec(select(CaseEvent).order_by(col(CaseEvent.id)))).all()
        officer_files = (await s.exec(select(Evidence).where(col(Evidence.from_officer)))).all()
    assert [(e.action, e.from_status, e.to_status) for e in events] == [
        ("file", None, "new"),
        ("acknowledge", "new", "acknowledged"),
        ("resolve", "acknowledged", "resolved"),
    ]
    assert events[1].actor.endswith("Cán bộ Lan") and len(officer_files) == 1
    # Closed: buttons are gone and further presses change nothing.
    reply = await officer.press(f"c1:ack:{case.id}")
    assert reply is not None and reply.callback_alert
    assert (await the_case(hotline)).status == CaseStatus.RESOLVED


async def test_reject_with_reason_and_note(hotline: Hotline) -> None:
    officer = await link_group(hotline, "-1001")
    citizen = Person(hotline, "1001")
    await file_report(citizen, photos=0)
    case = await the_case(hotline)
    await card_sent(hotline, "-1001", case.id or 0)
    await officer.new_messages()
    await officer.press(f"c1:rej:{case.id}")
    (edit,) = await officer.new_messages()
    assert f"c1:rjr:{case.id}:duplicate" in buttons(edit)
    await officer.press(f"c1:rjr:{case.id}:duplicate")
    await prompt_sent(hotline, officer, 7003)
    await officer.text("Trùng với phản ánh PA20-000000 đã xử lý.", reply_to_message_id=7003)
    await officer.press(f"c1:rok:{case.id}")  # «Gửi» on the preview
    case = await the_case(hotline)
    assert case.status == CaseStatus.REJECTED and case.reject_reason == "duplicate"
    notes = await citizen.texts()
    assert any("Trùng với phản ánh khác" in n and "PA20-000000" in n for n in notes)


class _Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


async def test_too_short_result_asks_again(hotline: Hotline) -> None:
    officer = await link_group(hotline, "-1001")
    await file_report(Person(hotline, "1001"), photos=0)
    case = await the_case(hotline)
    await officer.press(f"c1:cls:{case.id}")
    await prompt_sent(hotline, officer, 7004)
    await officer.new_messages()
    for short in ("x", "xong", "ok", "đã xong rồi"):  # not a result a citizen can read
        await officer.text(short, reply_to_message_id=7004)
        texts = await officer.texts()
        assert "ít nhất 4 từ" in texts[0] and case.code in texts[1], short
    assert (await the_case(hotline)).status == CaseStatus.NEW


async def test_a_result_is_confirmed_before_it_goes_and_can_be_corrected_briefly(
    hotline: Hotline,
) -> None:
    """The officer sees exactly what the reporter will read (and that it will be public),
    sends it with «Gửi» or rewrites it with «Sửa»; «Sửa kết quả» works for a few minutes."""
    clock = _Clock(utcnow())
    hotline.deps.limits.now = clock
    hotline.deps.case_url = lambda code: f"https://hotline.example.vn/results/{code}"
    officer = await link_group(hotline, "-1001")
    citizen = Person(hotline, "1001")
    await file_report(citizen, photos=0)
    case = await the_case(hotline)
    await citizen.new_messages()
    await officer.press(f"c1:cls:{case.id}")
    await prompt_sent(hotline, officer, 7010)
    await officer.new_messages()
    await officer.text("Đã nhắc nhở cơ sở", reply_to_message_id=7010)
    (preview,) = await officer.new_messages()
    reporter_reads = t("vi", "notify.resolved", code=case.code, result="Đã nhắc nhở cơ sở")
    assert reporter_reads in preview.payload["text"]
    assert t("vi", "publication.notice") in preview.payload["text"]
    assert buttons(preview) == [f"c1:rok:{case.id}", f"c1:redit:{case.id}"]
    assert (await the_case(hotline)).status == CaseStatus.NEW
    assert await citizen.new_messages() == []  # nothing goes before «Gửi»

    await officer.press(f"c1:redit:{case.id}", message_id=8001)  # «Sửa»: the prompt again
    # The spent preview (that message, and only it) loses its buttons and says so.
    dropped = next(r for r in await officer.new_messages() if r.kind == "edit")
    assert dropped.payload["edit_purpose"] == "pvx:8001" and buttons(dropped) == []
    assert "Bản xem trước này không được gửi" in dropped.payload["text"]
    assert "Đã nhắc nhở cơ sở" in dropped.payload["text"]
    await prompt_sent(hotline, officer, 7011)
    await officer.new_messages()
    result = "Đã kiểm tra hiện trường, yêu cầu cơ sở dừng đốt rác, phạt 5 triệu đồng."
    await officer.text(result, reply_to_message_id=7011)
    (preview,) = await officer.new_messages()
    assert result in preview.payload["text"]
    reply = await officer.press(f"c1:rok:{case.id}", message_id=8002)
    assert reply is not None and reply.callback_text == t("vi", "officer.result_sent")
    async with hotline.sessionmaker() as session:
        (ref,) = await services.messages_of_case(session, case.id or 0, "-1001", "pvx:8002")
    assert ref.message_id == 8002
    case = await the_case(hotline)
    assert case.status == CaseStatus.RESOLVED and case.result_text == result
    told = (await citizen.texts())[0]
    assert result in told and "Đã nhắc nhở" not in told
    assert f"https://hotline.example.vn/results/{case.code}" in told  # its public page
    rows = await officer.new_messages()
    sent = next(r for r in rows if r.payload.get("edit_purpose") == "pvx:8002")
    assert buttons(sent) == [] and sent.payload["text"].startswith("✅ Đã gửi lúc")
    assert result in sent.payload["text"]
    closed_ok = next(r for r in rows if "Đã đóng" in r.payload["text"])
    assert buttons(closed_ok) == [f"c1:rfix:{case.id}"]

    clock.at += timedelta(minutes=5)  # within the correction window
    await officer.press(f"c1:rfix:{case.id}")
    await prompt_sent(hotline, officer, 7012)
    await officer.new_messages()
    fixed = "Đã kiểm tra hiện trường, yêu cầu cơ sở dừng đốt rác, phạt 3 triệu đồng."
    await officer.text(fixed, reply_to_message_id=7012)
    case = await the_case(hotline)
    assert case.result_text == fixed and case.status == CaseStatus.RESOLVED
    (correction,) = await citizen.texts()
    assert fixed in correction and "Đính chính" in correction and case.code in correction
    clock.at += timedelta(minutes=6)  # past it
    reply = await officer.press(f"c1:rfix:{case.id}")
    assert reply is not None and reply.callback_alert
    assert reply.callback_text == t("vi", "officer.correction_expired", minutes=10)


async def test_reassign_to_another_ward(hotline: Hotline) -> None:
    officer = await link_group(hotline, "-1001")
    other = await link_group(hotline, "-1003", ward="06193")  # Xã Cao Lộc
    citizen = Person(hotline, "1001")
    await file_report(citizen, photos=0)
    case = await the_case(hotline)
    await card_sent(hotline, "-1001", case.id or 0)
    await officer.new_messages()
    await officer.press(f"c1:rsg:{case.id}")
    await prompt_sent(hotline, officer, 7005)
    await officer.text("xa cao loc", reply_to_message_id=7005)
    # Nothing moves before a press: the one ward meant is offered, with "do not pass".
    confirm = (await officer.new_messages())[-1]
    assert buttons(confirm) == [f"c1:rsw:{case.id}:06193", f"c1:back:{case.id}"]
    assert "Xã Cao Lộc" in str(confirm.payload["buttons"])
    assert (await the_case(hotline)).ward_code == "06187"
    await officer.press(f"c1:rsw:{case.id}:06193")
    case = await the_case(hotline)
    assert case.ward_code == "06193" and case.status == CaseStatus.NEW
    old_card = [m for m in await officer.new_messages() if m.kind == "edit"][0]
    assert "Đã chuyển cho Xã Cao Lộc" in old_card.payload["text"] and buttons(old_card) == []
    new_card, _pin = await other.new_messages()
    assert (
        case.code in new_card.payload["text"]
        and "Được chuyển từ Phường Kỳ Lừa" in new_card.payload["text"]
    )
    assert any("Xã Cao Lộc" in t for t in await citizen.texts())
    # Where it came from is a fact of the case: every redraw of its card keeps it.
    await other.press(f"c1:more:{case.id}")
    (redrawn,) = [m for m in await other.new_messages() if m.kind == "edit"]
    assert "Được chuyển từ Phường Kỳ Lừa" in redrawn.payload["text"]
    # The former ward may no longer act on it.
    reply = await officer.press(f"c1:ack:{case.id}")
    assert reply is not None and reply.callback_alert
    assert (await the_case(hotline)).status == CaseStatus.NEW
    # ... but it may undo its own reassignment while the new ward has not acted; others may
    # not undo it for it.
    reply = await other.press(f"c1:rund:{case.id}:06187")
    assert reply is not None and reply.callback_alert
    assert (await the_case(hotline)).ward_code == "06193"
    await officer.new_messages()
    await officer.press(f"c1:rund:{case.id}:06187")
    case = await the_case(hotline)
    assert case.ward_code == "06187" and case.status == CaseStatus.NEW
    assert any(
        m.kind == "message" and case.code in m.payload["text"]
        for m in await officer.new_messages()
    )
    reply = await officer.press(f"c1:rund:{case.id}:06187")  # nothing left to undo
    assert reply is not None and reply.callback_text == t("vi", "officer.undo_too_late")


async def test_a_late_undo_of_a_reassignment_is_refused(hotline: Hotline) -> None:
    clock = _Clock(utcnow())
    hotline.deps.limits.now = clock
    officer = await link_group(hotline, "-1001")
    other = await link_group(hotline, "-1003", ward="06193")
    await file_report(Person(hotline, "1001"), photos=0)
    case = await the_case(hotline)
    await officer.press(f"c1:rsg:{case.id}")
    await prompt_sent(hotline, officer, 7006)
    await officer.text("Cao Lộc", reply_to_message_id=7006)
    await officer.press(f"c1:rsw:{case.id}:06193")
    clock.at += timedelta(minutes=3)
    await other.press(f"c1:ack:{case.id}")  # the new ward acted: it is theirs now
    reply = await officer.press(f"c1:rund:{case.id}:06187")
    assert reply is not None and reply.callback_text == t("vi", "officer.undo_too_late")
    assert (await the_case(hotline)).ward_code == "06193"


async def test_foreign_group_is_refused_and_changes_nothing(hotline: Hotline) -> None:
    await link_group(hotline, "-1001")
    foreign = await link_group(hotline, "-1009", ward="06193")
    stranger = Person(hotline, "66", chat_id="-5555", chat_type="group")
    await file_report(Person(hotline, "1001"), photos=0)
    case = await the_case(hotline)
    for group in (foreign, stranger):
        reply = await group.press(f"c1:ack:{case.id}")
        assert reply is not None and reply.callback_alert
        assert reply.callback_text == "Nhóm này không có quyền xử lý phản ánh này."
    # Forged and tampered data: unknown case, bad format, another verb.
    for data in (f"c1:ack:{(case.id or 0) + 99}", "c1:ack:abc", "c0:ack:1", f"c1:zap:{case.id}"):
        reply = await foreign.press(data)
        assert reply is not None and reply.callback_alert
    assert (await the_case(hotline)).status == CaseStatus.NEW
    assert await stranger.new_messages() == []


async def test_province_group_may_act_on_any_case(hotline: Hotline) -> None:
    await link_group(hotline, "-1001")
    province = await link_group(hotline, "-2000", ward=None)
    await file_report(Person(hotline, "1001"), photos=0)
    case = await the_case(hotline)
    await province.press(f"c1:vfy:{case.id}")
    assert (await the_case(hotline)).status == CaseStatus.VERIFYING


async def test_unlinked_group_messages_are_ignored(hotline: Hotline) -> None:
    stranger = Person(hotline, "66", chat_id="-5555", chat_type="group")
    await stranger.command("help")
    await stranger.text("hello bot")
    assert await stranger.new_messages() == []


async def test_bot_removed_from_group_stops_its_link(hotline: Hotline) -> None:
    officer = await link_group(hotline, "-1001")
    await officer.send("bot_removed")
    await file_report(Person(hotline, "1001"), photos=0)
    assert await officer.new_messages() == []
    async with hotline.sessionmaker() as s:
        link = (await s.exec(select(GroupLink))).one()
        refs = (await s.exec(select(MessageRef))).all()
    assert not link.active and refs == []


async def test_reassigned_case_is_nobodys_until_the_new_ward_takes_it(hotline: Hotline) -> None:
    officer = await link_group(hotline, "-1001")
    await link_group(hotline, "-1003", ward="06193")
    await file_report(Person(hotline, "1001"), photos=0)
    case = await the_case(hotline)
    await officer.press(f"c1:ack:{case.id}")
    assert (await the_case(hotline)).handled_by
    await officer.press(f"c1:rsg:{case.id}")
    await prompt_sent(hotline, officer, 7010)
    await officer.text("Cao Lộc", reply_to_message_id=7010)
    await officer.press(f"c1:rsw:{case.id}:06193")  # confirmed
    case = await the_case(hotline)
    assert case.ward_code == "06193" and case.handled_by is None and case.acknowledged_at is None


def test_every_callback_payload_fits_telegrams_64_bytes() -> None:
    from handlers import cards
    from models.enums import CaseStatus as S

    huge = Case(
        id=999_999_999_999,
        code="PA20-999999",
        province_code="20",
        seq=999_999,
        ward_code="06187",
        category="other",
        status=S.NEW.value,
        location_source="gps",
        nature="now",
        description="x",
        description_language="vi",
        reporter_id=1,
        channel="telegram",
        verify_due_at=utcnow(),
    )
    datas = [b.data for row in cards.card_buttons(huge) for b in row]
    datas += [b.data for row in cards.reject_reason_buttons(huge) for b in row]
    datas.append(f"c1:rsw:{huge.id}:06187")
    assert all(len(d.encode()) <= 64 for d in datas), max(datas, key=len)
    from handlers.officer import CALLBACK_RE

    assert all(CALLBACK_RE.match(d) for d in datas)


async def test_a_reply_faster_than_the_prompts_record_still_counts(hotline: Hotline) -> None:
    """The officer answers before the sender recorded the prompt's id: found by its text."""
    officer = await link_group(hotline, "-1001")
    await file_report(Person(hotline, "1001"), photos=0)
    case = await the_case(hotline)
    await officer.press(f"c1:rjr:{case.id}:not_pollution")
    (prompt,) = [r for r in await officer.new_messages() if r.payload["force_reply"]]
    text = "Không phải ô nhiễm môi trường, đã hướng dẫn liên hệ tổ dân phố."
    # Not a prompt of ours (another bot message, or unknown text): an ordinary reply.
    await officer.text(text, reply_to_message_id=8000, reply_to_bot=True, reply_to_text="Hi")
    assert (await the_case(hotline)).status == CaseStatus.NEW
    await officer.text(
        text,
        reply_to_message_id=8001,
        reply_to_bot=True,
        # What the client shows: the text without its mention markup; Telegram trims.
        reply_to_text=_format(prompt.payload["text"], "HTML", None)[0] + "\n",
    )
    await officer.press(f"c1:rok:{case.id}")  # «Gửi» on the preview
    case = await the_case(hotline)
    assert case.status == CaseStatus.REJECTED and case.reject_reason == "not_pollution"


async def test_acting_before_the_card_is_recorded_still_updates_it(hotline: Hotline) -> None:
    """The card is queued (or sent, its id not recorded yet) when an officer presses."""
    officer = await link_group(hotline, "-1001")
    await file_report(Person(hotline, "1001"), photos=0)
    case = await the_case(hotline)
    await officer.press(f"c1:ack:{case.id}")  # no card_sent(): nothing recorded yet
    edits = [r for r in await officer.new_messages() if r.kind == "edit"]
    assert [e.chat_id for e in edits] == ["-1001"]
    assert "Đã tiếp nhận" in edits[0].payload["text"]
