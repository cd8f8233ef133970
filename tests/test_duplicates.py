"""Duplicate reports: the offer at Confirm, joining, filing separately, merging by officers."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from bot.app import Hotline
from handlers.duplicates import distance_m
from models.enums import CaseStatus
from models.tables import Case, CaseEvent, CaseReporter, Evidence, Outbox
from tests.harness import JPEG, KY_LUA, Person, buttons
from tests.test_officer import card_sent, link_group, prompt_sent

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
ADDRESS_KY_LUA = "so 12 duong Tran Dang Ninh, phuong Hoang Van Thu, thanh pho Lang Son"
DESCRIPTION = "Khói đen bốc ra từ nhà máy gạch mỗi tối, cả khu phố ngạt thở."
DESCRIPTION_EN = (
    "Black smoke comes out of the brick kiln every evening, the street cannot breathe."
)
SECRET_DESCRIPTION = "Bí mật: ống xả của xưởng nhuộm nằm sau nhà số 7, đêm nào cũng xả."


class Clock:
    """The core's clock (filing times, the duplicate window), moved by hand."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
async def hl(hotline: Hotline) -> AsyncIterator[Hotline]:
    """A hotline on an explicit clock, without the per-minute limit of a scripted citizen."""
    hotline.deps.user_messages_per_minute = 10_000
    hotline.deps.limits.now = Clock(T0)
    yield hotline


@pytest.fixture
async def any_hl(any_hotline: Hotline) -> AsyncIterator[Hotline]:
    any_hotline.deps.user_messages_per_minute = 10_000
    any_hotline.deps.limits.now = Clock(T0)
    yield any_hotline


def clock(hotline: Hotline) -> Clock:
    now = hotline.deps.limits.now
    assert isinstance(now, Clock)
    return now


def north(metres: float, lat: float = KY_LUA[0], lon: float = KY_LUA[1]) -> tuple[float, float]:
    """A point `metres` due north (negative: south) of (lat, lon)."""
    return lat + math.degrees(metres / 6_371_008.8), lon


async def to_summary(
    citizen: Person,
    *,
    category: str = "emissions",
    at: tuple[float, float] | None = KY_LUA,
    address: str | None = None,
    ward: str | None = None,
    photos: int = 0,
    description: str | None = None,
    phone: str | None = None,
) -> None:
    """Walk a citizen to the summary of a report (a GPS pin, or a typed address)."""
    await citizen.command("report")
    await citizen.press(f"c1:cat:{category}")
    if address is not None:
        await citizen.text(address)
    else:
        assert at is not None
        await citizen.location(*at)
    await citizen.press(f"c1:ward:{ward or (await citizen.draft())['suggestions'][0]}")
    if photos:
        await citizen.photos(*([JPEG] * photos))
    await citizen.press("c1:ev:done")
    english = citizen.language_code == "en"  # what people type decides their language
    await citizen.text(description or (DESCRIPTION_EN if english else DESCRIPTION))
    await citizen.press("c1:nat:recurring")
    await citizen.press("c1:src:skip")
    if phone:
        await citizen.contact(phone)
    else:
        await citizen.text("🙈 Ẩn danh")
    assert await citizen.state() == "summary"


async def confirm(citizen: Person) -> str | None:
    """Press Confirm; the state after it (None: filed, 'duplicate': offered)."""
    await citizen.press("c1:sum:ok")
    return await citizen.state()


async def file_at(citizen: Person, **kw: Any) -> Case:
    """File a report (filing separately if a duplicate is offered); returns the case."""
    await to_summary(citizen, **kw)
    if await confirm(citizen) == "duplicate":
        await citizen.press("c1:dup:new")
    assert await citizen.state() is None
    return await latest_case(citizen.hotline)


async def latest_case(hotline: Hotline) -> Case:
    async with hotline.sessionmaker() as s:
        case = (await s.exec(select(Case).order_by(col(Case.id).desc()))).first()
    assert case is not None
    return case


async def get_case(hotline: Hotline, case_id: int | None) -> Case:
    async with hotline.sessionmaker() as s:
        case = await s.get(Case, case_id)
    assert case is not None
    return case


async def count(hotline: Hotline, table: Any) -> int:
    async with hotline.sessionmaker() as s:
        return len((await s.exec(select(table))).all())


