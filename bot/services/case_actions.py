"""Officer tools without a status change: take on, escalate, take over, send back, refer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.cases import note_event
from models.enums import CaseAction
from models.tables import (
    Case,
)
from models.types import utcnow


async def take_case(
    session: AsyncSession, case: Case, *, actor: str, now: datetime | None = None
) -> str | None:
    """Make `actor` the officer handling the case (TAKE line); returns the previous one.

    On a re-assignment the TAKE line's note is the previous assignee (log-book actor form).
    """
    previous = case.assignee
    case.assignee = actor
    await note_event(session, case, CaseAction.TAKE, actor=actor, note=previous, now=now)
    return previous


async def _update_case_if(
    session: AsyncSession, case: Case, condition: Any, **values: Any
) -> bool:
    """One conditional UPDATE of the case row (so concurrent presses have effect once)."""
    done = await session.exec(  # type: ignore[call-overload]
        update(Case)
        .where(col(Case.id) == case.id, condition)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(case)
    return bool(done.rowcount == 1)


async def escalate_case(
    session: AsyncSession, case: Case, *, actor: str, reason: str, now: datetime | None = None
) -> bool:
    """Send the case up to the province (ESCALATE line); False if it is already up there."""
    now = now or utcnow()
    if not await _update_case_if(
        session,
        case,
        col(Case.escalated_at).is_(None),
        escalated_at=now,
        escalation_reason=reason,
        province_owned=False,
    ):
        return False
    await note_event(session, case, CaseAction.ESCALATE, actor=actor, note=reason, now=now)
    return True


async def take_over_case(
    session: AsyncSession, case: Case, *, actor: str, now: datetime | None = None
) -> bool:
    """The province takes an escalated case over (TAKE_OVER line); False if it cannot."""
    from sqlalchemy import and_

    if not await _update_case_if(
        session,
        case,
        and_(col(Case.escalated_at).is_not(None), col(Case.province_owned).is_(False)),
        province_owned=True,
    ):
        return False
    await note_event(session, case, CaseAction.TAKE_OVER, actor=actor, now=now)
    return True


async def send_back_case(
    session: AsyncSession, case: Case, *, actor: str, reason: str, now: datetime | None = None
) -> bool:
    """The province returns an escalated case to its ward (SEND_BACK line with the reason).

    The escalation ends (it may be escalated again later); False if it was not escalated.
    """
    if not await _update_case_if(
        session,
        case,
        col(Case.escalated_at).is_not(None),
        escalated_at=None,
        escalation_reason=None,
        province_owned=False,
    ):
        return False
    await note_event(session, case, CaseAction.SEND_BACK, actor=actor, note=reason, now=now)
    return True


async def refer_case(
    session: AsyncSession,
    case: Case,
    *,
    actor: str,
    agency: str,
    reason: str,
    now: datetime | None = None,
) -> None:
    """Record that the case was referred to another agency (REFER line: agency and reason)."""
    case.referred_to = agency
    await note_event(
        session, case, CaseAction.REFER, actor=actor, note=f"{agency}: {reason}", now=now
    )
