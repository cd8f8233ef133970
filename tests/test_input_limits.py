"""Input the database cannot store, and input as large as the channel allows (issue 8,
items 13 and 14), on both databases.

- PostgreSQL text cannot hold NUL: a description with one was never filed there (every
  Confirm got an apology; SQLite filed it). Control characters are stripped from every
  piece of user text once, at the core's entry (`handlers/core.py`).
- A Telegram name has up to 64 + 1 + 64 characters, and overflowed `reporter.full_name`
  (VARCHAR(128)) on PostgreSQL: every Confirm with a shared contact failed. Columns are
  sized for what the channel sends, and the core cuts what has no channel limit.
"""

from __future__ import annotations

from sqlmodel import col, select

from bot.app import Hotline
from handlers.events import FileRef
from models.enums import CaseStatus
from models.tables import Case, CaseEvent, Evidence, Reporter
from tests.harness import JPEG, KY_LUA, Person
from tests.test_officer import card_sent, link_group, prompt_sent

WARD = "-1001"
# Telegram allows 64 characters for a first name and 64 for a last name.
FIRST = ("Nguyễn Thị Minh Khai Hoàng Lan Phương " * 3)[:64]
LAST = ("Trần Lê Phạm Vũ Đặng Bùi Đỗ Hồ Ngô Dương Lý " * 3)[:64]
FULL_NAME = f"{FIRST} {LAST}"  # 129 characters
TITLE = ("Tổ công tác tiếp nhận phản ánh ô nhiễm phường Kỳ Lừa " * 3)[:128]


async def the_case(app: Hotline) -> Case:
    async with app.sessionmaker() as s:
        return (await s.exec(select(Case))).one()


async def file_with(citizen: Person, *, description: str, source: str, caption: str) -> str:
    """A whole report: GPS, photos with a caption, a document, description, source, contact."""
    await citizen.command("report")
    await citizen.press("c1:cat:wastewater")
    await citizen.location(*KY_LUA)
    await citizen.press("c1:ward:06187")
    await citizen.photos(JPEG, JPEG, caption=caption)
    ref = FileRef(
        citizen.fetcher.register(b"%PDF-1.4 bien ban"),
        "document",
        17,
        "application/" + "x-biên-bản-" * 40,  # a MIME type as long as a sender makes it
        "Biên bản " * 40 + ".pdf",
    )
    await citizen.send("media", files=(ref,), text=caption)
    await citizen.press("c1:ev:done")
    await citizen.text(description)
    await citizen.press("c1:nat:now")
    await citizen.text(source)
    await citizen.contact("+84912345678")
    await citizen.press("c1:sum:ok")
    return "\n".join(await citizen.texts())


async def test_control_characters_are_stripped_and_the_report_is_filed(
    any_hotline: Hotline,
) -> None:
    app = any_hotline
    await link_group(app, WARD)
    citizen = Person(app, "1001", name="Lan\x00 Nguyễn\x1b")
    said = await file_with(
        citizen,
        description="Nước thải\x00 đen ngòm\x07 từ xưởng nhuộm\r\n\tchảy thẳng ra suối.\x7f",
        source="Xưởng\x00 nhuộm A&B",
        caption="Ảnh\x00 chụp\x0b tối qua",
    )
    assert "Mã phản ánh" in said, said  # filed, not an apology
    case = await the_case(app)
    assert case.description == "Nước thải đen ngòm từ xưởng nhuộm\r\n\tchảy thẳng ra suối."
    assert case.suspected_source == "Xưởng nhuộm A&B"
    async with app.sessionmaker() as s:
        reporter = (await s.exec(select(Reporter))).one()
    assert reporter.full_name is None  # the phone alone: the display name is not kept
    # The officers' side too: a result with NUL is stored, and the reporter hears it.
    officer = Person(app, "91001", chat_id=WARD, chat_type="group", name="Cán bộ\x00 Minh")
    await card_sent(app, WARD, case.id or 0, 7001)
    await officer.press(f"c1:cls:{case.id}")
    await prompt_sent(app, officer, 7100)
    await officer.text("Đã xử lý:\x00 xưởng dừng xả thải.", reply_to_message_id=7100)
    await officer.press(f"c1:rok:{case.id}")  # «Gửi» on the preview
    case = await the_case(app)
    assert case.status == CaseStatus.RESOLVED
    assert case.result_text == "Đã xử lý: xưởng dừng xả thải."
    assert "\x00" not in (case.handled_by or "")


