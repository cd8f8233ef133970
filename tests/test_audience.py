"""Who sees what of a reporter, chat by chat (Quy chế 174 Art. 5).

One rule (`handlers/audience.py`) decides, for each chat a message about a case goes to:
- the phone a reporter shared reaches only the groups of the ward they reported to (or the
  province group while it stands in for that ward, which has no group), and only while the
  case is that ward's: merges and reassignments do not carry it elsewhere;
- phone numbers and emails typed into a report are masked everywhere outside the groups of
  the case's own ward;
- the card shows the shared phone alone, never the reporter's Telegram name.
Every path into a group goes through it: cards, their redraws, posts under the case, answers,
joined reports, escalation, reassignment, merges, /case.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from bot import db
from bot.app import Hotline
from bot.i18n import t
from handlers.audience import mask_contacts
from models.tables import Case, Outbox
from tests.harness import Person
from tests.test_duplicates import T0, Clock, file_at, latest_case
from tests.test_officer import card_sent, link_group, prompt_sent
from tests.test_security import leaks

SHARED = "+84912340055"  # the phone the reporter shares with the button
TYPED = "0912 340 066"  # a phone number typed into an anonymous description
TAM_THANH = "05986"
KY_LUA = "06187"
NAME = "Hoàng Thị Xuyến Quỳnh"


def shows(rows: list[Outbox], text: str) -> bool:
    return any(text in json.dumps(r.payload, ensure_ascii=False) for r in rows)


def typed_digits(rows: list[Outbox]) -> bool:
    return any(
        leaks(json.dumps(r.payload, ensure_ascii=False), phone="+84912340066") for r in rows
    )


@pytest.fixture
async def hl(hotline: Hotline) -> AsyncIterator[Hotline]:
    hotline.deps.user_messages_per_minute = 10_000
    hotline.deps.limits.now = Clock(T0)
    yield hotline


async def add_information(citizen: Person, case_id: int, text: str) -> None:
    """/mycases ➕ on a case (followed to the case it was merged into), a text, Send."""
    await citizen.command("mycases")
    await citizen.press(f"c1:add:{case_id}")
    data = await citizen.draft()
    await citizen.text(text)
    await citizen.press(f"c1:fu:done:{data['case_id']}")
    assert "Đã chuyển phần bổ sung" in " ".join(await citizen.texts())


async def test_a_cross_ward_merge_does_not_carry_the_phone_to_the_other_ward(hl: Hotline) -> None:
    """Issue 8, item 8: a Kỳ Lừa case whose reporter shared a phone with Kỳ Lừa, merged by
    the province into a Tam Thanh case; the reporter adds information: Tam Thanh's group
    received `+84912340055 (Dân400005)`."""
    ky_lua = await link_group(hl, "-1001", ward=KY_LUA)
    tam_thanh = await link_group(hl, "-1004", ward=TAM_THANH)
    province = await link_group(hl, "-2000", ward=None)
    sharer = Person(hl, "1001", name="Dân400005")
    shared = await file_at(sharer, phone=SHARED)
    assert shows(await ky_lua.new_messages(), SHARED)
    other = await file_at(Person(hl, "1002"), at=None, address="phuong Tam Thanh", ward=TAM_THANH)
    await province.command("merge", f"{shared.code} {other.code}")
    assert "Đã gộp" in " ".join(await province.texts())
    await add_information(sharer, shared.id or 0, "Tối nay khói lại bốc lên rất nhiều.")
    posted = await tam_thanh.new_messages()
    assert any("Tối nay khói" in r.payload.get("text", "") for r in posted)
    assert not shows(posted, "912340055") and not shows(posted, "Dân400005")
    assert t("vi", "card.contact_ward_only") in " ".join(r.payload.get("text", "") for r in posted)
    assert not shows(await province.new_messages(), "912340055")


async def test_a_phone_typed_into_an_anonymous_report_is_masked_outside_its_ward(
    hl: Hotline,
) -> None:
    """Issue 8, item 9: the province's stand-in card showed a phone number typed into an
    anonymous report verbatim; so did everything posted under it."""
    province = await link_group(hl, "-2000", ward=None)
    citizen = Person(hl, "1001")
    case = await file_at(
        citizen, description=f"Khói đen cả tối, gọi chị Lan {TYPED} để chỉ đường."
    )
    card = await province.new_messages()
    assert card and not typed_digits(card)
    assert t("vi", "card.masked_phone") in card[0].payload["text"]
    await card_sent(hl, "-2000", case.id or 0)
    await add_information(citizen, case.id or 0, f"Số nhà bên cạnh: {TYPED}, mail lan@example.vn")
    posted = await province.new_messages()
    assert posted and not typed_digits(posted) and not shows(posted, "lan@example.vn")
    await province.command("case", case.code)  # the card again, and the log book
    again = await province.new_messages()
    assert any("Sổ nhật ký" in r.payload.get("text", "") for r in again)
    assert not typed_digits(again)

    # The ward's own group, once linked, sees what the reporter wrote, as written.
    ky_lua = await link_group(hl, "-1001", ward=KY_LUA)
    await ky_lua.command("case", case.code)
    assert typed_digits(await ky_lua.new_messages())


async def test_the_card_shows_a_shared_phone_alone(hl: Hotline) -> None:
    """Issue 8, item 10: the card showed the reporter's Telegram name next to the phone,
    which the reporter was not told."""
    ward = await link_group(hl, "-1001", ward=KY_LUA)
    await file_at(Person(hl, "1001", name=NAME), phone=SHARED)
    rows = await ward.new_messages()
    assert shows(rows, SHARED)
    assert (
        leaks(json.dumps([r.payload for r in rows], ensure_ascii=False), name=NAME, phone="+1")
        == []
    )


async def test_the_province_standing_in_for_a_ward_sees_the_phone_shared_with_it(
    hl: Hotline,
) -> None:
    """Issue 9: the reporter who shared a phone with a ward that has no group was told that
    officers could call, but nobody could see the number. The province group, which receives
    for that ward, sees it, until the ward links its own group."""
    province = await link_group(hl, "-2000", ward=None)
    citizen = Person(hl, "1001")
    await citizen.command("report")
    await citizen.press("c1:cat:emissions")
    await citizen.location(21.85926, 106.75417)
    await citizen.press(f"c1:ward:{KY_LUA}")
    await citizen.press("c1:ev:done")
    await citizen.text("Khói đen bốc ra từ nhà máy gạch mỗi tối, cả khu phố ngạt thở.")
    await citizen.press("c1:nat:recurring")
    await citizen.new_messages()
    await citizen.press("c1:src:skip")
    (question,) = await citizen.texts()
    # The contact step says who will see the number: no ward group, so the province's.
    assert question == t(
        "vi", "intake.ask_contact_stand_in", ward="Phường Kỳ Lừa", province="Lạng Sơn"
    )
    await citizen.contact(SHARED)
    await citizen.press("c1:sum:ok")
    case = await latest_case(hl)
    (card,) = [r for r in await province.new_messages() if r.kind == "message"]
    assert SHARED in card.payload["text"]

    # Kỳ Lừa links its group: it receives the case from now on; the province's card no
    # longer shows the phone (the province no longer stands in for the ward).
    await card_sent(hl, "-2000", case.id or 0)
    ky_lua = await link_group(hl, "-1001", ward=KY_LUA)
    await ky_lua.command("case", case.code)
    assert shows(await ky_lua.new_messages(), SHARED)
    await province.press(f"c1:ack:{case.id}")
    edits = [r for r in await province.new_messages() if r.kind == "edit"]
    assert edits and not shows(edits, "912340055")


async def test_reassignment_does_not_carry_the_phone_to_the_new_ward(hl: Hotline) -> None:
    """The phone was given to the ward the reporter chose; another ward taking the case over
    does not get it, and the reporter is told so."""
    ky_lua = await link_group(hl, "-1001", ward=KY_LUA)
    tam_thanh = await link_group(hl, "-1004", ward=TAM_THANH)
    citizen = Person(hl, "1001")
    case = await file_at(citizen, phone=SHARED)
    assert shows(await ky_lua.new_messages(), SHARED)
    await card_sent(hl, "-1001", case.id or 0)
    await ky_lua.press(f"c1:rsg:{case.id}")
    await prompt_sent(hl, ky_lua, 7002)
    await citizen.new_messages()
    await ky_lua.text("Tam Thanh", reply_to_message_id=7002)
    await ky_lua.press(f"c1:rsw:{case.id}:05986")  # confirmed
    async with hl.sessionmaker() as s:
        assert (await s.get(Case, case.id)).ward_code == TAM_THANH  # type: ignore[union-attr]
    rows = await tam_thanh.new_messages()
    assert rows and not shows(rows, "912340055")
    told = " ".join(await citizen.texts())
    assert (
        t(
            "vi",
            "notify.contact_kept",
            code=case.code,
            ward="Phường Kỳ Lừa",
            new_ward="Phường Tam Thanh",
        )
        in told
    )


def test_masking_hides_phone_numbers_and_emails_and_keeps_the_rest() -> None:
    hidden = t("vi", "card.masked_phone")
    for phone in (
        "0912340055",
        "0912 340 055",
        "091.234.0055",
        "+84 912 340 055",
        "+84-912-340-055",
        "84912340055",
        "(0205) 3812 345",
        "+1 (415) 555-2671",
    ):
        masked = mask_contacts(f"gọi {phone} nhé")
        assert masked == f"gọi {hidden} nhé", (phone, masked)
    two = mask_contacts("0912340055 0987654321")
    assert two == f"{hidden} {hidden}"
    assert mask_contacts("mail lan.nguyen+x@so-tnmt.langson.gov.vn.") == (
        f"mail {t('vi', 'card.masked_email')}."
    )
    for kept in (
        "PA20-000123",
        "ngày 23/11/2026 lúc 07:30",
        "2026-11-23 14:30",
        "1.000.000.000 đồng",
        "21.85926, 106.75417",
        "phường 06187",
        "số 12 ngõ 34",
    ):
        assert mask_contacts(kept) == kept


async def test_nothing_else_reaches_another_ward(hl: Hotline) -> None:
    """Over a whole story (filing, a follow-up, a merge, a reassignment, /case), no row to
    a group other than the contact's ward carries the shared phone, nor the typed one."""
    ky_lua = await link_group(hl, "-1001", ward=KY_LUA)
    tam_thanh = await link_group(hl, "-1004", ward=TAM_THANH)
    province = await link_group(hl, "-2000", ward=None)
    sharer = Person(hl, "1001")
    first = await file_at(sharer, phone=SHARED, description=f"Khói đen, gọi {TYPED} để chỉ đường.")
    second = await file_at(Person(hl, "1002"), at=None, address="phuong Tam Thanh", ward=TAM_THANH)
    await card_sent(hl, "-1001", first.id or 0, 7001)
    await card_sent(hl, "-1004", second.id or 0, 7002)
    await add_information(sharer, first.id or 0, f"Thêm: số {TYPED}")
    await ky_lua.press(f"c1:esc:{first.id}")
    await prompt_sent(hl, ky_lua, 7003)
    await ky_lua.text("Vượt thẩm quyền phường", reply_to_message_id=7003)
    await province.command("case", first.code)
    await province.command("merge", f"{first.code} {second.code}")
    await add_information(sharer, first.id or 0, "Lại có khói")
    await tam_thanh.command("case", second.code)
    async with hl.sessionmaker() as s:
        rows = list((await s.exec(select(Outbox).order_by(col(Outbox.id)))).all())
    for row in rows:
        if row.chat_id in ("-1004", "-2000"):
            payload = json.dumps(row.payload, ensure_ascii=False)
            assert leaks(payload, phone=SHARED) == [], (row.id, row.chat_id, payload[:300])
            assert leaks(payload, phone="+84912340066") == [], (row.id, row.chat_id)


