"""Messages remembered per case and chat (cards, prompts, topics, questions) and card copies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.enums import OutboxStatus
from models.tables import (
    MessageRef,
    Outbox,
)


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


async def _recent_case_messages(
    session: AsyncSession,
    channel: str,
    chat_id: str,
    purpose: str,
    limit: int,
    statuses: list[str] | None = None,
) -> list[tuple[Outbox, dict[str, Any]]]:
    """The latest `limit` case messages queued for a chat (of `statuses`, if given), newest
    first, those tracked for `purpose`, each with its track."""
    stmt = select(Outbox).where(
        Outbox.channel == channel,
        Outbox.chat_id == chat_id,
        Outbox.kind == "message",
        col(Outbox.case_id).is_not(None),
    )
    if statuses is not None:
        stmt = stmt.where(col(Outbox.status).in_(statuses))
    stmt = stmt.order_by(col(Outbox.id).desc()).limit(limit)
    found = []
    for row in (await session.exec(stmt)).all():
        track = row.payload.get("track") or {}
        if track.get("purpose") == purpose:
            found.append((row, track))
    return found


def _transient_ref(
    row: Outbox, track: dict[str, Any], message_id: int, purpose: str
) -> MessageRef:
    """A queued message as a (transient, unsaved) remembered message with `message_id`."""
    return MessageRef(
        channel=row.channel,
        chat_id=row.chat_id,
        message_id=message_id,
        case_id=row.case_id or 0,
        purpose=purpose,
        extra={k: v for k, v in track.items() if k != "purpose"},
    )


async def prompt_sent_with_text(
    session: AsyncSession, channel: str, chat_id: str, text: str, message_id: int
) -> MessageRef | None:
    """A ForceReply prompt recently sent to a group whose text is `text`, as a (transient)
    remembered message; for a reply that arrives before the prompt's id was recorded."""
    wanted = text.strip()
    for row, track in await _recent_case_messages(session, channel, chat_id, "prompt", 50):
        # An HTML prompt (a mention) keeps the text as people see it in track["plain"].
        shown = track.get("plain") or row.payload.get("text", "")
        if shown.strip() == wanted:
            return _transient_ref(row, track, message_id, "prompt")
    return None


async def question_in_flight(
    session: AsyncSession,
    channel: str,
    chat_id: str,
    message_id: int,
    text: str | None,
) -> MessageRef | None:
    """An officer's question being sent to (or just sent to) a reporter's chat whose id is
    not recorded yet, as a (transient) remembered message: for an answer that arrives
    before the sender recorded the question. With `text` (what the answer replies to, where
    the channel tells it), only a question of that text."""
    statuses = [OutboxStatus.SENDING.value, OutboxStatus.SENT.value]
    for row, track in await _recent_case_messages(
        session, channel, chat_id, "question", 20, statuses
    ):
        shown = {str(track.get("plain") or "").strip(), str(row.payload.get("text", "")).strip()}
        if text is None or text.strip() in shown:
            return _transient_ref(row, track, message_id, "question")
    return None


async def latest_tracked(
    session: AsyncSession, channel: str, chat_id: str, case_id: int, purpose: str
) -> dict[str, Any] | None:
    """The track of the latest message of `purpose` queued for a case in a chat (a pending
    draft the officers confirm with a button), or None."""
    stmt = (
        select(Outbox)
        .where(
            Outbox.channel == channel,
            Outbox.chat_id == chat_id,
            Outbox.case_id == case_id,
            Outbox.kind == "message",
        )
        .order_by(col(Outbox.id).desc())
        .limit(50)
    )
    for row in (await session.exec(stmt)).all():
        track = row.payload.get("track") or {}
        if track.get("purpose") == purpose:
            return dict(track)
    return None