async def events(hotline: Hotline, case_id: int | None) -> list[CaseEvent]:
    async with hotline.sessionmaker() as s:
        stmt = select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.id))
        return list((await s.exec(stmt)).all())


async def joined_rows(hotline: Hotline, case_id: int | None) -> list[CaseReporter]:
    async with hotline.sessionmaker() as s:
        stmt = select(CaseReporter).where(CaseReporter.case_id == case_id)
        return list((await s.exec(stmt)).all())


def texts_of(rows: list[Outbox]) -> str:
    return "\n".join(str(r.payload.get("text") or "") for r in rows)


# ---------------------------------------------------------------- detection


def test_haversine_distance_is_in_metres() -> None:
    assert distance_m(*KY_LUA, *KY_LUA) == 0
    assert distance_m(*KY_LUA, *north(500)) == pytest.approx(500, abs=0.01)
    # One degree of latitude is about 111.2 km.
    assert distance_m(0, 0, 1, 0) == pytest.approx(111_195, rel=1e-3)


async def test_radius_edge_499_m_is_offered_501_m_is_not(hl: Hotline) -> None:
    first = await file_at(Person(hl, "1001"), at=KY_LUA)
    near, far = Person(hl, "1002"), Person(hl, "1003")
    await to_summary(near, at=north(499))
    await near.new_messages()
    assert await confirm(near) == "duplicate"
    offer = (await near.new_messages())[-1]
    assert first.code in offer.payload["text"]
    assert buttons(offer) == [f"c1:dup:{first.id}", "c1:dup:new"]
    await to_summary(far, at=north(-501))
    assert await confirm(far) is None  # filed at once
    assert await count(hl, Case) == 2


async def test_window_edge_47h59_is_offered_48h01_is_not(hl: Hotline) -> None:
    await file_at(Person(hl, "1001"))
    inside, outside = Person(hl, "1002"), Person(hl, "1003")
    clock(hl).advance(hours=47, minutes=59)
    await to_summary(inside)
    assert await confirm(inside) == "duplicate"
    await inside.command("cancel")
    clock(hl).advance(minutes=2)  # 48 h 01 min after the first filing
    await to_summary(outside)
    assert await confirm(outside) is None
    assert await count(hl, Case) == 2


async def test_only_the_same_category_is_offered(hl: Hotline) -> None:
    await file_at(Person(hl, "1001"), category="emissions")
    other = Person(hl, "1002")
    await to_summary(other, category="odour")
    assert await confirm(other) is None
    assert await count(hl, Case) == 2


async def test_ward_centroids_stand_in_for_addresses(hl: Hotline) -> None:
    """Two address-only reports in one ward match (the same centroid); so does a pin near
    that centroid; an address in a ward 10 km away does not."""
    first = await file_at(Person(hl, "1001"), address=ADDRESS_KY_LUA, ward="06187")
    assert first.latitude is None and first.location_source == "address"
    same_ward = Person(hl, "1002")
    await to_summary(same_ward, address=ADDRESS_KY_LUA, ward="06187")
    assert await confirm(same_ward) == "duplicate"
    pin = Person(hl, "1003")
    await to_summary(pin, at=north(300))  # 300 m from the centroid of Kỳ Lừa
    assert await confirm(pin) == "duplicate"
    elsewhere = Person(hl, "1004")
    await to_summary(elsewhere, address="xa Cao Loc", ward="06193")
    assert await confirm(elsewhere) is None


async def test_closed_merged_and_own_cases_are_not_offered(hl: Hotline) -> None:
    officer = await link_group(hl, "-1001")
    reporter = Person(hl, "1001")
    first = await file_at(reporter)
    # The reporter's own open case is not offered to them.
    second = await file_at(reporter)
    assert second.id != first.id
    await officer.command("merge", f"{second.code} {first.code}")
    newcomer = Person(hl, "1002")
    await to_summary(newcomer)
    await newcomer.new_messages()
    assert await confirm(newcomer) == "duplicate"
    offer = (await newcomer.new_messages())[-1]
    assert first.code in offer.payload["text"] and second.code not in offer.payload["text"]
    await newcomer.command("cancel")
    # Once the case is closed, nothing is offered any more.
    await officer.press(f"c1:cls:{first.id}")
    await prompt_sent(hl, officer, 7100)
    await officer.text("Đã xử lý xong.", reply_to_message_id=7100)
    await officer.press(f"c1:rok:{first.id}")  # «Gửi» on the preview
    assert (await get_case(hl, first.id)).status == CaseStatus.RESOLVED
    await to_summary(newcomer)
    assert await confirm(newcomer) is None


