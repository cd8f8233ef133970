"""Reporters who joined a case, merged cases and the duplicate lookup."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Float, delete, func, literal, union_all
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.enums import CaseStatus
from models.tables import (
    Case,
    CaseReporter,
)
from models.types import utcnow


async def case_reporter_rows(session: AsyncSession, case_id: int) -> list[CaseReporter]:
    """The reporters who joined a case (CaseReporter rows), in joining order."""
    stmt = (
        select(CaseReporter).where(CaseReporter.case_id == case_id).order_by(col(CaseReporter.id))
    )
    return list((await session.exec(stmt)).all())


async def case_reporter_row(
    session: AsyncSession, case_id: int, reporter_id: int
) -> CaseReporter | None:
    """The CaseReporter row of one reporter on a case, if they joined it."""
    stmt = select(CaseReporter).where(
        CaseReporter.case_id == case_id, CaseReporter.reporter_id == reporter_id
    )
    return (await session.exec(stmt)).first()


async def add_case_reporter(
    session: AsyncSession,
    case_id: int,
    reporter_id: int,
    *,
    contact_shared: bool,
    contact_phone: str | None,
    contact_ward_code: str | None = None,
    now: datetime | None = None,
) -> tuple[CaseReporter, bool]:
    """Make a reporter a joined reporter of a case; (row, created). Existing rows stay.

    `contact_ward_code`: the ward a shared phone was given to (the case's, if not given)."""
    existing = await case_reporter_row(session, case_id, reporter_id)
    if existing is not None:
        return existing, False
    row = CaseReporter(
        case_id=case_id,
        reporter_id=reporter_id,
        joined_at=now or utcnow(),
        contact_shared=contact_shared,
        contact_phone=contact_phone if contact_shared else None,
    )
    if contact_shared:
        case = await session.get(Case, case_id)
        row.contact_ward_code = contact_ward_code or (case.ward_code if case else None)
    session.add(row)
    await session.flush()
    return row, True


async def remove_case_reporters(
    session: AsyncSession, case_id: int, reporter_ids: Sequence[int], *, joined_since: datetime
) -> int:
    """Remove the given reporters from a case if they joined it at or after `joined_since`."""
    if not reporter_ids:
        return 0
    result = await session.exec(  # type: ignore[call-overload]
        delete(CaseReporter).where(
            col(CaseReporter.case_id) == case_id,
            col(CaseReporter.reporter_id).in_(list(reporter_ids)),
            col(CaseReporter.joined_at) >= joined_since,
        )
    )
    await session.flush()
    return int(result.rowcount or 0)


async def count_case_reporters(session: AsyncSession, case_id: int) -> int:
    """How many reporters joined a case (besides the one who filed it)."""
    stmt = select(func.count(col(CaseReporter.id))).where(CaseReporter.case_id == case_id)
    return int((await session.exec(stmt)).one())


async def cases_of_reporter_or_joined(
    session: AsyncSession, reporter_id: int, limit: int = 20
) -> list[tuple[Case, bool]]:
    """The reporter's latest cases, filed or joined (True when joined), newest first."""
    joined_ids = select(CaseReporter.case_id).where(CaseReporter.reporter_id == reporter_id)
    stmt = (
        select(Case)
        .where((col(Case.reporter_id) == reporter_id) | col(Case.id).in_(joined_ids))
        .order_by(col(Case.filed_at).desc(), col(Case.id).desc())
        .limit(limit)
    )
    return [(case, case.reporter_id != reporter_id) for case in (await session.exec(stmt)).all()]


async def duplicate_candidates(
    session: AsyncSession,
    *,
    province_code: str,
    category: str,
    filed_since: datetime,
    filed_until: datetime,
    reporter_id: int,
    box: tuple[float, float, float, float],
    squares: Sequence[tuple[int, int]],
    wards: Mapping[str, float],
    origin: tuple[float, float],
    limit: int,
) -> list[Case]:
    """Open, unmerged cases of a category filed in a window, not filed or joined by
    `reporter_id`, that may lie near a point: pinned ones inside `box` (lat_min, lat_max,
    lon_min, lon_max) and in `squares` (ranges of geo_cell), address-only ones of `wards`.

    The caller measures the distance; this only narrows the rows down in the database,
    through ix_case_dup_pin and ix_case_dup_ward (cases elsewhere are not read), and reads
    at most `limit` of them, the nearest to `origin` (lat, lon) first by a flat-earth
    measure (exact enough over a few kilometres to keep the truly nearest among them; the
    caller asks for many more than it offers). `wards` maps each ward to that measure for
    its cases without a pin (they stand at its centroid). So a place where thousands of
    reports pile up (a surge at one factory) costs no more than a quiet one.
    """
    lat_min, lat_max, lon_min, lon_max = box
    joined_ids = select(CaseReporter.case_id).where(CaseReporter.reporter_id == reporter_id)
    common = (
        col(Case.category) == category,
        col(Case.filed_at) >= filed_since,
        col(Case.filed_at) <= filed_until,
        col(Case.status).in_(
            [CaseStatus.NEW.value, CaseStatus.ACKNOWLEDGED.value, CaseStatus.VERIFYING.value]
        ),
        col(Case.merged_into_id).is_(None),
        col(Case.reporter_id) != reporter_id,
        col(Case.id).not_in(joined_ids),
    )
    cell = col(Case.geo_cell)
    lat0, lon0 = origin
    squeeze = math.cos(math.radians(lat0))  # a degree of longitude is this much shorter
    dlat = col(Case.latitude) - lat0
    dlon = (col(Case.longitude) - lon0) * squeeze
    pinned_near = (dlat * dlat + dlon * dlon).label("dup_near")
    case_id = col(Case.id)
    # One SELECT per square (or row of squares) and per ward, joined by UNION ALL: each is
    # planned on its own index with equalities, which both databases pick even without
    # statistics (an OR, or an IN list, was planned on other indexes). They return no case
    # twice: squares and wards do not overlap, and only pinned cases have a square. Each
    # branch selects only the id and the measure: building the union's columns costs per
    # branch and per column in Python (with every column of a case, that was most of a
    # Confirm's CPU); the cases themselves are then read by primary key.
    branches = [
        core_select(case_id, pinned_near).where(
            cell == lo if lo == hi else cell.between(lo, hi),
            *common,
            col(Case.latitude).between(lat_min, lat_max),
            col(Case.longitude).between(lon_min, lon_max),
        )
        for lo, hi in squares
    ]
    branches += [
        core_select(case_id, literal(near, Float).label("dup_near")).where(
            col(Case.ward_code) == ward, *common, col(Case.latitude).is_(None)
        )
        for ward, near in wards.items()
    ]
    found = union_all(*branches).subquery("found")
    nearest = (
        core_select(found.c.id, found.c.dup_near)
        .order_by(found.c.dup_near, found.c.id.desc())
        .limit(limit)
        .subquery("nearest")
    )
    stmt = (
        select(Case)
        .join(nearest, case_id == nearest.c.id)
        .order_by(nearest.c.dup_near, case_id.desc())
    )
    rows = (await session.exec(stmt)).all()
    # The province is checked here, on the few rows read, not in SQL: given a province
    # and a filing window the planners prefer ix_case_province_filed (the reports' index),
    # which reads every case of the province in the window. A place's squares and wards
    # are the province's anyway, except right at its border.
    return [case for case in rows if case.province_code == province_code]


async def cases_merged_into(session: AsyncSession, case_id: int) -> list[Case]:
    """The cases merged into a case."""
    stmt = select(Case).where(Case.merged_into_id == case_id).order_by(col(Case.id))
    return list((await session.exec(stmt)).all())
