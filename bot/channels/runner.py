"""Runs the hotline on its channels: each channel's receiver and inbox dispatcher, the one
outbox sender and the deadline scheduler, until stopped."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from bot.channels.base import Channel, Receiver
from bot.inbox import InboxDispatcher

if TYPE_CHECKING:
    from bot.app import Hotline

log = logging.getLogger(__name__)


class ChannelRunner:
    """`run()` until `stop()`: what `hotline run` and the demo run.

    At start each channel learns its identity and fills its menu, then becomes the outbox
    sender's transport for its rows and gets its inbox dispatcher and its receiver. At
    stop the receivers stop first, the updates in hand are handled, then the scheduler and
    the sender stop (the calls on the wire finish); what waits stays in the tables.
    """

    def __init__(self, hotline: Hotline, channels: list[Channel]) -> None:
        self.hotline = hotline
        self.channels = channels
        self.started = asyncio.Event()
        self.stopped = asyncio.Event()
        self.receivers: dict[str, Receiver] = {}
        self.dispatchers: dict[str, InboxDispatcher] = {}
        self._stopping = False

    async def run(self) -> None:
        """Start every channel, then receive, dispatch, send and watch deadlines."""
        hotline, settings = self.hotline, self.hotline.settings
        tasks: list[asyncio.Task[None]] = []
        try:
            for channel in self.channels:
                await channel.start()
                hotline.add_transport(channel)
                dispatcher = InboxDispatcher(
                    hotline.sessionmaker,
                    channel,
                    concurrency=settings.inbox_concurrency,
                    # Updates with files to download: enough to keep every download slot
                    # busy, never so many that the other chats wait for slow downloads.
                    file_concurrency=2 * settings.download_concurrency,
                    wake_sender=hotline.sender.wake,
                )
                receiver = channel.receiver()
                receiver.dispatcher = dispatcher
                self.dispatchers[channel.name] = dispatcher
                self.receivers[channel.name] = receiver
            # Open311 requesters have no chat: their rows are closed by this transport.
            from bot.web.open311.filing import Open311Transport

            hotline.add_transport(Open311Transport())
            sender_task = asyncio.create_task(hotline.sender.run(), name="outbox-sender")
            scheduler_task = asyncio.create_task(hotline.scheduler.run(), name="deadlines")
            # One `hotline run` is each inbox's only dispatcher: what the last run held in
            # hand is suspect at once, not after its claim runs out.
            tasks = [
                asyncio.create_task(d.run(clear_claims=True), name=f"inbox-{name}")
                for name, d in self.dispatchers.items()
            ]
            try:
                receiving = [
                    asyncio.create_task(r.run(), name=f"receiver-{name}")
                    for name, r in self.receivers.items()
                ]
                self.started.set()
                if self._stopping:
                    await self._stop_receivers()
                await asyncio.gather(*receiving)
            finally:
                for dispatcher in self.dispatchers.values():
                    dispatcher.stop()
                await asyncio.gather(*tasks)
                hotline.scheduler.stop()
                await scheduler_task
                hotline.sender.stop()
                await sender_task
        finally:
            for channel in self.channels:
                try:
                    await channel.close()
                except Exception:  # noqa: BLE001  (closing connections: nothing to lose)
                    log.warning("channel %s: could not close cleanly", channel.name)
            self.stopped.set()

    async def _stop_receivers(self) -> None:
        for receiver in self.receivers.values():
            await receiver.stop()

    async def stop(self) -> None:
        """Stop receiving; run() returns once the updates in hand are handled."""
        self._stopping = True
        await self._stop_receivers()
