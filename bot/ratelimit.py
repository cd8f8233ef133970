"""Outbound rate limits, kept below the channel's own so that it never has to enforce them.

Telegram asks bots to stay under three limits (Bots FAQ, "My bot is hitting limits"):

- one chat: about one message per second, "short bursts" allowed. Modelled as spacing
  (GCRA, "virtual scheduling"): a message every `chat_interval_s`, with up to `chat_burst`
  back to back (a case card, its album and its map pin go out together);
- one group chat: at most 20 messages per minute. A sliding window: at most n messages in
  any `window_s` seconds;
- the whole bot: about 30 messages per second. A sliding window too.

An album of N items counts as N messages. When one send is larger than a window's limit it
may go only into an empty window, and it fills it for as long as N messages would (spacing
simply runs into debt).

A send is *reserved* when it starts (it counts from then on, whatever happens) and
*stamped* with the time it finished. The channel handled the request somewhere between
the two, so counting it at the later moment can only overestimate what the channel saw:
a message the limiter lets through is never one the channel would refuse, network jitter
included.

Learning from the channel's 429 answers (`note_rate_limited`). Telegram documents the
limits only roughly ("short bursts" of unstated size), so the limiter learns, per chat,
what the channel actually grants, and tells apart what a refusal means:

- refused while the chat was *bursting* (the send started before strict spacing would have
  let it): that chat grants no burst. The chat pauses for the retry_after and from then on
  gets strict spacing (burst 1). Once `LEARN_NO_BURST` chats have shown the same, the
  channel evidently grants no bursts, and new chats start strict too. Nothing else pauses:
  it was that chat's limit, not the bot's;
- refused although strictly spaced: the chat's interval is longer than assumed. It pauses
  and its interval grows (x1.5, up to `MAX_INTERVAL_S`); if another chat was also refused
  while strictly spaced and is still paused, the bot as a whole is being limited, and
  everything pauses (as it does when the channel says so, `whole_channel`).

So a strict per-chat model costs a handful of 429s at start and none after, and one chat's
limit never stops the others.

What a chat's own limits allow (`chat_ready_at`: its pause, spacing and group window) and
what the bot's do (`bot_ready_at`, `bot_room`: a pause of everything, the global window) are
asked apart too: the sender claims a row when its chat may go and lets it wait here for the
bot's window. A wait for a moment already known is an exact sleep (a send finishing never
makes room sooner); only a wait for a send in flight is woken by its end.

The clock is injectable (`clock=`), so the arithmetic is tested without sleeping. The
limiter belongs to one process: with several senders, give each a share of the limits.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

Clock = Callable[[], float]
NEVER = math.inf  # "not until something in flight finishes"
LEARN_NO_BURST = 2  # chats refused while bursting before new chats start without a burst
MAX_INTERVAL_S = 10.0  # the longest per-chat interval learned from refusals


class SlidingWindow:
    """At most `limit` messages in any window of `window_s` seconds."""

    def __init__(self, limit: int, window_s: float) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("a window needs a limit >= 1 and a positive length")
        self.limit = limit
        self.window_s = window_s
        self._stamps: deque[float] = deque()  # finished sends, oldest first
        self._in_flight = 0

    def _prune(self, now: float) -> None:
        while self._stamps and self._stamps[0] <= now - self.window_s:
            self._stamps.popleft()

    def count(self, now: float) -> int:
        """Messages counted against the window at `now` (those in flight included)."""
        self._prune(now)
        return len(self._stamps) + self._in_flight

    def ready_at(self, now: float, cost: int = 1) -> float:
        """The earliest moment `cost` more messages fit (`now` if they fit already)."""
        used = self.count(now)
        if used == 0 or used + cost <= self.limit:
            return now
        if cost > self.limit:  # an oversized send waits for an empty window
            if self._in_flight:
                return NEVER
            return self._stamps[-1] + self.window_s
        excess = used + cost - self.limit
        if excess > len(self._stamps):  # only the sends in flight can make room
            return NEVER
        return self._stamps[excess - 1] + self.window_s

    def reserve(self, cost: int) -> None:
        """A send of `cost` messages starts."""
        self._in_flight += cost

    def finish(self, cost: int, now: float) -> None:
        """A reserved send ended (delivered or not) at `now`."""
        self._in_flight = max(0, self._in_flight - cost)
        self._stamps.extend([now] * cost)


@dataclass
class _Spacing:
    """Per-chat state: the theoretical arrival time of the next message (GCRA)."""

    tat: float = -math.inf
    paused_until: float = -math.inf
    interval: float | None = None  # learned: seconds between messages (None: the default)
    burst: int | None = None  # learned: messages back to back (None: the default)
    early: bool = False  # the last send started before strict spacing allowed it
    refused_strict: bool = False  # the last 429 came although strictly spaced


@dataclass
class Reservation:
    """A send the limiter let through; hand it back to `finish` when the call returns."""

    key: Hashable
    group: bool
    cost: int
    started: float
    finished: bool = False


class RateLimiter:
    """Per-chat spacing, per-group and global sliding windows, and 429 pauses."""

    def __init__(
        self,
        *,
        chat_interval_s: float = 1.0,
        chat_burst: int = 10,
        group_limit: tuple[int, float] | None = (20, 60.0),
        global_limit: tuple[int, float] | None = (30, 1.0),
        clock: Clock = time.monotonic,
    ) -> None:
        if chat_interval_s < 0 or chat_burst < 1:
            raise ValueError("chat_interval_s must be >= 0 and chat_burst >= 1")
        self.chat_interval_s = chat_interval_s
        self.chat_burst = chat_burst
        self.group_limit = group_limit
        self.clock = clock
        self._global = SlidingWindow(*global_limit) if global_limit else None
        self._groups: dict[Hashable, SlidingWindow] = {}
        self._chats: dict[Hashable, _Spacing] = {}
        self._paused_all_until = -math.inf
        self._changed = asyncio.Event()
        self.learned_no_burst = 0  # chats that showed the channel grants them no burst
        self.learned_slower = 0  # refusals of strictly spaced sends (intervals grown)

    @classmethod
    def unlimited(cls, clock: Clock = time.monotonic) -> RateLimiter:
        """A limiter that never holds anything back (429 answers still pause)."""
        return cls(chat_interval_s=0.0, group_limit=None, global_limit=None, clock=clock)

    # ------------------------------------------------------------ state

    def _chat(self, key: Hashable) -> _Spacing:
        state = self._chats.get(key)
        if state is None:
            if len(self._chats) > 10_000:
                self._forget_idle_chats()
            state = self._chats[key] = _Spacing()
        return state

    def _group(self, key: Hashable) -> SlidingWindow | None:
        if self.group_limit is None:
            return None
        window = self._groups.get(key)
        if window is None:
            window = self._groups[key] = SlidingWindow(*self.group_limit)
        return window

    def _interval(self, chat: _Spacing) -> float:
        return self.chat_interval_s if chat.interval is None else chat.interval

    def _tolerance(self, chat: _Spacing) -> float:
        """How far ahead of strict spacing the chat may send (its burst)."""
        burst = self.chat_burst if chat.burst is None else chat.burst
        return (burst - 1) * self._interval(chat)

    def _forget_idle_chats(self) -> None:
        now = self.clock()
        for key in [k for k, s in self._chats.items() if s.tat < now and s.paused_until < now]:
            del self._chats[key]
            window = self._groups.get(key)
            if window is not None and window.count(now) == 0:
                del self._groups[key]

    # ------------------------------------------------------------ asking

    def chat_ready_at(self, key: Hashable, *, group: bool, cost: int = 1) -> float:
        """The earliest clock time the chat's own limits let a send of `cost` messages to
        `key` start: its pause, its spacing, its group's window (the bot's apart)."""
        now = self.clock()
        chat = self._chats.get(key)
        moments = [now]
        if chat is not None:
            moments.append(chat.paused_until)
            moments.append(chat.tat - self._tolerance(chat))
        if group and self.group_limit is not None:
            window = self._groups.get(key)
            if window is not None:
                moments.append(window.ready_at(now, cost))
        return max(moments)

    def bot_ready_at(self, cost: int = 1) -> float:
        """The earliest clock time the bot as a whole may start a send of `cost` messages,
        whatever its chat: a pause of everything, and the global window."""
        now = self.clock()
        moments = [now, self._paused_all_until]
        if self._global is not None:
            moments.append(self._global.ready_at(now, cost))
        return max(moments)

    def bot_room(self) -> float:
        """How many one-message sends the bot as a whole may start now (inf: unlimited)."""
        now = self.clock()
        if self._paused_all_until > now:
            return 0
        if self._global is None:
            return math.inf
        return max(0, self._global.limit - self._global.count(now))

    @property
    def paused_all_until(self) -> float:
        """Until when nothing at all may be sent (a 429 for the whole bot)."""
        return self._paused_all_until

    def ready_at(self, key: Hashable, *, group: bool, cost: int = 1) -> float:
        """The earliest clock time a send of `cost` messages to `key` may start."""
        return max(self.chat_ready_at(key, group=group, cost=cost), self.bot_ready_at(cost))

    def delay(self, key: Hashable, *, group: bool, cost: int = 1) -> float:
        """Seconds until a send of `cost` messages to `key` may start (0: now)."""
        return max(0.0, self.ready_at(key, group=group, cost=cost) - self.clock())

    # ------------------------------------------------------------ sending

    def try_reserve(self, key: Hashable, *, group: bool, cost: int = 1) -> Reservation | None:
        """Reserve a send if it may start now, else None."""
        if self.ready_at(key, group=group, cost=cost) > self.clock():
            return None
        return self._reserve(key, group, cost)

    def _reserve(self, key: Hashable, group: bool, cost: int) -> Reservation:
        now = self.clock()
        chat = self._chat(key)
        chat.early = now < chat.tat  # inside the burst allowance, ahead of strict spacing
        chat.tat = max(chat.tat, now) + cost * self._interval(chat)
        if group:
            window = self._group(key)
            if window is not None:
                window.reserve(cost)
        if self._global is not None:
            self._global.reserve(cost)
        return Reservation(key, group, cost, now)

    def finish(self, reservation: Reservation) -> None:
        """The reserved send returned (delivered or not): count it from now on."""
        if reservation.finished:
            return
        reservation.finished = True
        now = self.clock()
        # The spacing was charged from the start; move it on by the time the call took.
        self._chat(reservation.key).tat += max(0.0, now - reservation.started)
        if reservation.group:
            window = self._group(reservation.key)
            if window is not None:
                window.finish(reservation.cost, now)
        if self._global is not None:
            self._global.finish(reservation.cost, now)
        self._changed.set()

    async def acquire(self, key: Hashable, *, group: bool, cost: int = 1) -> Reservation:
        """Wait until a send of `cost` messages may start, then reserve it."""
        while True:
            reservation = self.try_reserve(key, group=group, cost=cost)
            if reservation is not None:
                return reservation
            wait = self.delay(key, group=group, cost=cost)
            if math.isinf(wait):
                # NEVER: something in flight must finish first; finish() wakes us.
                self._changed.clear()
                await self._changed.wait()
            else:
                # A finite wait is exact: a send finishing never makes room sooner (it
                # trades its place in flight for a stamp, and moves its chat's spacing on).
                await asyncio.sleep(max(wait, 0.001))

    # ------------------------------------------------------------ the channel said no

    def pause(self, key: Hashable, seconds: float) -> None:
        """Send nothing to `key` for `seconds`."""
        chat = self._chat(key)
        chat.paused_until = max(chat.paused_until, self.clock() + seconds)

    def pause_all(self, seconds: float) -> None:
        """Send nothing at all for `seconds`."""
        self._paused_all_until = max(self._paused_all_until, self.clock() + seconds)

    def note_rate_limited(
        self, key: Hashable, seconds: float, *, whole_channel: bool = False
    ) -> bool:
        """The channel refused a send to `key` with 429 / retry_after `seconds`; learn from
        it (see the module doc). True if everything pauses."""
        now = self.clock()
        chat = self._chat(key)
        self.pause(key, seconds)
        if whole_channel:
            self.pause_all(seconds)
            return True
        if chat.early:
            # The chat grants no burst: strict spacing from now on, for it (and for every
            # new chat once enough chats have shown the same).
            if chat.burst != 1:
                chat.burst = 1
                self.learned_no_burst += 1
                if self.learned_no_burst >= LEARN_NO_BURST:
                    self.chat_burst = 1
            chat.refused_strict = False
            return False
        # Refused although strictly spaced: this chat's interval is longer than assumed.
        interval = self._interval(chat)
        chat.interval = min(MAX_INTERVAL_S, max(interval * 1.5, interval + 0.1))
        chat.refused_strict = True
        self.learned_slower += 1
        others_refused = any(
            other != key and state.refused_strict and state.paused_until > now
            for other, state in self._chats.items()
        )
        if others_refused:
            self.pause_all(seconds)
            return True
        return False
