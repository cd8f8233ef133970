"""Services over the database: the only place that reads and writes tables.

Handlers call these with the session of the update being handled; every change and
the outbox rows it causes are committed together by the caller.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.events import Outgoing
from models.enums import CaseAction, CaseStatus, OutboxStatus
from models.tables import (
    Case,
    CaseEvent,
    CaseSequence,
    Conversation,
    Evidence,
    GroupLink,
    InboundUpdate,
    LinkCode,
    MessageRef,
    Outbox,
    Reporter,
)
from models.transitions import next_status
from models.types import utcnow

LINK_CODE_TTL = timedelta(hours=24)
# 12 characters from a 32-letter alphabet without look-alikes: 60 bits, not guessable.
_LINK_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_LINK_LENGTH = 12


# ---------------------------------------------------------------- updates and reporters


async def store_inbound(
    session: AsyncSession, channel: str, update_id: int, payload: dict[str, Any] | None
) -> None:
    """Put an arriving update in the inbox (once: a redelivery leaves the row as it is)."""
    table = InboundUpdate.__table__  # type: ignore[attr-defined]
    values = {
        "channel": channel,
        "update_id": update_id,
        "payload": payload,
        "received_at": utcnow(),
        "failures": 0,
    }
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert_fn = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert_fn(table).values(**values).on_conflict_do_nothing()
    await session.exec(stmt)  # type: ignore[call-overload]


async def claim_update(
    session: AsyncSession, channel: str, update_id: int | None, *more_ids: int
) -> bool:
    """Mark an update (and an album's other updates) processed, with the caller's effects.

    False when it was already processed: a redelivery, which must have no effect. Only
    one transaction can flip `processed_at` from NULL, so concurrent handling of the same
    update has effect once.
    """
    if update_id is None:
        return True
    now = utcnow()
    ids = [update_id, *more_ids]
    for uid in ids:
        existing = await session.get(InboundUpdate, (channel, uid))
        if existing is None:
            session.add(InboundUpdate(channel=channel, update_id=uid, processed_at=now))
            try:
                async with session.begin_nested():
                    await session.flush()
            except IntegrityError:
                return False
            continue
        claimed = await session.exec(  # type: ignore[call-overload]
            update(InboundUpdate)
            .where(
                col(InboundUpdate.channel) == channel,
                col(InboundUpdate.update_id) == uid,
                col(InboundUpdate.processed_at).is_(None),
            )
            .values(processed_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:
            return False
    return True


async def finish_inbound(
    session: AsyncSession, channel: str, update_ids: Sequence[int], *, failed: bool = False
) -> None:
    """Mark updates processed outside of handling (ignored noise, or a poison update)."""
    if not update_ids:
        return
    values: dict[str, Any] = {"processed_at": utcnow()}
    if failed:
        values["failures"] = InboundUpdate.failures + 1
    await session.exec(  # type: ignore[call-overload]
        update(InboundUpdate)
        .where(
            col(InboundUpdate.channel) == channel,
            col(InboundUpdate.update_id).in_(list(update_ids)),
            col(InboundUpdate.processed_at).is_(None),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def pending_inbound(session: AsyncSession, channel: str) -> list[InboundUpdate]:
    """Updates received but never processed (the process stopped), oldest first."""
    stmt = (
        select(InboundUpdate)
        .where(
            InboundUpdate.channel == channel,
            col(InboundUpdate.processed_at).is_(None),
            col(InboundUpdate.payload).is_not(None),
        )
        .order_by(col(InboundUpdate.update_id))
    )
    return list((await session.exec(stmt)).all())


async def get_reporter(
    session: AsyncSession, channel: str, user_id: str, chat_id: str | None = None
) -> Reporter:
    """The reporter for this channel user, created on first contact."""
    stmt = select(Reporter).where(Reporter.channel == channel, Reporter.user_id == user_id)
    reporter = (await session.exec(stmt)).first()
    if reporter is None:
        reporter = Reporter(channel=channel, user_id=user_id, chat_id=chat_id or user_id)
        session.add(reporter)
        await session.flush()
    elif chat_id is not None and reporter.chat_id != chat_id:
        reporter.chat_id = chat_id
    return reporter


# ---------------------------------------------------------------- conversations


async def load_conversation(
    session: AsyncSession, channel: str, user_id: str
) -> Conversation | None:
    """The reporter's conversation in progress, if any."""
    stmt = select(Conversation).where(
        Conversation.channel == channel, Conversation.user_id == user_id
    )
    return (await session.exec(stmt)).first()


async def save_conversation(
    session: AsyncSession,
    channel: str,
    user_id: str,
    chat_id: str,
    state: str,
    data: dict[str, Any],
) -> None:
    """Store where the reporter is and what they typed (survives restarts)."""
    conv = await load_conversation(session, channel, user_id)
    if conv is None:
        conv = Conversation(channel=channel, user_id=user_id, chat_id=chat_id, state=state)
        session.add(conv)
    conv.state = state
    conv.chat_id = chat_id
    conv.data = dict(data)  # a new object so SQLAlchemy sees the JSON change
    conv.updated_at = utcnow()
    await session.flush()


async def clear_conversation(session: AsyncSession, channel: str, user_id: str) -> None:
    """Forget the conversation (after filing or cancelling)."""
    conv = await load_conversation(session, channel, user_id)
    if conv is not None:
        await session.delete(conv)
        await session.flush()


# ---------------------------------------------------------------- outbox


async def enqueue(
    session: AsyncSession, channel: str, message: Outgoing, *, case_id: int | None = None
) -> Outbox:
    """Write a message to the outbox; it is sent after the surrounding transaction commits."""
    row = Outbox(
        channel=channel,
        chat_id=message.chat_id,
        kind=message.kind,
        payload=message.to_payload(),
        case_id=case_id if case_id is not None else message.case_id,
    )
    session.add(row)
    await session.flush()
    return row


async def due_outbox(session: AsyncSession, now: datetime, limit: int = 100) -> list[Outbox]:
    """Pending rows that are due, oldest first, at most one per chat (keeps per-chat order)."""
    first_per_chat = (
        select(func.min(Outbox.id))
        .where(Outbox.status == OutboxStatus.PENDING.value)
        .group_by(Outbox.channel, Outbox.chat_id)
    )
    stmt = (
        select(Outbox)
        .where(col(Outbox.id).in_(first_per_chat), Outbox.next_attempt_at <= now)
        .order_by(col(Outbox.id))
        .limit(limit)
    )
    return list((await session.exec(stmt)).all())


async def next_outbox_due_at(session: AsyncSession) -> datetime | None:
    """When the next pending row becomes due."""
    stmt = select(func.min(Outbox.next_attempt_at)).where(
        Outbox.status == OutboxStatus.PENDING.value
    )
    return (await session.exec(stmt)).first()


async def remember_message(
    session: AsyncSession,
    channel: str,
    chat_id: str,
    message_id: int,
    case_id: int,
    purpose: str,
    extra: dict[str, Any] | None = None,
) -> None:
    """Keep a sent card or prompt so later presses and replies can find their case."""
    session.add(
        MessageRef(
            channel=channel,
            chat_id=chat_id,
            message_id=message_id,
            case_id=case_id,
            purpose=purpose,
            extra=extra or {},
        )
    )
    await session.flush()


async def find_message(
    session: AsyncSession, channel: str, chat_id: str, message_id: int
) -> MessageRef | None:
    """The remembered message with this id in this chat."""
    stmt = select(MessageRef).where(
        MessageRef.channel == channel,
        MessageRef.chat_id == chat_id,
        MessageRef.message_id == message_id,
    )
    return (await session.exec(stmt)).first()


async def messages_of_case(
    session: AsyncSession, case_id: int, chat_id: str, purpose: str
) -> list[MessageRef]:
    """Remembered messages of a case in a chat."""
    stmt = select(MessageRef).where(
        MessageRef.case_id == case_id,
        MessageRef.chat_id == chat_id,
        MessageRef.purpose == purpose,
    )
    return list((await session.exec(stmt)).all())


# ---------------------------------------------------------------- cases


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
) -> Case:
    """File a case with its evidence and the first log-book line."""
    now = now or utcnow()
    number = await next_case_number(session, province_code)
    case = Case(
        code=format_case_code(province_code, number),
        province_code=province_code,
        seq=number,
        status=CaseStatus.NEW.value,
        reporter_id=reporter.id or 0,
        filed_at=now,
        updated_at=now,
        verify_due_at=now + timedelta(hours=verify_hours),
        **fields,
    )
    session.add(case)
    await session.flush()
    for item in evidence:
        session.add(_evidence_row(case.id or 0, item, from_officer=False, now=now))
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