async def test_the_offer_tells_nothing_of_the_other_reporter(hl: Hotline) -> None:
    first = await file_at(
        Person(hl, "1001", name="Trần Thị Bí Mật"),
        description=SECRET_DESCRIPTION,
        phone="+84911222333",
        photos=1,
    )
    newcomer = Person(hl, "1002")
    await to_summary(newcomer)
    await newcomer.new_messages()
    await confirm(newcomer)
    (offer,) = await newcomer.new_messages()
    text = offer.payload["text"]
    assert first.code in text and "Khói, bụi" in text and "Phường Kỳ Lừa" in text
    assert "Mới" in text and "08:00 23/11/2026" in text  # status, filing time (local)
    for secret in ("Bí mật", "xưởng nhuộm", "911222333", "Bí Mật"):
        assert secret not in text


# ---------------------------------------------------------------- the reporter's choice


async def test_join_adds_the_reporter_and_posts_their_report_under_the_case(
    any_hl: Hotline,
) -> None:
    hl = any_hl
    ward = await link_group(hl, "-1001")
    other_ward = await link_group(hl, "-1003", ward="06193")
    first = await file_at(Person(hl, "1001"), photos=1)
    await card_sent(hl, "-1001", first.id or 0)
    await ward.new_messages()
    joiner = Person(hl, "1002", name="Lê Văn Cùng")
    await to_summary(joiner, at=north(120), photos=2, description=SECRET_DESCRIPTION)
    await confirm(joiner)
    files_before = await count(hl, Evidence)
    await joiner.new_messages()
    await joiner.press(f"c1:dup:{first.id}")
    assert await joiner.state() is None  # the draft is cleared
    assert await count(hl, Case) == 1
    (row,) = await joined_rows(hl, first.id)
    assert not row.contact_shared and row.contact_phone is None
    assert await count(hl, Evidence) == files_before + 2
    (told,) = await joiner.texts()
    assert first.code in told and "tham gia" in told
    posted = await ward.new_messages()
    message, album, pin, card = posted
    assert message.payload["reply_to_card"] and message.payload["in_topic"]
    assert first.code in message.payload["text"] and "xưởng nhuộm" in message.payload["text"]
    assert "ẩn danh" in message.payload["text"] and "Lê Văn Cùng" not in message.payload["text"]
    assert album.kind == "album" and len(album.payload["media"]) == 2
    assert album.payload["reply_to_card"] and pin.kind == "location"
    assert card.kind == "edit" and "Người dân cùng phản ánh thêm: 1" in card.payload["text"]
    assert await other_ward.new_messages() == []
    assert [e.action for e in await events(hl, first.id)] == ["file", "join"]
    join_line = (await events(hl, first.id))[-1]
    assert join_line.actor.startswith("reporter:") and "xưởng nhuộm" in (join_line.note or "")
    # /mycases lists the joined case, with its ➕ button.
    await joiner.command("mycases")
    listing = await joiner.last()
    assert first.code in listing.payload["text"] and "bạn tham gia" in listing.payload["text"]
    assert buttons(listing) == [f"c1:add:{first.id}"]


async def test_a_shared_phone_reaches_only_the_cases_ward(hl: Hotline) -> None:
    province = await link_group(hl, "-2000", ward=None)  # stands in for the ward: no group
    first = await file_at(Person(hl, "1001"))
    await province.new_messages()
    joiner = Person(hl, "1002", name="Lê Văn Cùng")
    await to_summary(joiner, phone="+84977000111")
    await confirm(joiner)
    await joiner.press(f"c1:dup:{first.id}")
    (row,) = await joined_rows(hl, first.id)
    assert row.contact_shared and row.contact_phone == "+84977000111"
    assert row.contact_ward_code == "06187"  # the ward the joiner reported to
    # The province group receives for the ward, which has no group: it sees the phone alone.
    message = (await province.new_messages())[0]
    assert "+84977000111" in message.payload["text"] and "Lê Văn" not in message.payload["text"]
    # With the ward's own group linked, the ward sees it, and the province no longer does.
    ward = await link_group(hl, "-1001")
    await card_sent(hl, "-1001", first.id or 0)
    joiner2 = Person(hl, "1003", name="Phạm Thị Hai")
    await to_summary(joiner2, phone="+84977000222")
    await confirm(joiner2)
    await joiner2.press(f"c1:dup:{first.id}")
    message = (await ward.new_messages())[0]
    assert "+84977000222" in message.payload["text"] and "Phạm" not in message.payload["text"]
    for row in await province.new_messages():
        assert "977000222" not in json.dumps(row.payload, ensure_ascii=False)


