"""Storage: migrations up and down, case codes under concurrency, a whole flow — both databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect
from sqlmodel import SQLModel, select

from bot import db, services
from bot.app import Hotline
from models.tables import Case, Reporter
from tests.harness import Person, file_report

EXPECTED_TABLES = {name for name in SQLModel.metadata.tables} | {"alembic_version"}


async def _tables(url: str) -> set[str]:
    engine = db.make_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_migrations_upgrade_downgrade_upgrade(db_url: str) -> None:
    await db.upgrade_async(db_url)
    assert await _tables(db_url) == EXPECTED_TABLES
    await asyncio.to_thread(db.downgrade, db_url, "base")
    assert await _tables(db_url) <= {"alembic_version"}
    await db.upgrade_async(db_url)
    assert await _tables(db_url) == EXPECTED_TABLES


async def test_schema_matches_the_models(db_url: str) -> None:
    """Autogenerate finds nothing to do: the migrations and the tables agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    await db.upgrade_async(db_url)
    engine = db.make_engine(db_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), SQLModel.metadata)
            )
    finally:
        await engine.dispose()
    # Type differences between our UTCDateTime and the migration's DateTime are expected.
    assert [d for d in diff if d[0] != "modify_type"] == []


async def test_case_codes_are_unique_under_concurrent_filing(any_hotline: Hotline) -> None:
    async def file_one(i: int) -> str:
        async with db.session_scope(any_hotline.sessionmaker) as s:
            reporter = await services.get_reporter(s, "telegram", str(5000 + i))
            case = await services.create_case(
                s,
                province_code="20",
                reporter=reporter,
                fields={
                    "ward_code": "06187",
                    "category": "noise",
                    "location_source": "address",
                    "address": "x",
                    "nature": "now",
                    "description": "tiếng ồn quá lớn",
                    "description_language": "vi",
                    "channel": "telegram",
                },
                evidence=[],
                verify_hours=24,
                actor="reporter",
            )
            return case.code

    codes = await asyncio.gather(*(file_one(i) for i in range(20)))
    assert len(set(codes)) == 20
    assert sorted(codes) == [f"PA20-{n:06d}" for n in range(1, 21)]


async def test_whole_flow_on_each_database(any_hotline: Hotline) -> None:
    citizen = Person(any_hotline, "1001")
    code = await file_report(citizen, photos=1, anonymous=False)
    async with any_hotline.sessionmaker() as s:
        case = (await s.exec(select(Case))).one()
        reporter = (await s.exec(select(Reporter))).one()
    assert case.code == code
    assert case.filed_at.tzinfo is not None and case.filed_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert reporter.phone == "+84912345678"


async def test_naive_datetimes_are_refused(any_hotline: Hotline) -> None:
    with pytest.raises(Exception, match="naive"):
        async with db.session_scope(any_hotline.sessionmaker) as s:
            await services.create_link_code(s, "20", "06187", now=datetime(2026, 1, 1))  # noqa: DTZ001
    async with db.session_scope(any_hotline.sessionmaker) as s:
        await services.create_link_code(s, "20", "06187", now=datetime(2026, 1, 1, tzinfo=UTC))
