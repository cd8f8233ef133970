"""`GET /metrics`: the hotline's figures in Prometheus' text format (prometheus-client).

Counted in this process (each worker is scraped on its own; sum them in Prometheus):

- hotline_updates_received_total{channel}: updates stored from the channel's webhook;
- hotline_updates_refused_total{channel}: dropped before storing (groups not linked);
- hotline_updates_handled_total{channel}: updates this process handled;
- hotline_handling_latency_seconds{channel}: from storing an update to the end of its
  handling (a histogram);
- hotline_sends_total / hotline_send_failures_total / hotline_rate_limited_total{channel}:
  outbox rows delivered, failed tries (to be retried, or given up), refusals for sending too
  fast (Telegram's 429) — only the leader sends, the others report 0;
- hotline_leader: 1 in the process that runs the outbox sender and the deadline scheduler.

Read from the database at each scrape (the same in every worker):

- hotline_inbox_pending{channel}, hotline_inbox_lag_seconds{channel}: stored updates
  waiting to be handled, and how long the oldest of them has waited;
- hotline_outbox_rows{status}: outbox depth by status (pending, sending, sent, failed);
- hotline_cases_filed_total: cases filed; hotline_cases_overdue: open cases owing a
  deadline that has passed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import col, select

from bot.outbox import PermanentFailure, RetryLater
from models.tables import Case, InboundUpdate, Outbox

if TYPE_CHECKING:
    from bot.app import Hotline
    from bot.outbox import Pace, Sent, Transport

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
SNAPSHOT_S = 5.0  # database figures are read at most this often
SNAPSHOT_TIMEOUT_S = 5.0


@dataclass
class _Snapshot:
    pending: dict[str, int] = field(default_factory=dict)
    lag: dict[str, float] = field(default_factory=dict)
    outbox: dict[str, int] = field(default_factory=dict)
    cases: int = 0
    overdue: int = 0
    taken_at: float = 0.0


class Metrics:
    """The registry of one process, and the counters the server and the sender feed."""

    def __init__(self, hotline: Hotline) -> None:
        self.hotline = hotline
        self.registry = CollectorRegistry()
        labels = ["channel"]
        self.received = Counter(
            "hotline_updates_received",
            "Updates stored from the channel's webhook",
            labels,
            registry=self.registry,
        )
        self.refused = Counter(
            "hotline_updates_refused",
            "Updates dropped before storing (groups that are not linked)",
            labels,
            registry=self.registry,
        )
        self.handled = Counter(
            "hotline_updates_handled",
            "Updates handled by this process",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "hotline_handling_latency_seconds",
            "From storing an update to the end of its handling",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.sends = Counter(
            "hotline_sends", "Outbox rows delivered", labels, registry=self.registry
        )
        self.failures = Counter(
            "hotline_send_failures",
            "Failed delivery tries (retried later or given up)",
            labels,
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "hotline_rate_limited",
            "Deliveries refused by the channel for sending too fast (429)",
            labels,
            registry=self.registry,
        )
        self.leader = Gauge(
            "hotline_leader",
            "1 in the process running the outbox sender and the deadline scheduler",
            registry=self.registry,
        )
        self._snapshot = _Snapshot()
        self._channels: list[str] = []
        self.registry.register(_DatabaseCollector(self))

    def watch_channel(self, name: str) -> None:
        """Report this channel's figures (0 until something happens)."""
        if name not in self._channels:
            self._channels.append(name)
            for counter in (
                self.received,
                self.refused,
                self.handled,
                self.sends,
                self.failures,
                self.rate_limited,
            ):
                counter.labels(name)
            self.latency.labels(name)

    def on_handled(self, channel: str) -> Any:
        """The dispatcher's callback for one handled update (its latency in seconds)."""
        handled, latency = self.handled.labels(channel), self.latency.labels(channel)

        def observe(seconds: float) -> None:
            handled.inc()
            latency.observe(seconds)

        return observe

    def counting(self, transport: Transport) -> Transport:
        """The transport, counting its deliveries, failures and 429s."""
        self.watch_channel(transport.channel)
        return _CountingTransport(transport, self)

    async def refresh(self) -> None:
        """Read the database figures (at most every SNAPSHOT_S; kept when it fails)."""
        if time.monotonic() - self._snapshot.taken_at < SNAPSHOT_S:
            return
        try:
            self._snapshot = await asyncio.wait_for(self._read(), SNAPSHOT_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001  (/metrics still answers with the counters)
            log.warning("metrics: cannot read the database (%s)", type(exc).__name__)

    async def _read(self) -> _Snapshot:
        from bot.deadlines import overdue
        from bot.services.deadlines import watched_cases

        snap = _Snapshot(taken_at=time.monotonic())
        now = datetime.now(UTC)
        async with self.hotline.sessionmaker() as session:
            rows = await session.exec(
                select(  # type: ignore[call-overload]
                    InboundUpdate.channel,
                    func.count(),
                    func.min(InboundUpdate.received_at),
                )
                .where(col(InboundUpdate.processed_at).is_(None))
                .group_by(col(InboundUpdate.channel))
            )
            for channel, count, oldest in rows.all():
                snap.pending[channel] = int(count)
                if oldest is not None:
                    since = oldest if oldest.tzinfo is not None else oldest.replace(tzinfo=UTC)
                    snap.lag[channel] = max(0.0, (now - since).total_seconds())
            statuses = await session.exec(
                select(Outbox.status, func.count()).group_by(col(Outbox.status))
            )
            snap.outbox = {str(getattr(s, "value", s)): int(n) for s, n in statuses.all()}
            snap.cases = int((await session.exec(select(func.count()).select_from(Case))).one())
            province = self.hotline.deps.province_code
            snap.overdue = sum(
                1 for case in await watched_cases(session, province) if overdue(case, now)
            )
        return snap

    def _collect_database(self) -> Iterator[Metric]:
        snap = self._snapshot
        pending = GaugeMetricFamily(
            "hotline_inbox_pending", "Stored updates waiting to be handled", labels=["channel"]
        )
        lag = GaugeMetricFamily(
            "hotline_inbox_lag_seconds",
            "How long the oldest update waiting to be handled has waited",
            labels=["channel"],
        )
        for channel in sorted(set(self._channels) | set(snap.pending)):
            pending.add_metric([channel], snap.pending.get(channel, 0))
            lag.add_metric([channel], snap.lag.get(channel, 0.0))
        outbox = GaugeMetricFamily(
            "hotline_outbox_rows", "Outbox rows by status", labels=["status"]
        )
        for status in sorted({"pending", "sending", "sent", "failed"} | set(snap.outbox)):
            outbox.add_metric([status], snap.outbox.get(status, 0))
        cases = CounterMetricFamily("hotline_cases_filed", "Cases filed", value=snap.cases)
        late = GaugeMetricFamily(
            "hotline_cases_overdue",
            "Open cases owing a deadline that has passed",
            value=snap.overdue,
        )
        yield from (pending, lag, outbox, cases, late)


class _DatabaseCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return self._metrics._collect_database()


class _CountingTransport:
    """A transport that counts what happens to its deliveries."""

    def __init__(self, inner: Transport, metrics: Metrics) -> None:
        self.inner = inner
        channel = inner.channel
        self._sends = metrics.sends.labels(channel)
        self._failures = metrics.failures.labels(channel)
        self._rate_limited = metrics.rate_limited.labels(channel)

    @property
    def channel(self) -> str:
        return self.inner.channel

    def is_group(self, chat_id: str) -> bool:
        return self.inner.is_group(chat_id)

    async def deliver(self, row: Outbox, edit_targets: list[int], pace: Pace) -> Sent:
        try:
            sent = await self.inner.deliver(row, edit_targets, pace)
        except RetryLater as exc:
            if exc.rate_limited:
                self._rate_limited.inc()
            self._failures.inc()
            raise
        except PermanentFailure:
            self._failures.inc()
            raise
        except Exception:
            self._failures.inc()
            raise
        self._sends.inc()
        return sent