async def test_file_separately_files_exactly_once(hl: Hotline) -> None:
    await file_at(Person(hl, "1001"))
    second = Person(hl, "1002")
    await to_summary(second)
    assert await confirm(second) == "duplicate"
    # Confirm again while the choice is pending: nothing is filed.
    reply = await second.press("c1:sum:ok")
    assert reply is not None and reply.callback_text
    assert await second.state() == "duplicate" and await count(hl, Case) == 1
    await second.send("button", button_data="c1:dup:new", update_id=990_001)
    assert await second.state() is None and await count(hl, Case) == 2
    assert await second.send("button", button_data="c1:dup:new", update_id=990_001) is None
    reply = await second.press("c1:dup:new")  # a second press of the old button
    assert reply is not None and reply.callback_text == "Nút này không còn dùng được nữa."
    assert await count(hl, Case) == 2 and await count(hl, CaseReporter) == 0


async def test_join_pressed_twice_joins_once(hl: Hotline) -> None:
    first = await file_at(Person(hl, "1001"))
    joiner = Person(hl, "1002")
    await to_summary(joiner, photos=1)
    await confirm(joiner)
    await joiner.press(f"c1:dup:{first.id}")
    await joiner.redeliver()
    await joiner.press(f"c1:dup:{first.id}")
    assert len(await joined_rows(hl, first.id)) == 1
    assert [e.action for e in await events(hl, first.id)] == ["file", "join"]
    assert await count(hl, Case) == 1
    # Reporting the same thing again: the case they joined is not offered to them again.
    await to_summary(joiner)
    assert await confirm(joiner) is None
    assert await count(hl, Case) == 2


async def test_forged_join_button_is_refused(hl: Hotline) -> None:
    first = await file_at(Person(hl, "1001"))
    elsewhere = await file_at(Person(hl, "1009"), address="xa Cao Loc", ward="06193")
    joiner = Person(hl, "1002")
    await to_summary(joiner)
    await confirm(joiner)
    for data in (f"c1:dup:{elsewhere.id}", "c1:dup:999999", "c1:dup:x"):
        reply = await joiner.press(data)
        assert reply is not None and reply.callback_text
        assert await joiner.state() == "duplicate"
    assert await joined_rows(hl, elsewhere.id) == [] and await joined_rows(hl, first.id) == []


async def test_a_case_closed_meanwhile_cannot_be_joined(hl: Hotline) -> None:
    officer = await link_group(hl, "-1001")
    first = await file_at(Person(hl, "1001"))
    joiner = Person(hl, "1002")
    await to_summary(joiner)
    await confirm(joiner)
    await officer.press(f"c1:cls:{first.id}")
    await prompt_sent(hl, officer, 7200)
    await officer.text("Đã xử lý xong.", reply_to_message_id=7200)
    await officer.press(f"c1:rok:{first.id}")  # «Gửi» on the preview
    await joiner.new_messages()
    await joiner.press(f"c1:dup:{first.id}")
    gone, summary = await joiner.texts()
    assert first.code in gone and "Vui lòng kiểm tra" in summary
    assert await joiner.state() == "summary" and await joined_rows(hl, first.id) == []


