"""Benchmarks: print figures as ratios against a baseline measured in the same run.

    python scripts/bench.py [--reports N] [--postgres URL] [--report-cases N | --million]
                            [--citizens N] [--skip-delivery] [--only-report]
                            [--surge [--surge-reports N]]

One command for every figure of docs/performance.md, each with its baseline:

- intake through the whole inbound path (scripts/bench_intake.py): the receiver's store,
  the inbox dispatcher and the real channel, against a minimal aiogram bot doing one read
  and one write per update; one citizen and `--citizens` at once; statements per update;
- intake in the core only: a whole citizen report (13 events, real handlers, real SQLite
  file) per event, against the baseline of one empty transaction on the same database;
- delivery (scripts/bench_delivery.py): the outbox sender against a fake Bot API enforcing
  a bursty and a strict per-chat limit (rate as a ratio of the allowed rate, the fastest
  schedule the fake accepts; 429s, what was learned), many chats and few, the same while
  `--citizens` report at once in the same process (with how long the citizens' replies and
  the backlog waited), how long 5 citizens reporting at a person's pace wait for each
  answer while a minute's backlog goes out, and the cost per message with 5,000 rows
  waiting against none;
- the surge, only with --surge since it is long (scripts/bench_surge.py): `--surge-reports`
  reports (10,000 by default, 110,000 updates) through the real inbound path, every one
  checked filed, throughput of the last tenth against the first, resident memory;
- locate: our ward suggestion for typed addresses, against one raw
  vietnamadminunits.parse_address call on the same addresses; a GPS pin located with the
  province's grid, against the full scan over every centroid of the country (same results);
- memory: peak traced allocation while filing the reports, against the gazetteer's own;
- report: `hotline report` (CSV and XLSX) and `hotline logbook` over a month of N seeded
  cases (100,000 by default; 1,000,000 with --million), against a raw SQL GROUP BY of the
  same counts on the same database (A), and against A plus as many rows fetched as the
  report's overdue list has (B: the rows the GROUP BY never reads); statements counted,
  peak traced memory for the month and for its first 3 days (a tenth of the cases: memory
  must not grow with them).
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
sys.path.insert(0, str(ROOT / "scripts"))

import bench_delivery  # noqa: E402  (scripts/)
import bench_intake as bench_intake_channel  # noqa: E402  (scripts/)
import bench_surge  # noqa: E402  (scripts/)

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


# ----------------------------------------------------------------------------- duplicates
DUPLICATE_SIZES = (100, 1_000, 10_000)


async def _seed_elsewhere(hotline: Hotline, count: int, now: datetime) -> None:
    """`count` open cases of one category elsewhere in the province (half pinned), and three
    near Kỳ Lừa's centroid: what a busy province looks like to one new report."""
    import random

    from sqlalchemy import insert

    from bot import services
    from models.tables import Case, geo_cell

    gaz = hotline.deps.gazetteer
    ky_lua = gaz.ward("06187")
    assert ky_lua is not None and ky_lua.lat is not None and ky_lua.lon is not None
    far = [w for w in gaz.wards() if w.code not in ("06187", "06193", "05977", "05983")]
    rnd = random.Random(count)
    places = [(rnd.choice(far), rnd.random() < 0.5) for _ in range(count)]
    places += [(ky_lua, True), (ky_lua, True), (ky_lua, False)]
    rows = []
    for number, (ward, pinned) in enumerate(places):
        lat = ward.lat + rnd.uniform(-0.02, 0.02) if pinned else None  # type: ignore[operator]
        lon = ward.lon + rnd.uniform(-0.02, 0.02) if pinned else None  # type: ignore[operator]
        if ward is ky_lua and pinned:
            lat, lon = ward.lat + 0.001 * number % 0.003, ward.lon  # type: ignore[operator]
        rows.append(
            {
                "code": f"PA20-{number + 1:06d}",
                "province_code": "20",
                "seq": number + 1,
                "ward_code": ward.code,
                "category": "emissions",
                "status": "new",
                "latitude": lat,
                "longitude": lon,
                "geo_cell": geo_cell(lat, lon),
                "address": None if pinned else "x",
                "location_source": "gps" if pinned else "address",
                "nature": "now",
                "description": "Khói bụi từ xưởng.",
                "description_language": "vi",
                "reporter_id": 1,
                "contact_shared": False,
                "channel": "telegram",
                "filed_at": now - timedelta(hours=rnd.uniform(0, 47)),
                "updated_at": now,
                "verify_due_at": now,
                "urgent": False,
                "province_owned": False,
                "reopened_count": 0,
            }
        )
    async with db.session_scope(hotline.sessionmaker) as session:
        await services.get_reporter(session, "telegram", "1")
    async with db.session_scope(hotline.sessionmaker) as session:
        await session.exec(insert(Case), params=rows)  # type: ignore[call-overload]


