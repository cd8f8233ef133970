"""End to end on Zalo: a citizen reports from Zalo (typed address or pasted coordinates,
numbered menus), officers work in their Telegram group, and everything reaches the
citizen back on Zalo; bad input at every step gets a polite answer. The real bot (both
channels, built by build_channels) against the fake Zalo and Telegram Bot APIs."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.app import Hotline
from bot.demo import issue_link_code, local_zalo_hotline
from bot.fakes.telegram import FakeBotAPI, FakeChat, FakeUser
from bot.fakes.zalo import FakeZaloAPI
from bot.i18n import t
from models.enums import CaseStatus
from models.tables import Case, Evidence, Outbox

CITIZEN = "8421675390125"
OFFICER = FakeUser(id=2001, first_name="Minh", language_code="vi")
WARD_GROUP = FakeChat(id=-1001, type="supergroup", title="Kỳ Lừa officers")
Predicate = Callable[[dict[str, Any]], bool]


def has(*words: str) -> Predicate:
    return lambda m: all(w in (m.get("text") or m.get("caption") or "") for w in words)


@pytest.fixture
async def apis() -> AsyncIterator[tuple[FakeBotAPI, FakeZaloAPI]]:
    async with FakeBotAPI() as telegram, FakeZaloAPI() as zalo:
        yield telegram, zalo


@pytest.fixture
async def hotline(apis: tuple[FakeBotAPI, FakeZaloAPI], tmp_path: Path) -> AsyncIterator[Hotline]:
    telegram, zalo = apis
    async with local_zalo_hotline(telegram, zalo, tmp_path, send_chat_burst=10) as (running, _):
        yield running


class Citizen:
    """A person on Zalo: says something, waits for the bot's answer after it."""

    def __init__(self, zalo: FakeZaloAPI, user_id: str = CITIZEN) -> None:
        self.zalo = zalo
        self.id = user_id

    async def says(self, text: str, expect: Predicate) -> dict[str, Any]:
        seen = len(self.zalo.messages(self.id))
        self.zalo.send_text(self.id, text)
        return await self.zalo.wait_for_message(self.id, expect, after=seen, timeout=15)

    async def sends(self, push: Callable[[], Any], expect: Predicate) -> dict[str, Any]:
        seen = len(self.zalo.messages(self.id))
        push()
        return await self.zalo.wait_for_message(self.id, expect, after=seen, timeout=15)

    async def hears(self, expect: Predicate) -> dict[str, Any]:
        return await self.zalo.wait_for_message(self.id, expect, timeout=15)


async def link_ward(telegram: FakeBotAPI, hotline: Hotline) -> None:
    telegram.bot_added_to_group(OFFICER, WARD_GROUP)
    code = await issue_link_code(hotline, "06187")
    telegram.send_command(OFFICER, "link", code, chat=WARD_GROUP)
    await telegram.wait_for_message(WARD_GROUP.id, lambda m: "✅" in m.get("text", ""))


def press(telegram: FakeBotAPI, prefix: str) -> None:
    """The officer presses the latest button in the group whose data starts so."""
    for message in reversed(telegram.chat_messages(WARD_GROUP.id)):
        for button in telegram.inline_buttons(message):
            if button["callback_data"].startswith(prefix):
                telegram.press_button(OFFICER, message, button["callback_data"], chat=WARD_GROUP)
                return
    raise AssertionError(f"no button {prefix} in the group")


