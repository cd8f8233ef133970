"""Reporters: who they are, and whether their private chat can be reached."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import bindparam, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.conversations import remember_conversation
from models.enums import OutboxStatus
from models.tables import (
    Case,
    Conversation,
    Outbox,
    Reporter,
)


@functools.cache
def _reporter_statement() -> Any:
    """Built once (every private update reads it; see services/inbox.py, _claim_statement)."""
    return (
        select(Reporter, Conversation)
        .outerjoin(
            Conversation,
            (col(Conversation.channel) == col(Reporter.channel))
            & (col(Conversation.user_id) == col(Reporter.user_id)),
        )
        .where(
            col(Reporter.channel) == bindparam("b_channel"),
            col(Reporter.user_id) == bindparam("b_user_id"),
        )
    )


async def get_reporter(
    session: AsyncSession, channel: str, user_id: str, chat_id: str | None = None
) -> Reporter:
    """The reporter for this channel user, created on first contact.

    Their conversation in progress is read in the same statement (an outer join) and
    remembered for the transaction: nearly every private message needs both.
    """
    params = {"b_channel": channel, "b_user_id": user_id}
    found = (await session.exec(_reporter_statement(), params=params)).first()
    reporter = found[0] if found is not None else None
    if found is not None:
        remember_conversation(session, channel, user_id, found[1])
    if reporter is None:
        reporter = Reporter(channel=channel, user_id=user_id, chat_id=chat_id or user_id)
        session.add(reporter)
        await session.flush()
    elif chat_id is not None and reporter.chat_id != chat_id:
        reporter.chat_id = chat_id
    return reporter


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
