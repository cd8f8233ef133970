"""The outbox table: queuing messages, and the sender's claims and outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, literal, not_, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.events import Outgoing
from models.enums import OutboxPriority, OutboxStatus
from models.tables import (
    Outbox,
)
from models.types import UTCDateTime, utcnow

_ANSWERING = "outbox_answering_command"  # session.info key: (channel, chat_id)
_REPLYING = "outbox_replying_to"  # session.info key: (channel, chat_id)

# How much earlier than its queuing a row answering someone's own message or press is
# ranked among the chats' next rows (`due_outbox`): the person is looking at the chat and
# waits for it, while a backlog of other chats' rows (notices, cards, a digest) can go a
# little later. Bounded, so nothing waits behind newer answers for longer than this.
REPLY_HEAD_START = timedelta(seconds=30)


def replying_to(session: AsyncSession, channel: str, chat_id: str) -> None:
    """The session handles a message or a press from this chat: what it queues for the chat
    answers someone looking at it, and goes before other chats' older rows (up to
    REPLY_HEAD_START older). It changes nothing within a chat: see `_is_head`."""
    session.info[_REPLYING] = (channel, chat_id)


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
    go before the card that /case re-sends, or it would miss it), and a reporter's notice
    held for the next one (bot/services/notices.py) goes now, before this row. Only the
    first class has later ones to move: the rows of a case in the later classes belong to
    different chats (group commands' answers; reporters' held notices).
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
    if session.info.get(_REPLYING) == (channel, message.chat_id):
        # Due now all the same; only its rank among the chats' next rows moves up.
        row.next_attempt_at = row.created_at - REPLY_HEAD_START
    if row.case_id is not None and priority == OutboxPriority.NORMAL:
        await session.exec(  # type: ignore[call-overload]
            update(Outbox)
            .where(
                col(Outbox.case_id) == row.case_id,
                col(Outbox.channel) == channel,
                col(Outbox.chat_id) == message.chat_id,
                col(Outbox.status).in_([OutboxStatus.PENDING.value, OutboxStatus.SENDING.value]),
                col(Outbox.priority) > int(priority),
            )
            .values(
                priority=int(priority),
                # a held notice (bot/services/notices.py) goes now, ahead of this row
                next_attempt_at=case(
                    (
                        col(Outbox.priority) == int(OutboxPriority.HELD),
                        literal(utcnow(), UTCDateTime()),
                    ),
                    else_=col(Outbox.next_attempt_at),
                ),
            )
            .execution_options(synchronize_session=False)
        )
    # Inserted with the event's other rows at commit (one multi-row INSERT for all the
    # event's messages); a caller that needs the row's id flushes.
    session.add(row)
    return row


async def due_outbox(
    session: AsyncSession,
    now: datetime,
    limit: int = 100,
    exclude: Sequence[tuple[str, str]] = (),
) -> list[Outbox]:
    """Each chat's next undelivered row, if it is due now; lowest class first, then the one
    due the longest (an answer to someone's own message counts as due REPLY_HEAD_START
    before it was queued: `replying_to`), then the oldest.

    Only a chat's next row (see `_is_head`: one being sent, else the oldest of the lowest
    class) can go, which keeps the per-chat order. It is due when it is pending and its
    time has come, or when it is 'sending' but the claim of the sender that took it ran
    out (that sender died): a chat whose row is claimed, with the claim still live, is
    busy. `exclude`: (channel, chat_id) pairs to leave out (chats the caller is sending to
    or holding back).

    The cost follows the rows that are due, not the whole queue: the due rows come from
    the (status, next_attempt_at) index, and whether each is its chat's head is one probe
    of the (channel, chat_id, status, priority, id) index. Rows waiting for a later retry
    are never read.
    """
    stmt = (
        select(Outbox)
        .where(
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
            _is_head(),
            *_not_excluded(exclude),
        )
        .order_by(col(Outbox.priority), col(Outbox.next_attempt_at), col(Outbox.id))
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
    retry = select(func.min(Outbox.next_attempt_at)).where(
        col(Outbox.status) == OutboxStatus.PENDING.value,
        _is_head(),
        *_not_excluded(exclude),
    )
    claim = select(func.min(Outbox.claimed_until)).where(
        col(Outbox.status) == OutboxStatus.SENDING.value,
        _is_head(),
        *_not_excluded(exclude),
    )
    if after is not None:
        retry = retry.where(col(Outbox.next_attempt_at) > after)
        claim = claim.where(col(Outbox.claimed_until) > after)
    moments = [(await session.exec(retry)).first(), (await session.exec(claim)).first()]
    return min((m for m in moments if m is not None), default=None)


def _not_excluded(exclude: Sequence[tuple[str, str]]) -> list[Any]:
    if not exclude:
        return []
    skipped = [
        and_(col(Outbox.channel) == channel, col(Outbox.chat_id) == chat_id)
        for channel, chat_id in exclude
    ]
    return [not_(or_(*skipped))]


def _is_head() -> Any:
    """Whether an outbox row is its chat's next undelivered (pending or sending) row.

    A row being sent comes first (its chat is busy until it is done, or resumed after a
    crash); then the lowest class (`OutboxPriority`), and in it the oldest row. So a row
    is the head when no other undelivered row of its chat comes before it in that order.
    """
    earlier = aliased(Outbox, name="earlier")
    sending, pending = OutboxStatus.SENDING.value, OutboxStatus.PENDING.value
    before = or_(
        # a row being sent goes before every pending row; among rows of the same status,
        # the lower class, then the older row
        and_(col(earlier.status) == sending, col(Outbox.status) == pending),
        and_(
            col(earlier.status) == col(Outbox.status),
            or_(
                col(earlier.priority) < col(Outbox.priority),
                and_(
                    col(earlier.priority) == col(Outbox.priority),
                    col(earlier.id) < col(Outbox.id),
                ),
            ),
        ),
    )
    return not_(
        exists().where(
            col(earlier.channel) == col(Outbox.channel),
            col(earlier.chat_id) == col(Outbox.chat_id),
            col(earlier.status).in_([pending, sending]),
            before,
        )
    )


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
    # The claimed row comes back from the UPDATE itself (RETURNING: one statement).
    claimed = await session.exec(  # type: ignore[call-overload]
        update(Outbox)
        .where(col(Outbox.id) == row_id, condition)
        .values(**values)
        .returning(Outbox)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    fresh = claimed.scalars().first()
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