async def _former_lookup(hotline: Hotline, draft: dict[str, object], now: datetime) -> list[int]:
    """The lookup before issue 13: every open case of the category in the window, measured."""
    from sqlmodel import col, select

    from handlers.duplicates import distance_m, position
    from models.tables import Case

    gaz = hotline.deps.gazetteer
    here = position(gaz, draft["latitude"], draft["longitude"], str(draft["ward_code"]))  # type: ignore[arg-type]
    assert here is not None
    async with db.session_scope(hotline.sessionmaker) as session:
        stmt = select(Case).where(
            Case.province_code == "20",
            Case.category == draft["category"],
            col(Case.status).in_(["new", "acknowledged", "verifying"]),
            col(Case.merged_into_id).is_(None),
            col(Case.filed_at) >= now - timedelta(hours=48),
            col(Case.filed_at) <= now,
            col(Case.reporter_id) != 0,
        )
        cases = (await session.exec(stmt)).all()
    found = []
    for case in cases:
        there = position(gaz, case.latitude, case.longitude, case.ward_code)
        if there is not None and distance_m(*here, *there) <= 500:
            found.append(case.id or 0)
    return sorted(found)


async def _measure_duplicates(url: str, count: int, now: datetime) -> tuple[float, float, int]:
    """(former lookup s, bounded lookup s, rows the bounded lookup read) with `count`
    open cases elsewhere; both must find the same cases."""
    from sqlalchemy import event

    from handlers.context import Turn
    from handlers.duplicates import find_duplicates
    from handlers.events import Event
    from models.tables import Case

    with tempfile.TemporaryDirectory() as tmp:
        target = url or f"sqlite+aiosqlite:///{Path(tmp) / 'dup.db'}"
        if url:
            await asyncio.to_thread(db.downgrade, target, "base")
        await db.upgrade_async(target)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=target,
            province="20",
            media_dir=Path(tmp) / "media",
        )
        hotline = Hotline(settings)
        loaded: list[int] = []

        def count_load(target: Case, _: object) -> None:
            loaded.append(target.id or 0)

        try:
            await _seed_elsewhere(hotline, count, now)
            ky_lua = hotline.deps.gazetteer.ward("06187")
            assert ky_lua is not None
            draft: dict[str, object] = {
                "category": "emissions",
                "latitude": ky_lua.lat,
                "longitude": ky_lua.lon,
                "ward_code": "06187",
            }
            event_ = Event(
                channel="telegram", chat_id="2", chat_type="private", user_id="2", kind="text"
            )
            former_times, bounded_times = [], []
            for _ in range(5):
                start = time.perf_counter()
                before = await _former_lookup(hotline, draft, now)
                former_times.append(time.perf_counter() - start)
            event.listen(Case, "load", count_load)
            for _ in range(30):
                loaded.clear()
                start = time.perf_counter()
                async with db.session_scope(hotline.sessionmaker) as session:
                    turn = Turn(hotline.deps, session, event_, None)  # type: ignore[arg-type]
                    found = await find_duplicates(turn, draft, 0, now)
                bounded_times.append(time.perf_counter() - start)
            assert sorted(c.id or 0 for c in found) == before  # the same cases found
        finally:
            if event.contains(Case, "load", count_load):
                event.remove(Case, "load", count_load)
            await hotline.close()
            if url:
                await asyncio.to_thread(db.downgrade, target, "base")
    return statistics.median(former_times), statistics.median(bounded_times), len(loaded)


