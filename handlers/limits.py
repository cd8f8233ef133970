"""Per-user limits: citizens' messages per minute and cases per hour; group commands.

Messages are counted in memory, in a sliding window per (channel, user): a flood costs no
database work beyond marking its updates received. The first event over the limit gets
one polite notice; further ones in the same window are dropped silently, unhandled (what
was sent is not recorded, and the notice says so). Button presses count like messages.

Filed cases are counted from the `case` table (`filed_at` within the last hour), so the
limit holds across restarts and processes.

In officer groups only commands are limited (buttons and replies are the work itself):
each member of a group may give `group_commands_per_minute` commands (other than /link,
which has its own lock-out) in a sliding minute. Beyond it the member gets one polite
notice, in a linked group only (a group that is not linked hears nothing), then silence
until the minute has passed. One member typing /open forty times can no longer fill the
group's 20 messages a minute with answers.

The clocks are injectable for tests: `limits_for(deps).messages.clock` and `.commands.clock`
(monotonic seconds) and `limits_for(deps).now` (aware UTC datetimes; also the filing time
of cases).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING

from sqlmodel import col, select

from bot import services
from handlers.language import reporter_locale
from models.tables import Case
from models.types import utcnow

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from handlers.context import HotlineDeps, Turn

log = logging.getLogger(__name__)

MESSAGE_WINDOW_S = 60.0
CASE_WINDOW = timedelta(hours=1)
MAX_TRACKED_USERS = 100_000  # beyond this many recently active users, the idlest are forgotten


class Admission(Enum):
    """What to do with one event of a user."""

    ALLOW = "allow"
    NOTICE = "notice"  # over the limit: tell them once, do not handle it
    DROP = "drop"  # over the limit and already told: ignore silently


@dataclass
class _Window:
    hits: deque[float] = field(default_factory=deque)  # times of admitted events, oldest first
    last_seen: float = 0.0
    notified: bool = False


class MessageRateLimiter:
    """A sliding-window counter of events per key, in bounded memory.

    Only admitted events are remembered (at most `limit` times per key), so a user who
    keeps sending while refused is let in again as soon as their oldest admitted event
    leaves the window. Keys idle for a whole window are forgotten; at most `max_tracked`
    keys are kept (the least recently active go first).
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        window_s: float = MESSAGE_WINDOW_S,
        max_tracked: int = MAX_TRACKED_USERS,
    ) -> None:
        self.clock = clock
        self.window_s = window_s
        self.max_tracked = max_tracked
        self._windows: OrderedDict[tuple[str, str], _Window] = OrderedDict()

    def __len__(self) -> int:
        return len(self._windows)

    def admit(self, key: tuple[str, str], limit: int) -> Admission:
        """Count one event of `key` against `limit` per window."""
        now = self.clock()
        cutoff = now - self.window_s
        self._evict(cutoff)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window()
            while len(self._windows) > self.max_tracked:
                self._windows.popitem(last=False)
        else:
            self._windows.move_to_end(key)
        window.last_seen = now
        while window.hits and window.hits[0] <= cutoff:
            window.hits.popleft()
        if len(window.hits) < limit:
            window.hits.append(now)
            window.notified = False
            return Admission.ALLOW
        if window.notified:
            return Admission.DROP
        window.notified = True
        return Admission.NOTICE

    def _evict(self, cutoff: float) -> None:
        # Ordered by last activity: the keys idle for a whole window are at the front.
        while self._windows:
            key, window = next(iter(self._windows.items()))
            if window.last_seen > cutoff:
                break
            del self._windows[key]


@dataclass
class UserLimits:
    """The limit state of one running hotline."""

    messages: MessageRateLimiter = field(default_factory=MessageRateLimiter)
    commands: MessageRateLimiter = field(default_factory=MessageRateLimiter)  # in groups
    now: Callable[[], datetime] = utcnow


def limits_for(deps: HotlineDeps) -> UserLimits:
    """The limit state of a running hotline (kept on its dependencies)."""
    return deps.limits


# ---------------------------------------------------------------- messages per minute


async def refuse_flood(turn: Turn) -> bool:
    """Count this private-chat event; True when it must not be handled (over the limit).

    The first refused event of a window queues one notice in the reporter's language (and
    answers the button press with it); later ones are silent.
    """
    ev = turn.event
    limiter = limits_for(turn.deps).messages
    verdict = limiter.admit((ev.channel, ev.user_id), turn.deps.user_messages_per_minute)
    if verdict is Admission.ALLOW:
        return False
    if verdict is Admission.NOTICE:
        log.info("message limit reached: channel=%s user=%s", ev.channel, ev.user_id)
        reporter = await services.get_reporter(turn.session, ev.channel, ev.user_id)
        turn.locale = reporter_locale(reporter, ev.language_code)
        limit = turn.deps.user_messages_per_minute
        if ev.kind == "button":
            turn.answer("intake.too_fast", limit=limit)
        await turn.send("intake.too_fast", limit=limit)
    return True


# ---------------------------------------------------------------- commands in groups


async def refuse_command_flood(turn: Turn) -> bool:
    """Count this group command of its member; True when it must not be handled.

    The first refused command of a window queues one notice to the group (a linked one
    only); later ones are silent.
    """
    ev = turn.event
    limiter = limits_for(turn.deps).commands
    limit = turn.deps.group_commands_per_minute
    # Per member of each group: anonymous admins share one user id across all groups.
    verdict = limiter.admit((ev.channel, f"{ev.chat_id}/{ev.user_id}"), limit)
    if verdict is Admission.ALLOW:
        return False
    if verdict is Admission.NOTICE:
        log.info("command limit reached", extra={"chat": ev.chat_id, "update": ev.update_id})
        if await services.link_of_chat(turn.session, ev.channel, ev.chat_id) is not None:
            await turn.send("officer.too_many_commands", limit=limit)
    return True


# ---------------------------------------------------------------- filed cases per hour


async def next_filing_allowed_at(
    session: AsyncSession, reporter_id: int, limit: int, now: datetime
) -> datetime | None:
    """None when the reporter may file now; else when they may (their limit per hour used)."""
    stmt = (
        select(Case.filed_at)
        .where(Case.reporter_id == reporter_id, col(Case.filed_at) > now - CASE_WINDOW)
        .order_by(col(Case.filed_at))
    )
    recent = list((await session.exec(stmt)).all())
    if len(recent) < limit:
        return None
    # Once the oldest cases that keep the count at the limit leave the window.
    free_at: datetime = recent[len(recent) - limit] + CASE_WINDOW
    # Shown to the minute: round up, so that the time said is never too early.
    if free_at.second or free_at.microsecond:
        free_at = free_at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return free_at