async def test_the_migration_fills_in_where_each_shared_phone_was_given(db_url: str) -> None:
    """0004: cases and joined reporters that shared a phone before it get the ward they
    gave it to, from the log book (the filing ward before a reassignment; the ward of the
    case a merged reporter came from)."""
    await db.upgrade_async(db_url, "0003")
    engine = db.make_engine(db_url)
    t0 = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)
    try:
        async with engine.begin() as conn:
            for rid in (1, 2, 3, 4):
                await conn.execute(
                    text(
                        "INSERT INTO reporter (id, channel, user_id, chat_id, language_chosen,"
                        " unreachable, created_at) VALUES (:id, 'telegram', :u, :u, false,"
                        " false, :at)"
                    ),
                    {"id": rid, "u": str(1000 + rid), "at": t0},
                )
            cases = [  # id, ward now, reporter, shared (3 is merged into 2 below)
                (1, TAM_THANH, 1, True),
                (2, TAM_THANH, 2, False),
                (3, KY_LUA, 3, True),
            ]
            for cid, ward, rid, shared in cases:
                await conn.execute(
                    text(
                        'INSERT INTO "case" (id, code, province_code, seq, ward_code, category,'
                        " status, location_source, nature, description, description_language,"
                        " reporter_id, contact_shared, contact_phone, channel, filed_at,"
                        " verify_due_at, updated_at, urgent, province_owned, reopened_count,"
                        " merged_into_id) VALUES (:id, :code, '20', :id, :ward, 'odour', 'new',"
                        " 'address', 'now', 'mùi hôi quá', 'vi', :rid, :shared, :phone,"
                        " 'telegram', :at, :at, :at, false, false, 0, NULL)"
                    ),
                    {
                        "id": cid,
                        "code": f"PA20-{cid:06d}",
                        "ward": ward,
                        "rid": rid,
                        "shared": shared,
                        "phone": SHARED if shared else None,
                        "at": t0,
                    },
                )
            await conn.execute(text('UPDATE "case" SET merged_into_id = 2 WHERE id = 3'))
            await conn.execute(
                text(
                    "INSERT INTO case_event (case_id, at, actor, action, from_status,"
                    " to_status, note) VALUES (1, :at, 'x', 'reassign', 'new', 'new',"
                    " '06187 -> 05986')"
                ),
                {"at": t0 + timedelta(hours=1)},
            )
            for rid, joined_at in ((3, t0 + timedelta(hours=2)), (4, t0 + timedelta(hours=3))):
                await conn.execute(
                    text(
                        "INSERT INTO case_reporter (case_id, reporter_id, joined_at,"
                        " contact_shared, contact_phone) VALUES (2, :rid, :at, true, :phone)"
                    ),
                    {"rid": rid, "at": joined_at, "phone": SHARED},
                )
        await db.upgrade_async(db_url)
        async with engine.connect() as conn:
            by_case = dict(
                (await conn.execute(text('SELECT id, contact_ward_code FROM "case"'))).all()
            )
            by_row = dict(
                (
                    await conn.execute(
                        text("SELECT reporter_id, contact_ward_code FROM case_reporter")
                    )
                ).all()
            )
    finally:
        await engine.dispose()
    assert by_case == {1: KY_LUA, 2: None, 3: KY_LUA}
    assert by_row == {3: KY_LUA, 4: TAM_THANH}