async def test_joined_reporters_hear_the_result_and_are_asked_if_solved(hl: Hotline) -> None:
    officer = await link_group(hl, "-1001")
    owner = Person(hl, "1001")
    first = await file_at(owner)
    joiner = Person(hl, "1002", language_code="en")
    await to_summary(joiner)
    await confirm(joiner)
    await joiner.press(f"c1:dup:{first.id}")
    await owner.new_messages()
    await joiner.new_messages()
    await officer.press(f"c1:ack:{first.id}")
    assert any("taken by an officer" in t for t in await joiner.texts())
    assert any("đã được cán bộ tiếp nhận" in t for t in await owner.texts())
    await officer.press(f"c1:cls:{first.id}")
    await prompt_sent(hl, officer, 7300)
    await officer.photos(JPEG, caption="Đã đình chỉ lò gạch.", reply_to_message_id=7300)
    await officer.press(f"c1:rok:{first.id}")  # «Gửi» on the preview
    for person, solved in ((owner, "đã được giải quyết chưa"), (joiner, "Is the problem solved")):
        # The result joined the acknowledgement held a moment before (one message).
        album, question = await person.new_messages()
        result = (await person.new_messages(person.chat_id))[-3]
        assert "Đã đình chỉ lò gạch." in result.payload["text"] and album.kind == "album"
        assert solved in question.payload["text"]
        assert buttons(question) == [f"c1:sat:{first.id}:yes", f"c1:sat:{first.id}:no"]


# ---------------------------------------------------------------- merging by officers


async def test_merge_and_unmerge_round_trip(any_hl: Hotline) -> None:
    hl = any_hl
    officer = await link_group(hl, "-1001")
    keep = await file_at(Person(hl, "1001"))
    dup_reporter = Person(hl, "1002", language_code="en")
    dup = await file_at(dup_reporter, at=north(50), phone="+84955000111")
    await card_sent(hl, "-1001", keep.id or 0, 7401)
    await card_sent(hl, "-1001", dup.id or 0, 7402)
    await officer.new_messages()
    await dup_reporter.new_messages()

    await officer.command("merge", f"{dup.code.lower()} {keep.code}")
    dup = await get_case(hl, dup.id)
    assert dup.merged_into_id == keep.id and dup.status == CaseStatus.NEW
    (row,) = await joined_rows(hl, keep.id)
    assert row.reporter_id == dup.reporter_id
    assert row.contact_shared and row.contact_phone == "+84955000111"
    assert [e.action for e in await events(hl, dup.id)][-1] == "merge"
    assert [e.action for e in await events(hl, keep.id)][-1] == "merge"
    posted = await officer.new_messages()
    dup_card = next(m for m in posted if m.kind == "edit" and m.case_id == dup.id)
    assert f"Đã gộp vào {keep.code}" in dup_card.payload["text"] and buttons(dup_card) == []
    keep_card = next(m for m in posted if m.kind == "edit" and m.case_id == keep.id)
    assert "cùng phản ánh thêm: 1" in keep_card.payload["text"]
    assert f"c1:ack:{keep.id}" in buttons(keep_card)
    assert any(keep.code in t and dup.code in t for t in texts_of(posted).split("\n"))
    (told,) = await dup_reporter.texts()
    assert dup.code in told and keep.code in told and "grouped" in told
    # /mycases: merged, no ➕ for it; the case it went into has one.
    await dup_reporter.command("mycases")
    listing = await dup_reporter.last()
    assert f"grouped with {keep.code}" in listing.payload["text"]
    assert buttons(listing) == [f"c1:add:{keep.id}"]

    await officer.command("unmerge", dup.code)
    dup = await get_case(hl, dup.id)
    assert dup.merged_into_id is None and dup.status == CaseStatus.NEW
    assert await joined_rows(hl, keep.id) == []
    assert [e.action for e in await events(hl, dup.id)][-1] == "unmerge"
    assert [e.action for e in await events(hl, keep.id)][-1] == "unmerge"
    posted = await officer.new_messages()
    dup_card = next(m for m in posted if m.kind == "edit" and m.case_id == dup.id)
    assert "Đã gộp" not in dup_card.payload["text"]
    assert f"c1:ack:{dup.id}" in buttons(dup_card)
    assert "separated" in (await dup_reporter.texts())[-1]


