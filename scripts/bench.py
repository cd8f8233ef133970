"""Benchmarks: print figures as ratios against a baseline measured in the same run.

    python scripts/bench.py [--reports N] [--postgres URL] [--report-cases N | --million]

- intake: a whole citizen report (13 events, real handlers, real SQLite file) per event,
  against the baseline of one empty transaction on the same database;
- locate: our ward suggestion for typed addresses and GPS points, against one raw
  vietnamadminunits.parse_address call on the same addresses;
- memory: peak traced allocation while filing the reports, against the gazetteer's own;
- report: `hotline report` (CSV and XLSX) and `hotline logbook` over a month of N seeded
  cases (100,000 by default; 1,000,000 with --million), against a raw SQL GROUP BY of the
  same counts on the same database; statements counted, peak traced memory for the month
  and for its first 3 days (a tenth of the cases: memory must not grow with them).
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
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import db  # noqa: E402
from bot.app import Hotline  # noqa: E402
from bot.geo import get_gazetteer  # noqa: E402
from bot.settings import Settings  # noqa: E402
from models.types import UTCDateTime  # noqa: E402
from tests.harness import Person, file_report  # noqa: E402

ADDRESSES = [
    "so 12 duong Tran Dang Ninh, phuong Hoang Van Thu, thanh pho Lang Son, Lang Son",
    "phường Kỳ Lừa, Lạng Sơn",
    "thi tran Dong Dang, huyen Cao Loc, Lang Son",
    "xa Cao Loc",
    "khu 3, thi tran Loc Binh, huyen Loc Binh",
    "phuong Dong Kinh",
]
POINTS = [(21.85926, 106.75417), (21.84, 106.80), (22.1, 106.4), (21.6, 107.1)]
EVENTS_PER_REPORT = 13


def _per_call(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def bench_locate() -> None:
    from vietnamadminunits import parse_address

    gaz = get_gazetteer("20")
    raw = _per_call(lambda: [parse_address(a) for a in ADDRESSES], 30) / len(ADDRESSES)
    ours = _per_call(lambda: [gaz.locate_address(a) for a in ADDRESSES], 30) / len(ADDRESSES)
    gps = _per_call(lambda: [gaz.locate_point(*p) for p in POINTS], 30) / len(POINTS)
    print("locate (per call)")
    print(f"  baseline parse_address      {raw * 1e6:9.0f} µs   1.00x")
    print(f"  typed address (ours)        {ours * 1e6:9.0f} µs   {ours / raw:.2f}x")
    print(f"  GPS point (ours)            {gps * 1e6:9.0f} µs   {gps / raw:.2f}x")


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


# ---------------------------------------------------------------- reports


async def _seed_report_cases(url: str, cases: int) -> None:
    """A month (October 2026) of `cases` seeded cases, and a tenth as many the month before."""
    from bot import reports
    from tests import report_data

    wards = tuple(ward.code for ward in get_gazetteer("20").wards())
    engine = db.make_engine(url)
    try:
        for first_id, seed, period, n in (
            (1, 1, reports.Period(date(2026, 10, 1), date(2026, 10, 31)), cases),
            (cases + 1, 2, reports.Period(date(2026, 9, 1), date(2026, 9, 30)), cases // 10),
        ):
            start, end = period.bounds()
            spec = report_data.Spec(n, start, end, wards, first_id=first_id, microseconds=True)
            await report_data.seed(engine, spec, seed)
    finally:
        await engine.dispose()


async def bench_report(url: str, cases: int, label: str, *, logbook_too: bool = True) -> None:
    """Report and log book against a raw GROUP BY of the same counts, in the same process."""
    from sqlalchemy import event

    from bot import exports, reports

    gaz = get_gazetteer("20")
    month = reports.Period(date(2026, 10, 1), date(2026, 10, 31))
    as_of = datetime(2026, 11, 5, tzinfo=UTC)
    start = time.perf_counter()
    await db.upgrade_async(url)
    await _seed_report_cases(url, cases)
    print(f"report on {label} ({cases:,} cases in the month; seeded in "
          f"{time.perf_counter() - start:.0f} s)")  # fmt: skip
    engine = db.make_engine(url)
    statements = [0]
    event.listen(
        engine.sync_engine,
        "before_cursor_execute",
        lambda *_: statements.__setitem__(0, statements[0] + 1),
    )
    maker = db.make_sessionmaker(engine)
    first, end = month.bounds()
    raw = text(
        'SELECT ward_code, category, status, count(*) FROM "case" '
        "WHERE province_code = :province AND filed_at >= :start AND filed_at < :end "
        "GROUP BY ward_code, category, status"
    ).bindparams(bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime()))

    async def baseline() -> float:
        async with db.read_scope(maker) as session:
            begin = time.perf_counter()
            rows = (
                await session.exec(raw, params={"province": "20", "start": first, "end": end})
            ).all()  # type: ignore[call-overload]  # noqa: E501
            assert sum(row[3] for row in rows) > 0
            return time.perf_counter() - begin

    async def report(fmt: str, period: Any, tmp: Path) -> tuple[float, int, int]:
        statements[0] = 0
        async with db.read_scope(maker) as session:
            begin = time.perf_counter()
            figures, document = await reports.build_report(session, gaz, period, as_of=as_of)
            await exports.write(document, tmp / f"report.{fmt}", fmt)  # type: ignore[arg-type]
            return time.perf_counter() - begin, statements[0], figures.overdue

    async def logbook(fmt: str, period: Any, tmp: Path) -> float:
        async with db.read_scope(maker) as session:
            begin = time.perf_counter()
            _, document = await reports.build_logbook(session, gaz, period, as_of=as_of)
            await exports.write(document, tmp / f"logbook.{fmt}", fmt)  # type: ignore[arg-type]
            return time.perf_counter() - begin

    async def peak(work: Any) -> float:
        tracemalloc.start()
        try:
            await work
            return tracemalloc.get_traced_memory()[1] / 2**20
        finally:
            tracemalloc.stop()

    try:
        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder)
            base = statistics.median([await baseline() for _ in range(3)])
            print(f"  baseline raw GROUP BY       {base:9.2f} s    1.00x")
            for fmt in ("csv", "xlsx"):
                took, count, overdue = min([await report(fmt, month, tmp) for _ in range(2)])
                print(f"  report {fmt:4}                 {took:9.2f} s  {took / base:6.2f}x"
                      f"   ({count} statements; {overdue:,} overdue rows)")  # fmt: skip
            if logbook_too:
                took = await logbook("csv", month, tmp)
                print(f"  logbook csv                 {took:9.2f} s  {took / base:6.2f}x")
            days = reports.Period(month.first, month.first + timedelta(days=2))
            for name, period in (("first 3 days", days), ("whole month", month)):
                xlsx = await peak(report("xlsx", period, tmp))
                line = f"  peak traced memory, {name:12}: report (xlsx) {xlsx:6.1f} MiB"
                if logbook_too:
                    line += f", logbook (csv) {await peak(logbook('csv', period, tmp)):6.1f} MiB"
                print(line)
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=30)
    parser.add_argument("--postgres", default="", help="postgresql+asyncpg URL (wiped!)")
    parser.add_argument(
        "--report-cases", type=int, default=100_000, help="cases in the report's month"
    )
    parser.add_argument("--million", action="store_true", help="--report-cases 1000000")
    parser.add_argument("--only-report", action="store_true", help="skip intake and locate")
    parser.add_argument("--skip-logbook", action="store_true", help="time the report only")
    args = parser.parse_args()
    report_cases = 1_000_000 if args.million else args.report_cases
    logbook_too = not args.skip_logbook
    if args.only_report:
        _run_report_benches(args.postgres, report_cases, logbook_too)
        return

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
    _run_report_benches(args.postgres, report_cases, logbook_too)


def _run_report_benches(postgres: str, cases: int, logbook_too: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'report.db'}"
        asyncio.run(bench_report(url, cases, "SQLite", logbook_too=logbook_too))
    if postgres:
        asyncio.run(bench_report(postgres, cases, "PostgreSQL", logbook_too=logbook_too))
        db.downgrade(postgres, "base")


if __name__ == "__main__":
    main()
