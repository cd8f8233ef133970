"""The duplicate lookup at Confirm: spatial bounds in SQL, an index behind them, same answers.

Both databases (the `any_hotline` / `db_url` fixtures). tests/test_duplicates.py covers the
offer, joining and merging; this file covers what the lookup reads and that it finds what
measuring every open case of the category would find.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, inspect, text
from sqlmodel import select

from bot import db, services
from bot.app import Hotline
from handlers import duplicates
from handlers.context import Turn
from handlers.events import Event
from models.enums import CaseStatus
from models.tables import Case, CaseReporter, geo_cell
from tests.harness import KY_LUA

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
HOURS = 48.0
RADIUS_M = 500.0


def north(metres: float, lat: float = KY_LUA[0], lon: float = KY_LUA[1]) -> tuple[float, float]:
    """A point `metres` due north (negative: south) of (lat, lon)."""
    return lat + math.degrees(metres / 6_371_008.8), lon


async def add_case(
    hotline: Hotline,
    reporter: str,
    ward: str,
    *,
    at: tuple[float, float] | None = None,
    category: str = "emissions",
    filed: datetime = NOW - timedelta(hours=1),
    status: str = CaseStatus.NEW.value,
) -> Case:
    """File a case the way intake does (services.create_case), then set its status."""
    async with db.session_scope(hotline.sessionmaker) as s:
        person = await services.get_reporter(s, "telegram", reporter)
        case = await services.create_case(
            s,
            province_code="20",
            reporter=person,
            fields={
                "ward_code": ward,
                "category": category,
                "latitude": at[0] if at else None,
                "longitude": at[1] if at else None,
                "address": None if at else "địa chỉ",
                "location_source": "gps" if at else "address",
                "nature": "now",
                "description": "Khói đen bốc ra từ lò gạch mỗi tối.",
                "description_language": "vi",
                "channel": "telegram",
            },
            evidence=[],
            verify_hours=24,
            actor="reporter",
            now=filed,
        )
        case.status = status
        return case


async def find(hotline: Hotline, draft: dict[str, Any], reporter_id: int = 0) -> list[Case]:
    """The lookup as Confirm runs it."""
    async with db.session_scope(hotline.sessionmaker) as s:
        event_ = Event(
            channel="telegram", chat_id="1", chat_type="private", user_id="1", kind="text"
        )
        turn = Turn(hotline.deps, s, event_, None)  # type: ignore[arg-type]
        return await duplicates.find_duplicates(turn, draft, reporter_id, NOW)


@contextmanager
def loaded_cases() -> Iterator[list[int]]:
    """Ids of the Case rows the ORM loads from the database meanwhile."""
    ids: list[int] = []

    def on_load(target: Case, _: Any) -> None:
        ids.append(target.id or 0)

    event.listen(Case, "load", on_load)
    try:
        yield ids
    finally:
        event.remove(Case, "load", on_load)


async def far_away_cases(hotline: Hotline, count: int) -> None:
    """Open cases of the same category elsewhere in the province: pins and addresses."""
    gaz = hotline.deps.gazetteer
    far = [w for w in gaz.wards() if w.code not in ("06187", "06193", "05977", "05983")]
    rnd = random.Random(count)
    rows = []
    for number in range(count):
        ward = rnd.choice(far)
        pinned = number % 2 == 0
        rows.append(
            {
                "code": f"PA20-9{number:05d}",
                "province_code": "20",
                "seq": 900_000 + number,
                "ward_code": ward.code,
                "category": "emissions",
                "status": CaseStatus.NEW.value,
                "latitude": ward.lat if pinned else None,
                "longitude": ward.lon if pinned else None,
                "geo_cell": geo_cell(ward.lat, ward.lon) if pinned else None,
                "address": None if pinned else "địa chỉ",
                "location_source": "gps" if pinned else "address",
                "nature": "now",
                "description": "Khói bụi từ xưởng.",
                "description_language": "vi",
                "reporter_id": 1,
                "contact_shared": False,
                "channel": "telegram",
                "filed_at": NOW - timedelta(hours=rnd.uniform(0, 47)),
                "updated_at": NOW,
                "verify_due_at": NOW,
                "urgent": False,
                "province_owned": False,
                "reopened_count": 0,
            }
        )
    async with db.session_scope(hotline.sessionmaker) as s:
        await services.get_reporter(s, "telegram", "elsewhere")  # reporter id 1
    async with db.session_scope(hotline.sessionmaker) as s:
        await s.exec(insert(Case), params=rows)  # type: ignore[call-overload]


@pytest.fixture
async def hl(any_hotline: Hotline) -> AsyncIterator[Hotline]:
    any_hotline.deps.duplicate_radius_m = RADIUS_M
    any_hotline.deps.duplicate_hours = HOURS
    yield any_hotline


async def test_only_cases_near_the_report_are_read(hl: Hotline) -> None:
    """Open cases of the category elsewhere in the province are not even loaded."""
    await far_away_cases(hl, 60)
    pin_near = await add_case(hl, "2001", "06187", at=north(200))
    pin_edge = await add_case(hl, "2002", "06187", at=north(-450))
    by_address = await add_case(hl, "2003", "06187")  # Kỳ Lừa's centroid
    with loaded_cases() as loaded:
        found = await find(
            hl,
            {
                "category": "emissions",
                "latitude": KY_LUA[0],
                "longitude": KY_LUA[1],
                "ward_code": "06187",
            },
        )
    assert [c.id for c in found] == [by_address.id, pin_near.id, pin_edge.id]
    assert sorted(loaded) == sorted(c.id for c in found)  # it loaded every open case: 63


async def test_a_pile_of_reports_at_one_place_is_read_only_as_far_as_offered(
    hl: Hotline,
) -> None:
    """A surge at one factory: the nearest are offered, and no more than READ_AT_MOST of
    the cases piled up there are loaded (before: every one, at every Confirm)."""
    pile = [await add_case(hl, f"3{n:03d}", "06187", at=north(300)) for n in range(70)]
    nearer = [await add_case(hl, f"4{n:03d}", "06187", at=north(100)) for n in range(2)]
    with loaded_cases() as loaded:
        found = await find(
            hl,
            {
                "category": "emissions",
                "latitude": KY_LUA[0],
                "longitude": KY_LUA[1],
                "ward_code": "06187",
            },
        )
    # The two nearer ones, newest first, then the newest of the pile.
    assert [c.id for c in found] == [nearer[1].id, nearer[0].id, pile[-1].id]
    assert len(loaded) <= duplicates.READ_AT_MOST < len(pile)


async def test_the_lookup_is_served_by_an_index(hl: Hotline) -> None:
    """The statement Confirm runs, explained by the database itself, uses the new indexes."""
    await far_away_cases(hl, 20)
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if 'FROM "case"' in statement or "FROM case" in statement:
            statements.append((statement, params))

    engine = hl.engine.sync_engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        await find(
            hl,
            {
                "category": "emissions",
                "latitude": KY_LUA[0],
                "longitude": KY_LUA[1],
                "ward_code": "06187",
            },
        )
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    (statement, params), *_ = statements
    async with hl.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
            plan = " ".join(str(row[-1]) for row in rows)
        else:
            await conn.execute(text("SET enable_seqscan = off"))  # tiny tables: ask anyway
            rows = await conn.exec_driver_sql(f"EXPLAIN {statement}", params)
            plan = " ".join(str(row[0]) for row in rows)
            await conn.execute(text("RESET enable_seqscan"))
    assert "ix_case_dup_pin" in plan and "ix_case_dup_ward" in plan, plan


async def test_the_lookup_finds_what_measuring_every_open_case_finds(hl: Hotline) -> None:
    """Random cases around Kỳ Lừa (pins, addresses, categories, statuses, ages, reporters):
    the bounded lookup offers exactly what the former full lookup offered."""
    gaz = hl.deps.gazetteer
    rnd = random.Random(13)
    wards = ["06187", "06193", "05977", "05983", "06184"]
    statuses = [s.value for s in CaseStatus]
    for number in range(70):
        ward = gaz.ward(rnd.choice(wards))
        assert ward is not None and ward.lat is not None and ward.lon is not None
        at = None
        if rnd.random() < 0.6:
            at = (ward.lat + rnd.uniform(-0.01, 0.01), ward.lon + rnd.uniform(-0.01, 0.01))
        await add_case(
            hl,
            str(3000 + number % 9),
            ward.code,
            at=at,
            category=rnd.choice(["emissions", "noise"]),
            filed=NOW - timedelta(hours=rnd.uniform(0, 60)),
            status=rnd.choice(statuses),
        )
    async with db.session_scope(hl.sessionmaker) as s:
        everything = list((await s.exec(select(Case))).all())
        joined = list((await s.exec(select(CaseReporter))).all())
    drafts = []
    for _ in range(40):
        ward = gaz.ward(rnd.choice(wards))
        assert ward is not None and ward.lat is not None and ward.lon is not None
        draft: dict[str, Any] = {
            "category": rnd.choice(["emissions", "noise"]),
            "ward_code": ward.code,
        }
        if rnd.random() < 0.6:
            draft.update(
                latitude=ward.lat + rnd.uniform(-0.01, 0.01),
                longitude=ward.lon + rnd.uniform(-0.01, 0.01),
            )
        drafts.append((draft, everything[rnd.randrange(len(everything))].reporter_id))
    offered = 0
    for draft, reporter_id in drafts:
        expected = full_lookup(hl, everything, joined, draft, reporter_id)
        got = [c.id for c in await find(hl, draft, reporter_id)]
        assert got == expected, draft
        offered += bool(got)
    assert 5 < offered < len(drafts)  # both outcomes well represented


def full_lookup(
    hl: Hotline,
    cases: list[Case],
    joined: list[CaseReporter],
    draft: dict[str, Any],
    reporter_id: int,
) -> list[int]:
    """What Confirm offered before: every open, unmerged case of the category in the window
    not filed or joined by the reporter, measured from the draft, nearest (then newest) first."""
    gaz = hl.deps.gazetteer
    here = duplicates.position(
        gaz, draft.get("latitude"), draft.get("longitude"), draft["ward_code"]
    )
    assert here is not None
    mine = {j.case_id for j in joined if j.reporter_id == reporter_id}
    near = []
    for case in cases:
        if (
            case.category != draft["category"]
            or case.status not in ("new", "acknowledged", "verifying")
            or case.merged_into_id is not None
            or not NOW - timedelta(hours=HOURS) <= case.filed_at <= NOW
            or case.reporter_id == reporter_id
            or case.id in mine
        ):
            continue
        there = duplicates.position(gaz, case.latitude, case.longitude, case.ward_code)
        if there is not None and duplicates.distance_m(*here, *there) <= RADIUS_M:
            near.append((duplicates.distance_m(*here, *there), -(case.id or 0), case.id or 0))
    return [case_id for *_, case_id in sorted(near)[: duplicates.MAX_OFFERED]]


async def test_a_wide_radius_still_finds_every_case(hl: Hotline) -> None:
    """With a radius of 30 km the bounds cover many squares: nothing in reach is lost."""
    hl.deps.duplicate_radius_m = 30_000
    gaz = hl.deps.gazetteer
    made = []
    for number, code in enumerate(["06187", "06193", "05977", "06184", "06151"]):
        ward = gaz.ward(code)
        assert ward is not None and ward.lat is not None and ward.lon is not None
        made.append(await add_case(hl, str(4000 + number), code, at=(ward.lat, ward.lon)))
        made.append(await add_case(hl, str(4100 + number), code))
    async with db.session_scope(hl.sessionmaker) as s:
        everything = list((await s.exec(select(Case))).all())
    draft = {
        "category": "emissions",
        "latitude": KY_LUA[0],
        "longitude": KY_LUA[1],
        "ward_code": "06187",
    }
    duplicates_max = duplicates.MAX_OFFERED
    try:
        duplicates.MAX_OFFERED = 100
        got = {c.id for c in await find(hl, draft, 0)}
    finally:
        duplicates.MAX_OFFERED = duplicates_max
    expected = {
        c.id
        for c in everything
        if duplicates.distance_m(
            *KY_LUA, *duplicates.position(gaz, c.latitude, c.longitude, c.ward_code)
        )
        <= 30_000  # type: ignore[misc]
    }
    assert got == expected and len(expected) >= 6


async def test_the_migration_gives_existing_pins_their_square(db_url: str) -> None:
    """Cases filed before 0006 get their square from their pin; downgrading drops it."""
    await asyncio.to_thread(db.downgrade, db_url, "base")
    from alembic import command

    config = db.alembic_config(db_url)
    await asyncio.to_thread(command.upgrade, config, "0003")
    engine = db.make_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO reporter (id, channel, user_id, chat_id, language_chosen,"
                    " unreachable, created_at) VALUES (1, 'telegram', '1', '1', false, false,"
                    " :now)"
                ),
                {"now": NOW},
            )
            for number, (lat, lon) in enumerate([KY_LUA, (21.0285, 105.8542), (None, None)]):
                await conn.execute(
                    text(
                        'INSERT INTO "case" (code, province_code, seq, ward_code, category,'
                        " status, latitude, longitude, location_source, nature, description,"
                        " description_language, reporter_id, contact_shared, channel, filed_at,"
                        " verify_due_at, updated_at, urgent, province_owned, reopened_count)"
                        " VALUES (:code, '20', :seq, '06187', 'noise', 'new', :lat, :lon,"
                        " 'gps', 'now', 'x', 'vi', 1, false, 'telegram', :now, :now, :now,"
                        " false, false, 0)"
                    ),
                    {
                        "code": f"PA20-{number:06d}",
                        "seq": number,
                        "lat": lat,
                        "lon": lon,
                        "now": NOW,
                    },
                )
        await db.upgrade_async(db_url)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text('SELECT latitude, longitude, geo_cell FROM "case" ORDER BY seq')
                )
            ).all()
        assert [row[2] for row in rows] == [geo_cell(row[0], row[1]) for row in rows]
        assert rows[0][2] is not None and rows[2][2] is None
        await asyncio.to_thread(command.downgrade, config, "0003")
        async with engine.connect() as conn:
            columns = await conn.run_sync(
                lambda c: [column["name"] for column in inspect(c).get_columns("case")]
            )
        assert "geo_cell" not in columns
    finally:
        await engine.dispose()