async def test_maximal_inputs_at_every_step_are_filed_and_handled(any_hotline: Hotline) -> None:
    """The longest input each step takes, the longest names Telegram allows."""
    app = any_hotline
    await link_group(app, WARD)
    citizen = Person(app, "1001", name=FULL_NAME)
    said = await file_with(
        citizen,
        description=("Nước thải đen ngòm chảy ra suối. " * 100)[:3000],
        source=("Xưởng nhuộm vải Hoàng Long " * 10)[:200],
        caption=("Ảnh chụp lúc 21 giờ tối qua. " * 40)[:1024],
    )
    assert "Mã phản ánh" in said, said
    case = await the_case(app)
    async with app.sessionmaker() as s:
        reporter = (await s.exec(select(Reporter))).one()
        evidence = (await s.exec(select(Evidence))).all()
    assert reporter.full_name is None  # the phone alone: the display name is not kept
    assert len(case.description) == 3000 and len(case.suspected_source or "") == 200
    document = next(e for e in evidence if e.kind == "document")
    assert document.mime_type is not None and len(document.mime_type) == 128  # cut at input
    # Officers with the longest names, and an anonymous admin (named after the group).
    await card_sent(app, WARD, case.id or 0, 7001)
    officer = Person(app, "91001", chat_id=WARD, chat_type="group", name=FULL_NAME)
    admin = Person(app, "1087968824", chat_id=WARD, chat_type="group", name=TITLE)
    await officer.press(f"c1:ack:{case.id}")
    await admin.press(f"c1:take:{case.id}")
    await officer.press(f"c1:note:{case.id}")
    await prompt_sent(app, officer, 7100)
    await officer.text(("Ghi chú nội bộ về vụ việc. " * 100)[:2000], reply_to_message_id=7100)
    await officer.press(f"c1:refer:{case.id}")
    await prompt_sent(app, officer, 7101)
    agency = ("Công an tỉnh Lạng Sơn, Phòng Cảnh sát môi trường " * 5)[:200]
    await officer.text(f"{agency}: vi phạm hình sự", reply_to_message_id=7101)
    await officer.press(f"c1:cls:{case.id}")
    await prompt_sent(app, officer, 7102)
    await officer.text(("Đã xử lý: xưởng dừng xả thải. " * 100)[:3000], reply_to_message_id=7102)
    await officer.press(f"c1:rok:{case.id}")  # «Gửi» on the preview
    case = await the_case(app)
    assert case.status == CaseStatus.RESOLVED and case.referred_to == agency
    assert case.assignee is not None and case.result_text is not None
    async with app.sessionmaker() as s:
        actions = [e.action for e in (await s.exec(select(CaseEvent).order_by(col(CaseEvent.id))))]
    assert actions[:1] == ["file"] and {"acknowledge", "take", "note", "refer", "resolve"} <= set(
        actions
    )


async def test_the_sized_columns_match_the_models_and_downgrade_cuts(db_url: str) -> None:
    """Migration 0005 gives the columns the models' sizes (autogenerate ignores lengths);
    its downgrade cuts longer names instead of failing."""
    import asyncio

    from sqlalchemy import inspect, text

    from bot import db
    from models.tables import NAME_MAX

    await db.upgrade_async(db_url)
    engine = db.make_engine(db_url)
    try:
        async with engine.connect() as conn:
            columns = await conn.run_sync(lambda c: inspect(c).get_columns("reporter"))
        assert next(c for c in columns if c["name"] == "full_name")["type"].length == NAME_MAX
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO reporter (channel, user_id, chat_id, language_chosen,"
                    " unreachable, full_name, created_at)"
                    " VALUES ('telegram', '1', '1', false, false, :name, CURRENT_TIMESTAMP)"
                ),
                {"name": FULL_NAME},
            )
        await asyncio.to_thread(db.downgrade, db_url, "0003")
        async with engine.connect() as conn:
            name = (await conn.execute(text("SELECT full_name FROM reporter"))).scalar_one()
        assert name == FULL_NAME[:128]
        await db.upgrade_async(db_url)
    finally:
        await engine.dispose()
