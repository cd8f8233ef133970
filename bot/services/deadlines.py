"""Deadline alerts and daily digests, each recorded once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.enums import OPEN_STATUSES
from models.tables import (
    Case,
    DeadlineAlert,
    DigestRun,
)


async def watched_cases(
    session: AsyncSession, province_code: str, ward_code: str | None = None
) -> list[Case]:
    """Open cases that are not merged into another (of one ward, or the whole province)."""
    stmt = select(Case).where(
        Case.province_code == province_code,
        col(Case.status).in_([s.value for s in OPEN_STATUSES]),
        col(Case.merged_into_id).is_(None),
    )
    if ward_code is not None:
        stmt = stmt.where(Case.ward_code == ward_code)
    return list((await session.exec(stmt.order_by(col(Case.id)))).all())


async def deadline_alerts_sent(
    session: AsyncSession, case_ids: Sequence[int]
) -> set[tuple[int, str, str, int]]:
    """(case id, deadline, stage, cycle) of the alerts already sent for these cases."""
    if not case_ids:
        return set()
    stmt = select(
        DeadlineAlert.case_id, DeadlineAlert.deadline, DeadlineAlert.stage, DeadlineAlert.cycle
    ).where(col(DeadlineAlert.case_id).in_(list(case_ids)))
    return {(c, d, s, n) for c, d, s, n in (await session.exec(stmt)).all()}


async def _insert_once(session: AsyncSession, table: Any, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when this transaction inserted the row."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert_fn = pg_insert if dialect == "postgresql" else sqlite_insert
    result = await session.exec(  # type: ignore[call-overload]
        insert_fn(table).values(**values).on_conflict_do_nothing()
    )
    return bool(result.rowcount == 1)


async def record_deadline_alert(
    session: AsyncSession, case_id: int, deadline: str, stage: str, cycle: int, now: datetime
) -> bool:
    """Record a deadline alert as sent; False when it already was (by anyone, ever).

    Written in the transaction that queues the alert's messages, so it is sent once.
    """
    return await _insert_once(
        session,
        DeadlineAlert.__table__,  # type: ignore[attr-defined]
        {"case_id": case_id, "deadline": deadline, "stage": stage, "cycle": cycle, "sent_at": now},
    )


async def claim_digest(session: AsyncSession, day: str, now: datetime) -> bool:
    """Record the digest of a local day (YYYY-MM-DD) as sent; False when it already was."""
    return await _insert_once(
        session,
        DigestRun.__table__,  # type: ignore[attr-defined]
        {"day": day, "sent_at": now},
    )
