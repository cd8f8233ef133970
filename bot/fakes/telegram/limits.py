"""Telegram's flood control, as the fake enforces it (enforce_rate_limits)."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass
from bot.fakes.telegram.models import ApiError, _Params
from bot.fakes.telegram.state import FakeState


class _FloodControl:
    """Telegram's flood limits, as ``enforce_rate_limits`` configures them.

    Per chat: a message every ``interval`` seconds, ``burst`` of them back to back. Per group
    chat (negative id) and overall: at most n messages in any window of w seconds.
    """

    def __init__(
        self,
        interval: float | None,
        burst: int,
        group: tuple[int, float] | None,
        overall: tuple[int, float] | None,
    ) -> None:
        self.interval = interval
        self.burst = burst
        self.group = group
        self.overall = overall
        self._next_free: dict[int, float] = {}  # chat -> theoretical time of its next message
        self._group_log: dict[int, list[float]] = {}
        self._overall_log: list[float] = []

    @staticmethod
    def _window_wait(log: list[float], limit: tuple[int, float], cost: int, now: float) -> float:
        size, window = limit
        log[:] = [stamp for stamp in log if stamp > now - window]
        if not log or len(log) + cost <= size:
            return 0.0
        drop = len(log) if cost > size else len(log) + cost - size
        return sorted(log)[drop - 1] + window - now

    def wait(self, chat_id: int, cost: int, now: float) -> float:
        """Seconds until this send would be allowed (0: allowed now)."""
        waits = [0.0]
        if self.interval:
            due = self._next_free.get(chat_id, -math.inf) - (self.burst - 1) * self.interval
            waits.append(due - now - 1e-6)
        if self.group and chat_id < 0:
            log = self._group_log.setdefault(chat_id, [])
            waits.append(self._window_wait(log, self.group, cost, now))
        if self.overall:
            waits.append(self._window_wait(self._overall_log, self.overall, cost, now))
        return max(waits)

    def count(self, chat_id: int, cost: int, now: float) -> None:
        """Count an applied send of ``cost`` messages."""
        if self.interval:
            free = max(self._next_free.get(chat_id, -math.inf), now)
            self._next_free[chat_id] = free + cost * self.interval
        if self.group and chat_id < 0:
            self._group_log.setdefault(chat_id, []).extend([now] * cost)
        if self.overall:
            self._overall_log.extend([now] * cost)


class FloodControl(FakeState):
    """Telegram's flood control: 429 with retry_after."""

    def enforce_rate_limits(
        self,
        *,
        per_chat_interval: float | None = None,
        per_chat_burst: int = 1,
        per_group_per_window: tuple[int, float] | None = None,
        global_per_second: int | None = None,
        global_per_window: tuple[int, float] | None = None,
    ) -> None:
        """Refuse messages over these limits with 429 and retry_after, as Telegram does.

        ``per_chat_interval``: seconds between messages to one chat (``per_chat_burst`` may
        go back to back); ``per_group_per_window``: (n, seconds) for each group chat;
        ``global_per_second`` or ``global_per_window``: for all chats together. An album of
        N items counts as N messages; only calls that were applied count. Call with no
        arguments to stop enforcing.
        """
        overall = global_per_window or (
            (global_per_second, 1.0) if global_per_second is not None else None
        )
        if per_chat_interval is None and per_group_per_window is None and overall is None:
            self._flood = None
            return
        self._flood = _FloodControl(
            per_chat_interval, per_chat_burst, per_group_per_window, overall
        )

    def _flood_check(self, method: str, params: _Params) -> tuple[int, int, float] | None:
        """Raise 429 if this message is over a limit; else what to count once it applied."""
        if self._flood is None or not self._is_message_call(method):
            return None
        try:
            chat_id = int(params.get("chat_id"))
        except (TypeError, ValueError):
            return None
        media = params.get("media")
        cost = len(media) if method.lower() == "sendmediagroup" and isinstance(media, list) else 1
        now = time.monotonic()
        wait = self._flood.wait(chat_id, cost, now)
        if wait > 0:
            self.rate_limited += 1
            retry_after = max(1, math.ceil(wait))
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )
        return chat_id, cost, now

    def _flood_count(self, chat_id: int, cost: int, now: float) -> None:
        if self._flood is not None:
            self._flood.count(chat_id, cost, now)
