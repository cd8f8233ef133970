"""Injected faults: queued failures (fail_next) and random ones (fault_rate)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    pass
from bot.fakes.telegram.models import FAULT_KINDS, ApiCall, ApiError
from bot.fakes.telegram.state import FakeState


class Faults(FakeState):
    """Injected faults: queued (fail_next) and random (fault_rate)."""

    def _inject_fault(self, method: str) -> ApiError | None:
        """A queued or random fault for ``method``, if any (counted in ``faults``)."""
        fault: ApiError | None = None
        for key in (method.lower(), "*"):
            queue = self._faults.get(key)
            if queue:
                fault = queue.popleft()
                break
        if fault is None and self.fault_rate > 0 and self._is_message_call(method):
            if self._rng.random() < self.fault_rate:
                kinds = [k for k, w in self.fault_kinds.items() if w > 0]
                weights = [self.fault_kinds[k] for k in kinds]
                fault = self._make_fault(self._rng.choices(kinds, weights)[0])
        if fault is not None:
            self.faults[self._fault_kind(fault)] += 1
        return fault

    @staticmethod
    def _fault_kind(fault: ApiError) -> str:
        if fault.kind != "error":
            return fault.kind
        return "429" if fault.status == 429 else ("5xx" if fault.status >= 500 else "4xx")

    def _make_fault(self, kind: str) -> ApiError:
        if kind == "5xx":
            return ApiError(500, "Internal Server Error")
        if kind == "429":
            return ApiError(
                429,
                f"Too Many Requests: retry after {self.fault_retry_after}",
                retry_after=self.fault_retry_after,
            )
        if kind in ("timeout", "disconnect"):
            return ApiError(0, kind, kind=kind)
        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")

    async def _no_answer(
        self, request: web.Request, call: ApiCall, fault: ApiError, started: float
    ) -> web.Response:
        """Serve a fault that gets no answer: hold the request, or drop the connection."""
        call.ok, call.status, call.error = False, 0, fault.kind
        call.duration = time.monotonic() - started
        self._record(call)
        if fault.kind == "timeout":
            # The client gives up first; closing its connection cancels this handler.
            await asyncio.sleep(self.fault_hold_s)
        elif request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError  # no response: the connection is gone or abandoned

    @property
    def fault_seed(self) -> int:
        """Seed of the random generator behind ``fault_rate``."""
        return self._fault_seed

    @fault_seed.setter
    def fault_seed(self, value: int) -> None:
        self._fault_seed = value
        self._rng = random.Random(value)

    def fail_next(
        self,
        method: str,
        *,
        status: int = 500,
        description: str = "Internal Server Error",
        retry_after: int | None = None,
        count: int = 1,
        kind: str = "error",
    ) -> None:
        """Make the next ``count`` calls of ``method`` (``"*"`` = any) fail with this error.

        ``kind="timeout"``: hold the request (``fault_hold_s``) so the client times out;
        ``kind="disconnect"``: drop the connection. Neither applies the call.
        """
        if kind not in ("error", "timeout", "disconnect"):
            raise ValueError(f"unknown fault kind {kind!r}")
        queue = self._faults.setdefault(method.lower(), deque())
        for _ in range(count):
            queue.append(ApiError(status, description, retry_after, kind=kind))
