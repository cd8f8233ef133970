"""Services over the database: the only place that reads and writes tables.

Handlers call these with the session of the update being handled; every change and
the outbox rows it causes are committed together by the caller.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import delete, func, or_, tuple_, union_all, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.deadlines import DeadlinePolicy
from handlers.events import Outgoing
from models.enums import OPEN_STATUSES, CaseAction, CaseStatus, OutboxPriority, OutboxStatus
from models.tables import (
    Case,
    CaseEvent,
    CaseReporter,
    CaseSequence,
    Conversation,
    DeadlineAlert,
    DigestRun,
    Evidence,
    GroupLink,
    InboundUpdate,
    LinkAttempt,
    LinkCode,
    MessageRef,
    Outbox,
    Reporter,
    WardContact,
    geo_cell,
)
from models.transitions import NOTE_ACTIONS, next_status
from models.types import utcnow

LINK_CODE_TTL = timedelta(hours=24)
# 12 characters from a 32-letter alphabet without look-alikes: 60 bits, not guessable.
_LINK_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_LINK_LENGTH = 12


# ---------------------------------------------------------------- updates and reporters


@dataclass(frozen=True)
class Arrival:
    """An update as a receiver stores it: raw payload and the routing facts of its channel.

    A payload of None is an update the channel cannot read: stored as already processed,
    so that its id is known (a redelivery is ignored) and nothing waits for it.
    """

    update_id: int
    payload: dict[str, Any] | None
    chat_key: str | None = None
    group_key: str | None = None
    has_files: bool = False


@dataclass(frozen=True)
class InboxHead:
    """A chat's oldest pending update, without its payload (choosing what to take)."""

    update_id: int
    chat_key: str | None
    group_key: str | None
    attempts: int
    received_at: datetime
    has_files: bool = False


_HEAD_COLUMNS = (
    col(InboundUpdate.update_id),
    col(InboundUpdate.chat_key),
    col(InboundUpdate.group_key),
    col(InboundUpdate.attempts),
    col(InboundUpdate.received_at),
    col(InboundUpdate.has_files),
)


def _pending(channel: str) -> Any:
    return (col(InboundUpdate.channel) == channel, col(InboundUpdate.processed_at).is_(None))


async def store_inbound(session: AsyncSession, channel: str, arrivals: Sequence[Arrival]) -> None:
    """Put a batch of arriving updates in the inbox, in one statement (a redelivered id
    leaves its row as it is)."""
    if not arrivals:
        return
    now = utcnow()
    table = InboundUpdate.__table__  # type: ignore[attr-defined]
    rows = [
        {
            "channel": channel,
            "update_id": a.update_id,
            "payload": a.payload,
            "received_at": now,
            "processed_at": now if a.payload is None else None,
            "chat_key": a.chat_key,
            "group_key": a.group_key,
            "has_files": a.has_files,
            "attempts": 0,
            "claimed_until": None,
        }
        for a in arrivals
    ]
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert_fn = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.exec(insert_fn(table).on_conflict_do_nothing(), params=rows)  # type: ignore[call-overload]


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
            .values(processed_at=now, payload=None)  # handled: keep no personal data
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:
            return False
    return True


