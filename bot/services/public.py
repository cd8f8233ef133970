"""What the public may see of the cases: published results, figures, one case's public page.

Privacy by construction (Quy chế 174 Art. 5): these queries select only the public columns
(code, category, ward, dates, status, the officer's result and whether it is published);
the description, suspected source, address, coordinates, evidence and anything of the
reporter are never read here, so no page or API built on them can leak them.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.deadlines import DeadlinePolicy
from models.enums import CaseStatus
from models.tables import Case

CLOSED_STATUSES = (CaseStatus.RESOLVED.value, CaseStatus.REJECTED.value)


@dataclass(frozen=True)
class PublicCase:
    """A case as the public sees it."""

    code: str
    category: str
    ward_code: str
    status: str
    filed_at: datetime
    closed_at: datetime | None
    updated_at: datetime
    reject_reason: str | None
    result_public: bool
    # The officer's result text, only when the case is closed and its result is published.
    result_text: str | None

    @property
    def closed(self) -> bool:
        """Resolved or rejected."""
        return self.status in CLOSED_STATUSES


_CASES: Any = Case.__table__  # type: ignore[attr-defined]
_C: Any = _CASES.c
_PUBLIC_COLUMNS = (
    _C.code,
    _C.category,
    _C.ward_code,
    _C.status,
    _C.filed_at,
    _C.closed_at,
    _C.updated_at,
    _C.reject_reason,
    _C.result_public,
    _C.result_text,
)


async def _rows(session: AsyncSession, stmt: Any) -> list[Any]:
    """Rows of a Core statement (selected columns, not models)."""
    return list((await session.exec(stmt)).all())


def _public(row: Any) -> PublicCase:
    closed = row.status in CLOSED_STATUSES
    published = bool(row.result_public)
    return PublicCase(
        code=row.code,
        category=row.category,
        ward_code=row.ward_code,
        status=row.status,
        filed_at=row.filed_at,
        closed_at=row.closed_at,
        updated_at=row.updated_at,
        reject_reason=row.reject_reason,
        result_public=published,
        result_text=row.result_text if (closed and published) else None,
    )


def _select() -> Any:
    # Through the ORM's table so UTCDateTime hands the datetimes back UTC-aware.
    return select(*_PUBLIC_COLUMNS).select_from(_CASES)


def _filters(
    province_code: str,
    *,
    ward_code: str | None = None,
    categories: Sequence[str] = (),
    closed_from: datetime | None = None,
    closed_to: datetime | None = None,
) -> list[Any]:
    where = [
        _C.province_code == province_code,
        _C.merged_into_id.is_(None),
        _C.status.in_(CLOSED_STATUSES),
    ]
    if ward_code:
        where.append(_C.ward_code == ward_code)
    if categories:
        where.append(_C.category.in_(list(categories)))
    if closed_from is not None:
        where.append(_C.closed_at >= closed_from)
    if closed_to is not None:
        where.append(_C.closed_at < closed_to)
    return where


async def closed_results(
    session: AsyncSession,
    province_code: str,
    *,
    ward_code: str | None = None,
    category: str | None = None,
    closed_from: datetime | None = None,
    closed_to: datetime | None = None,
    offset: int = 0,
    limit: int = 20,
) -> tuple[list[PublicCase], int]:
    """Closed cases newest first (by closing time), one page of them, and how many in all.

    A case whose result is not published is listed without its result text.
    """
    where = _filters(
        province_code,
        ward_code=ward_code,
        categories=[category] if category else [],
        closed_from=closed_from,
        closed_to=closed_to,
    )
    count = select(func.count()).select_from(_CASES).where(*where)
    total = (await session.exec(count)).scalar_one()  # type: ignore[call-overload]
    stmt = (
        _select()
        .where(*where)
        .order_by(_C.closed_at.desc(), _C.seq.desc())
        .offset(offset)
        .limit(limit)
    )
    rows = await _rows(session, stmt)
    return [_public(r) for r in rows], int(total)


async def public_case(session: AsyncSession, province_code: str, code: str) -> PublicCase | None:
    """One case's public view by its code (merged duplicates: the case they joined)."""
    row = (
        await session.exec(  # type: ignore[call-overload]
            select(_C.merged_into_id).where(
                _C.code == code.upper(), _C.province_code == province_code
            )
        )
    ).first()
    if row is None:
        return None
    if row.merged_into_id is not None:
        stmt = _select().where(_C.id == row.merged_into_id)
    else:
        stmt = _select().where(_C.code == code.upper())
    found = (await session.exec(stmt)).first()  # type: ignore[call-overload]
    return _public(found) if found is not None else None


