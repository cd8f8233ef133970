"""End to end: the real client library over HTTP against the fake Bot API server, on each
Telegram runtime (aiogram and python-telegram-bot: the `telegram_library` fixture)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.app import Hotline
from bot.demo import issue_link_code, local_hotline
from bot.fakes.telegram import FakeBotAPI, FakeChat, FakeUser, tiny_png
from models.enums import CaseStatus
from models.tables import Case, Conversation, Evidence, Outbox, Reporter

KY_LUA = (21.85926, 106.75417)
CITIZEN = FakeUser(id=1001, first_name="Lan", language_code="vi")
OFFICER = FakeUser(id=2001, first_name="Minh", language_code="vi")
WARD_GROUP = FakeChat(id=-1001, type="supergroup", title="Kỳ Lừa officers")


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


@pytest.fixture
async def hotline(
    api: FakeBotAPI, tmp_path: Path, telegram_library: str
) -> AsyncIterator[Hotline]:
    async with local_hotline(api, tmp_path, telegram_library=telegram_library) as running:
        yield running


async def link(api: FakeBotAPI, hotline: Hotline, chat: FakeChat, ward: str | None) -> None:
    api.bot_added_to_group(OFFICER, chat)
    api.send_command(OFFICER, "link", await issue_link_code(hotline, ward), chat=chat)
    await api.wait_for_message(chat.id, lambda m: "✅" in m.get("text", ""))


def has(text: str):  # noqa: ANN201
    return lambda m: text in (m.get("text") or m.get("caption") or "")


async def press(api: FakeBotAPI, user: FakeUser, data: str, chat: FakeChat | None = None) -> None:
    """Press the button with this callback data on the latest message that has it."""
    chat_id = chat.id if chat else user.id
    message = next(
        m
        for m in reversed(api.chat_messages(chat_id))
        if any(b.get("callback_data") == data for b in api.inline_buttons(m))
    )
    api.press_button(user, message, data, chat=chat)


async def to_evidence_step(api: FakeBotAPI, location: tuple[float, float] | str) -> None:
    api.send_command(CITIZEN, "report")
    await api.wait_for_message(CITIZEN.id, has("Bước 1/7"))
    await press(api, CITIZEN, "c1:cat:wastewater")
    await api.wait_for_message(CITIZEN.id, has("Bước 2/7"))
    if isinstance(location, str):
        api.send_text(CITIZEN, location)
    else:
        api.send_location(CITIZEN, *location)
    await api.wait_for_message(CITIZEN.id, lambda m: "c1:ward:06187" in str(m))
    await press(api, CITIZEN, "c1:ward:06187")
    await api.wait_for_message(CITIZEN.id, has("Bước 3/7"))


async def finish_report(api: FakeBotAPI) -> str:
    await press(api, CITIZEN, "c1:ev:done")
    await api.wait_for_message(CITIZEN.id, has("Bước 4/7"))
    api.send_text(CITIZEN, "Nước thải đen ngòm từ xưởng nhuộm chảy thẳng ra suối <gần chợ>.")
    await api.wait_for_message(CITIZEN.id, has("Bước 5/7"))
    await press(api, CITIZEN, "c1:nat:now")
    await api.wait_for_message(CITIZEN.id, has("Bước 6/7"))
    api.send_text(CITIZEN, "Xưởng nhuộm A&B")
    await api.wait_for_message(CITIZEN.id, has("Bước 7/7"))
    api.press_reply_button(CITIZEN, "🙈 Ẩn danh")
    await api.wait_for_message(CITIZEN.id, lambda m: "c1:sum:ok" in str(m))
    await press(api, CITIZEN, "c1:sum:ok")
    filed = await api.wait_for_message(CITIZEN.id, has("Mã phản ánh"))
    match = re.search(r"PA20-\d{6}", filed["text"])
    assert match
    return match.group(0)


async def the_case(hotline: Hotline) -> Case:
    async with hotline.sessionmaker() as s:
        return (await s.exec(select(Case))).one()


async def test_gps_report_reaches_the_ward_group(api: FakeBotAPI, hotline: Hotline) -> None:
    await link(api, hotline, WARD_GROUP, "06187")
    await to_evidence_step(api, KY_LUA)
    api.send_photo(CITIZEN, tiny_png(8, 8))
    await api.wait_for_message(CITIZEN.id, has("Đã nhận: 1/5"))
    code = await finish_report(api)
    card = await api.wait_for_message(WARD_GROUP.id, has(code))
    # The fake parses HTML as Telegram does: escaped user text shows as typed.
    assert "<gần chợ>" in card["text"] and "Xưởng nhuộm A&B" in card["text"]
    photo = await api.wait_for_message(WARD_GROUP.id, lambda m: "photo" in m)
    pin = await api.wait_for_message(WARD_GROUP.id, lambda m: "location" in m)
    assert photo["caption"] == code
    assert pin["location"]["latitude"] == pytest.approx(KY_LUA[0])


async def test_old_style_unaccented_address(api: FakeBotAPI, hotline: Hotline) -> None:
    await to_evidence_step(
        api, "so 12 duong Tran Dang Ninh, phuong Hoang Van Thu, thanh pho Lang Son, Lang Son"
    )
    await finish_report(api)
    case = await the_case(hotline)
    assert case.ward_code == "06187" and case.location_source == "address"
    assert case.address and "Hoang Van Thu" in case.address


async def test_album_of_three_photos_all_kept(api: FakeBotAPI, hotline: Hotline) -> None:
    await link(api, hotline, WARD_GROUP, "06187")
    await to_evidence_step(api, KY_LUA)
    blobs = [tiny_png(4, 4, (i * 40, 10, 10)) for i in range(1, 4)]
    for blob in blobs:  # one album: three updates sharing a media_group_id, no end marker
        api.send_photo(CITIZEN, blob, media_group_id="album-1")
    received = await api.wait_for_message(CITIZEN.id, has("Đã nhận"))
    assert "3/5" in received["text"]
    await finish_report(api)
    async with hotline.sessionmaker() as s:
        evidence = (await s.exec(select(Evidence))).all()
    media_dir = hotline.settings.media_dir
    assert sorted((media_dir / e.path).read_bytes() for e in evidence) == sorted(blobs)
    call = await api.wait_for_call("sendMediaGroup")
    assert len(call.params["media"]) == 3


async def test_officer_acknowledges_and_closes_and_reporter_hears(
    api: FakeBotAPI, hotline: Hotline
) -> None:
    await link(api, hotline, WARD_GROUP, "06187")
    await to_evidence_step(api, KY_LUA)
    code = await finish_report(api)
    card = await api.wait_for_message(WARD_GROUP.id, has(code))
    case = await the_case(hotline)

    await press(api, OFFICER, f"c1:ack:{case.id}", chat=WARD_GROUP)
    note = await api.wait_for_message(CITIZEN.id, has("đã được cán bộ tiếp nhận"))
    assert code in note["text"]
    await api.wait_until(
        lambda: (
            "Đã tiếp nhận"
            in next(
                m
                for m in api.chat_messages(WARD_GROUP.id)
                if m["message_id"] == card["message_id"]
            )["text"]
        ),
        what="card edited to acknowledged",
        timeout=15,  # the machine running CI is shared and sometimes slow
    )
    await press(api, OFFICER, f"c1:cls:{case.id}", chat=WARD_GROUP)
    prompt = await api.wait_for_message(WARD_GROUP.id, has("TRẢ LỜI"))
    assert prompt["reply_markup"]["force_reply"] if "reply_markup" in prompt else True
    api.send_photo(
        OFFICER,
        tiny_png(6, 6),
        chat=WARD_GROUP,
        caption="Đã xử lý: xưởng dừng xả thải.",
        reply_to_message_id=prompt["message_id"],
    )
    preview = await api.wait_for_message(WARD_GROUP.id, has("Xem lại trước khi gửi"))
    await press(api, OFFICER, f"c1:rok:{case.id}", chat=WARD_GROUP)  # «Gửi»
    result = await api.wait_for_message(CITIZEN.id, has("Kết quả"))
    assert "xưởng dừng xả thải" in result["text"]

    def spent() -> dict[str, Any]:
        return next(
            m for m in api.chat_messages(WARD_GROUP.id) if m["message_id"] == preview["message_id"]
        )

    # The preview that was sent says so, and has no «Gửi»/«Sửa» left to press.
    await api.wait_until(lambda: spent()["text"].startswith("✅ Đã gửi lúc"))
    assert api.inline_buttons(spent()) == [] and "xưởng dừng xả thải" in spent()["text"]
    await api.wait_for_message(CITIZEN.id, lambda m: "photo" in m)
    assert (await the_case(hotline)).status == CaseStatus.RESOLVED
    answers = [a for a in api.callback_answers.values() if a.get("text")]
    assert any("Đã tiếp nhận" in a["text"] for a in answers)


async def test_foreign_group_is_refused(api: FakeBotAPI, hotline: Hotline) -> None:
    await link(api, hotline, WARD_GROUP, "06187")
    other = FakeChat(id=-1009, type="supergroup", title="Cao Lộc officers")
    await link(api, hotline, other, "06193")
    await to_evidence_step(api, KY_LUA)
    code = await finish_report(api)
    await api.wait_for_message(WARD_GROUP.id, has(code))
    case = await the_case(hotline)
    # A client in the foreign group forges the Kỳ Lừa card's data on a bot message of its own.
    own_message = api.chat_messages(other.id)[-1]
    api.press_button(OFFICER, own_message, f"c1:ack:{case.id}", chat=other, check=False)
    await api.wait_until(
        lambda: any(
            "không có quyền" in (a.get("text") or "") for a in api.callback_answers.values()
        ),
        what="refusal answer",
    )
    await api.wait_idle()
    assert (await the_case(hotline)).status == CaseStatus.NEW
    assert not any(code in (m.get("text") or "") for m in api.chat_messages(other.id))


async def test_done_pressed_right_after_an_album_waits_for_it(
    api: FakeBotAPI, hotline: Hotline
) -> None:
    """An album has no end marker; a press sent right after it must not overtake it."""
    await to_evidence_step(api, KY_LUA)
    evidence_prompt = api.chat_messages(CITIZEN.id)[-1]
    for i in range(3):
        api.send_photo(CITIZEN, tiny_png(4, 4, (10, i * 50, 10)), media_group_id="album-2")
    api.press_button(CITIZEN, evidence_prompt, "c1:ev:done")
    await api.wait_for_message(CITIZEN.id, has("Bước 4/7"))
    async with hotline.sessionmaker() as s:
        conv = (await s.exec(select(Conversation))).one()
    assert len(conv.data["evidence"]) == 3


async def test_telegram_faults_are_retried_and_retry_after_honoured(
    api: FakeBotAPI, hotline: Hotline
) -> None:
    api.fail_next(
        "sendMessage", status=429, description="Too Many Requests: retry after 1", retry_after=1
    )
    api.fail_next("sendMessage", status=502, description="Bad Gateway")
    api.send_command(CITIZEN, "help")
    helped = await api.wait_for_message(CITIZEN.id, has("/report"), timeout=15)
    failures = [c for c in api.calls if c.method == "sendMessage" and not c.ok]
    assert [c.status for c in failures] == [429, 502]
    # The retry came no sooner than Telegram asked.
    assert helped["date"] >= int(failures[0].time)
    ok = next(c for c in api.calls if c.method == "sendMessage" and c.ok)
    assert ok.time - failures[0].time >= 1.0


async def test_blocked_reporter_is_marked_unreachable(api: FakeBotAPI, hotline: Hotline) -> None:
    api.blocked_users.add(CITIZEN.id)
    api.send_command(CITIZEN, "help")
    await api.wait_for_call("sendMessage", lambda c: c.status == 403)

    async def settled() -> bool:
        async with hotline.sessionmaker() as s:
            row = (await s.exec(select(Outbox))).one()
            reporter = (await s.exec(select(Reporter))).one()
        return row.status == "failed" and reporter.unreachable

    for _ in range(100):
        if await settled():
            break
        await asyncio.sleep(0.05)
    assert await settled()


async def test_officer_closes_with_an_album_and_reporter_gets_the_photos(
    api: FakeBotAPI, hotline: Hotline
) -> None:
    await link(api, hotline, WARD_GROUP, "06187")
    await to_evidence_step(api, KY_LUA)
    code = await finish_report(api)
    await api.wait_for_message(WARD_GROUP.id, has(code))
    case = await the_case(hotline)
    await press(api, OFFICER, f"c1:cls:{case.id}", chat=WARD_GROUP)
    prompt = await api.wait_for_message(WARD_GROUP.id, has("TRẢ LỜI"))
    for i in range(2):
        api.send_photo(
            OFFICER,
            tiny_png(5, 5, (i * 90, 90, 90)),
            chat=WARD_GROUP,
            media_group_id="res-1",
            caption="Đã khắc phục xong." if i == 0 else None,
            reply_to_message_id=prompt["message_id"],
        )
    await api.wait_for_message(WARD_GROUP.id, has("Kèm 2 ảnh"))  # the album, previewed
    await press(api, OFFICER, f"c1:rok:{case.id}", chat=WARD_GROUP)  # «Gửi»
    await api.wait_for_message(CITIZEN.id, has("Đã khắc phục xong."))
    album = await api.wait_for_call("sendMediaGroup", lambda c: c.chat_id == CITIZEN.id)
    assert len(album.params["media"]) == 2
    assert album.ok, album.error  # accepted: the photos reached the reporter
    photos = [m for m in api.chat_messages(CITIZEN.id) if "photo" in m]
    assert len(photos) == 2


async def test_province_group_links_and_receives_cases_of_unlinked_wards(
    api: FakeBotAPI, hotline: Hotline
) -> None:
    province = FakeChat(id=-3000, type="supergroup", title="Sở NN&MT")
    await link(api, hotline, province, None)
    assert "Sở Nông nghiệp và Môi trường" in api.chat_messages(province.id)[-1]["text"]
    await to_evidence_step(api, KY_LUA)
    code = await finish_report(api)
    card = await api.wait_for_message(province.id, has(code))
    assert "chưa liên kết nhóm cán bộ" in card["text"]


def test_anonymous_group_admin_messages_are_kept() -> None:
    """Anonymous admins post as GroupAnonymousBot for the group; other bots are ignored."""
    from aiogram.types import Message

    from bot.channels.telegram.translate import message_to_event

    base = {
        "message_id": 5,
        "date": 0,
        "chat": {"id": -1001, "type": "supergroup", "title": "Kỳ Lừa officers"},
        "text": "Đã xử lý",
        "reply_to_message": {
            "message_id": 4,
            "date": 0,
            "chat": {"id": -1001, "type": "supergroup"},
        },
    }
    anon_bot = {"id": 1087968824, "is_bot": True, "first_name": "Group"}
    anonymous = {**base, "from": anon_bot, "sender_chat": base["chat"]}
    Message.model_validate(anonymous)  # a message Telegram could send
    event = message_to_event(anonymous, 1, "hotline_test_bot")
    assert event is not None and event.user_name == "Kỳ Lừa officers"
    assert event.reply_to_message_id == 4
    other_bot = {**base, "from": {**anon_bot, "id": 42}}
    Message.model_validate(other_bot)
    assert message_to_event(other_bot, 2, "hotline_test_bot") is None


async def test_report_command_delivers_the_xlsx_to_the_province_group(
    api: FakeBotAPI, hotline: Hotline
) -> None:
    """`/report week` in the province group: a real document over the Bot API."""
    import io

    from openpyxl import load_workbook

    province = FakeChat(id=-1500, type="supergroup", title="Sở NN&MT")
    await link(api, hotline, province, None)
    api.send_command(OFFICER, "report", "week", chat=province)
    await api.wait_until(
        lambda: next((c for c in api.calls if c.method == "sendDocument" and c.ok), None),
        timeout=15,
        what="the report sent",
    )
    call = next(c for c in api.calls if c.method == "sendDocument" and c.ok)
    [(name, data)] = [(call.filenames[k], v) for k, v in call.files.items()]
    assert name.endswith(".xlsx")
    assert load_workbook(io.BytesIO(data)).sheetnames