async def file_report(zalo: FakeZaloAPI, location: str, *, bad_input: bool) -> str:
    """The whole intake on Zalo; with `bad_input`, wrong things at every step first."""
    lan = Citizen(zalo)
    await lan.says("bao cao", has("Bước 1/7"))
    if bad_input:
        await lan.sends(lambda: zalo.send_sticker(CITIZEN), has("nhãn dán", "1. 💧 Nước thải"))
        await lan.says("9", has("Không có lựa chọn số 9"))
        await lan.says(" ", has("1. 💧 Nước thải"))
    await lan.says("nuoc thai", has("Bước 2/7", t("vi", "zalo.no_location")))
    if bad_input:
        await lan.sends(lambda: zalo.send_sticker(CITIZEN), has(t("vi", "zalo.no_location")))
    ward = await lan.says(location, lambda m: "Phường Kỳ Lừa" in m["text"] and "1." in m["text"])
    assert "Trả lời 1" in ward["text"]
    if bad_input:
        await lan.says("42", has("Không có lựa chọn số 42"))
    await lan.says("1", has("Bước 3/7"))
    if bad_input:
        await lan.sends(lambda: zalo.send_unsupported(CITIZEN), has("0205", "@"))
        zalo.expire_images()  # an image whose URL expired before it could be fetched
        await lan.sends(lambda: zalo.send_image(CITIZEN), has(t("vi", "intake.download_failed")))
        zalo.images_expired = False
    await lan.sends(lambda: zalo.send_image(CITIZEN, "Cống xả"), has("Đã nhận: 1/5 ảnh"))
    await lan.sends(lambda: zalo.send_image(CITIZEN, field_name="photo"), has("Đã nhận: 2/5 ảnh"))
    await lan.says("xong", has("Bước 4/7"))
    if bad_input:
        await lan.says("ngắn", has("ít nhất 10 ký tự"))  # too short: asked again
    await lan.says(
        "Nước thải đen ngòm từ xưởng nhuộm chảy thẳng ra suối gần chợ.", has("Bước 5/7")
    )
    if bad_input:
        await lan.says("0", has("Không có lựa chọn số 0"))
    await lan.says("dang dien ra", has("Bước 6/7"))
    if bad_input:
        await lan.sends(lambda: zalo.send_sticker(CITIZEN), has("nhãn dán", "1. ⏭ Bỏ qua"))
    await lan.says("Xưởng nhuộm A&B", has("Bước 7/7", t("vi", "zalo.no_phone_share")))
    if bad_input:
        await lan.says("0912 345 678", has(t("vi", "intake.contact_typed")[:30]))
    await lan.says("an danh", has("1. ✅ Xác nhận gửi"))
    filed = await lan.says("1", has("PA20-"))
    found = re.search(r"PA\d\d-\d{6}", filed["text"])
    assert found is not None
    return found.group(0)


