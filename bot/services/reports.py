"""What the province's reports read: cases filed in a period."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.tables import (
    Case,
)


def _filed_between(
    province_code: str, start: datetime, end: datetime, ward_code: str | None
) -> list[Any]:
    """Conditions on `case` for the cases of a province (or ward) filed in [start, end)."""
    conditions = [
        Case.province_code == province_code,
        col(Case.filed_at) >= start,
        col(Case.filed_at) < end,
    ]
    if ward_code is not None:
        conditions.append(Case.ward_code == ward_code)
    return conditions


async def cases_filed_between(
    session: AsyncSession,
    province_code: str,
    start: datetime,
    end: datetime,
    *,
    ward_code: str | None = None,
) -> list[Case]:
    """Cases filed in [start, end), oldest first; merged duplicates included (as ORM
    objects: for a few; reports aggregate in SQL, see `bot.reports`)."""
    stmt = (
        select(Case)
        .where(*_filed_between(province_code, start, end, ward_code))
        .order_by(col(Case.filed_at), col(Case.id))
    )
    return list((await session.exec(stmt)).all())
