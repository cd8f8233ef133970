"""Zalo's long polling: one update per getUpdates call, stored in the inbox, then the next.

getUpdates takes only `timeout`: no offset, no update id, no batch. The platform forgets an
update once it has given it, so each one is stored with its own id (a clock-based
sequence, routing.UpdateSequence) and its dedupe key (event_name:message_id) in one
transaction before the next poll; a redelivery (the same key) leaves the stored row alone.
An empty poll answers `ok: false, error_code: 408`: that is "nothing yet", not an error.
A 401 stops the channel (ZaloChannel.unauthorized, logged once); other failures (network,
5xx, 429) wait with backoff (1 s doubling to 30 s) and poll again; a database failure
holds the fetched update and retries storing it (1 s doubling to 60 s) before polling
again, so nothing fetched is dropped while the process lives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from bot import failpoints, services
from bot.channels.zalo.client import ZaloApiError, ZaloClient, ZaloTimeout, ZaloUnauthorized
from bot.channels.zalo.routing import event_of
from bot.db import session_scope
from bot.inbox import InboxDispatcher, backoff
from bot.services.inbox import Arrival

if TYPE_CHECKING:
    from bot.app import Hotline
    from bot.channels.zalo.channel import ZaloChannel

log = logging.getLogger(__name__)

POLL_TIMEOUT_S = 30


def arrival(channel: ZaloChannel, raw: dict[str, Any]) -> Arrival | None:
    """What of a raw update goes into the inbox (None: no event, or refused)."""
    if event_of(raw) is None:
        return None
    route = channel.route(raw)
    if route.chat_type != "private" or route.chat_key is None:
        return None  # groups are not served on Zalo; without a chat nobody can be answered
    uid = channel.update_id(raw)
    if uid is None:
        return None
    return Arrival(uid, raw, route.chat_key, None, route.has_files, route.dedupe_key)


async def store(hotline: Hotline, channel: ZaloChannel, raws: list[dict[str, Any]]) -> int:
    """Store raw updates in the inbox in one transaction; how many were usable."""
    arrivals = [a for a in (arrival(channel, raw) for raw in raws) if a is not None]
    if arrivals:
        async with session_scope(hotline.sessionmaker) as session:
            await services.store_inbound(session, channel.name, arrivals)
    return len(arrivals)


class ZaloPolling:
    """The Zalo receiver with long polling: `run()` until `stop()`."""

    def __init__(
        self,
        hotline: Hotline,
        channel: ZaloChannel,
        client: ZaloClient,
        *,
        poll_timeout: int = POLL_TIMEOUT_S,
    ) -> None:
        self.hotline = hotline
        self.channel = channel
        self.client = client
        self.poll_timeout = poll_timeout
        self.started = asyncio.Event()
        self.stopped = asyncio.Event()
        self.dispatcher: InboxDispatcher | None = None
        self._stopping = asyncio.Event()
        self._poll_task: asyncio.Task[Any] | None = None
        # Observed (tests and operators).
        self.stored = 0
        self.empty_polls = 0
        self.skipped = 0

    async def run(self) -> None:
        """Receive until stopped (or until the token is refused)."""
        try:
            self.started.set()
            await self._poll()
        finally:
            self.stopped.set()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _poll(self) -> None:
        fetch_failures = 0
        while not self._stopping.is_set() and not self.channel.unauthorized:
            self._poll_task = asyncio.ensure_future(self.client.get_updates(self.poll_timeout))
            try:
                result = await self._poll_task
            except asyncio.CancelledError:
                if self._stopping.is_set():
                    return
                raise
            except ZaloTimeout:
                self.empty_polls += 1  # 408: nothing to give
                fetch_failures = 0
                continue
            except ZaloUnauthorized:
                self.channel.refused_token()
                return
            except Exception as exc:  # noqa: BLE001  (network, 5xx, 429: wait, poll again)
                fetch_failures += 1
                delay = min(30.0, 2.0 ** min(fetch_failures - 1, 5))
                reason = exc if isinstance(exc, ZaloApiError) else type(exc).__name__
                log.warning("zalo: getUpdates failed (%s); retrying in %.0fs", reason, delay)
                await self._pause(delay)
                continue
            fetch_failures = 0
            raws = result if isinstance(result, list) else [result]
            raws = [r for r in raws if isinstance(r, dict)]
            await self._store(raws)

    async def _store(self, raws: list[dict[str, Any]]) -> None:
        """Store what one poll gave, retrying until it is stored or the receiver stops."""
        failures = 0
        while True:
            try:
                count = await store(self.hotline, self.channel, raws)
            except Exception as exc:  # noqa: BLE001  (disk full, read-only, database down)
                failures += 1
                delay = backoff(failures)
                log.error(
                    "zalo: could not store an update (%s); retrying in %.0fs",
                    type(exc).__name__,
                    delay,
                )
                if self._stopping.is_set():
                    log.error("zalo: stopping with an update fetched but not stored")
                    return
                await self._pause(delay)
                continue
            break
        failpoints.hit("event.received")
        self.stored += count
        self.skipped += len(raws) - count
        if count and self.dispatcher is not None:
            self.dispatcher.wake()

    def halt(self) -> None:
        """Stop polling now (from synchronous code: a refused token)."""
        self._stopping.set()
        if self._poll_task is not None and not self._poll_task.done():
            self._poll_task.cancel()

    async def stop(self) -> None:
        """Stop polling; run() returns soon after."""
        self.halt()