@pytest.mark.parametrize("location", ["Phường Kỳ Lừa", "21.85926, 106.75417"])
async def test_report_from_zalo_handled_on_telegram(
    apis: tuple[FakeBotAPI, FakeZaloAPI], hotline: Hotline, location: str
) -> None:
    telegram, zalo = apis
    await link_ward(telegram, hotline)
    from bot import db, services

    async with db.session_scope(hotline.sessionmaker) as session:
        await services.save_ward_contact(
            session, "20", {"receive_phone": "0205 3812 345", "receive_email": "tnmt@ls.gov.vn"}
        )
    code = await file_report(zalo, location, bad_input=location.startswith("Phường"))
    lan = Citizen(zalo)
    # The case reaches the ward's Telegram group; its card says it came from Zalo.
    card = await telegram.wait_for_message(WARD_GROUP.id, lambda m: code in m.get("text", ""))
    assert t("vi", "zalo.card_source") in card["text"]
    async with hotline.sessionmaker() as session:
        case = (await session.exec(select(Case).where(Case.code == code))).one()
        assert case.channel == "zalo" and case.ward_code == "06187"
        photos = (await session.exec(select(Evidence).where(Evidence.case_id == case.id))).all()
        assert len(photos) == 2  # downloaded at once into the evidence store
    # Acknowledged on Telegram, heard on Zalo.
    press(telegram, "c1:ack:")
    await lan.hears(has(code, "đã được cán bộ tiếp nhận"))
    await telegram.wait_idle()
    # A question from the officers; the citizen's next text is the answer.
    press(telegram, "c1:ask:")
    prompt = await telegram.wait_for_message(
        WARD_GROUP.id, lambda m: "force_reply" in str(m.get("reply_markup"))
    )
    await telegram.wait_idle()
    question = "Xưởng xả vào giờ nào trong ngày?"
    telegram.send_text(
        OFFICER, question, chat=WARD_GROUP, reply_to_message_id=prompt["message_id"]
    )
    asked = await lan.hears(has(question))
    assert t("vi", "zalo.answer_next") in asked["text"]
    await lan.says("Khoảng 9 giờ tối, mỗi ngày.", has(t("vi", "intake.answer_sent", code=code)))
    await telegram.wait_for_message(WARD_GROUP.id, has("Khoảng 9 giờ tối, mỗi ngày."))
    # The next text is no answer any more: ordinary conversation again.
    await lan.says("cua toi", has(code))
    # Closed with a result: the citizen hears it and the numbered "is it solved?".
    press(telegram, "c1:cls:")
    prompt = await telegram.wait_for_message(WARD_GROUP.id, has("TRẢ LỜI"))
    await telegram.wait_idle()
    result = "Đã lập biên bản, yêu cầu xưởng dừng xả thải."
    telegram.send_text(OFFICER, result, chat=WARD_GROUP, reply_to_message_id=prompt["message_id"])
    await telegram.wait_for_message(WARD_GROUP.id, has("Xem lại trước khi gửi"))
    press(telegram, "c1:rok:")  # «Gửi» on the preview of what the reporter will read
    await lan.hears(has(code, result))
    await lan.hears(has(code, "1. ", "2. ", "Trả lời 1 hoặc 2"))
    await lan.says("co", has(t("vi", "intake.sat_thanks", code=code)))
    async with hotline.sessionmaker() as session:
        case = (await session.exec(select(Case).where(Case.code == code))).one()
        assert case.status == CaseStatus.RESOLVED.value and case.satisfaction == "yes"
        rows = (await session.exec(select(Outbox).where(Outbox.chat_id == CITIZEN))).all()
        assert rows and {r.channel for r in rows} == {"zalo"}  # the reporter's channel
        group_rows = (
            await session.exec(select(Outbox).where(Outbox.chat_id == str(WARD_GROUP.id)))
        ).all()
        wrong = [
            (r.kind, r.payload.get("text", "")[:80]) for r in group_rows if r.channel != "telegram"
        ]
        assert not wrong
    # "typing..." while photos were fetched; every text stayed within Zalo's limit.
    assert any(method == "sendChatAction" for method, _ in zalo.calls)
    assert all(0 < len(m["text"]) <= 2000 for m in zalo.messages(CITIZEN))


async def test_mycases_and_commands_on_zalo(
    apis: tuple[FakeBotAPI, FakeZaloAPI], hotline: Hotline
) -> None:
    telegram, zalo = apis
    await link_ward(telegram, hotline)
    code = await file_report(zalo, "Phường Kỳ Lừa", bad_input=False)
    lan = Citizen(zalo)
    mine = await lan.says("/mycases", has(code))
    assert "1. " in mine["text"]  # its ➕ button, as a numbered choice
    await lan.says("1", has(code))  # adding information to the case
    await lan.says("huy", lambda m: code in m["text"] or "hủy" in m["text"].lower())
    await lan.says("tro giup", has("/"))
    await lan.says("ngon ngu", has("English"))
    await lan.says("2", has("English"))  # switched: the bot speaks English
    await lan.says("menu", has(t("en", "zalo.help_menu")))


def test_demo_on_zalo(tmp_path: Path) -> None:
    """`hotline demo --channel zalo`: offline, the citizen on Zalo, officers on Telegram."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    out = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--channel", "zalo"],
        check=False,
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(root)},
        cwd=tmp_path,
        timeout=180,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    for expected in ("bao cao", "Trả lời 1, 2", "PA20-000001", "Gửi qua Zalo", "Kết quả"):
        assert expected in out.stdout
    assert "Zalo demo finished" in out.stdout
    assert list(tmp_path.iterdir()) == []
    wrong = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--channel", "viber"],
        check=False,
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(root)},
        cwd=tmp_path,
        timeout=60,
    )
    assert wrong.returncode != 0 and "telegram or zalo" in wrong.stderr