async def requests_filed_between(
    session: AsyncSession,
    province_code: str,
    start: datetime,
    end: datetime,
    *,
    statuses: Sequence[str] = (),
    categories: Sequence[str] = (),
    limit: int = 1000,
) -> list[PublicCase]:
    """Cases filed in [start, end], newest first, at most `limit` (Open311 requests)."""
    where = [
        _C.province_code == province_code,
        _C.merged_into_id.is_(None),
        _C.filed_at >= start,
        _C.filed_at <= end,
    ]
    if statuses:
        where.append(_C.status.in_(list(statuses)))
    if categories:
        where.append(_C.category.in_(list(categories)))
    stmt = _select().where(*where).order_by(_C.filed_at.desc(), _C.seq.desc()).limit(limit)
    return [_public(r) for r in await _rows(session, stmt)]


async def cases_by_codes(
    session: AsyncSession, province_code: str, codes: Sequence[str]
) -> list[PublicCase]:
    """The public view of the given cases (unknown codes are left out)."""
    wanted = [c.strip().upper() for c in codes if c.strip()]
    if not wanted:
        return []
    stmt = (
        _select()
        .where(
            _C.province_code == province_code,
            _C.merged_into_id.is_(None),
            _C.code.in_(wanted),
        )
        .order_by(_C.seq)
    )
    return [_public(r) for r in await _rows(session, stmt)]


@dataclass
class StatRow:
    """Figures of one ward and category (or a total)."""

    ward_code: str | None
    category: str | None
    received: int = 0
    resolved: int = 0
    rejected: int = 0
    due: int = 0  # result deadline passed, or result given
    met: int = 0  # result given no later than its deadline
    hours: list[float] | None = None

    @property
    def share_met(self) -> float | None:
        """Share of result deadlines met, percent; None when nothing was due."""
        return round(100 * self.met / self.due, 1) if self.due else None

    @property
    def median_hours(self) -> float | None:
        """Median hours from filing to the result, over the closed cases."""
        return round(statistics.median(self.hours), 1) if self.hours else None

    def add(
        self,
        status: str,
        filed_at: datetime,
        closed_at: datetime | None,
        due_at: datetime | None,
        now: datetime,
    ) -> None:
        """Count one case (`closed_at`: when it got its result, None while open)."""
        self.received += 1
        if status == CaseStatus.RESOLVED.value:
            self.resolved += 1
        elif status == CaseStatus.REJECTED.value:
            self.rejected += 1
        if closed_at is not None:
            if self.hours is None:
                self.hours = []
            self.hours.append((closed_at - filed_at).total_seconds() / 3600)
        if due_at is None:
            return
        # As the province report: met when the result came by the deadline; due when met
        # or once the deadline has passed.
        on_time = closed_at is not None and closed_at <= due_at
        if on_time or due_at <= now:
            self.due += 1
            self.met += on_time


@dataclass
class PublicStats:
    """Per ward and category, per ward, per category and in all."""

    cells: dict[tuple[str, str], StatRow]
    by_ward: dict[str, StatRow]
    by_category: dict[str, StatRow]
    total: StatRow


async def public_stats(
    session: AsyncSession,
    province_code: str,
    now: datetime,
    *,
    filed_from: datetime | None = None,
    filed_to: datetime | None = None,
) -> PublicStats:
    """Received, resolved, rejected, result deadlines met and median time to result.

    Merged duplicates are not counted (they are counted in the case they joined).
    """
    where = [_C.province_code == province_code, _C.merged_into_id.is_(None)]
    if filed_from is not None:
        where.append(_C.filed_at >= filed_from)
    if filed_to is not None:
        where.append(_C.filed_at < filed_to)
    stmt = select(
        _C.ward_code,
        _C.category,
        _C.status,
        _C.filed_at,
        _C.closed_at,
        _C.updated_at,
        _C.result_due_at,
    ).where(*where)
    stats = PublicStats(cells={}, by_ward={}, by_category={}, total=StatRow(None, None))
    default_result = DeadlinePolicy().length("result", urgent=False)
    for row in await _rows(session, stmt):
        # As the province report counts (bot/reports.py `_done`, `_due`): a closed case got
        # its result when it closed (its last change for rows without the time); a case
        # filed before deadlines were stored owes the default policy's.
        closed = row.status in CLOSED_STATUSES
        done_at = (row.closed_at or row.updated_at) if closed else None
        due_at = row.result_due_at or row.filed_at + default_result
        args = (row.status, row.filed_at, done_at, due_at, now)
        key = (row.ward_code, row.category)
        for bucket, k, ward, cat in (
            (stats.cells, key, row.ward_code, row.category),
            (stats.by_ward, row.ward_code, row.ward_code, None),
            (stats.by_category, row.category, None, row.category),
        ):
            if k not in bucket:
                bucket[k] = StatRow(ward, cat)  # type: ignore[index]
            bucket[k].add(*args)  # type: ignore[index]
        stats.total.add(*args)
    return stats
