"""The citizen's conversation, step by step, over the real core and a real SQLite database."""

from __future__ import annotations

import os
import re

import pytest
from sqlmodel import select

from bot.app import Hotline
from models.enums import CaseStatus
from models.tables import Case, CaseEvent, Evidence, Reporter
from tests.harness import JPEG, KY_LUA, Person, advance_to, buttons, file_report


async def test_whole_report_by_gps_files_one_case(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    code = await file_report(citizen, photos=2)
    assert re.fullmatch(r"PA20-\d{6}", code)
    async with hotline.sessionmaker() as s:
        case = (await s.exec(select(Case))).one()
        evidence = (await s.exec(select(Evidence))).all()
        events = (await s.exec(select(CaseEvent))).all()
    assert case.code == code == "PA20-000001"
    assert case.ward_code == "06187"
    assert case.status == CaseStatus.NEW
    assert case.category == "emissions" and case.nature == "recurring"
    assert (case.latitude, case.longitude) == KY_LUA
    assert case.description_language == "vi"
    assert not case.contact_shared and case.contact_phone is None
    assert (case.verify_due_at - case.filed_at).total_seconds() == 24 * 3600
    assert len(evidence) == 2 and all(len(e.sha256) == 64 for e in evidence)
    assert [(e.action, e.to_status) for e in events] == [("file", "new")]
    assert await citizen.state() is None


async def test_filed_message_gives_code_ward_and_deadline(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await file_report(citizen)
    await citizen.command("mycases")
    (listing,) = await citizen.texts()
    assert "PA20-000001" in listing and "Phường Kỳ Lừa" in listing and "Mới" in listing


async def test_confirmation_text(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await citizen.command("report")
    for action, arg in [
        ("press", "c1:cat:noise"),
        ("location", KY_LUA),
        ("press", "c1:ward:06187"),
        ("press", "c1:ev:done"),
        ("text", "Karaoke hát to đến 2 giờ sáng mỗi đêm."),
        ("press", "c1:nat:now"),
        ("text", "Quán karaoke ABC"),
        ("text", "🙈 Ẩn danh"),
    ]:
        if action == "location":
            await citizen.location(*arg)  # type: ignore[misc]
        else:
            await getattr(citizen, action)(arg)
    await citizen.new_messages()
    await citizen.press("c1:sum:ok")
    texts = await citizen.texts()
    filed = texts[-1]
    assert "PA20-000001" in filed and "Phường Kỳ Lừa" in filed and "24" in filed
    assert re.search(r"\d\d:\d\d \d\d/\d\d/\d{4}", filed)


async def test_old_style_unaccented_address_is_converted_and_confirmed(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await citizen.command("report")
    await citizen.press("c1:cat:wastewater")
    await citizen.new_messages()
    await citizen.text("so 12 duong Tran Dang Ninh, phuong Hoang Van Thu, thanh pho Lang Son")
    ask = await citizen.last()
    # Never routed silently: the reporter is asked, with Kỳ Lừa (the ward it became) first.
    assert buttons(ask)[0] == "c1:ward:06187"
    assert await citizen.state() == "ward"
    await citizen.press("c1:ward:06187")
    draft = await citizen.draft()
    assert draft["ward_code"] == "06187" and draft["location_source"] == "address"
    assert await citizen.state() == "evidence"


async def test_reporter_can_type_another_ward(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await advance_to(citizen, "ward")
    await citizen.press("c1:wother")
    await citizen.new_messages()
    await citizen.text("xa Cao Loc")
    ask = await citizen.last()
    assert buttons(ask)[0] == "c1:ward:06193"
    await citizen.press("c1:ward:06193")
    assert (await citizen.draft())["ward_code"] == "06193"


async def test_unknown_ward_name_gets_a_clear_answer(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await advance_to(citizen, "ward")
    await citizen.new_messages()
    await citizen.text("Phuong Khong Ton Tai Xyz")
    (answer,) = await citizen.texts()
    assert "Không tìm thấy" in answer
    assert await citizen.state() == "ward"


async def test_point_outside_the_province_is_explained(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await citizen.command("report")
    await citizen.press("c1:cat:odour")
    await citizen.new_messages()
    await citizen.location(21.0285, 105.8542)  # Hà Nội
    texts = await citizen.texts()
    assert "Hà Nội" in texts[0] and "Lạng Sơn" in texts[0]
    assert await citizen.state() == "location"


async def test_address_in_another_province_is_explained(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await citizen.command("report")
    await citizen.press("c1:cat:odour")
    await citizen.new_messages()
    await citizen.text("phuong An Bien, Hai Phong")
    texts = await citizen.texts()
    assert "Hải Phòng" in texts[0]
    assert await citizen.state() == "location"


async def test_forged_ward_button_is_refused(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await advance_to(citizen, "ward")
    reply = await citizen.press("c1:ward:11407")  # a Hải Phòng ward never suggested
    assert reply is not None and reply.callback_text
    assert await citizen.state() == "ward"
    assert "ward_code" not in await citizen.draft()


async def test_sticker_where_a_photo_is_due(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await advance_to(citizen, "evidence")
    await citizen.new_messages()
    await citizen.sticker()
    texts = await citizen.texts()
    assert "nhãn dán" in texts[0]
    assert await citizen.state() == "evidence"


async def test_at_most_five_photos_are_kept(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await advance_to(citizen, "evidence")
    await citizen.photos(JPEG, JPEG, JPEG)
    await citizen.new_messages()
    await citizen.photos(JPEG, JPEG, JPEG)
    texts = await citizen.texts()
    assert any("tối đa 5 ảnh" in t for t in texts)
    draft = await citizen.draft()
    assert len(draft["evidence"]) == 5


async def test_file_over_20_mb_gets_a_clear_message(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await advance_to(citizen, "evidence")
    await citizen.new_messages()
    await citizen.file("video", b"x", size=25 * 1024 * 1024)
    texts = await citizen.texts()
    assert "20 MB" in texts[0]
    assert (await citizen.draft()).get("evidence") == []


async def test_media_files_are_private_and_randomly_named(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await file_report(citizen, photos=1, anonymous=False)
    media_dir = hotline.settings.media_dir
    assert oct(os.stat(media_dir).st_mode & 0o777) == "0o700"
    (stored,) = [p for p in media_dir.iterdir() if p.is_file()]
    assert re.fullmatch(r"[0-9a-f]{32}\.jpg", stored.name)
    assert "912345678" not in stored.name
    assert stored.read_bytes() == JPEG


async def test_video_voice_and_document_are_kept(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await advance_to(citizen, "evidence")
    await citizen.file("video", b"video-bytes")
    await citizen.file("voice", b"voice-bytes")
    await citizen.file("document", b"%PDF-1.4")
    kinds = [e["kind"] for e in (await citizen.draft())["evidence"]]
    assert kinds == ["video", "voice", "document"]


async def test_description_length_limits(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await advance_to(citizen, "description")
    await citizen.new_messages()
    await citizen.text("hôi")
    assert "ít nhất 10" in (await citizen.texts())[0]
    await citizen.text("x" * 10_000)
    assert "3000" in (await citizen.texts())[0]
    assert await citizen.state() == "description"
    await citizen.text("Mùi hôi thối từ bãi rác bốc lên nồng nặc.")
    assert await citizen.state() == "nature"


async def test_nature_requires_a_button(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await advance_to(citizen, "nature")
    await citizen.new_messages()
    await citizen.text("hôm qua")
    texts = await citizen.texts()
    assert "chọn" in texts[0]
    assert await citizen.state() == "nature"


async def test_shared_phone_is_recorded_only_when_own(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await advance_to(citizen, "contact")
    await citizen.new_messages()
    await citizen.contact("+84900000000", own=False)
    assert "chính bạn" in (await citizen.texts())[0]
    assert await citizen.state() == "contact"
    await citizen.contact("+84912345678")
    assert await citizen.state() == "summary"
    await citizen.press("c1:sum:ok")
    async with hotline.sessionmaker() as s:
        case = (await s.exec(select(Case))).one()
        reporter = (await s.exec(select(Reporter))).one()
    assert case.contact_shared and case.contact_phone == "+84912345678"
    assert reporter.phone == "+84912345678"


async def test_change_a_field_from_the_summary_returns_to_it(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await advance_to(citizen, "summary")
    assert await citizen.state() == "summary"
    await citizen.press("c1:edit:category")
    await citizen.press("c1:cat:noise")
    assert await citizen.state() == "summary"
    await citizen.press("c1:edit:description")
    await citizen.text("Tiếng ồn máy nghiền đá suốt đêm không ngủ được.")
    assert await citizen.state() == "summary"
    # Changing the location asks for the ward again before returning to the summary.
    await citizen.press("c1:edit:location")
    await citizen.text("xa Cao Loc")
    assert await citizen.state() == "ward"
    await citizen.press("c1:ward:06193")
    assert await citizen.state() == "summary"
    summary = (await citizen.new_messages())[-1].payload["text"]
    assert "Tiếng ồn" in summary and "Xã Cao Lộc" in summary and "máy nghiền" in summary


async def test_cancel_discards_the_draft_and_its_files(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await advance_to(citizen, "evidence")
    await citizen.photos(JPEG)
    media = hotline.settings.media_dir
    assert len([p for p in media.rglob("*") if p.is_file()]) == 1
    await citizen.command("cancel")
    assert await citizen.state() is None
    assert [p for p in media.rglob("*") if p.is_file()] == []
    await citizen.command("cancel")
    assert "không có" in (await citizen.texts())[-1]


async def test_cancel_from_summary_files_nothing(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await advance_to(citizen, "summary")
    await citizen.press("c1:sum:cancel")
    async with hotline.sessionmaker() as s:
        assert (await s.exec(select(Case))).all() == []
    assert await citizen.state() is None


async def test_restart_keeps_the_conversation(hotline: Hotline, sqlite_url: str) -> None:
    citizen = Person(hotline, "1001")
    await advance_to(citizen, "ward")
    await hotline.close()
    # A new process over the same database: the draft is still there.
    from tests.conftest import make_settings

    again = Hotline(make_settings(sqlite_url, hotline.settings.media_dir))
    try:
        citizen2 = Person(again, "1001")
        assert await citizen2.state() == "ward"
        await citizen2.command("report")
        ask = await citizen2.last()
        assert buttons(ask) == ["c1:resume:go", "c1:resume:new"]
        await citizen2.press("c1:resume:go")
        await citizen2.press("c1:ward:06187")
        assert (await citizen2.draft())["category"] == "odour"
    finally:
        await again.close()


async def test_confirm_pressed_twice_files_once(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await file_report(citizen)
    reply = await citizen.press("c1:sum:ok")
    assert reply is not None and reply.callback_text
    async with hotline.sessionmaker() as s:
        assert len((await s.exec(select(Case))).all()) == 1


async def test_same_update_delivered_twice_has_effect_once(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await citizen.command("report")
    await citizen.send("button", button_data="c1:cat:odour", update_id=999_001)
    assert await citizen.state() == "location"
    again = await citizen.send("button", button_data="c1:cat:noise", update_id=999_001)
    assert again is None
    assert (await citizen.draft())["category"] == "odour"


async def test_stale_button_is_answered(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    reply = await citizen.press("c1:cat:odour")
    assert reply is not None and reply.callback_text == "Nút này không còn dùng được nữa."


async def test_language_choice_and_client_language(hotline: Hotline) -> None:
    english = Person(hotline, "2002", language_code="en-GB")
    await english.command("help")
    assert "hotline" in (await english.texts())[0]
    await english.command("lang")
    await english.press("c1:lang:vi")
    await english.command("help")
    assert "Đường dây nóng" in (await english.texts())[-1]


async def test_language_detected_from_first_free_text(hotline: Hotline) -> None:
    unknown = Person(hotline, "3003", language_code=None)
    await unknown.text("There is black smoke from the factory every night")
    assert "To report pollution" in (await unknown.texts())[0]
    unaccented = Person(hotline, "3004", language_code=None)
    await unaccented.text("khoi den bay mu mit tu nha may")
    assert "Để gửi phản ánh" in (await unaccented.texts())[0]


async def test_unknown_command_and_idle_text(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await citizen.command("frobnicate")
    await citizen.text("xin chào")
    texts = await citizen.texts()
    assert "không hiểu" in texts[0] and "/report" in texts[1]


async def test_every_step_answers_unexpected_input_and_stays(hotline: Hotline) -> None:
    """A sticker, a stray button and an empty text at each step: a reply, no state change."""
    hotline.deps.user_messages_per_minute = 100  # 33 events in seconds: not what this tests
    citizen = Person(hotline, "1001")
    await citizen.command("report")
    steps = [
        ("category", [("press", "c1:cat:odour")]),
        ("location", [("location", KY_LUA)]),
        ("ward", [("press", "c1:ward:06187")]),
        ("evidence", [("press", "c1:ev:done")]),
        ("description", [("text", "Mùi hôi thối từ bãi rác bốc lên nồng nặc.")]),
        ("nature", [("press", "c1:nat:now")]),
        ("source", [("press", "c1:src:skip")]),
        ("contact", [("text", "🙈 Ẩn danh")]),
    ]
    for state, advance in steps:
        assert await citizen.state() == state
        await citizen.new_messages()
        await citizen.sticker()
        await citizen.press("c1:bogus:1")
        await citizen.send("text", text="   ")
        assert await citizen.state() == state, state
        assert len(await citizen.new_messages()) >= 3, state
        for action, arg in advance:
            if action == "location":
                await citizen.location(*arg)  # type: ignore[misc]
            else:
                await getattr(citizen, action)(arg)
    assert await citizen.state() == "summary"


async def test_a_failure_mid_conversation_loses_nothing_and_apologises(
    hotline: Hotline, monkeypatch: pytest.MonkeyPatch
) -> None:
    citizen = Person(hotline, "1001")
    await advance_to(citizen, "description")
    await citizen.new_messages()

    def broken(text: str) -> str:
        raise RuntimeError("detector exploded")

    monkeypatch.setattr("handlers.intake.detect_language", broken)
    await citizen.text("Mùi hôi thối từ bãi rác bốc lên nồng nặc.")
    (apology,) = await citizen.texts()
    assert "Xin lỗi" in apology
    assert await citizen.state() == "description"  # rolled back, nothing half-written
    monkeypatch.undo()
    await citizen.text("Mùi hôi thối từ bãi rác bốc lên nồng nặc.")
    assert await citizen.state() == "nature"


async def test_other_files_are_capped_with_their_own_message(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await advance_to(citizen, "evidence")
    for _ in range(6):
        await citizen.file("document", b"%PDF-1.4")
    texts = await citizen.texts()
    assert any("tối đa 5 tệp" in t for t in texts)
    assert len((await citizen.draft())["evidence"]) == 5


async def test_reporter_phone_never_reaches_the_logs(
    hotline: Hotline, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from bot.logs import quiet_user_data_loggers
    from tests.test_officer import link_group

    caplog.set_level(logging.DEBUG)
    quiet_user_data_loggers()  # what `hotline run` does, whatever HOTLINE_LOG_LEVEL says
    await link_group(hotline, "-1001")
    citizen = Person(hotline, "1001", name="Trần Thị Bí Mật")
    await file_report(citizen, photos=1, anonymous=False)
    from tests.test_outbox import ScriptedTransport

    hotline.add_transport(ScriptedTransport())
    while await hotline.sender.deliver_due():
        pass
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "912345678" not in logged and "Bí Mật" not in logged


async def test_typed_coordinates_count_as_a_pin(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await advance_to(citizen, "location")
    await citizen.text("21.85926, 106.75417")
    draft = await citizen.draft()
    assert draft["location_source"] == "gps" and draft["latitude"] == 21.85926
    assert draft["suggestions"][0] == "06187"


async def test_a_slow_download_does_not_hold_up_other_chats(hotline: Hotline) -> None:
    """Files are fetched before the transaction opens, so no database lock waits on them."""
    import asyncio

    from handlers.events import FileRef
    from tests.harness import FakeFetcher

    gate = asyncio.Event()

    class SlowFetcher(FakeFetcher):
        async def fetch(self, ref: FileRef, destination: str) -> None:
            await gate.wait()
            await super().fetch(ref, destination)

    slow = Person(hotline, "1001", fetcher=SlowFetcher())
    fast = Person(hotline, "1002")
    await advance_to(slow, "evidence")
    upload = asyncio.create_task(slow.photos(JPEG))
    await asyncio.sleep(0.2)
    await asyncio.wait_for(fast.command("help"), timeout=5)
    assert "/report" in (await fast.texts())[0]
    gate.set()
    await upload
    assert len((await slow.draft())["evidence"]) == 1
    leftovers = list((hotline.settings.media_dir / ".incoming").iterdir())
    assert leftovers == []


async def test_a_photo_at_the_wrong_step_leaves_no_file_behind(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await advance_to(citizen, "description")
    await citizen.photos(JPEG)
    media = hotline.settings.media_dir
    assert [p for p in media.rglob("*") if p.is_file()] == []


async def test_an_idle_wish_to_report_gets_a_button_to_start(hotline: Hotline) -> None:
    citizen = Person(hotline, "5001")
    await citizen.text("toi muon bao o nhiem")
    (hint,) = await citizen.new_messages()
    assert buttons(hint) == ["c1:start:go"] and "/lang" in hint.payload["text"]
    await citizen.press("c1:start:go")
    assert await citizen.state() == "category"
    assert "Bước 1/7" in (await citizen.texts())[0]


async def test_a_typed_category_may_be_partial_and_unaccented(hotline: Hotline) -> None:
    citizen = Person(hotline, "5002")
    await citizen.command("report")
    await citizen.text("khoi bui")
    assert (await citizen.draft())["category"] == "emissions"
    assert await citizen.state() == "location"


async def test_an_ambiguous_typed_category_is_asked_again(hotline: Hotline) -> None:
    citizen = Person(hotline, "5003")
    await citizen.command("report")
    await citizen.text("thai")  # Nước thải, khí thải, chất thải
    assert await citizen.state() == "category"


@pytest.mark.parametrize("typed", ["quay lai", "Quay lại", "back", "⬅️ Quay lại"])
async def test_typing_back_goes_to_the_step_before(hotline: Hotline, typed: str) -> None:
    citizen = Person(hotline, "5004")
    await advance_to(citizen, "ward")
    await citizen.new_messages()
    await citizen.text(typed)  # not taken as a ward's name
    assert await citizen.state() == "location"
    assert "Bước 2/7" in (await citizen.texts())[0]


STEPS_AFTER_THE_FIRST = ["location", "ward", "evidence", "description", "nature", "source"]


@pytest.mark.parametrize("step", STEPS_AFTER_THE_FIRST + ["contact"])
async def test_every_step_after_the_first_has_a_way_back(hotline: Hotline, step: str) -> None:
    """«⬅️ Quay lại» under each step's question (a key of its keyboard where it has one),
    and pressing it asks the step before again, keeping what was answered."""
    citizen = Person(hotline, "5005")
    await advance_to(citizen, step)
    asked = (await citizen.new_messages())[-1]
    keys = [k["text"] for row in asked.payload["keyboard"] for k in row]
    if keys:  # location and contact: a keyboard, so the way back is one of its keys
        assert keys[-1] == "⬅️ Quay lại" and buttons(asked) == []
        await citizen.text(keys[-1])
    else:
        assert buttons(asked)[-1] == "c1:back"
        assert asked.payload["buttons"][-1] == [{"text": "⬅️ Quay lại", "data": "c1:back"}]
        await citizen.press("c1:back")
    steps = ["category", *STEPS_AFTER_THE_FIRST, "contact"]
    before = steps[steps.index(step) - 1]
    assert await citizen.state() == before
    again = (await citizen.new_messages())[-1]
    numbers = {"category": 1, "location": 2, "evidence": 3, "description": 4, "nature": 5}
    if before == "ward":  # the location's ward, asked again with its suggestions
        assert "c1:ward:06187" in buttons(again)
    else:
        assert f"Bước {numbers.get(before, 6)}/7" in again.payload["text"]
    assert (await citizen.draft())["category"] == "odour"


async def test_the_first_step_has_no_way_back(hotline: Hotline) -> None:
    citizen = Person(hotline, "5006")
    await citizen.command("report")
    asked = (await citizen.new_messages())[-1]
    assert "Bước 1/7" in asked.payload["text"] and "c1:back" not in buttons(asked)