async def bench_duplicates(url: str, label: str) -> None:
    """The duplicate lookup at Confirm with 100, 1,000 and 10,000 open cases elsewhere:
    the former lookup (all open cases of the category, measured in Python) against the
    bounded one (squares and wards in SQL, migration 0004's indexes), in the same run."""
    now = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    print(f"duplicate lookup on {label} (a report at Kỳ Lừa; 3 open cases near it)")
    print(
        "  open cases elsewhere   former lookup   bounded lookup   rows read   vs former  vs 100"
    )
    first: float | None = None
    for count in DUPLICATE_SIZES:
        former, new, rows = await _measure_duplicates(url, count, now)
        first = first or new
        print(
            f"  {count:>20,}   {former * 1e3:10.2f} ms   {new * 1e3:11.2f} ms"
            f"   {rows:>9}   {new / former:8.3f}x  {new / first:6.2f}x"
        )


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
            params = {"province": "20", "start": first, "end": end}
            rows = (await session.exec(raw, params=params)).all()  # type: ignore[call-overload]
            assert sum(row[3] for row in rows) > 0
            return time.perf_counter() - begin

    # The report also lists every missed deadline (16,000 rows at 100,000 cases), which the
    # GROUP BY never reads. Baseline B adds the cheapest reading of as many rows: the same
    # five columns (code, ward, category, two times) of the period's first cases, in the
    # order of the period index, fetched. It works out no deadline: a floor, not a rival.
    listed = text(
        'SELECT code, ward_code, category, filed_at, updated_at FROM "case" '
        "WHERE province_code = :province AND filed_at >= :start AND filed_at < :end "
        "ORDER BY filed_at LIMIT :rows"
    ).bindparams(bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime()))

    async def baseline_with_list(rows: int) -> float:
        async with db.read_scope(maker) as session:
            begin = time.perf_counter()
            params = {"province": "20", "start": first, "end": end}
            counts = (await session.exec(raw, params=params)).all()  # type: ignore[call-overload]
            assert sum(row[3] for row in counts) > 0
            result = await session.exec(listed, params={**params, "rows": rows})  # type: ignore[call-overload]
            assert len(result.all()) == rows
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
            # The least of several runs: the machine is shared, and a run is only slowed.
            _, _, missed = await report("csv", month, tmp)  # warms the caches up, too
            base = min([await baseline() for _ in range(5)])
            base_list = min([await baseline_with_list(missed) for _ in range(5)])
            print(f"  baseline A: raw GROUP BY        {base:7.3f} s")
            print(f"  baseline B: A + {missed:,} rows fetched (as many as the overdue list)"
                  f" {base_list:7.3f} s")  # fmt: skip
            print("                                            vs A      vs B")
            for fmt in ("csv", "xlsx"):
                took, count, overdue = min([await report(fmt, month, tmp) for _ in range(3)])
                print(f"  report {fmt:4}              {took:7.3f} s  {took / base:7.2f}x"
                      f"  {took / base_list:6.2f}x   ({count} statements; "
                      f"{overdue:,} overdue rows)")  # fmt: skip
            if logbook_too:
                took = await logbook("csv", month, tmp)
                print(f"  logbook csv              {took:7.3f} s  {took / base:7.2f}x")
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
    parser.add_argument("--citizens", type=int, default=100, help="intake: citizens at once")
    parser.add_argument("--skip-delivery", action="store_true", help="skip the sender's bench")
    parser.add_argument("--surge", action="store_true", help="the surge too (long)")
    parser.add_argument("--surge-reports", type=int, default=10_000, help="reports in the surge")
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
    bench_intake_channel.main_with(args.citizens, args.postgres)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        asyncio.run(bench_intake(url, args.reports, "SQLite"))
    asyncio.run(bench_duplicates("", "SQLite"))
    if args.postgres:
        asyncio.run(db.upgrade_async(args.postgres))
        asyncio.run(bench_intake(args.postgres, args.reports, "PostgreSQL"))
        db.downgrade(args.postgres, "base")
        asyncio.run(bench_duplicates(args.postgres, "PostgreSQL"))
    if not args.skip_delivery:
        bench_delivery.run_all(60, 10, args.citizens, args.postgres, 5000)
    _run_report_benches(args.postgres, report_cases, logbook_too)
    if args.surge:
        reports = args.surge_reports
        bench_surge.main_with(reports, max(1, reports // 10), "", progress=True)


def _run_report_benches(postgres: str, cases: int, logbook_too: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'report.db'}"
        asyncio.run(bench_report(url, cases, "SQLite", logbook_too=logbook_too))
    if postgres:
        asyncio.run(bench_report(postgres, cases, "PostgreSQL", logbook_too=logbook_too))
        db.downgrade(postgres, "base")


if __name__ == "__main__":
    main()
