"""Conversation state, keyed by channel and user (the citizen's draft and modes)."""

from __future__ import annotations

from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.tables import (
    Conversation,
)
from models.types import utcnow


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
