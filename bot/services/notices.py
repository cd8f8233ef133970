"""Messages held a few seconds, so that several in a row reach a person as one.

An officer who acknowledges a case, takes it on and starts verifying it within a few
seconds would ping its reporter three times; a citizen who sends photos one by one (Zalo
has no albums) would get "received n/5" after each. Such a message is held in the outbox
for a short while (its `next_attempt_at` lies ahead); what comes for the same purpose
while it is held joins it instead of making a message of its own: a reporter's notice is
appended to the held one, a photo count replaces it. A held row is an ordinary outbox
row: it survives a restart and goes when its time comes.

The join is a conditional UPDATE of a row that is still pending, so a sender that took
the row a moment earlier wins: the new text then goes as a message of its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.outbox import enqueue
from handlers.events import Outgoing
from models.enums import OutboxPriority, OutboxStatus
from models.tables import Outbox
from models.types import utcnow

Join = Literal["append", "replace"]
HOLD_CAP = 3  # a row joined again and again is held at most this many `hold_s` in all
TEXT_BUDGET = 3500  # a joined text stays well within a message's 4,096 characters


async def send_held(
    session: AsyncSession,
    channel: str,
    message: Outgoing,
    *,
    purpose: str,
    hold_s: float,
    join: Join,
    priority: OutboxPriority = OutboxPriority.NORMAL,
) -> None:
    """Queue `message`, joining the row of the same `purpose` held for its chat (and case).

    `hold_s` > 0: the message is held that long (a new row), or joins a held one, which
    then waits `hold_s` more (at most HOLD_CAP times `hold_s` from its first message).
    `hold_s` == 0: the message goes at once; a held row it joins goes with it, now.

    `priority`: the class of a new held row. A reporter's notice is held in the `HELD`
    class, so that it never makes the chat's other messages wait; the case's next message
    to the chat moves it up and sends it at once (`enqueue`), so the case's order holds.
    """
    now = utcnow()  # the outbox's clock is the sender's: the wall clock
    held = await _held_row(session, channel, message, purpose, now)
    if held is not None:
        # A join holds the row for another `hold_s`, but never past HOLD_CAP of them
        # from the first: a steady trickle still reaches the person.
        until = (
            None
            if hold_s <= 0
            else min(
                held.created_at + timedelta(seconds=hold_s * HOLD_CAP),
                now + timedelta(seconds=hold_s),
            )
        )
        if await _join(session, held, message, join, until, now):
            return
    track = {**(message.track or {}), "purpose": purpose}
    message.track = track
    if hold_s <= 0:
        await enqueue(session, channel, message)
        return
    row = await enqueue(session, channel, message, priority=priority)
    row.next_attempt_at = now + timedelta(seconds=hold_s)


async def _held_row(
    session: AsyncSession, channel: str, message: Outgoing, purpose: str, now: datetime
) -> Outbox | None:
    stmt = (
        select(Outbox)
        .where(
            col(Outbox.channel) == channel,
            col(Outbox.chat_id) == message.chat_id,
            col(Outbox.status) == OutboxStatus.PENDING.value,
            col(Outbox.next_attempt_at) > now,
            col(Outbox.attempts) == 0,
        )
        .order_by(col(Outbox.id).desc())
        .limit(1)
    )
    case_id = message.case_id
    stmt = stmt.where(
        col(Outbox.case_id).is_(None) if case_id is None else col(Outbox.case_id) == case_id
    )
    row = (await session.exec(stmt)).first()
    if row is None or (row.payload.get("track") or {}).get("purpose") != purpose:
        return None
    return row


async def _join(
    session: AsyncSession,
    held: Outbox,
    message: Outgoing,
    join: Join,
    until: datetime | None,
    now: datetime,
) -> bool:
    """Put `message` into the held row; False when the row is gone (being sent)."""
    before = str(held.payload.get("text") or "")
    text = f"{before}\n\n{message.text}" if join == "append" else message.text
    if len(text) > TEXT_BUDGET:
        return False
    payload = {**held.payload, "text": text}
    if join == "replace" or message.buttons:
        payload["buttons"] = message.to_payload()["buttons"]
    values: dict[str, object] = {"payload": payload}
    if until is None:  # released: it goes now, with the message that joined it
        values.update(next_attempt_at=now, priority=int(OutboxPriority.NORMAL))
    else:
        values.update(next_attempt_at=max(until, held.next_attempt_at))
    result = await session.exec(  # type: ignore[call-overload]
        update(Outbox)
        .where(col(Outbox.id) == held.id, col(Outbox.status) == OutboxStatus.PENDING.value)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    session.expire(held)  # its payload changed underneath the identity map
    return True
