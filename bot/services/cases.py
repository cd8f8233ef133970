"""Cases: filing, status moves through the transition table, the log book, lookups."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.deadlines import DeadlinePolicy
from bot.services.evidence import evidence_row
from models.enums import CaseAction, CaseStatus
from models.tables import (
    Case,
    CaseEvent,
    CaseSequence,
    Reporter,
    geo_cell,
)
from models.transitions import NOTE_ACTIONS, next_status
from models.types import utcnow


async def next_case_number(session: AsyncSession, province_code: str) -> int:
    """Take the next sequence number of the province (unique under concurrent filing)."""
    stmt = (
        update(CaseSequence)
        .where(col(CaseSequence.province_code) == province_code)
        .values(last_value=CaseSequence.last_value + 1)
        .returning(col(CaseSequence.last_value))
    )
    value = (await session.exec(stmt)).scalar_one_or_none()  # type: ignore[call-overload]
    if value is not None:
        return int(value)
    try:
        async with session.begin_nested():
            session.add(CaseSequence(province_code=province_code, last_value=1))
            await session.flush()
        return 1
    except IntegrityError:
        # Another transaction created the row first; take the next number from it.
        value = (await session.exec(stmt)).scalar_one()  # type: ignore[call-overload]
        return int(value)


def format_case_code(province_code: str, number: int) -> str:
    """PA<province>-<6 digits>, e.g. PA20-000123."""
    return f"PA{province_code}-{number:06d}"


async def create_case(
    session: AsyncSession,
    *,
    province_code: str,
    reporter: Reporter,
    fields: dict[str, Any],
    evidence: Sequence[dict[str, Any]],
    verify_hours: float,
    actor: str,
    now: datetime | None = None,
    deadlines: DeadlinePolicy | None = None,
) -> Case:
    """File a case with its evidence and the first log-book line.

    Its deadlines run from `now` under `deadlines` (the hotline's policy; without one,
    the default policy with `verify_hours`). `fields` may mark it urgent.
    """
    now = now or utcnow()
    policy = deadlines or DeadlinePolicy(
        verify_hours=verify_hours, verify_urgent_hours=min(4.0, verify_hours)
    )
    number = await next_case_number(session, province_code)
    case = Case(
        code=format_case_code(province_code, number),
        province_code=province_code,
        seq=number,
        status=CaseStatus.NEW.value,
        reporter_id=reporter.id or 0,
        filed_at=now,
        updated_at=now,
        verify_due_at=now + timedelta(hours=policy.verify_hours),
        **fields,
    )
    if case.contact_shared and case.contact_ward_code is None:
        case.contact_ward_code = case.ward_code  # shared with the ward reported to
    case.geo_cell = geo_cell(case.latitude, case.longitude)  # the duplicate lookup's square
    policy.start(case, now)
    session.add(case)
    await session.flush()
    for item in evidence:
        session.add(evidence_row(case.id or 0, item, from_officer=False, now=now))
    session.add(
        CaseEvent(
            case_id=case.id or 0,
            at=now,
            actor=actor,
            action=CaseAction.FILE.value,
            from_status=None,
            to_status=CaseStatus.NEW.value,
        )
    )
    await session.flush()
    return case


async def apply_action(
    session: AsyncSession,
    case: Case,
    action: CaseAction,
    *,
    actor: str,
    note: str | None = None,
    now: datetime | None = None,
) -> CaseStatus:
    """Move a case through the transition table and write the log-book line."""
    now = now or utcnow()
    current = CaseStatus(case.status)
    target = next_status(action, current)
    case.status = target.value
    case.updated_at = now
    if action in (CaseAction.ACKNOWLEDGE, CaseAction.VERIFY) and case.acknowledged_at is None:
        case.acknowledged_at = now
    if action == CaseAction.VERIFY and case.verified_at is None:
        case.verified_at = now
    if target in (CaseStatus.RESOLVED, CaseStatus.REJECTED):
        case.closed_at = now
    if action == CaseAction.REASSIGN:
        # The new ward starts afresh: nobody there has taken it yet.
        case.acknowledged_at = None
        case.handled_by = None
    else:
        case.handled_by = actor
    session.add(
        CaseEvent(
            case_id=case.id or 0,
            at=now,
            actor=actor,
            action=action.value,
            from_status=current.value,
            to_status=target.value,
            note=note,
        )
    )
    await session.flush()
    return target


async def note_event(
    session: AsyncSession,
    case: Case,
    action: CaseAction,
    *,
    actor: str,
    note: str | None = None,
    now: datetime | None = None,
) -> CaseEvent:
    """Write a log-book line that does not change the status (a note, a question...)."""
    if action not in NOTE_ACTIONS:
        raise ValueError(f"{action.value} changes the status: use apply_action")
    event = CaseEvent(
        case_id=case.id or 0,
        at=now or utcnow(),
        actor=actor,
        action=action.value,
        from_status=case.status,
        to_status=case.status,
        note=note,
    )
    session.add(event)
    await session.flush()
    return event


async def case_events(session: AsyncSession, case_id: int) -> list[CaseEvent]:
    """A case's log book, oldest first."""
    stmt = select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.id))
    return list((await session.exec(stmt)).all())


async def get_case(session: AsyncSession, case_id: int) -> Case | None:
    """A case by id."""
    return await session.get(Case, case_id)


async def cases_of_reporter(
    session: AsyncSession, reporter_id: int, limit: int = 20
) -> list[Case]:
    """The reporter's latest cases."""
    stmt = (
        select(Case)
        .where(Case.reporter_id == reporter_id)
        .order_by(col(Case.id).desc())
        .limit(limit)
    )
    return list((await session.exec(stmt)).all())


async def case_has_event(session: AsyncSession, case_id: int, action: CaseAction) -> bool:
    """Whether the case's log book already has a line of this action."""
    stmt = (
        select(CaseEvent.id)
        .where(CaseEvent.case_id == case_id, CaseEvent.action == action.value)
        .limit(1)
    )
    return (await session.exec(stmt)).first() is not None


async def case_by_code(session: AsyncSession, code: str) -> Case | None:
    """A case by its code (PA20-000123), whatever the letter case typed."""
    stmt = select(Case).where(Case.code == code.strip().upper())
    return (await session.exec(stmt)).first()


async def latest_case_event(
    session: AsyncSession, case_id: int, action: CaseAction, at_or_before: datetime | None = None
) -> CaseEvent | None:
    """The latest log-book line of one kind on a case (written by `at_or_before`, if given)."""
    stmt = select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.action == action.value)
    if at_or_before is not None:
        stmt = stmt.where(col(CaseEvent.at) <= at_or_before)
    stmt = stmt.order_by(col(CaseEvent.id).desc()).limit(1)
    return (await session.exec(stmt)).first()


async def case_events_since(
    session: AsyncSession, case_id: int, action: CaseAction, after_id: int, actor: str
) -> list[CaseEvent]:
    """Log-book lines of one kind and actor on a case, written after line `after_id`."""
    stmt = select(CaseEvent).where(
        CaseEvent.case_id == case_id,
        CaseEvent.action == action.value,
        CaseEvent.actor == actor,
        col(CaseEvent.id) > after_id,
    )
    return list((await session.exec(stmt)).all())