async def test_merged_reporter_hears_the_result_of_the_case_it_went_into(hl: Hotline) -> None:
    officer = await link_group(hl, "-1001")
    keep = await file_at(Person(hl, "1001"))
    dup_reporter = Person(hl, "1002")
    dup = await file_at(dup_reporter, at=north(50))
    await officer.command("merge", f"{dup.code} {keep.code}")
    await dup_reporter.new_messages()
    await officer.press(f"c1:cls:{keep.id}")
    await prompt_sent(hl, officer, 7500)
    await officer.text("Đã yêu cầu dừng hoạt động.", reply_to_message_id=7500)
    await officer.press(f"c1:rok:{keep.id}")  # «Gửi» on the preview
    result, question = await dup_reporter.new_messages()
    assert keep.code in result.payload["text"] and "dừng hoạt động" in result.payload["text"]
    assert buttons(question) == [f"c1:sat:{keep.id}:yes", f"c1:sat:{keep.id}:no"]
    # The merged case's card cannot be acted on with the buttons it no longer has.
    assert (await get_case(hl, dup.id)).status == CaseStatus.NEW


async def test_merge_refusals(hl: Hotline) -> None:
    officer = await link_group(hl, "-1001")
    foreign = await link_group(hl, "-1003", ward="06193")
    a = await file_at(Person(hl, "1001"))
    b = await file_at(Person(hl, "1002"), at=north(50))
    c = await file_at(Person(hl, "1003"), at=north(80))
    closed = await file_at(Person(hl, "1004"), at=north(90))
    await officer.press(f"c1:cls:{closed.id}")
    await prompt_sent(hl, officer, 7600)
    await officer.text("Đã xử lý xong.", reply_to_message_id=7600)
    await officer.press(f"c1:rok:{closed.id}")  # «Gửi» on the preview
    await officer.new_messages()

    async def answer(group: Person, command: str, args: str) -> str:
        await group.command(command, args)
        return "\n".join(await group.texts())

    assert "Cách dùng" in await answer(officer, "merge", a.code)
    assert "Không tìm thấy" in await answer(officer, "merge", f"PA20-999999 {a.code}")
    assert "Không tìm thấy" in await answer(foreign, "merge", f"{a.code} {b.code}")
    assert "chính nó" in await answer(officer, "merge", f"{a.code} {a.code}")
    assert "đang xử lý" in await answer(officer, "merge", f"{closed.code} {a.code}")
    assert "đang xử lý" in await answer(officer, "merge", f"{a.code} {closed.code}")
    assert "Đã gộp" in await answer(officer, "merge", f"{b.code} {a.code}")
    # No chains: not into a merged case, not a merged case again, not a case others went into.
    assert "không gộp nối tiếp" in await answer(officer, "merge", f"{c.code} {b.code}")
    assert "không gộp nối tiếp" in await answer(officer, "merge", f"{b.code} {c.code}")
    assert "gỡ gộp" in await answer(officer, "merge", f"{a.code} {c.code}")
    assert "chưa được gộp" in await answer(officer, "unmerge", c.code)
    assert "Không tìm thấy" in await answer(foreign, "unmerge", b.code)
    assert "Cách dùng" in await answer(officer, "unmerge", "")
    assert [(x.id, x.merged_into_id) for x in [await get_case(hl, y.id) for y in (a, b, c)]] == [
        (a.id, None),
        (b.id, a.id),
        (c.id, None),
    ]


async def test_unmerge_keeps_a_reporter_who_had_joined_before(hl: Hotline) -> None:
    """A reporter of the merged case who had joined the target before the merge (here: after
    filing the merged case) stays joined when it is undone."""
    keep = await file_at(Person(hl, "1001"))
    both = Person(hl, "1002")
    clock(hl).advance(minutes=1)
    dup = await file_at(both, address="xa Cao Loc", ward="06193")  # their own other case
    clock(hl).advance(minutes=4)
    await to_summary(both, at=north(40))
    await confirm(both)
    await both.press(f"c1:dup:{keep.id}")
    clock(hl).advance(minutes=5)
    # (the cases are of two wards: the province group merges across wards)
    province = await link_group(hl, "-2000", ward=None)
    await province.command("merge", f"{dup.code} {keep.code}")
    assert (await get_case(hl, dup.id)).merged_into_id == keep.id
    assert len(await joined_rows(hl, keep.id)) == 1
    clock(hl).advance(minutes=5)
    await province.command("unmerge", dup.code)
    assert [r.reporter_id for r in await joined_rows(hl, keep.id)] == [dup.reporter_id]
    assert (await get_case(hl, dup.id)).merged_into_id is None
