"""Officer groups linked to wards or the province: link codes, links, link attempts."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.enums import OutboxStatus
from models.tables import (
    Case,
    GroupLink,
    LinkAttempt,
    LinkCode,
    MessageRef,
    Outbox,
)
from models.types import utcnow

LINK_CODE_TTL = timedelta(hours=24)


# 12 characters from a 32-letter alphabet without look-alikes: 60 bits, not guessable.
_LINK_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


_LINK_LENGTH = 12


async def linked_chat_ids(session: AsyncSession, channel: str) -> set[str]:
    """The chats of a channel that are linked as officer or province groups."""
    stmt = select(GroupLink.chat_id).where(
        col(GroupLink.channel) == channel, col(GroupLink.active).is_(True)
    )
    return set((await session.exec(stmt)).all())


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


async def officer_groups_of_case(session: AsyncSession, case: Case) -> list[GroupLink]:
    """The groups that look after a case: its ward's active groups, else the province's."""
    groups = await ward_groups(session, case.ward_code)
    return groups or await ward_groups_of_province(session, case.province_code)
