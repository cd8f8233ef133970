"""`hotline serve`: one aiohttp application for webhooks, health, metrics and the public site.

Routes:

- `POST /webhook/{channel}` for every configured channel that has a webhook (Telegram when
  HOTLINE_TELEGRAM_WEBHOOK_SECRET is set: `POST /webhook/telegram`; Zalo's likewise). The
  channel's `Webhook.authentic` checks the secret header in constant time: a wrong or
  missing one gets 401 and nothing is stored. The raw updates are stored in the inbox in one
  committed transaction (the rules of long polling: groups that are not linked are refused
  before storing) and only then is 200 answered; handling happens later, in whichever
  worker takes the update from the inbox, so the answer is quick however far behind the
  handling is. When the database cannot store them the answer is 503 and the channel sends
  them again.
- `GET /healthz`: 200 while the process runs. `GET /readyz`: 200 when the database answers
  and is migrated to the head revision, else 503 with the reason.
- `GET /metrics`: Prometheus text format (bot/web/metrics.py).
- The public pages and Open311 GeoReport v2 (`setup_public`).

Work: each channel's inbox dispatcher runs in every process (several workers share the
inbox: a chat's updates one at a time in arrival order, bot/inbox.py); the outbox sender,
the deadline scheduler and the long polling of channels without a webhook run in the one
leader process (bot/web/leader.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot import db
from bot.channels.base import Channel, Receiver
from bot.inbox import InboxDispatcher, store_raw_updates
from bot.web.leader import (
    EXIT_LOST_LEADERSHIP,
    Leadership,
    Notifier,
    SingleProcessLock,
    is_postgres,
)
from bot.web.metrics import Metrics

if TYPE_CHECKING:
    from bot.app import Hotline

log = logging.getLogger(__name__)

MAX_BODY = 4 * 1024 * 1024  # a webhook request (Telegram's updates are a few KB)
READY_TIMEOUT_S = 5.0

HOTLINE_KEY = web.AppKey("hotline", object)


class HotlineServer:
    """Everything `hotline serve` runs in one process, until `stop()`."""

    def __init__(self, hotline: Hotline, channels: list[Channel], *, host: str, port: int) -> None:
        self.hotline = hotline
        self.channels = {channel.name: channel for channel in channels}
        self.host = host
        self.port = port
        self.metrics = Metrics(hotline)
        self.dispatchers: dict[str, InboxDispatcher] = {}
        self.receivers: dict[str, Receiver] = {}
        self.postgres = is_postgres(hotline.settings.database_url)
        self.notifier = Notifier(hotline.settings.database_url) if self.postgres else None
        self._wake_sender = hotline.sender.wake  # this process's own sender
        self.leadership = Leadership(
            hotline.settings.database_url, self._lead, wake=self._wake_sender
        )
        self.started = asyncio.Event()
        self._stopping = asyncio.Event()
        self.lost_leadership = False
        self.app = self._build_app()
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ the application

    def _build_app(self) -> web.Application:
        from bot.web.public import setup_public

        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/webhook/{channel}", self.webhook)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics_page)
        setup_public(app, self.hotline)
        return app

    async def webhook(self, request: web.Request) -> web.Response:
        """Store a channel's webhook request in the inbox, then answer 200."""
        name = request.match_info["channel"]
        channel = self.channels.get(name)
        hook = channel.webhook if channel is not None else None
        if channel is None or hook is None:
            raise web.HTTPNotFound(text="no webhook for this channel\n")
        if not hook.authentic(request.headers):
            log.warning("webhook %s: request without the right secret refused", name)
            raise web.HTTPUnauthorized(text="unauthorized\n")
        try:
            body = json.loads(await request.read())
            raws = hook.updates(body)
        except (ValueError, TypeError, KeyError):  # not JSON, or not the channel's shape
            raise web.HTTPBadRequest(text="not an update\n") from None
        try:
            outcome = await store_raw_updates(
                self.hotline.sessionmaker, self.hotline.linked_chats, channel, raws
            )
        except Exception as exc:  # noqa: BLE001  (the channel retries a non-2xx answer)
            log.error(
                "webhook %s: could not store %s update(s) (%s); answered 503",
                name,
                len(raws),
                type(exc).__name__,
            )
            raise web.HTTPServiceUnavailable(text="could not store the update\n") from None
        self.metrics.received.labels(name).inc(outcome.stored)
        self.metrics.refused.labels(name).inc(outcome.refused)
        dispatcher = self.dispatchers.get(name)
        if dispatcher is not None and outcome.pending:
            dispatcher.wake()
        return web.json_response({"ok": True})

    async def healthz(self, request: web.Request) -> web.Response:
        """The process is alive."""
        return web.Response(text="ok\n")

    async def readyz(self, request: web.Request) -> web.Response:
        """200 when the database answers and is at the head revision, else 503."""
        url = self.hotline.settings.database_url
        try:
            await asyncio.wait_for(db.check_ready(url), READY_TIMEOUT_S)
        except db.DatabaseNotReady as exc:
            return web.Response(status=503, text=f"not ready: {exc}\n")
        except TimeoutError:
            return web.Response(
                status=503,
                text=f"not ready: the database did not answer in {READY_TIMEOUT_S:.0f}s\n",
            )
        except Exception as exc:  # noqa: BLE001
            return web.Response(status=503, text=f"not ready: {type(exc).__name__}\n")
        return web.Response(text="ready\n")

    async def metrics_page(self, request: web.Request) -> web.Response:
        """Prometheus text format."""
        await self.metrics.refresh()
        body = generate_latest(self.metrics.registry)
        response = web.Response(body=body)
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        response.charset = "utf-8"
        return response

    # ------------------------------------------------------------------ running

    def _wake_anywhere(self) -> None:
        """Outbox rows were queued: wake this process's sender, or the leader's."""
        if self.leadership.leading.is_set() or self.notifier is None:
            self._wake_sender()
        else:
            self.notifier.notify()

    async def _lead(self) -> Callable[[], Awaitable[None]]:
        """Start the sender, the scheduler and the long polling of webhook-less channels."""
        hotline = self.hotline
        sender = asyncio.create_task(hotline.sender.run(), name="outbox-sender")
        scheduler = asyncio.create_task(hotline.scheduler.run(), name="deadlines")
        polling = []
        for name, channel in self.channels.items():
            if channel.webhook is None:
                receiver = channel.receiver()
                receiver.dispatcher = self.dispatchers.get(name)
                self.receivers[name] = receiver
                polling.append(asyncio.create_task(receiver.run(), name=f"receiver-{name}"))
        self.metrics.leader.set(1)
        self._wake_sender()  # what followers queued while nobody was sending

        async def stop() -> None:
            self.metrics.leader.set(0)
            for receiver in self.receivers.values():
                await receiver.stop()
            await asyncio.gather(*polling, return_exceptions=True)
            hotline.scheduler.stop()
            hotline.sender.stop()
            await asyncio.gather(scheduler, sender, return_exceptions=True)

        return stop

    async def run(self) -> None:
        """Serve until stopped (or until leadership is lost: `lost_leadership`)."""
        from bot.channels.telegram.webhook import attach_webhook
        from bot.web.open311.filing import Open311Transport

        hotline, settings = self.hotline, self.hotline.settings
        lock: SingleProcessLock | None = None
        if not self.postgres:
            path = db.sqlite_file(settings.database_url)
            if path is not None:
                lock = SingleProcessLock(path)
                if not lock.acquire():
                    raise SystemExit(
                        f"another `hotline serve` already serves {path}: on SQLite one process "
                        "serves a database (use PostgreSQL for several workers)"
                    )
        dispatch: list[asyncio.Task[None]] = []
        leading: asyncio.Task[None] | None = None
        try:
            for name, channel in self.channels.items():
                await channel.start()
                attach_webhook(channel, settings)
                hotline.add_transport(self.metrics.counting(channel))
                self.dispatchers[name] = InboxDispatcher(
                    hotline.sessionmaker,
                    channel,
                    concurrency=settings.inbox_concurrency,
                    file_concurrency=2 * settings.download_concurrency,
                    lease_s=settings.inbox_lease_s,
                    wake_sender=self._wake_anywhere,
                    on_handled=self.metrics.on_handled(name),
                )
            hotline.add_transport(self.metrics.counting(Open311Transport()))
            # Every commit that queues outbox rows wakes the sender, wherever it runs.
            hotline.sender.wake = self._wake_anywhere  # type: ignore[method-assign]
            # Alone on SQLite: claims left by the last run are suspect at once.
            dispatch = [
                asyncio.create_task(d.run(clear_claims=not self.postgres), name=f"inbox-{n}")
                for n, d in self.dispatchers.items()
            ]
            self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=5.0)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self.port)
            await site.start()
            if self.port == 0:
                self.port = self._runner.addresses[0][1]
            leading = asyncio.create_task(self.leadership.run(), name="leadership")
            log.info(
                "serving on http://%s:%s (webhooks: %s)",
                self.host,
                self.port,
                ", ".join(n for n, c in self.channels.items() if c.webhook) or "none",
            )
            self.started.set()
            stopping = asyncio.create_task(self._stopping.wait())
            await asyncio.wait({stopping, leading}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if self.leadership.lost.is_set():
                self.lost_leadership = True
        finally:
            # Stop taking requests, then the work in hand, then the leader's work.
            if self._runner is not None:
                await self._runner.cleanup()
            self.leadership.stop()
            if leading is not None:
                with contextlib.suppress(Exception):
                    await leading
            for dispatcher in self.dispatchers.values():
                dispatcher.stop()
            await asyncio.gather(*dispatch, return_exceptions=True)
            if self.notifier is not None:
                await self.notifier.close()
            for channel in self.channels.values():
                try:
                    await channel.close()
                except Exception:  # noqa: BLE001
                    log.warning("channel %s: could not close cleanly", channel.name)
            if lock is not None:
                lock.release()

    def stop(self) -> None:
        """Stop serving; run() returns once the updates in hand are handled."""
        self._stopping.set()


__all__ = ["EXIT_LOST_LEADERSHIP", "HotlineServer"]
