"""Evidence files of a case."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.tables import (
    Evidence,
)
from models.types import utcnow


async def case_evidence(session: AsyncSession, case_id: int) -> list[Evidence]:
    """A case's files, oldest first."""
    stmt = select(Evidence).where(Evidence.case_id == case_id).order_by(col(Evidence.id))
    return list((await session.exec(stmt)).all())


def evidence_row(
    case_id: int, item: dict[str, Any], *, from_officer: bool, now: datetime
) -> Evidence:
    return Evidence(
        case_id=case_id,
        kind=item["kind"],
        path=item["path"],
        sha256=item["sha256"],
        size=item["size"],
        mime_type=item.get("mime_type"),
        from_officer=from_officer,
        created_at=now,
    )


async def add_evidence(
    session: AsyncSession, case_id: int, item: dict[str, Any], *, from_officer: bool
) -> Evidence:
    """Attach one more file to a case."""
    ev = evidence_row(case_id, item, from_officer=from_officer, now=utcnow())
    session.add(ev)
    await session.flush()
    return ev