async def finish_inbound(session: AsyncSession, channel: str, update_ids: Sequence[int]) -> None:
    """Mark updates processed outside of handling (ignored noise, given up, answered with
    an apology); their payload is dropped."""
    if not update_ids:
        return
    await session.exec(  # type: ignore[call-overload]
        update(InboundUpdate)
        .where(*_pending(channel), col(InboundUpdate.update_id).in_(list(update_ids)))
        .values(processed_at=utcnow(), payload=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )


async def prune_inbound(session: AsyncSession, older_than: datetime) -> int:
    """Forget processed updates received before `older_than` (Telegram keeps them 24 h)."""
    result = await session.exec(  # type: ignore[call-overload]
        delete(InboundUpdate).where(
            col(InboundUpdate.processed_at).is_not(None),
            col(InboundUpdate.received_at) < older_than,
        )
    )
    return int(result.rowcount or 0)


async def count_pending_inbound(session: AsyncSession, channel: str) -> int:
    """How many stored updates wait to be handled (the backlog)."""
    stmt = select(func.count()).select_from(InboundUpdate).where(*_pending(channel))
    return int((await session.exec(stmt)).one())


async def inbox_heads(
    session: AsyncSession, channel: str, now: datetime, *, limit: int, with_files: bool = True
) -> list[InboxHead]:
    """Each chat's oldest pending update that nobody holds in hand, oldest first.

    A chat whose oldest pending update is held (a live claim) is busy and not listed. An
    update without a chat orders with nothing: each is its own head. `with_files=False`
    leaves out heads that carry files (their lane is full).
    """
    earlier = aliased(InboundUpdate)
    waits_behind = (
        select(earlier.update_id)
        .where(
            col(earlier.channel) == col(InboundUpdate.channel),
            col(earlier.chat_key) == col(InboundUpdate.chat_key),
            col(earlier.processed_at).is_(None),
            col(earlier.update_id) < col(InboundUpdate.update_id),
        )
        .exists()
    )
    stmt = (
        sa_select(*_HEAD_COLUMNS)
        .where(
            *_pending(channel),
            ~waits_behind,
            or_(
                col(InboundUpdate.claimed_until).is_(None),
                col(InboundUpdate.claimed_until) <= now,
            ),
        )
        .order_by(col(InboundUpdate.update_id))
        .limit(limit)
    )
    if not with_files:
        stmt = stmt.where(col(InboundUpdate.has_files).is_(False))
    return [InboxHead(*row) for row in (await session.exec(stmt)).all()]  # type: ignore[call-overload]


async def album_items(
    session: AsyncSession, channel: str, albums: Sequence[tuple[str, str]]
) -> list[InboxHead]:
    """The pending items of these albums ((chat_key, group_key) pairs), oldest first."""
    if not albums:
        return []
    stmt = (
        sa_select(*_HEAD_COLUMNS)
        .where(
            *_pending(channel),
            tuple_(col(InboundUpdate.chat_key), col(InboundUpdate.group_key)).in_(list(albums)),
        )
        .order_by(col(InboundUpdate.update_id))
    )
    return [InboxHead(*row) for row in (await session.exec(stmt)).all()]  # type: ignore[call-overload]


async def take_inbound(
    session: AsyncSession,
    channel: str,
    update_ids: Sequence[int],
    *,
    now: datetime,
    until: datetime,
) -> list[InboundUpdate]:
    """Take pending updates in hand in one statement: count the attempt, claim them until
    `until`, and return them with their payload. Updates another dispatcher holds (a live
    claim) or has finished are not taken."""
    if not update_ids:
        return []
    stmt = (
        update(InboundUpdate)
        .where(
            *_pending(channel),
            col(InboundUpdate.update_id).in_(list(update_ids)),
            or_(
                col(InboundUpdate.claimed_until).is_(None),
                col(InboundUpdate.claimed_until) <= now,
            ),
        )
        .values(attempts=InboundUpdate.attempts + 1, claimed_until=until)
        .returning(
            col(InboundUpdate.update_id),
            col(InboundUpdate.payload),
            col(InboundUpdate.chat_key),
            col(InboundUpdate.group_key),
            col(InboundUpdate.attempts),
            col(InboundUpdate.has_files),
        )
        .execution_options(synchronize_session=False)
    )
    rows = (await session.exec(stmt)).all()  # type: ignore[call-overload]
    taken = [
        InboundUpdate(
            channel=channel,
            update_id=uid,
            payload=payload,
            chat_key=chat_key,
            group_key=group_key,
            attempts=attempts,
            claimed_until=until,
            has_files=has_files,
        )
        for uid, payload, chat_key, group_key, attempts, has_files in rows
    ]
    return sorted(taken, key=lambda row: row.update_id)


async def renew_inbound(
    session: AsyncSession, channel: str, update_ids: Sequence[int], until: datetime
) -> None:
    """Hold pending updates in hand longer (a long handling, such as a big download)."""
    if not update_ids:
        return
    await session.exec(  # type: ignore[call-overload]
        update(InboundUpdate)
        .where(*_pending(channel), col(InboundUpdate.update_id).in_(list(update_ids)))
        .values(claimed_until=until)
        .execution_options(synchronize_session=False)
    )


async def release_inbound(session: AsyncSession, channel: str, update_ids: Sequence[int]) -> None:
    """Put updates back as if never taken: their handling met a database error, which is
    not their fault and must not count towards giving them up."""
    if not update_ids:
        return
    await session.exec(  # type: ignore[call-overload]
        update(InboundUpdate)
        .where(
            *_pending(channel),
            col(InboundUpdate.update_id).in_(list(update_ids)),
            col(InboundUpdate.attempts) > 0,
        )
        .values(attempts=InboundUpdate.attempts - 1, claimed_until=None)
        .execution_options(synchronize_session=False)
    )


async def clear_inbound_claims(session: AsyncSession, channel: str) -> int:
    """Drop every claim on pending updates: only for a dispatcher that knows it is alone
    (one `hotline run`), at start: what the last run held is then suspect at once."""
    result = await session.exec(  # type: ignore[call-overload]
        update(InboundUpdate)
        .where(*_pending(channel), col(InboundUpdate.claimed_until).is_not(None))
        .values(claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


async def inbound_payloads(
    session: AsyncSession, channel: str, update_ids: Sequence[int]
) -> list[InboundUpdate]:
    """Pending updates with their payload (for telling the sender of one given up)."""
    stmt = (
        select(InboundUpdate)
        .where(*_pending(channel), col(InboundUpdate.update_id).in_(list(update_ids)))
        .order_by(col(InboundUpdate.update_id))
    )
    return list((await session.exec(stmt)).all())


async def linked_chat_ids(session: AsyncSession, channel: str) -> set[str]:
    """The chats of a channel that are linked as officer or province groups."""
    stmt = select(GroupLink.chat_id).where(
        col(GroupLink.channel) == channel, col(GroupLink.active).is_(True)
    )
    return set((await session.exec(stmt)).all())


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


_ANSWERING = "outbox_answering_command"  # session.info key: (channel, chat_id)


def answering_command(session: AsyncSession, channel: str, chat_id: str) -> None:
    """The session handles a command typed in this group: what it queues for the group is
    an answer to a command (OutboxPriority.COMMAND), served after everything else there."""
    session.info[_ANSWERING] = (channel, chat_id)


async def enqueue(
    session: AsyncSession,
    channel: str,
    message: Outgoing,
    *,
    case_id: int | None = None,
    priority: OutboxPriority | None = None,
) -> Outbox:
    """Write a message to the outbox; it is sent after the surrounding transaction commits.

    `priority`: the row's class; by default COMMAND for a group's answer to a command
    (`answering_command`), else NORMAL. Rows of one case in one chat keep their order
    whatever their classes: rows of the case still waiting in a later class are moved up
    to this row's class, so that it cannot overtake them (an action's card edit must not
    go before the card that /case re-sends, or it would miss it).
    """
    if priority is None:
        answering = session.info.get(_ANSWERING) == (channel, message.chat_id)
        priority = OutboxPriority.COMMAND if answering else OutboxPriority.NORMAL
    row = Outbox(
        channel=channel,
        chat_id=message.chat_id,
        kind=message.kind,
        payload=message.to_payload(),
        case_id=case_id if case_id is not None else message.case_id,
        priority=int(priority),
    )
    if row.case_id is not None and priority < max(OutboxPriority):
        await session.exec(  # type: ignore[call-overload]
            update(Outbox)
            .where(
                col(Outbox.case_id) == row.case_id,
                col(Outbox.channel) == channel,
                col(Outbox.chat_id) == message.chat_id,
                col(Outbox.status).in_([OutboxStatus.PENDING.value, OutboxStatus.SENDING.value]),
                col(Outbox.priority) > int(priority),
            )
            .values(priority=int(priority))
            .execution_options(synchronize_session=False)
        )
    session.add(row)
    await session.flush()
    return row


async def due_outbox(
    session: AsyncSession,
    now: datetime,
    limit: int = 100,
    exclude: Sequence[tuple[str, str]] = (),
) -> list[Outbox]:
    """Each chat's next undelivered row, if it is due now; lowest class first, then oldest.

    Only a chat's next row (see `_outbox_heads`: one being sent, else the oldest of the
    lowest class) can go, which keeps the per-chat order. It is due when it is pending and
    its time has come, or when it is 'sending' but the claim of the sender that took it
    ran out (that sender died): a chat whose row is claimed, with the claim still live, is
    busy. `exclude`: (channel, chat_id) pairs to leave out (chats the caller is sending to
    or holding back).
    """
    from sqlalchemy import and_, or_

    stmt = (
        select(Outbox)
        .where(
            col(Outbox.id).in_(_outbox_heads(exclude)),
            or_(
                and_(
                    col(Outbox.status) == OutboxStatus.PENDING.value,
                    col(Outbox.next_attempt_at) <= now,
                ),
                and_(
                    col(Outbox.status) == OutboxStatus.SENDING.value,
                    col(Outbox.claimed_until) <= now,
                ),
            ),
        )
        .order_by(col(Outbox.priority), col(Outbox.id))
        .limit(limit)
    )
    return list((await session.exec(stmt)).all())


async def next_outbox_due_at(
    session: AsyncSession,
    exclude: Sequence[tuple[str, str]] = (),
    after: datetime | None = None,
) -> datetime | None:
    """When a chat's first undelivered row next becomes due: a retry, or a claim running out.

    `after`: only moments later than this (the rows due by then are the caller's already).
    """
    heads = _outbox_heads(exclude)
    retry = select(func.min(Outbox.next_attempt_at)).where(
        col(Outbox.id).in_(heads), col(Outbox.status) == OutboxStatus.PENDING.value
    )
    claim = select(func.min(Outbox.claimed_until)).where(
        col(Outbox.id).in_(heads), col(Outbox.status) == OutboxStatus.SENDING.value
    )
    if after is not None:
        retry = retry.where(col(Outbox.next_attempt_at) > after)
        claim = claim.where(col(Outbox.claimed_until) > after)
    moments = [(await session.exec(retry)).first(), (await session.exec(claim)).first()]
    return min((m for m in moments if m is not None), default=None)


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
    stmt = (
        select(MessageRef)
        .where(
            MessageRef.case_id == case_id,
            MessageRef.chat_id == chat_id,
            MessageRef.purpose == purpose,
        )
        .order_by(col(MessageRef.id))
    )
    return list((await session.exec(stmt)).all())


# Telegram numbers a chat's messages in order; an outbox row's message ids are kept in its
# payload ("sent_ids"). More suspects than this and none is kept (a press still finds it).
SUSPECTED_COPIES_MAX = 30
_NO_MESSAGE_KINDS = ("edit", "topic_close", "topic_reopen")


async def suspect_card_copies(
    session: AsyncSession, row: Outbox, since: datetime, new_id: int
) -> list[int]:
    """Where an earlier copy of a card row may be, now that it was sent again (message
    `new_id`) because an earlier try, begun `since`, may have been delivered unrecorded
    (the process died, or a timeout hid Telegram's answer). Those ids are remembered as
    suspected copies of the card: every edit of the card tries them too, and
    `settle_card_copies` keeps the ones that turn out to be ours.

    A chat gets one of our messages at a time, and its message ids grow: an earlier copy
    lies after the last message we know we sent there before `since` and before
    `new_id`. Every id in between that is not a known message of ours is suspected
    (someone else's message cannot be edited: it drops out at the first edit). When a
    message of ours there may be unknown (a row sent without its ids recorded, another row
    with an uncertain try), or the suspects are too many, none is kept: a press on the
    lost copy still makes it known (handlers/officer.py).
    """
    from sqlalchemy import or_

    base = select(Outbox).where(
        Outbox.channel == row.channel,
        Outbox.chat_id == row.chat_id,
        Outbox.id != row.id,
        col(Outbox.kind).not_in(_NO_MESSAGE_KINDS),
    )
    before = base.where(
        col(Outbox.status) == OutboxStatus.SENT.value, col(Outbox.sent_at) < since
    ).order_by(col(Outbox.sent_at).desc(), col(Outbox.id).desc())
    last = (await session.exec(before.limit(1))).first()
    if last is None or not last.payload.get("sent_ids") or last.sent_at is None:
        return []  # nothing known of this chat before the try: no floor to start from
    floor = max(last.payload["sent_ids"])
    known: set[int] = set()
    since_last = base.where(
        or_(
            col(Outbox.sent_at) >= last.sent_at,
            col(Outbox.status) != OutboxStatus.SENT.value,
        )
    )
    for other in (await session.exec(since_last)).all():
        payload = other.payload
        if other.status == OutboxStatus.SENT.value:
            if payload.get("sent_ids") is None:
                return []  # a message of ours whose id we do not know
            known.update(payload["sent_ids"])
        elif payload.get("uncertain_since"):
            return []  # it may have left a copy of its own in between
        known.update((payload.get("progress") or {}).get("message_ids") or [])
    suspects = [i for i in range(floor + 1, new_id) if i not in known]
    if len(suspects) > SUSPECTED_COPIES_MAX:
        return []
    for message_id in suspects:
        await remember_message(
            session,
            row.channel,
            row.chat_id,
            message_id,
            row.case_id or 0,
            "card",
            {"suspect": True},
        )
    return suspects


async def settle_card_copies(
    session: AsyncSession, row: Outbox, targets: list[int], edited: list[int]
) -> None:
    """After an edit of a card: suspected copies it edited are copies of the card (kept,
    redrawn with the others from now on); those it could not edit are forgotten."""
    if row.case_id is None or (row.payload.get("edit_purpose") or "card") != "card":
        return
    for ref in await messages_of_case(session, row.case_id, row.chat_id, "card"):
        if ref.channel != row.channel or not ref.extra.get("suspect"):
            continue
        if ref.message_id not in targets:
            continue
        if ref.message_id in edited:
            ref.extra = {k: v for k, v in ref.extra.items() if k != "suspect"}
        else:
            await session.delete(ref)
    await session.flush()


async def card_more_sections(
    session: AsyncSession, case_id: int, channel: str, chat_id: str
) -> set[str]:
    """Keys of the card sections a chat has in full under the case's card (sent, or queued
    to go); a section one of whose messages was given up counts as missing."""
    had: set[str] = set()
    for ref in await messages_of_case(session, case_id, chat_id, "card_more"):
        if ref.channel == channel:
            had.update(ref.extra.get("sections") or [])
    stmt = select(Outbox).where(
        Outbox.case_id == case_id,
        Outbox.channel == channel,
        Outbox.chat_id == chat_id,
        Outbox.kind == "message",
    )
    failed: set[str] = set()
    for row in (await session.exec(stmt)).all():
        track = row.payload.get("track") or {}
        if track.get("purpose") != "card_more":
            continue
        keys = set(track.get("sections") or [])
        if row.status == OutboxStatus.FAILED.value:
            failed |= keys
        elif row.status != OutboxStatus.SENT.value:
            had |= keys
    return had - failed


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


async def links_with_card(session: AsyncSession, case: Case) -> list[GroupLink]:
    """Links of the chats holding the case's card that may still act on it (a former
    ward's may not)."""
    stmt = (
        select(MessageRef.channel, MessageRef.chat_id)
        .where(MessageRef.case_id == case.id, MessageRef.purpose == "card")
        .distinct()
    )
    chats = set((await session.exec(stmt)).all())
    # A card sent a moment ago may not be recorded yet (the sender records it after
    # Telegram answers), and a queued one not sent: they count too, so that an officer
    # acting at once still gets the card updated.
    queued = select(Outbox).where(
        Outbox.case_id == case.id,
        Outbox.kind == "message",
        Outbox.status != OutboxStatus.FAILED.value,
    )
    for row in (await session.exec(queued)).all():
        if (row.payload.get("track") or {}).get("purpose") == "card":
            chats.add((row.channel, row.chat_id))
    links: list[GroupLink] = []
    for channel, chat_id in sorted(chats):
        link = await link_of_chat(session, channel, chat_id)
        if link is not None and can_act_on(link, case):
            links.append(link)
    return links


async def chats_with_card(session: AsyncSession, case: Case) -> list[str]:
    """Chats holding the case's card that may still act on it (a former ward's may not)."""
    return [link.chat_id for link in await links_with_card(session, case)]


def can_act_on(link: GroupLink | None, case: Case) -> bool:
    """Whether a group may act on a case: its ward's group, or its province's group."""
    if link is None or not link.active:
        return False
    if link.ward_code is None:
        return link.province_code == case.province_code
    return link.ward_code == case.ward_code


# ---------------------------------------------------------------- link attempts (throttling)


async def record_link_attempt(
    session: AsyncSession, channel: str, chat_id: str, *, ok: bool, now: datetime | None = None
) -> None:
    """Remember a /link attempt of a chat, right or wrong (refused ones count as wrong)."""
    session.add(LinkAttempt(channel=channel, chat_id=chat_id, at=now or utcnow(), ok=ok))
    await session.flush()


async def link_locked_until(
    session: AsyncSession,
    channel: str,
    chat_id: str,
    *,
    max_failures: int,
    window: timedelta,
    now: datetime | None = None,
) -> datetime | None:
    """When a chat may try /link again after too many wrong codes; None: it may try now.

    A chat is locked out while it has `max_failures` wrong attempts within the last
    `window` (attempts before its latest successful one do not count). It may try again
    when enough of them have aged out of the window, if it stops trying until then.
    """
    now = now or utcnow()
    stmt = (
        select(LinkAttempt)
        .where(
            LinkAttempt.channel == channel,
            LinkAttempt.chat_id == chat_id,
            col(LinkAttempt.at) > now - window,
        )
        .order_by(col(LinkAttempt.at), col(LinkAttempt.id))
    )
    failures: list[datetime] = []
    for attempt in (await session.exec(stmt)).all():
        if attempt.ok:
            failures.clear()
        else:
            failures.append(attempt.at)
    if len(failures) < max_failures:
        return None
    # Once this many of the oldest failures leave the window, fewer than the limit remain.
    return failures[len(failures) - max_failures] + window


# ---------------------------------------------------------------- links (operators)


async def list_links(session: AsyncSession, *, include_inactive: bool = False) -> list[GroupLink]:
    """Group links, oldest first: the active ones, or all of them with their history."""
    stmt = select(GroupLink).order_by(col(GroupLink.id))
    if not include_inactive:
        stmt = stmt.where(col(GroupLink.active))
    return list((await session.exec(stmt)).all())


async def end_link(session: AsyncSession, link: GroupLink, now: datetime | None = None) -> None:
    """Deactivate one link: its group stops receiving and acting on cases."""
    link.active = False
    link.unlinked_at = now or utcnow()
    session.add(link)
    await session.flush()


# ---------------------------------------------------------------- outbox delivery


def _outbox_heads(exclude: Sequence[tuple[str, str]]) -> Any:
    """A subquery: the id of each chat's next undelivered (pending or sending) row.

    A row being sent comes first (its chat is busy until it is done, or resumed after a
    crash); then the lowest class (`OutboxPriority`), and in it the oldest row.
    """
    from sqlalchemy import and_, not_, or_

    sending_first = sql_case((col(Outbox.status) == OutboxStatus.SENDING.value, 0), else_=1)
    place = (
        func.row_number()
        .over(
            partition_by=(col(Outbox.channel), col(Outbox.chat_id)),
            order_by=(sending_first, col(Outbox.priority), col(Outbox.id)),
        )
        .label("place")
    )
    stmt: Any = select(col(Outbox.id).label("id"), place).where(
        col(Outbox.status).in_([OutboxStatus.PENDING.value, OutboxStatus.SENDING.value])
    )
    if exclude:
        skipped = [
            and_(col(Outbox.channel) == channel, col(Outbox.chat_id) == chat_id)
            for channel, chat_id in exclude
        ]
        stmt = stmt.where(not_(or_(*skipped)))
    ranked = stmt.subquery("ranked")
    return select(ranked.c.id).where(ranked.c.place == 1)


async def claim_outbox(
    session: AsyncSession, row_id: int, *, now: datetime, until: datetime
) -> tuple[Outbox, bool] | None:
    """Claim a due row for sending until `until`; None if it is not (or no longer) due.

    A pending, due row becomes 'sending'. A 'sending' row whose claim ran out was being
    delivered by a sender that died: it is taken over, and the interrupted attempt counts
    as one (the flag returned is True). One conditional UPDATE decides, so of several
    senders exactly one gets the row (on PostgreSQL the row lock makes the others
    re-check the condition and find it no longer holds).
    """
    from sqlalchemy import and_

    row = await session.get(Outbox, row_id)
    if row is None:
        return None
    values: dict[str, Any] = {"claimed_until": until}
    if row.status == OutboxStatus.PENDING.value and row.next_attempt_at <= now:
        condition = and_(
            col(Outbox.status) == OutboxStatus.PENDING.value,
            col(Outbox.next_attempt_at) <= now,
        )
        values["status"] = OutboxStatus.SENDING.value
        interrupted = False
    elif (
        row.status == OutboxStatus.SENDING.value
        and row.claimed_until is not None
        and row.claimed_until <= now
    ):
        condition = and_(
            col(Outbox.status) == OutboxStatus.SENDING.value,
            col(Outbox.claimed_until) == row.claimed_until,
        )
        values["attempts"] = col(Outbox.attempts) + 1
        values["last_error"] = "interrupted delivery"
        interrupted = True
    else:
        return None
    claimed = await session.exec(  # type: ignore[call-overload]
        update(Outbox)
        .where(col(Outbox.id) == row_id, condition)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        return None
    fresh = await session.get(Outbox, row_id, populate_existing=True)
    return (fresh, interrupted) if fresh is not None else None


async def renew_outbox_claim(
    session: AsyncSession,
    row_id: int,
    claim: datetime,
    until: datetime,
    *,
    payload: dict[str, Any] | None = None,
) -> bool:
    """Extend a claim this sender still holds; False if it ran out and was taken over.

    `payload`: store it too (a row of several calls recording its progress).
    """
    values: dict[str, Any] = {"claimed_until": until}
    if payload is not None:
        values["payload"] = payload
    renewed = await session.exec(  # type: ignore[call-overload]
        update(Outbox)
        .where(
            col(Outbox.id) == row_id,
            col(Outbox.status) == OutboxStatus.SENDING.value,
            col(Outbox.claimed_until) == claim,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(renewed.rowcount == 1)


async def finish_outbox(
    session: AsyncSession, row_id: int, claim: datetime, **values: Any
) -> bool:
    """Record the outcome of a claimed row (its claim is cleared); False if the claim was lost.

    A claim is lost when it ran out while sending and another sender took the row over;
    the outcome is then that sender's to record.
    """
    finished = await session.exec(  # type: ignore[call-overload]
        update(Outbox)
        .where(
            col(Outbox.id) == row_id,
            col(Outbox.status) == OutboxStatus.SENDING.value,
            col(Outbox.claimed_until) == claim,
        )
        .values(claimed_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(finished.rowcount == 1)


async def mark_reporter_reachable(
    session: AsyncSession, channel: str, chat_id: str, reachable: bool
) -> None:
    """Remember whether messages reach a reporter's private chat (a block can be lifted)."""
    unreachable = not reachable
    await session.exec(  # type: ignore[call-overload]
        update(Reporter)
        .where(
            col(Reporter.channel) == channel,
            col(Reporter.chat_id) == chat_id,
            col(Reporter.unreachable) != unreachable,
        )
        .values(unreachable=unreachable)
        .execution_options(synchronize_session=False)
    )


async def officer_groups_of_case(session: AsyncSession, case: Case) -> list[GroupLink]:
    """The groups that look after a case: its ward's active groups, else the province's."""
    groups = await ward_groups(session, case.ward_code)
    return groups or await ward_groups_of_province(session, case.province_code)


async def reporter_of_chat(session: AsyncSession, channel: str, chat_id: str) -> Reporter | None:
    """The reporter whose private chat this is, if any."""
    stmt = select(Reporter).where(
        col(Reporter.channel) == channel, col(Reporter.chat_id) == chat_id
    )
    return (await session.exec(stmt)).first()


async def officers_told_of_unreachable_reporter(
    session: AsyncSession, case: Case, reason: str, reporter: Reporter
) -> bool:
    """Whether officers were told, for `reason`, that this reporter of the case is out of
    reach, with no message reaching the reporter since (then they need not hear it again).

    The alerts are the case's outbox rows whose payload carries
    {"alert": {"reason": ..., "reporter": <reporter id>}}.
    """
    stmt = (
        select(Outbox)
        .where(col(Outbox.case_id) == case.id, col(Outbox.kind) == "message")
        .order_by(col(Outbox.id).desc())
    )
    latest = next(
        (
            row
            for row in (await session.exec(stmt)).all()
            if (row.payload.get("alert") or {}).get("reason") == reason
            and row.payload["alert"].get("reporter") == reporter.id
        ),
        None,
    )
    if latest is None:
        return False
    delivered = select(func.max(Outbox.sent_at)).where(
        col(Outbox.channel) == reporter.channel,
        col(Outbox.chat_id) == reporter.chat_id,
        col(Outbox.status) == OutboxStatus.SENT.value,
    )
    last_delivery = (await session.exec(delivered)).first()
    return last_delivery is None or last_delivery <= latest.created_at


# ---------------------------------------------------------------- officer tools
# Take it on, escalate to the province (the Sở), take over, send back, refer elsewhere:
# each changes the case's fields and writes its log-book line, without a status change.


async def case_has_event(session: AsyncSession, case_id: int, action: CaseAction) -> bool:
    """Whether the case's log book already has a line of this action."""
    stmt = (
        select(CaseEvent.id)
        .where(CaseEvent.case_id == case_id, CaseEvent.action == action.value)
        .limit(1)
    )
    return (await session.exec(stmt)).first() is not None


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


# ---------------------------------------------------------------- deadlines and digests


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


async def case_by_code(session: AsyncSession, code: str) -> Case | None:
    """A case by its code (PA20-000123)."""
    return (await session.exec(select(Case).where(Case.code == code))).first()


# ---------------------------------------------------------------- joined reporters, merges


async def get_case_by_code(session: AsyncSession, code: str) -> Case | None:
    """A case by its code (PA20-000123), whatever the letter case typed."""
    stmt = select(Case).where(Case.code == code.strip().upper())
    return (await session.exec(stmt)).first()


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
    wards: Sequence[str],
) -> list[Case]:
    """Open, unmerged cases of a category filed in a window, not filed or joined by
    `reporter_id`, that may lie near a point: pinned ones inside `box` (lat_min, lat_max,
    lon_min, lon_max) and in `squares` (ranges of geo_cell), address-only ones of `wards`.

    The caller measures the distance; this only narrows the rows down in the database,
    through ix_case_dup_pin and ix_case_dup_ward (cases elsewhere are not read).
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
    # One SELECT per square (or row of squares) and per ward, joined by UNION ALL: each is
    # planned on its own index with equalities, which both databases pick even without
    # statistics (an OR, or an IN list, was planned on other indexes). They return no case
    # twice: squares and wards do not overlap, and only pinned cases have a square.
    branches = [
        select(Case).where(
            cell == lo if lo == hi else cell.between(lo, hi),
            *common,
            col(Case.latitude).between(lat_min, lat_max),
            col(Case.longitude).between(lon_min, lon_max),
        )
        for lo, hi in squares
    ]
    branches += [
        select(Case).where(col(Case.ward_code) == ward, *common, col(Case.latitude).is_(None))
        for ward in wards
    ]
    stmt = select(Case).from_statement(union_all(*branches))
    rows = (await session.exec(stmt)).scalars().all()  # type: ignore[call-overload]
    # The province is checked here, on the few rows read, not in SQL: given a province
    # and a filing window the planners prefer ix_case_province_filed (the reports' index),
    # which reads every case of the province in the window. A place's squares and wards
    # are the province's anyway, except right at its border.
    return [case for case in rows if case.province_code == province_code]


async def cases_merged_into(session: AsyncSession, case_id: int) -> list[Case]:
    """The cases merged into a case."""
    stmt = select(Case).where(Case.merged_into_id == case_id).order_by(col(Case.id))
    return list((await session.exec(stmt)).all())


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


# ---------------------------------------------------------------- reports and contact points


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


async def ward_contacts(session: AsyncSession) -> dict[str, WardContact]:
    """Every ward's contact points, by ward code."""
    rows = (await session.exec(select(WardContact))).all()
    return {row.ward_code: row for row in rows}


_WARD_CONTACT_FIELDS = frozenset(
    {"receive_phone", "receive_email", "handle_phone", "handle_email", "note"}
)


async def save_ward_contact(
    session: AsyncSession,
    ward_code: str,
    values: dict[str, str | None],
    now: datetime | None = None,
) -> WardContact:
    """Create or update a ward's contact points; only the given fields change (None clears)."""
    unknown = set(values) - _WARD_CONTACT_FIELDS
    if unknown:
        raise ValueError(f"not contact-point fields: {sorted(unknown)}")
    row = await session.get(WardContact, ward_code)
    if row is None:
        row = WardContact(ward_code=ward_code)
        session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = now or utcnow()
    await session.flush()
    return row


async def prompt_sent_with_text(
    session: AsyncSession, channel: str, chat_id: str, text: str, message_id: int
) -> MessageRef | None:
    """A ForceReply prompt recently sent to a group whose text is `text`, as a (transient)
    remembered message; for a reply that arrives before the prompt's id was recorded."""
    stmt = (
        select(Outbox)
        .where(
            Outbox.channel == channel,
            Outbox.chat_id == chat_id,
            Outbox.kind == "message",
            col(Outbox.case_id).is_not(None),
        )
        .order_by(col(Outbox.id).desc())
        .limit(50)
    )
    wanted = text.strip()
    for row in (await session.exec(stmt)).all():
        track = row.payload.get("track") or {}
        if track.get("purpose") == "prompt" and row.payload.get("text", "").strip() == wanted:
            extra = {k: v for k, v in track.items() if k != "purpose"}
            return MessageRef(
                channel=channel,
                chat_id=chat_id,
                message_id=message_id,
                case_id=row.case_id or 0,
                purpose="prompt",
                extra=extra,
            )
    return None
