"""Benchmarks: print figures as ratios against a baseline measured in the same run.

    python scripts/bench.py [--reports N] [--postgres URL]

- intake: a whole citizen report (13 events, real handlers, real SQLite file) per event,
  against the baseline of one empty transaction on the same database;
- locate: our ward suggestion for typed addresses, against one raw
  vietnamadminunits.parse_address call on the same addresses; a GPS pin located with the
  province's grid, against the full scan over every centroid of the country (same results);
- memory: peak traced allocation while filing the reports, against the gazetteer's own.
The machine is shared and noisy: read the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import db  # noqa: E402
from bot.app import Hotline  # noqa: E402
from bot.geo import get_gazetteer  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.harness import Person, file_report  # noqa: E402

ADDRESSES = [
    "so 12 duong Tran Dang Ninh, phuong Hoang Van Thu, thanh pho Lang Son, Lang Son",
    "phường Kỳ Lừa, Lạng Sơn",
    "thi tran Dong Dang, huyen Cao Loc, Lang Son",
    "xa Cao Loc",
    "khu 3, thi tran Loc Binh, huyen Loc Binh",
    "phuong Dong Kinh",
]
EVENTS_PER_REPORT = 13


def _per_call(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def bench_locate() -> None:
    """Typed addresses against one raw parse_address call; GPS pins against the full scan."""
    import random

    from vietnamadminunits import parse_address

    gaz = get_gazetteer("20")
    raw = _per_call(lambda: [parse_address(a) for a in ADDRESSES], 30) / len(ADDRESSES)
    ours = _per_call(lambda: [gaz.locate_address(a) for a in ADDRESSES], 30) / len(ADDRESSES)
    rnd = random.Random(7)
    wards = gaz.wards()
    pinned = [
        (w.lat + rnd.uniform(-0.03, 0.03), w.lon + rnd.uniform(-0.03, 0.03))
        for w in (rnd.choice(wards) for _ in range(400))
    ]  # where reporters are: in the province, about a ward's size around its centre
    boxed = [(rnd.uniform(21.3, 22.6), rnd.uniform(106.0, 107.4)) for _ in range(400)]
    print("locate (per call)")
    print(f"  baseline parse_address      {raw * 1e6:9.0f} µs   1.00x")
    print(f"  typed address (ours)        {ours * 1e6:9.0f} µs   {ours / raw:.2f}x")
    for label, pins in (("pins in the province", pinned), ("pins in its box", boxed)):
        scan = _per_call(lambda ps=pins: [gaz.locate_point_scan(*p) for p in ps], 1) / len(pins)
        gps = _per_call(lambda ps=pins: [gaz.locate_point(*p) for p in ps], 10) / len(pins)
        print(f"  {label} (400): full scan over every centroid of Vietnam (baseline)")
        print(f"    baseline full scan        {scan * 1e6:9.1f} µs   1.00x")
        ratio = gps / scan
        print(
            f"    grid (same results)       {gps * 1e6:9.1f} µs   {ratio:.3f}x  (goal <= 100 µs)"
        )


async def bench_intake(url: str, reports: int, label: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        await db.upgrade_async(url)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=url,
            province="20",
            media_dir=Path(tmp) / "media",
        )
        hotline = Hotline(settings)
        try:

            async def empty_transaction() -> None:
                async with db.session_scope(hotline.sessionmaker) as session:
                    await session.exec(text("SELECT 1"))  # type: ignore[call-overload]

            start = time.perf_counter()
            for _ in range(200):
                await empty_transaction()
            baseline = (time.perf_counter() - start) / 200

            tracemalloc.start()
            durations = []
            for i in range(reports):
                citizen = Person(hotline, str(10_000 + i))
                start = time.perf_counter()
                await file_report(citizen, photos=1)
                durations.append((time.perf_counter() - start) / EVENTS_PER_REPORT)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        finally:
            await hotline.close()
    per_event = statistics.median(durations)
    print(f"intake on {label} ({reports} reports, {EVENTS_PER_REPORT} events each)")
    print(f"  baseline empty transaction  {baseline * 1e3:9.2f} ms   1.00x")
    print(f"  one citizen event (median)  {per_event * 1e3:9.2f} ms   {per_event / baseline:.2f}x")
    print(f"  peak traced memory while filing: {peak / 2**20:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=30)
    parser.add_argument("--postgres", default="", help="postgresql+asyncpg URL (wiped!)")
    args = parser.parse_args()

    tracemalloc.start()
    get_gazetteer.cache_clear()
    get_gazetteer("20")
    _, gazetteer_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"gazetteer for province 20: peak traced memory {gazetteer_peak / 2**20:.1f} MiB")
    bench_locate()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        asyncio.run(bench_intake(url, args.reports, "SQLite"))
    if args.postgres:
        asyncio.run(db.upgrade_async(args.postgres))
        asyncio.run(bench_intake(args.postgres, args.reports, "PostgreSQL"))
        db.downgrade(args.postgres, "base")


if __name__ == "__main__":
    main()