async def get_case(session: AsyncSession, case_id: int) -> Case | None:
    """A case by id."""
    return await session.get(Case, case_id)


async def case_evidence(session: AsyncSession, case_id: int) -> list[Evidence]:
    """A case's files, oldest first."""
    stmt = select(Evidence).where(Evidence.case_id == case_id).order_by(col(Evidence.id))
    return list((await session.exec(stmt)).all())


def _evidence_row(
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
    ev = _evidence_row(case_id, item, from_officer=from_officer, now=utcnow())
    session.add(ev)
    await session.flush()
    return ev


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


# ---------------------------------------------------------------- group links


def _hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def new_link_code() -> str:
    """A random single-use link code."""
    return "".join(secrets.choice(_LINK_ALPHABET) for _ in range(_LINK_LENGTH))


async def create_link_code(
    session: AsyncSession, province_code: str, ward_code: str | None, now: datetime | None = None
) -> str:
    """Issue a code that links one group to `ward_code` (or to the province when None)."""
    now = now or utcnow()
    code = new_link_code()
    session.add(
        LinkCode(
            code_hash=_hash_code(code),
            ward_code=ward_code,
            province_code=province_code,
            created_at=now,
            expires_at=now + LINK_CODE_TTL,
        )
    )
    await session.flush()
    return code


async def redeem_link_code(
    session: AsyncSession,
    code: str,
    *,
    channel: str,
    chat_id: str,
    actor: str,
    now: datetime | None = None,
) -> GroupLink | None:
    """Bind the chat with a valid, unused, unexpired code; None otherwise."""
    now = now or utcnow()
    stmt = select(LinkCode).where(LinkCode.code_hash == _hash_code(code))
    link_code = (await session.exec(stmt)).first()
    if link_code is None or link_code.used_at is not None or link_code.expires_at <= now:
        return None
    # Single use even under concurrency: only one UPDATE can flip used_at from NULL.
    claimed = await session.exec(  # type: ignore[call-overload]
        update(LinkCode)
        .where(col(LinkCode.id) == link_code.id, col(LinkCode.used_at).is_(None))
        .values(used_at=now, used_by_chat=chat_id)
    )
    if claimed.rowcount != 1:
        return None
    # A chat serves one ward (or the province) at a time: the new link replaces the old.
    for old in await active_links_of_chat(session, channel, chat_id):
        old.active = False
        old.unlinked_at = now
    link = GroupLink(
        channel=channel,
        chat_id=chat_id,
        ward_code=link_code.ward_code,
        province_code=link_code.province_code,
        linked_at=now,
        linked_by=actor,
    )
    session.add(link)
    await session.flush()
    return link


async def active_links_of_chat(
    session: AsyncSession, channel: str, chat_id: str
) -> list[GroupLink]:
    """Active links of a chat (normally one)."""
    stmt = select(GroupLink).where(
        GroupLink.channel == channel, GroupLink.chat_id == chat_id, col(GroupLink.active)
    )
    return list((await session.exec(stmt)).all())


async def link_of_chat(session: AsyncSession, channel: str, chat_id: str) -> GroupLink | None:
    """The active link of a chat, if it is an officer or province group."""
    links = await active_links_of_chat(session, channel, chat_id)
    return links[-1] if links else None


async def ward_groups(session: AsyncSession, ward_code: str) -> list[GroupLink]:
    """Active officer groups of a ward."""
    stmt = select(GroupLink).where(GroupLink.ward_code == ward_code, col(GroupLink.active))
    return list((await session.exec(stmt)).all())


async def unlink_chat(
    session: AsyncSession, channel: str, chat_id: str, now: datetime | None = None
) -> int:
    """Deactivate a chat's links (the bot was removed); returns how many."""
    now = now or utcnow()
    links = await active_links_of_chat(session, channel, chat_id)
    for link in links:
        link.active = False
        link.unlinked_at = now
    await session.flush()
    return len(links)


async def ward_groups_of_province(session: AsyncSession, province_code: str) -> list[GroupLink]:
    """Active province groups (the Sở), which may act on any case of the province."""
    stmt = select(GroupLink).where(
        GroupLink.province_code == province_code,
        col(GroupLink.ward_code).is_(None),
        col(GroupLink.active),
    )
    return list((await session.exec(stmt)).all())


async def chats_with_card(session: AsyncSession, case: Case) -> list[str]:
    """Chats holding the case's card that may still act on it (a former ward's may not)."""
    stmt = (
        select(MessageRef.channel, MessageRef.chat_id)
        .where(MessageRef.case_id == case.id, MessageRef.purpose == "card")
        .distinct()
    )
    chats: list[str] = []
    for channel, chat_id in (await session.exec(stmt)).all():
        if can_act_on(await link_of_chat(session, channel, chat_id), case):
            chats.append(chat_id)
    return chats


def can_act_on(link: GroupLink | None, case: Case) -> bool:
    """Whether a group may act on a case: its ward's group, or its province's group."""
    if link is None or not link.active:
        return False
    if link.ward_code is None:
        return link.province_code == case.province_code
    return link.ward_code == case.ward_code
