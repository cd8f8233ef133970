"""Conversation state, keyed by channel and user (the citizen's draft and modes)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.tables import (
    Conversation,
)
from models.types import utcnow

_NOT_LOADED = object()


def _key(channel: str, user_id: str) -> tuple[str, str, str]:
    return ("conversation", channel, user_id)


@event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session: Session, previous: SessionTransaction) -> None:
    """A rollback (a savepoint's too) may undo what was remembered: read it again."""
    for key in [k for k in session.info if isinstance(k, tuple) and k[:1] == ("conversation",)]:
        del session.info[key]


def remember_conversation(
    session: AsyncSession, channel: str, user_id: str, conv: Conversation | None
) -> None:
    """What a query that read the conversation along with other rows found (None: none)."""
    session.info[_key(channel, user_id)] = conv


async def load_conversation(
    session: AsyncSession, channel: str, user_id: str
) -> Conversation | None:
    """The reporter's conversation in progress, if any.

    Read once per transaction: the row (or its absence) is remembered in the session, so
    saving or clearing it in the same event costs no second read. Every change to the row
    goes through this module, which keeps the remembered value current.
    """
    known = session.info.get(_key(channel, user_id), _NOT_LOADED)
    if known is not _NOT_LOADED:
        return known  # type: ignore[return-value]
    stmt = select(Conversation).where(
        Conversation.channel == channel, Conversation.user_id == user_id
    )
    conv = (await session.exec(stmt)).first()
    remember_conversation(session, channel, user_id, conv)
    return conv


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
        remember_conversation(session, channel, user_id, conv)
    conv.state = state
    conv.chat_id = chat_id
    conv.data = dict(data)  # a new object so SQLAlchemy sees the JSON change
    conv.updated_at = utcnow()
    # Written with the event's other rows at commit (or by autoflush before a query that
    # needs it): one round trip fewer for every step of a report.


async def clear_conversation(session: AsyncSession, channel: str, user_id: str) -> None:
    """Forget the conversation (after filing or cancelling)."""
    conv = await load_conversation(session, channel, user_id)
    if conv is not None:
        await session.delete(conv)
        await session.flush()
    remember_conversation(session, channel, user_id, None)
