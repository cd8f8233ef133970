"""The surge: thousands of reports at once through the real inbound path, in one run.

    python scripts/bench_surge.py [--reports 10000] [--at-once N] [--postgres URL]

`--reports` citizens each walk a whole report (11 updates: buttons, a pin, typed text; the
updates of scripts/bench_intake.py), in waves of `--at-once` citizens reporting at once
(a tenth of them by default, so that each tenth of the run is one wave with the same mix
of steps), the next wave arriving as the previous one is handled.

The path is the real one: the receiver's store (one transaction per
getUpdates answer of 100 updates, paused while `inbox_max_pending` updates wait, as
bot/channels/telegram/polling.py does), the inbox dispatcher, aiogram's dispatcher and the
translation, the core, the outbox rows written. Button presses are answered to a sink Bot
API in another process. The outbox sender does not run: the surge's replies wait in the
outbox (delivering them is a matter of Telegram's 30 messages a second, see
scripts/bench_delivery.py).

Checked: every update handled and every report filed (else the bench is invalid).
Printed: updates per second in each tenth of the run, the last tenth as a ratio of the
first (the goal: >= 0.8x, the cost must not grow with what the surge left in the tables),
the resident memory at each tenth and the peak (the goal: bounded, it must not grow with
the number of reports).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import bench_intake  # noqa: E402  (scripts/)

from bot import db  # noqa: E402

UPDATES_PER_REPORT = 11
BATCH = 100  # updates per getUpdates answer
FIRST_USER = 5_000_000


def _rss_mib() -> float:
    """Resident memory of this process now."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _arrivals(reports: int, at_once: int) -> Iterator[list[dict[str, Any]]]:
    """getUpdates answers: waves of `at_once` citizens, each wave's chats interleaved.
    Made as they are needed, so the updates waiting to be stored cost no memory."""
    updates = bench_intake.Updates(FIRST_USER * 100)
    for first in range(0, reports, at_once):
        users = range(FIRST_USER + first, FIRST_USER + min(reports, first + at_once))
        wave = bench_intake.arrival_order([updates.report(user) for user in users])
        for start in range(0, len(wave), BATCH):
            yield wave[start : start + BATCH]


class Tenths:
    """When each tenth of the updates was handed over: wall, CPU and resident memory."""

    def __init__(self, total: int, progress: bool) -> None:
        self.total = total
        self.progress = progress
        self.marks: list[tuple[int, float, float, float]] = []  # handled, wall, CPU, RSS
        self.mark(0)

    def mark(self, handled: int) -> None:
        self.marks.append((handled, time.perf_counter(), time.process_time(), _rss_mib()))
        if self.progress and len(self.marks) > 1:
            took = self.marks[-1][1] - self.marks[0][1]
            print(f"  ... {handled:,} updates handled after {took:,.0f} s", flush=True)

    def watch(self, handled: int) -> None:
        while len(self.marks) <= 10 and handled >= self.total * len(self.marks) / 10:
            self.mark(handled)

    def rows(self) -> list[tuple[float, float, float]]:
        """Per tenth: updates per second, ms CPU per update, RSS at its end."""
        out = []
        for (n0, w0, c0, _), (n1, w1, c1, rss) in zip(self.marks, self.marks[1:], strict=False):
            out.append(((n1 - n0) / (w1 - w0), (c1 - c0) / (n1 - n0) * 1e3, rss))
        return out


async def surge(
    url: str, reports: int, at_once: int, sink: str, media: Path, progress: bool = False
) -> None:
    total = reports * UPDATES_PER_REPORT
    async with bench_intake.hotline_channel(url, sink, media) as (hotline, channel):
        filed_before = await bench_intake.filed_cases(hotline)
        dispatcher = bench_intake.dispatcher_of(hotline, channel)
        max_pending = hotline.settings.inbox_max_pending
        running = asyncio.create_task(dispatcher.run())
        stored = 0
        tenths = Tenths(total, progress)
        paused = False
        try:
            for batch in _arrivals(reports, at_once):
                # The receiver's backpressure: stop fetching above max_pending waiting
                # updates, resume below half of it.
                while stored - dispatcher.handled > (max_pending // 2 if paused else max_pending):
                    paused = True
                    tenths.watch(dispatcher.handled)
                    await asyncio.sleep(0.01)
                paused = False
                await bench_intake.store_batch(hotline, channel, batch)
                stored += len(batch)
                dispatcher.wake()
                tenths.watch(dispatcher.handled)
            while dispatcher.handled < total or dispatcher.in_hand:
                tenths.watch(dispatcher.handled)
                await asyncio.sleep(0.01)
            tenths.watch(dispatcher.handled)
        finally:
            dispatcher.stop()
            await running
        await bench_intake.check_all_filed(hotline, filed_before, reports)
    rows = tenths.rows()
    wall = tenths.marks[-1][1] - tenths.marks[0][1]
    print(
        f"surge on {url.split(':', 1)[0]}: {reports:,} reports ({total:,} updates), "
        f"{at_once} citizens at once; every report filed; {wall:,.0f} s"
    )
    for n, (rate, cpu, rss) in enumerate(rows, 1):
        print(f"  tenth {n:2}: {rate:6.1f} updates/s {cpu:6.2f} ms CPU/update  RSS {rss:5.0f} MiB")
    print(
        f"  last tenth / first tenth: {rows[-1][0] / rows[0][0]:4.2f}x the throughput, "
        f"{rows[-1][1] / rows[0][1]:4.2f}x the CPU per update; "
        f"RSS {rows[0][2]:.0f} MiB after the first tenth, {rows[-1][2]:.0f} MiB at the end, "
        f"peak {_peak_rss_mib():.0f} MiB"
    )


async def run(reports: int, at_once: int, postgres: str, sink: str, progress: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = postgres or f"sqlite+aiosqlite:///{Path(tmp) / 'surge.db'}"
        await db.upgrade_async(url)
        try:
            await surge(url, reports, at_once, sink, Path(tmp) / "media", progress)
        finally:
            if postgres:
                await asyncio.to_thread(db.downgrade, url, "base")


def main_with(reports: int, at_once: int, postgres: str, *, progress: bool = False) -> None:
    # A long run may be stopped with SIGTERM: exit through the finally blocks (the sink's
    # process is ended, the database closed).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with bench_intake.sink_bot_api() as sink:
        asyncio.run(run(reports, min(at_once, reports), postgres, sink, progress))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--at-once", type=int, default=0, help="citizens at once (reports/10)")
    parser.add_argument("--postgres", default="", help="postgresql+asyncpg URL (wiped!)")
    parser.add_argument("--progress", action="store_true", help="a line at each tenth")
    args = parser.parse_args()
    at_once = args.at_once or max(1, args.reports // 10)
    main_with(args.reports, at_once, args.postgres, progress=args.progress)


if __name__ == "__main__":
    main()
