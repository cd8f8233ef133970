"""Reports for the province: figures over the cases filed in a period, the hotline log book
and the wards' contact points, as tables for `bot/exports.py`.

The files are official Vietnamese documents for the wards and the Sở (like the seed-001
form), so their headers and labels are Vietnamese constants here; the chat messages about
them are in the catalogues. Category and status names come from the Vietnamese catalogue.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    Integer,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    not_,
    null,
    or_,
    select,
    text,
    type_coerce,
    union_all,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import services
from bot.deadlines import DEADLINES, Deadline, DeadlinePolicy
from bot.exports import (
    LOCAL_TZ,
    Cell,
    Chart,
    Document,
    OfficialHeader,
    Rows,
    Table,
)
from bot.geo import Gazetteer, WardInfo
from bot.i18n import t
from handlers.context import local_time
from models.enums import CaseAction, CaseStatus, Category
from models.tables import Case, CaseEvent, Evidence, WardContact
from models.types import UTCDateTime, utcnow

FILE_LOCALE = "vi"
_EXCEL_CELL_MAX = 32_000  # Excel keeps at most 32,767 characters in a cell


class ReportInputError(ValueError):
    """A report's parameters are wrong (a bad date, an unknown ward): said to the user."""


# ---------------------------------------------------------------- periods


@dataclass(frozen=True)
class Period:
    """Local (Asia/Ho_Chi_Minh) calendar days, both ends included."""

    first: date
    last: date

    def bounds(self) -> tuple[datetime, datetime]:
        """[start, end) in UTC: local midnight of the first day to that after the last."""
        start = datetime.combine(self.first, time(), LOCAL_TZ)
        end = datetime.combine(self.last + timedelta(days=1), time(), LOCAL_TZ)
        return start.astimezone(UTC), end.astimezone(UTC)

    @property
    def label(self) -> str:
        """'từ 01/11/2026 đến 30/11/2026'."""
        return f"từ {self.first:%d/%m/%Y} đến {self.last:%d/%m/%Y}"

    @property
    def slug(self) -> str:
        """'2026-11-01_2026-11-30', for file names."""
        return f"{self.first.isoformat()}_{self.last.isoformat()}"

    @classmethod
    def last_week(cls, today: date) -> Period:
        """The 7 local days before today (today is not over yet)."""
        return cls(today - timedelta(days=7), today - timedelta(days=1))

    @classmethod
    def previous_month(cls, today: date) -> Period:
        """The calendar month before today's."""
        last = today.replace(day=1) - timedelta(days=1)
        return cls(last.replace(day=1), last)


def parse_day(text: str, option: str) -> date:
    """A YYYY-MM-DD date, or a ReportInputError naming the option."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ReportInputError(f"{option}: {text!r} is not a date (YYYY-MM-DD)") from None


def parse_period(first: str, last: str) -> Period:
    """The period between two YYYY-MM-DD dates, both included."""
    period = Period(parse_day(first, "--from"), parse_day(last, "--to"))
    if period.first > period.last:
        raise ReportInputError(
            f"--from {period.first.isoformat()} is after --to {period.last.isoformat()}"
        )
    return period


def resolve_ward(gazetteer: Gazetteer, code: str) -> WardInfo:
    """A ward of the configured province, or an error saying where the code belongs."""
    info = gazetteer.ward(code)
    if info is not None:
        return info
    where = _ward_elsewhere(code)
    if where is not None:
        raise ReportInputError(
            f"ward {code.strip().zfill(5)} is {where}, not in {gazetteer.province_name}"
        )
    raise ReportInputError(f"no ward {code.strip()} in {gazetteer.province_name}")


def _ward_elsewhere(code: str) -> str | None:
    """'Phường An Biên (Thành phố Hải Phòng)' for a ward code of another province."""
    from vietnam_provinces import Province, Ward
    from vietnam_provinces.codes import WardCode

    if not code.strip().isdigit():
        return None
    try:
        ward = Ward.from_code(WardCode(int(code)))
        province = Province.from_code(ward.province_code)
    except (ValueError, KeyError):
        return None
    return f"{ward.name} ({province.name})"


def province_label(gazetteer: Gazetteer) -> str:
    """'tỉnh Lạng Sơn', 'Thành phố Hải Phòng'."""
    name = gazetteer.province_name
    return name if name.startswith("Thành phố") else f"tỉnh {name}"


_WARD_NAMES: dict[tuple[str, str], str] = {}


def _ward_name(gazetteer: Gazetteer, code: str) -> str:
    """The ward's name (its code if unknown); remembered, as every row of a list asks."""
    key = (gazetteer.province_code, code)
    name = _WARD_NAMES.get(key)
    if name is None:
        info = gazetteer.ward(code)
        name = _WARD_NAMES[key] = info.name if info else code
    return name


# ---------------------------------------------------------------- deadlines


# Cases filed before deadlines were stored have none: they get the default policy's
# (2 h to acknowledge, 24 h to verify or 4 h if urgent, 10 days to answer) from filing.
_DEFAULT_POLICY = DeadlinePolicy()

DEADLINE_LABELS: dict[Deadline, str] = {
    "ack": "Tiếp nhận",
    "verify": "Xác minh",
    "result": "Trả kết quả",
}


def _percent(part: int, whole: int) -> float:
    """Part of whole in percent (one decimal); 0 when the whole is 0 (it reads "0 %")."""
    return round(100 * part / whole, 1) if whole else 0.0


@dataclass(frozen=True)
class DeadlineFigure:
    """How one deadline was kept over a set of cases."""

    deadline: Deadline
    due: int  # deadline passed, or step done (early or late)
    met: int  # step done no later than the deadline
    done: int  # step done at all (the medians are over these)
    median_hours: float | None  # from filing to the step, over the cases that did it

    @property
    def missed(self) -> int:
        """Due and not met: done late, or still not done past the deadline."""
        return self.due - self.met

    @property
    def share_met(self) -> float:
        """Met / due in percent (one decimal); 0 when nothing was due."""
        return _percent(self.met, self.due)

    def text(self) -> str:
        """'8/10 (80%)', or '0/0 (0%)' when nothing was due."""
        return f"{self.met}/{self.due} ({self.share_met:g}%)"


@dataclass(frozen=True)
class Overdue:
    """A deadline a case missed: done late, or still not done."""

    code: str
    ward_code: str
    category: str
    deadline: Deadline
    due_at: datetime
    done_at: datetime | None
    late_hours: float  # until done, or until the report's time


HANDLING = ("escalated", "referred", "reassigned", "reopened")
_HANDLING_ACTIONS = {
    "escalated": CaseAction.ESCALATE,
    "referred": CaseAction.REFER,
    "reassigned": CaseAction.REASSIGN,
    "reopened": CaseAction.REOPEN,
}


@dataclass(frozen=True)
class Figures:
    """Everything a period report says, computed in the database."""

    period: Period
    ward_code: str | None
    as_of: datetime
    cases: int  # counted (merged duplicates excluded)
    merged: int  # merged duplicates, not counted anywhere
    counts: dict[tuple[str, str, str], int]  # (ward, category, status) -> cases
    deadlines: tuple[DeadlineFigure, ...]
    satisfied: int  # 'yes', of the cases that got a result
    unsatisfied: int  # 'no'
    unanswered: int
    # Counted cases ever escalated to the Sở, referred to another agency, reassigned to
    # another ward, reopened by their reporter (from the log book).
    handling: dict[str, int] = field(default_factory=dict)

    @property
    def resolved(self) -> int:
        """Cases that got a result the reporter could answer (resolved at least once)."""
        return self.satisfied + self.unsatisfied + self.unanswered

    @property
    def overdue(self) -> int:
        """Missed deadlines: the rows of the overdue list."""
        return sum(f.missed for f in self.deadlines)

    def by(self, position: int) -> Counter[str]:
        """Counted cases by ward (0) or by category (1)."""
        totals: Counter[str] = Counter()
        for key, number in self.counts.items():
            totals[key[position]] += number
        return totals


_CASES: Any = Case.__table__  # type: ignore[attr-defined]
_EVENTS: Any = CaseEvent.__table__  # type: ignore[attr-defined]
_FILES: Any = Evidence.__table__  # type: ignore[attr-defined]
_C = _CASES.c


def _filed_in(province_code: str, period: Period, ward_code: str | None) -> list[Any]:
    start, end = period.bounds()
    conditions = [_C.province_code == province_code, _C.filed_at >= start, _C.filed_at < end]
    if ward_code is not None:
        conditions.append(_C.ward_code == ward_code)
    return conditions


def _done(deadline: Deadline) -> Any:
    """When the case did the step, None while it owes it (as `bot.deadlines.is_met`).

    The time is that of the step, or of a later step that covers it (a case closed
    straight from new was answered when it was closed); `updated_at` for rows without one.
    """
    closed = [CaseStatus.RESOLVED.value, CaseStatus.REJECTED.value]
    if deadline == "ack":
        met = _C.status != CaseStatus.NEW.value
        moment = func.coalesce(_C.acknowledged_at, _C.verified_at, _C.closed_at, _C.updated_at)
    elif deadline == "verify":
        met = _C.status.in_([CaseStatus.VERIFYING.value, *closed])
        moment = func.coalesce(_C.verified_at, _C.closed_at, _C.updated_at)
    else:
        met = _C.status.in_(closed)
        moment = func.coalesce(_C.closed_at, _C.updated_at)
    return type_coerce(case((met, moment), else_=None), UTCDateTime())


def _after_filing(dialect: str, seconds: Any) -> Any:
    """filed_at + `seconds` (an int, or an SQL expression of one), exactly.

    SQLite keeps times as 'YYYY-MM-DD HH:MM:SS.ffffff' text: whole seconds are added to the
    part before the fraction, which is kept as it is, so the result compares as text.
    """
    if dialect == "sqlite":
        shift = literal_column(f"'+{seconds} seconds'") if isinstance(seconds, int) else seconds
        return func.strftime("%Y-%m-%d %H:%M:%S", func.substr(_C.filed_at, 1, 19), shift).op("||")(
            func.substr(_C.filed_at, 20)
        )
    if isinstance(seconds, int):
        return _C.filed_at + literal_column(f"interval '{seconds} seconds'")
    return _C.filed_at + seconds


def _due(dialect: str, deadline: Deadline) -> Any:
    """When the deadline falls: the case's own, else the default policy's from filing."""

    def length(urgent: bool) -> int:
        return int(_DEFAULT_POLICY.length(deadline, urgent=urgent).total_seconds())

    own = {"ack": _C.ack_due_at, "verify": _C.verify_due_at, "result": _C.result_due_at}
    if deadline == "verify":
        if dialect == "sqlite":
            shift = case(
                (_C.urgent, literal_column(f"'+{length(True)} seconds'")),
                else_=literal_column(f"'+{length(False)} seconds'"),
            )
        else:
            shift = case(
                (_C.urgent, literal_column(f"interval '{length(True)} seconds'")),
                else_=literal_column(f"interval '{length(False)} seconds'"),
            )
        default = _after_filing(dialect, shift)
    else:
        default = _after_filing(dialect, length(False))
    return type_coerce(func.coalesce(own[deadline], default), UTCDateTime())


def _duration_ms(dialect: str, deadline: Deadline) -> Any:
    """Milliseconds from filing to the step, within a millisecond (for ordering only)."""
    done = _done(deadline)
    if dialect == "sqlite":
        return (func.julianday(done) - func.julianday(_C.filed_at)) * 86_400_000.0
    # date_part gives a double; EXTRACT a numeric, much slower to compute with.
    return func.date_part("epoch", done - _C.filed_at) * 1000.0


def _count_if(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


# The parts of the report's statement, in the order its rows come: the counts, then the
# rows around the middle of each deadline's durations (the medians), then the overdue list.
_COUNTS, _MIDDLE, _OVERDUE = 0, 1, 1 + len(DEADLINES)
_SUMS = 3 * len(DEADLINES) + 3  # per deadline: met, due, done; then the three answers
_FIRST_SUM = 6  # part, ward, category, status, merged, current; then the count and sums


def _report_statement(
    dialect: str,
    province_code: str,
    period: Period,
    *,
    previous: Period | None,
    ward_code: str | None,
    as_of: datetime,
    medians: bool,
    overdue: bool,
) -> Any:
    """One statement for the whole report: one scan of the cases filed in the period (and
    in the previous one, right before it), whose steps and deadlines are worked out once
    into a materialized row set that every part reads:

    - the counts by period, ward, category, status and merged, with each deadline's
      met / due / done sums and the satisfaction answers (one GROUP BY);
    - for each deadline's median, the few cases around the middle of the period's cases
      ordered by duration (a key good to a millisecond), with their exact times;
    - the overdue list, by due time.

    Rows come in that order, so the figures are known before the first overdue row, and
    the overdue rows stream on from the same result.
    """
    start, end = period.bounds()
    first = start
    if previous is not None:
        first, previous_end = previous.bounds()
        if previous_end != start:
            raise ValueError("the previous period must end where the period starts")
    conditions = [_C.province_code == province_code, _C.filed_at >= first, _C.filed_at < end]
    if ward_code is not None:
        conditions.append(_C.ward_code == ward_code)
    answered = or_(
        _C.status == CaseStatus.RESOLVED.value,
        _C.reopened_count > 0,
        _C.satisfaction.is_not(None),
    )
    rows = (
        select(
            _C.code.label("code"),
            _C.ward_code.label("ward"),
            _C.category.label("category"),
            _C.status.label("status"),
            _C.merged_into_id.is_not(None).label("merged"),
            (_C.filed_at >= start).label("current"),
            _C.filed_at.label("filed_at"),
            *(_done(d).label(f"done_{d}") for d in DEADLINES),
            *(_due(dialect, d).label(f"due_{d}") for d in DEADLINES),
            *(_duration_ms(dialect, d).label(f"key_{d}") for d in (DEADLINES if medians else ())),
            _C.satisfaction.label("satisfaction"),
            answered.label("answered"),
        )
        .where(*conditions)
        .cte("report_cases")
        .prefix_with("MATERIALIZED")
    )
    x = rows.c
    counted = and_(x.current, not_(x.merged))
    sums: list[Any] = []
    for deadline in DEADLINES:
        done, due = x[f"done_{deadline}"], x[f"due_{deadline}"]
        on_time = and_(done.is_not(None), done <= due)
        sums += [_count_if(on_time), _count_if(or_(on_time, due <= as_of)), func.count(done)]
    sums += [
        _count_if(x.satisfaction == "yes"),
        _count_if(x.satisfaction == "no"),
        _count_if(
            and_(x.answered, or_(x.satisfaction.is_(None), x.satisfaction.not_in(["yes", "no"])))
        ),
    ]
    columns: tuple[tuple[str, Any], ...] = (
        ("ward", String),
        ("category", String),
        ("status", String),
        ("merged", Boolean),
        ("current", Boolean),
        *((f"sum_{i}", Integer) for i in range(_SUMS + 1)),  # the count, then the sums
        ("key", Float),
        ("filed", UTCDateTime()),
        ("code", String),
        ("due", UTCDateTime()),
        ("done", UTCDateTime()),
        ("n", Integer),
    )

    def row(part: int, **given: Any) -> list[Any]:
        """The columns every part has, in order; typed NULLs where a part has nothing to
        say (PostgreSQL takes an untyped NULL in a subquery for text)."""
        return [
            literal(part).label("part"),
            *(
                given[name].label(name) if name in given else cast(null(), kind).label(name)
                for name, kind in columns
            ),
        ]

    group = {name: x[name] for name in ("ward", "category", "status", "merged", "current")}
    totals = {f"sum_{i + 1}": total for i, total in enumerate(sums)}
    parts: list[Any] = [
        select(*row(_COUNTS, **group, sum_0=func.count(), **totals)).group_by(
            x.current, x.ward, x.category, x.status, x.merged
        )
    ]
    if medians:
        greatest = func.max if dialect == "sqlite" else func.greatest
        for index, deadline in enumerate(DEADLINES):
            done = x[f"done_{deadline}"]
            number = select(func.count(done)).where(counted).scalar_subquery()
            key = x[f"key_{deadline}"]
            # Only the three columns go through the sort; the NULLs are added after it.
            middle = (
                select(key.label("key"), done.label("done"), x.filed_at.label("filed"))
                .where(counted, done.is_not(None))
                .order_by(key)
                .offset(greatest((number - 1) // 2 - _MEDIAN_MARGIN, 0))
                .limit(2 * _MEDIAN_MARGIN + 2)
                .subquery()
            )
            m = middle.c
            parts.append(select(*row(_MIDDLE + index, key=m.key, done=m.done, filed=m.filed)))
    if overdue:
        for index, deadline in enumerate(DEADLINES):
            done, due = x[f"done_{deadline}"], x[f"due_{deadline}"]
            listed = row(
                _OVERDUE,
                ward=x.ward,
                category=x.category,
                code=x.code,
                due=due,
                done=done,
                n=literal(index),
            )
            parts.append(
                select(*listed).where(
                    counted, not_(and_(done.is_not(None), done <= due)), due <= as_of
                )
            )
    union = union_all(*parts).subquery()
    u = union.c
    return select(union).order_by(u.part, u.due, u.code, u.n)


@dataclass
class _Tally:
    """One period's rows of the counts part, added up."""

    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    merged: int = 0
    sums: list[int] = field(default_factory=lambda: [0] * _SUMS)

    def add(self, row: Any) -> None:
        number, *rest = row[_FIRST_SUM : _FIRST_SUM + _SUMS + 1]
        if row.merged:
            self.merged += number
            return
        self.counts[(row.ward, row.category, row.status)] += number
        self.sums = [a + int(b or 0) for a, b in zip(self.sums, rest, strict=True)]

    def figures(
        self,
        period: Period,
        ward_code: str | None,
        as_of: datetime,
        middles: list[float | None],
        handling: dict[str, int],
    ) -> Figures:
        sums = self.sums
        deadlines = tuple(
            DeadlineFigure(deadline, sums[3 * i + 1], sums[3 * i], sums[3 * i + 2], middles[i])
            for i, deadline in enumerate(DEADLINES)
        )
        satisfied, unsatisfied, unanswered = sums[-3:]
        return Figures(
            period=period,
            ward_code=ward_code,
            as_of=as_of,
            cases=sum(self.counts.values()),
            merged=self.merged,
            counts=dict(self.counts),
            deadlines=deadlines,
            satisfied=satisfied,
            unsatisfied=unsatisfied,
            unanswered=unanswered,
            handling=handling,
        )


_MEDIAN_MARGIN = 8  # rows read on each side of the middle
_POSTGRES_WORK_MEM = "64MB"  # PostgreSQL's default, 4 MB, sorts 100,000 cases on disk


def _middle(done: int, margin: int) -> tuple[int, int, int, int]:
    """Ranks (from 0) of the middle value(s) and the window [first, stop) around them."""
    low, high = (done - 1) // 2, done // 2
    return low, high, max(low - margin, 0), min(high + margin + 1, done)


def _exact_middle(
    keys: list[float], exact: list[timedelta], done: int, first: int
) -> float | None:
    """The median from a window of the cases ordered by key, if the window decides it.

    `keys` (ms, each within a millisecond of the exact duration) in their order, `exact`
    the same cases' exact durations. It decides when every case outside the window is
    surely below or above the middle ones; None asks for a wider window.
    """
    low, high = (done - 1) // 2, done // 2
    stop = first + len(keys)
    if not (first <= low and high < stop):
        return None
    ordered = sorted(exact)
    a, b = ordered[low - first], ordered[high - first]
    slack = 2.0  # ms
    below_ok = first == 0 or keys[0] < a.total_seconds() * 1000 - slack
    above_ok = stop == done or keys[-1] > b.total_seconds() * 1000 + slack
    if below_ok and above_ok:
        return round(statistics.median([_hours(a), _hours(b)]), 1)
    return None


def _median(rows: list[Any], done: int) -> float | None:
    """The median hours from the rows read around the middle of `done` durations (each with
    its key, good to a millisecond, and its exact times), if they decide it."""
    if done == 0:
        return None
    rows = sorted(rows, key=lambda row: float(row.key))
    first = max((done - 1) // 2 - _MEDIAN_MARGIN, 0)
    exact = [row.done - row.filed for row in rows]
    return _exact_middle([float(row.key) for row in rows], exact, done, first)


async def _median_hours(
    session: AsyncSession, dialect: str, deadline: Deadline, where: list[Any], done: int
) -> float | None:
    """The median hours from filing to the step, exactly as `statistics.median` gives it.

    The database orders the cases by a duration good to a millisecond and returns a few
    rows around the middle; their exact durations are compared here. The window grows
    until every case outside it is surely below or above the middle ones.
    """
    if done == 0:
        return None
    key = _duration_ms(dialect, deadline).label("key")
    step = _done(deadline)
    margin = _MEDIAN_MARGIN * 4
    while True:
        _, _, first, stop = _middle(done, margin)
        stmt = (
            select(key, _C.filed_at, step.label("done"))
            .where(*where, _C.merged_into_id.is_(None), step.is_not(None))
            .order_by(key)
            .offset(first)
            .limit(stop - first)
        )
        rows = (await session.exec(stmt)).all()  # type: ignore[call-overload]
        keys = [float(row.key) for row in rows]
        median = _exact_middle(keys, [row.done - row.filed_at for row in rows], done, first)
        if median is not None:
            return median
        margin *= 4


async def _read_report(
    session: AsyncSession,
    province_code: str,
    period: Period,
    *,
    previous: Period | None,
    ward_code: str | None,
    as_of: datetime,
    medians: bool = True,
    overdue: bool = True,
    handling: bool = True,
) -> tuple[Figures, Figures | None, AsyncIterator[Overdue]]:
    """The period's figures, the previous period's (without medians), and the overdue
    list streaming on from the same statement: read it before the session ends.
    `medians`, `overdue` and `handling` (the log-book counts) False leave those out.

    Two statements: the log-book counts, then `_report_statement` (on PostgreSQL after a
    SET LOCAL of the memory its sorts may use); a third, seldom, for a median the rows read
    around the middle do not decide.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # The statement's row set, its sorts and its GROUP BY fit in memory (hashed, not
        # sorted on disk) for this transaction only.
        await session.exec(text(f"SET LOCAL work_mem = '{_POSTGRES_WORK_MEM}'"))  # type: ignore[call-overload]
    handled = (
        await _handling_counts(session, province_code, period, previous, ward_code)
        if handling
        else {True: {}, False: {}}
    )
    stmt = _report_statement(
        dialect,
        province_code,
        period,
        previous=previous,
        ward_code=ward_code,
        as_of=as_of,
        medians=medians,
        overdue=overdue,
    )
    rows = _stream(session, stmt)
    tallies = {True: _Tally(), False: _Tally()}
    windows: list[list[Any]] = [[] for _ in DEADLINES]
    first_overdue: Any = None
    async for row in rows:
        if row.part == _COUNTS:
            tallies[bool(row.current)].add(row)
        elif row.part < _OVERDUE:
            windows[row.part - _MIDDLE].append(row)
        else:
            first_overdue = row
            break  # the rest of the rows stream on to the overdue list
    now = tallies[True]
    middles: list[float | None] = [None] * len(DEADLINES)
    for index, deadline in enumerate(DEADLINES if medians else ()):
        done = now.sums[3 * index + 2]
        middles[index] = _median(windows[index], done)
        if middles[index] is None and done:  # many cases within a millisecond of the middle
            where = _filed_in(province_code, period, ward_code)
            middles[index] = await _median_hours(session, dialect, deadline, where, done)
    figures = now.figures(period, ward_code, as_of, middles, handled[True])
    before = None
    if previous is not None:
        nothing: list[float | None] = [None] * len(DEADLINES)
        before = tallies[False].figures(previous, ward_code, as_of, nothing, handled[False])

    async def overdue_list() -> AsyncIterator[Overdue]:
        if first_overdue is None:
            return
        yield _overdue(first_overdue, as_of)
        async for row in rows:
            yield _overdue(row, as_of)

    return figures, before, overdue_list()


def _overdue(row: Any, as_of: datetime) -> Overdue:
    finished = row.done
    return Overdue(
        code=row.code,
        ward_code=row.ward,
        category=row.category,
        deadline=DEADLINES[row.n],
        due_at=row.due,
        done_at=finished,
        late_hours=round(_hours((finished or as_of) - row.due), 1),
    )


async def report_figures(
    session: AsyncSession,
    province_code: str,
    period: Period,
    *,
    ward_code: str | None = None,
    as_of: datetime,
    medians: bool = True,
) -> Figures:
    """The period's figures, aggregated by the database (a few statements, any size):
    `_read_report` without the previous period and the overdue list.

    `medians=False` leaves them out (None).
    """
    figures, _, _ = await _read_report(
        session,
        province_code,
        period,
        previous=None,
        ward_code=ward_code,
        as_of=as_of,
        medians=medians,
        overdue=False,
    )
    return figures


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


async def _handling_counts(
    session: AsyncSession,
    province_code: str,
    period: Period,
    previous: Period | None,
    ward_code: str | None,
) -> dict[bool, dict[str, int]]:
    """Counted cases with at least one escalate / refer / reassign / reopen line, in the
    period (True) and in the previous one (False): one statement.

    Each period is its own SELECT: one range over both would lead SQLite's planner to walk
    the cases instead of the index on the events' action.
    """
    events = _EVENTS.c
    actions = {action.value: name for name, action in _HANDLING_ACTIONS.items()}
    periods = [(True, period)] + ([(False, previous)] if previous is not None else [])
    parts = [
        select(
            literal(now).label("current"),
            events.action,
            func.count(func.distinct(events.case_id)).label("cases"),
        )
        .join_from(_EVENTS, _CASES, events.case_id == _C.id)
        .where(
            events.action.in_(list(actions)),
            _C.merged_into_id.is_(None),
            *_filed_in(province_code, which, ward_code),
        )
        .group_by(events.action)
        for now, which in periods
    ]
    found: dict[bool, dict[str, int]] = {True: {}, False: {}}
    for now, action, number in (await session.exec(union_all(*parts))).all():  # type: ignore[call-overload]
        found[bool(now)][actions[action]] = int(number)
    return {now: {name: found[now].get(name, 0) for name in HANDLING} for now in found}


async def overdue_rows(
    session: AsyncSession,
    province_code: str,
    period: Period,
    *,
    ward_code: str | None = None,
    as_of: datetime,
) -> AsyncIterator[Overdue]:
    """Each missed deadline of the period's cases, by due time, streamed from the database."""
    _, _, rows = await _read_report(
        session,
        province_code,
        period,
        previous=None,
        ward_code=ward_code,
        as_of=as_of,
        medians=False,
        handling=False,
    )
    async for row in rows:
        yield row


_BATCH = 2000  # rows fetched at a time when streaming


async def _stream(session: AsyncSession, stmt: Any) -> AsyncIterator[Any]:
    """The rows of `stmt`, fetched a batch at a time (one await per batch, not per row)."""
    result = await session.stream(stmt.execution_options(yield_per=_BATCH))
    async for batch in result.partitions(_BATCH):
        for row in batch:
            yield row


async def _aiter(items: Sequence[Overdue]) -> AsyncIterator[Overdue]:
    for item in items:
        yield item


def previous_period(period: Period) -> Period:
    """The period before: the previous calendar month(s) for whole months, else as many
    days right before."""
    first, last = period.first, period.last
    whole_months = first.day == 1 and (last + timedelta(days=1)).day == 1
    if whole_months:
        months = (last.year - first.year) * 12 + last.month - first.month + 1
        end = first - timedelta(days=1)
        year, month = first.year, first.month - months
        while month < 1:
            month += 12
            year -= 1
        return Period(date(year, month, 1), end)
    days = (last - first).days + 1
    return Period(first - timedelta(days=days), first - timedelta(days=1))


# ---------------------------------------------------------------- the period report


def _period_notes(
    gazetteer: Gazetteer, period: Period, ward_code: str | None, as_of: datetime
) -> list[str]:
    where = f" ({_ward_name(gazetteer, ward_code)})" if ward_code else ""
    return [
        f"Kỳ báo cáo: phản ánh gửi {period.label} (giờ Việt Nam){where}.",
        f"Số liệu tại thời điểm {local_time(as_of)}.",
    ]


def _category_label(category: str, labels: dict[str, str]) -> str:
    """The category's name in the files' language, remembered in `labels` (a long list
    asks for it at every row)."""
    label = labels.get(category)
    if label is None:
        label = labels[category] = t(FILE_LOCALE, f"category.{category}")
    return label


def _ward_order(gazetteer: Gazetteer) -> dict[str, int]:
    return {ward.code: index for index, ward in enumerate(gazetteer.wards())}


def default_agency(gazetteer: Gazetteer) -> str:
    """'SỞ NÔNG NGHIỆP VÀ MÔI TRƯỜNG TỈNH LẠNG SƠN' (HOTLINE_AGENCY_NAME overrides it)."""
    return f"SỞ NÔNG NGHIỆP VÀ MÔI TRƯỜNG {province_label(gazetteer).upper()}"


def official_header(gazetteer: Gazetteer, agency: str | None, as_of: datetime) -> OfficialHeader:
    """The document's heading: agency, Quốc hiệu and Tiêu ngữ, 'Lạng Sơn, ngày … tháng …'."""
    place = gazetteer.province_name.removeprefix("Thành phố ").strip()
    day = as_of.astimezone(LOCAL_TZ).date()
    return OfficialHeader(
        agency=(agency or default_agency(gazetteer)).strip(),
        place_date=f"{place}, ngày {day:%d} tháng {day:%m} năm {day:%Y}",
    )


def _change(now: int, before: int) -> int:
    return now - before


def _summary_tables(
    figures: Figures, previous: Figures, gazetteer: Gazetteer
) -> tuple[Table, ...]:
    """The first sheet: this period beside the previous one, by category and by ward,
    how cases were handled, the deadlines kept; with charts."""
    sheet = "Tổng hợp"
    now_cat, before_cat = figures.by(1), previous.by(1)
    categories = [c.value for c in Category]
    categories += sorted((set(now_cat) | set(before_cat)) - set(categories))
    category_rows: list[list[Cell]] = [
        [
            t(FILE_LOCALE, f"category.{c}") if c in Category.__members__.values() else c,
            now_cat[c],
            before_cat[c],
            _change(now_cat[c], before_cat[c]),
        ]
        for c in categories
    ]
    category_rows.append(
        ["Tổng cộng", figures.cases, previous.cases, _change(figures.cases, previous.cases)]
    )
    now_ward, before_ward = figures.by(0), previous.by(0)
    if figures.ward_code is not None:
        wards = [figures.ward_code]
    else:
        wards = [ward.code for ward in gazetteer.wards()]
        wards += sorted((set(now_ward) | set(before_ward)) - set(wards))
    ward_rows: list[list[Cell]] = [
        [
            code,
            _ward_name(gazetteer, code),
            now_ward[code],
            before_ward[code],
            _change(now_ward[code], before_ward[code]),
        ]
        for code in wards
    ]
    ward_rows.append(
        ["", "Tổng cộng", figures.cases, previous.cases, _change(figures.cases, previous.cases)]
    )
    labels = {
        "escalated": "Chuyển lên Sở",
        "referred": "Chuyển cơ quan khác (Công an, Thanh tra…)",
        "reassigned": "Chuyển phường/xã khác",
        "reopened": "Mở lại (người phản ánh báo chưa giải quyết)",
    }
    handling_rows: list[list[Cell]] = [["Tổng số phản ánh", figures.cases, previous.cases]]
    for name in HANDLING:
        handling_rows.append(
            [labels[name], figures.handling.get(name, 0), previous.handling.get(name, 0)]
        )
    handling_rows.append(
        ["Phản ánh trùng đã gộp (không tính ở trên)", figures.merged, previous.merged]
    )
    deadline_rows: list[list[Cell]] = [
        [DEADLINE_LABELS[f.deadline], f.due, f.met, f.missed, f.share_met, p.share_met]
        for f, p in zip(figures.deadlines, previous.deadlines, strict=True)
    ]
    period_now, period_before = "Kỳ này", "Kỳ trước"
    return (
        Table(
            key="summary_categories",
            title="Số phản ánh theo lĩnh vực",
            headers=("Lĩnh vực", period_now, period_before, "Tăng (+) / giảm (-)"),
            rows=category_rows,
            widths=(30, 12, 12, 14, 12, 14),
            bold_last_row=True,
            sheet=sheet,
            chart=Chart(
                "Số phản ánh theo lĩnh vực",
                categories=0,
                series=(1, 2),
                y_title="Số phản ánh",
                skip_last_row=True,
            ),
        ),
        Table(
            key="summary_wards",
            title="Số phản ánh theo phường/xã",
            headers=(
                "Mã phường/xã",
                "Phường/xã",
                period_now,
                period_before,
                "Tăng (+) / giảm (-)",
            ),
            rows=ward_rows,
            widths=(14, 30, 12, 12, 14),
            bold_last_row=True,
            sheet=sheet,
            chart=Chart(
                "Số phản ánh theo phường/xã (kỳ này)",
                categories=1,
                series=(2,),
                horizontal=True,
                skip_last_row=True,
                height_cm=max(7.5, 0.45 * len(wards) + 2),
            ),
        ),
        Table(
            key="summary_handling",
            title="Tình hình xử lý",
            headers=("Chỉ tiêu", period_now, period_before),
            rows=handling_rows,
            widths=(30, 12, 12),
            sheet=sheet,
        ),
        Table(
            key="summary_deadlines",
            title="Thời hạn (kỳ này; tỉ lệ kỳ trước để so sánh)",
            headers=(
                "Thời hạn",
                "Số phản ánh đến hạn",
                "Đúng hạn",
                "Trễ hạn",
                "Tỉ lệ đúng hạn (%)",
                "Tỉ lệ đúng hạn kỳ trước (%)",
            ),
            rows=deadline_rows,
            widths=(30, 12, 12, 14, 12, 14),
            decimals=frozenset({4, 5}),
            sheet=sheet,
            chart=Chart(
                "Thời hạn: đúng hạn và trễ hạn (kỳ này)",
                categories=0,
                series=(2, 3),
                y_title="Số phản ánh",
            ),
        ),
    )


def report_document(
    figures: Figures,
    gazetteer: Gazetteer,
    *,
    previous: Figures | None = None,
    overdue: Sequence[Overdue] | AsyncIterator[Overdue] = (),
    agency: str | None = None,
) -> Document:
    """The period report: a summary beside the previous period, counts, deadlines kept,
    satisfaction and the overdue list (`overdue`: rows, or a stream of them)."""
    statuses = list(CaseStatus)
    categories = [c.value for c in Category]
    wards = _ward_order(gazetteer)
    pairs = sorted(
        {(ward, category) for ward, category, _ in figures.counts},
        key=lambda p: (
            wards.get(p[0], len(wards)),
            p[0],
            categories.index(p[1]) if p[1] in categories else len(categories),
            p[1],
        ),
    )
    count_rows: list[list[Cell]] = []
    totals = [0] * (len(statuses) + 1)
    for ward, category in pairs:
        values = [figures.counts.get((ward, category, s.value), 0) for s in statuses]
        values.append(sum(values))
        totals = [a + b for a, b in zip(totals, values, strict=True)]
        count_rows.append(
            [ward, _ward_name(gazetteer, ward), t(FILE_LOCALE, f"category.{category}"), *values]
        )
    count_rows.append(["", "Tổng cộng", "", *totals])
    counts = Table(
        key="counts",
        title="Số phản ánh",
        headers=(
            "Mã phường/xã",
            "Phường/xã",
            "Lĩnh vực",
            *(t(FILE_LOCALE, f"status.{s.value}") for s in statuses),
            "Tổng số phản ánh",
        ),
        rows=count_rows,
        widths=(14, 28, 22, *([14] * len(statuses)), 16),
        bold_last_row=True,
    )
    kept = Table(
        key="deadlines",
        title="Thời hạn",
        headers=(
            "Thời hạn",
            "Số phản ánh đến hạn",
            "Đúng hạn",
            "Trễ hạn",
            "Tỉ lệ đúng hạn (%)",
            "Số phản ánh đã thực hiện",
            "Thời gian trung vị (giờ, từ lúc gửi phản ánh)",
        ),
        rows=[
            [
                DEADLINE_LABELS[f.deadline],
                f.due,
                f.met,
                f.missed,
                f.share_met,
                f.done,
                f.median_hours,
            ]
            for f in figures.deadlines
        ],
        widths=(18, 16, 12, 12, 16, 18, 24),
        decimals=frozenset({4, 6}),
    )
    resolved = figures.resolved
    satisfaction = Table(
        key="satisfaction",
        title="Ý kiến người phản ánh",
        headers=("Ý kiến về kết quả xử lý", "Số phản ánh", "Tỉ lệ (%)"),
        rows=[
            ["Đã giải quyết (hài lòng)", figures.satisfied, _percent(figures.satisfied, resolved)],
            [
                "Chưa giải quyết (không hài lòng)",
                figures.unsatisfied,
                _percent(figures.unsatisfied, resolved),
            ],
            ["Chưa trả lời", figures.unanswered, _percent(figures.unanswered, resolved)],
            ["Tổng số phản ánh đã xử lý xong", resolved, 100.0 if resolved else 0.0],
        ],
        widths=(34, 14, 12),
        bold_last_row=True,
        decimals=frozenset({2}),
    )

    async def overdue_cells() -> AsyncIterator[list[Cell]]:
        items = overdue if isinstance(overdue, AsyncIterator) else _aiter(overdue)
        labels: dict[str, str] = {}
        async for o in items:
            yield [
                o.code,
                o.ward_code,
                _ward_name(gazetteer, o.ward_code),
                _category_label(o.category, labels),
                DEADLINE_LABELS[o.deadline],
                o.due_at,
                o.done_at if o.done_at is not None else "Chưa thực hiện",
                o.late_hours,
            ]

    overdue_table = Table(
        key="overdue",
        title="Quá hạn",
        headers=(
            "Mã phản ánh",
            "Mã phường/xã",
            "Phường/xã",
            "Lĩnh vực",
            "Thời hạn",
            "Hạn",
            "Hoàn thành lúc",
            "Số giờ trễ",
        ),
        rows=overdue_cells(),
        widths=(14, 14, 28, 22, 14, 18, 18, 12),
        decimals=frozenset({7}),
        borders=False,
    )
    notes = _period_notes(gazetteer, figures.period, figures.ward_code, figures.as_of)
    total = f"Tổng số: {figures.cases} phản ánh"
    if figures.merged:
        total += f" (không tính {figures.merged} phản ánh trùng đã gộp vào phản ánh khác)"
    notes.insert(1, total + ".")
    if previous is not None:
        notes.insert(2, f"Kỳ trước (để so sánh): phản ánh gửi {previous.period.label}.")
    notes.append(
        "Một phản ánh đến hạn khi đã quá hạn hoặc đã được thực hiện; đúng hạn khi được thực "
        "hiện không muộn hơn hạn. Đóng phản ánh (xử lý xong hoặc từ chối) hoàn thành mọi bước."
    )
    summary = _summary_tables(figures, previous, gazetteer) if previous is not None else ()
    return Document(
        title=f"Báo cáo đường dây nóng về ô nhiễm môi trường - {province_label(gazetteer)}",
        notes=tuple(notes),
        tables=(*summary, counts, kept, satisfaction, overdue_table),
        official=official_header(gazetteer, agency, figures.as_of),
        signature_sheet=summary[0].sheet_title if summary else None,
    )


async def build_report(
    session: AsyncSession,
    gazetteer: Gazetteer,
    period: Period,
    *,
    ward_code: str | None = None,
    as_of: datetime | None = None,
    agency: str | None = None,
) -> tuple[Figures, Document]:
    """The report's figures and its document, whose overdue list streams from `session`:
    write the document before the session ends."""
    as_of = as_of or utcnow()
    province = gazetteer.province_code
    figures, previous, overdue = await _read_report(
        session,
        province,
        period,
        previous=previous_period(period),
        ward_code=ward_code,
        as_of=as_of,
    )
    document = report_document(
        figures, gazetteer, previous=previous, overdue=overdue, agency=agency
    )
    return figures, document


def report_file_stem(gazetteer: Gazetteer, period: Period, ward_code: str | None) -> str:
    """'bao-cao-20-2026-11-01_2026-11-30' (with the ward code when for one ward)."""
    ward = f"-{ward_code}" if ward_code else ""
    return f"bao-cao-{gazetteer.province_code}{ward}-{period.slug}"


# ---------------------------------------------------------------- the log book

ANONYMOUS = "Ẩn danh"
ACTION_LABELS = {
    CaseAction.FILE: "Gửi phản ánh",
    CaseAction.ACKNOWLEDGE: "Tiếp nhận",
    CaseAction.VERIFY: "Xác minh",
    CaseAction.RESOLVE: "Đóng với kết quả",
    CaseAction.REJECT: "Từ chối",
    CaseAction.REASSIGN: "Chuyển phường/xã khác",
    CaseAction.REOPEN: "Mở lại (người phản ánh báo chưa giải quyết)",
    CaseAction.TAKE: "Nhận xử lý",
    CaseAction.NOTE: "Ghi chú nội bộ",
    CaseAction.ASK: "Hỏi người phản ánh",
    CaseAction.ANSWER: "Người phản ánh trả lời",
    CaseAction.URGENT: "Chế độ khẩn",
    CaseAction.ESCALATE: "Chuyển lên Sở",
    CaseAction.TAKE_OVER: "Sở tiếp nhận xử lý",
    CaseAction.SEND_BACK: "Sở trả về phường/xã",
    CaseAction.REFER: "Chuyển cơ quan khác",
    CaseAction.MERGE: "Gộp phản ánh trùng",
    CaseAction.UNMERGE: "Tách phản ánh đã gộp",
    CaseAction.JOIN: "Người phản ánh khác cùng báo",
    CaseAction.SATISFACTION: "Ý kiến về kết quả",
    CaseAction.REMIND: "Nhắc hạn",
}
_ACTOR_LABELS = {"reporter": "Người phản ánh", "system": "Hệ thống"}
_LONG_DIGITS = re.compile(r"\d{6,}")  # user ids; no display name needs six digits in a row
# A phone-number-like run: +84 / 84 / 0, then 8-10 digits with optional separators.
_PHONE_LIKE = re.compile(r"(?<![\d+])(?:\+84|84|0)(?:[ .\-]?\d){8,10}(?!\d)")
PHONE_MASK = "[số điện thoại đã ẩn]"


def mask_phones(text: str) -> str:
    """Hide Vietnamese phone numbers in free text (the log book shows only shared ones)."""

    def _hide(match: re.Match[str]) -> str:
        try:
            normalize_phone(match.group(0))
        except ContactError:
            return match.group(0)
        return PHONE_MASK

    return _PHONE_LIKE.sub(_hide, text)


def actor_name(actor: str) -> str:
    """The display-name part of a log-book actor ('telegram:123 Lan' -> 'Lan'), never ids."""
    actor = actor.strip()
    if actor in _ACTOR_LABELS:
        return _ACTOR_LABELS[actor]
    head, _, rest = actor.partition(" ")
    if ":" in head:  # channel:user_id Display Name
        prefix = head.split(":", 1)[0]
        name = rest.strip() or _ACTOR_LABELS.get(prefix, "?")
    else:
        name = actor
    return _LONG_DIGITS.sub("…", mask_phones(name))


def _clip(text: str) -> str:
    return text if len(text) <= _EXCEL_CELL_MAX else text[: _EXCEL_CELL_MAX - 1] + "…"


def _action_label(action: str) -> str:
    try:
        return ACTION_LABELS[CaseAction(action)]
    except ValueError:
        return action


def _status_label(status: str | None) -> str:
    return t(FILE_LOCALE, f"status.{status}") if status else ""


def _logbook_where(province_code: str, period: Period, ward_code: str | None) -> list[Any]:
    return _filed_in(province_code, period, ward_code)


async def _logbook_case_rows(
    session: AsyncSession, gazetteer: Gazetteer, where: list[Any]
) -> AsyncIterator[list[Cell]]:
    """One row per case with its whole history, streamed: the cases joined with their
    log-book lines, oldest first, grouped here one case at a time."""
    events = _EVENTS.c
    files = _FILES.c
    target = _CASES.alias("merged_into")
    evidence = (
        select(func.count())
        .where(files.case_id == _C.id, files.from_officer.is_(False))
        .scalar_subquery()
    )
    stmt = (
        select(
            _C.id,
            _C.code,
            _C.filed_at,
            _C.ward_code,
            _C.category,
            _C.description,
            _C.status,
            _C.merged_into_id,
            _C.contact_shared,
            _C.contact_phone,
            evidence.label("evidence"),
            target.c.code.label("merged_code"),
            events.at,
            events.actor,
            events.action,
        )
        .select_from(
            _CASES.outerjoin(_EVENTS, events.case_id == _C.id).outerjoin(
                target, target.c.id == _C.merged_into_id
            )
        )
        .where(*where)
        .order_by(_C.filed_at, _C.id, events.id)
    )
    number = 0
    current: Any = None
    history: list[str] = []

    def case_row() -> list[Cell]:
        status = _status_label(current.status)
        if current.merged_into_id is not None:
            status += f" (trùng, đã gộp vào {current.merged_code or '?'})"
        shared = current.contact_shared and current.contact_phone
        return [
            number,
            current.filed_at,
            current.code,
            _ward_name(gazetteer, current.ward_code),
            t(FILE_LOCALE, f"category.{current.category}"),
            _clip(mask_phones(current.description)),
            current.contact_phone if shared else ANONYMOUS,
            int(current.evidence or 0),
            status,
            _clip("\n".join(history)),
        ]

    async for row in _stream(session, stmt):
        if current is None or row.id != current.id:
            if current is not None:
                yield case_row()
            number += 1
            current, history = row, []
        if row.at is not None:
            history.append(
                f"{row.at.astimezone(LOCAL_TZ):%d/%m/%Y %H:%M} - "
                f"{_action_label(row.action)} - {actor_name(row.actor)}"
            )
    if current is not None:
        yield case_row()


async def _logbook_event_rows(
    session: AsyncSession, where: list[Any]
) -> AsyncIterator[list[Cell]]:
    """One row per log-book line of the period's cases, in the order of the cases."""
    events = _EVENTS.c
    stmt = (
        select(
            _C.code,
            events.at,
            events.action,
            events.actor,
            events.from_status,
            events.to_status,
            events.note,
        )
        .join_from(_CASES, _EVENTS, events.case_id == _C.id)
        .where(*where)
        .order_by(_C.filed_at, _C.id, events.id)
    )
    async for row in _stream(session, stmt):
        yield [
            row.code,
            row.at,
            _action_label(row.action),
            actor_name(row.actor),
            _status_label(row.from_status),
            _status_label(row.to_status),
            _clip(mask_phones(row.note or "")),
        ]


def logbook_document(
    gazetteer: Gazetteer,
    period: Period,
    cases: int,
    case_rows: Rows,
    event_rows: Rows,
    *,
    ward_code: str | None,
    as_of: datetime,
) -> Document:
    """The hotline log book (sổ nhật ký): each case received, with everything done to it.

    Confidential by construction: the reporter's phone only where they shared it, phone
    numbers in free text hidden, officers by display name only (no user ids).
    """
    notes = _period_notes(gazetteer, period, ward_code, as_of)
    notes.insert(1, f"Số phản ánh tiếp nhận: {cases}.")
    notes.append(
        "Tài liệu mật: thông tin người phản ánh chỉ dùng cho việc tiếp nhận, xử lý "
        "(Quy chế 174/QĐ-BTNMT, Điều 5). Số điện thoại chỉ ghi khi người phản ánh đồng ý."
    )
    return Document(
        title=f"Sổ nhật ký đường dây nóng về ô nhiễm môi trường - {province_label(gazetteer)}",
        notes=tuple(notes),
        tables=(
            Table(
                key="cases",
                title="Sổ nhật ký",
                headers=(
                    "TT",
                    "Thời gian tiếp nhận",
                    "Mã phản ánh",
                    "Phường/xã",
                    "Lĩnh vực",
                    "Nội dung phản ánh",
                    "Số điện thoại người phản ánh",
                    "Số tệp bằng chứng",
                    "Trạng thái",
                    "Diễn biến xử lý",
                ),
                rows=case_rows,
                widths=(6, 18, 14, 24, 20, 60, 18, 12, 22, 60),
                wrap=frozenset({5, 9}),
                borders=False,
            ),
            Table(
                key="events",
                title="Diễn biến xử lý",
                headers=(
                    "Mã phản ánh",
                    "Thời gian",
                    "Việc",
                    "Người thực hiện",
                    "Trạng thái trước",
                    "Trạng thái sau",
                    "Ghi chú",
                ),
                rows=event_rows,
                widths=(14, 18, 28, 24, 18, 18, 60),
                wrap=frozenset({6}),
                borders=False,
            ),
        ),
    )


async def build_logbook(
    session: AsyncSession,
    gazetteer: Gazetteer,
    period: Period,
    *,
    ward_code: str | None = None,
    as_of: datetime | None = None,
) -> tuple[int, Document]:
    """The number of the period's cases and their log book, whose rows stream from
    `session`: write the document before the session ends."""
    where = _logbook_where(gazetteer.province_code, period, ward_code)
    cases = int((await session.exec(select(func.count()).where(*where))).scalar_one())  # type: ignore[call-overload]
    document = logbook_document(
        gazetteer,
        period,
        cases,
        _logbook_case_rows(session, gazetteer, where),
        _logbook_event_rows(session, where),
        ward_code=ward_code,
        as_of=as_of or utcnow(),
    )
    return cases, document


def logbook_file_stem(gazetteer: Gazetteer, period: Period, ward_code: str | None) -> str:
    """'so-nhat-ky-20-2026-11-01_2026-11-30'."""
    ward = f"-{ward_code}" if ward_code else ""
    return f"so-nhat-ky-{gazetteer.province_code}{ward}-{period.slug}"


# ---------------------------------------------------------------- contact points


class ContactError(ValueError):
    """A contact-point value that cannot be right (not a phone number, not an email)."""


_PHONE_SEPARATORS = re.compile(r"[\s.\-()]")
_MOBILE = re.compile(r"0[35789]\d{8}")  # 10 digits: 03x, 05x, 07x, 08x, 09x
_LANDLINE = re.compile(r"02\d{9}")  # 11 digits since 2017: 02 + area code + subscriber
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_EMAIL_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_EMAIL_MAX = 254
_EMAIL_LOCAL_MAX = 64
# Free mail providers: seed 001 asks for official addresses, so these get a warning.
PERSONAL_EMAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.com.vn",
        "ymail.com",
        "hotmail.com",
        "outlook.com",
        "outlook.com.vn",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "zoho.com",
        "mail.ru",
        "qq.com",
        "163.com",
    }
)


def normalize_phone(text: str) -> str:
    """A Vietnamese phone number in national form: '0916588826', '02053812345'.

    Accepts mobiles (10 digits) and landlines (11 digits, 02 + area code), with or without
    +84 / 84 / 0084, with spaces, dots, dashes or brackets.
    """
    digits = _PHONE_SEPARATORS.sub("", text.strip())
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("0084"):
        digits = "0" + digits[4:]
    elif digits.startswith("84") and len(digits) in (11, 12):
        digits = "0" + digits[2:]
    if not digits.isdigit():
        raise ContactError(f"{text!r} is not a phone number")
    if _MOBILE.fullmatch(digits) or _LANDLINE.fullmatch(digits):
        return digits
    raise ContactError(
        f"{text!r} is not a Vietnamese phone number (mobile: 10 digits such as 0916588826; "
        "landline: 11 digits such as 0205 3812 345; +84 allowed)"
    )


def check_email(text: str) -> tuple[str, str | None]:
    """The email with its domain in lower case, and a warning for a personal mail domain."""
    value = text.strip()
    local, at, domain = value.rpartition("@")
    domain = domain.lower().rstrip(".")
    labels = domain.split(".")
    if (
        not at
        or len(value) > _EMAIL_MAX
        or len(local) > _EMAIL_LOCAL_MAX
        or not _EMAIL_LOCAL.fullmatch(local)
        or len(labels) < 2
        or not all(_EMAIL_LABEL.fullmatch(label) for label in labels)
        or not labels[-1].isalpha()
        or len(labels[-1]) < 2
    ):
        raise ContactError(f"{text!r} is not an email address")
    warning = None
    if domain in PERSONAL_EMAIL_DOMAINS:
        warning = (
            f"{value}: {domain} is a personal mail service; the contact point should have an "
            "official address (usually …@<province>.gov.vn)"
        )
    return f"{local}@{domain}", warning


CONTACT_FIELDS = ("receive_phone", "receive_email", "handle_phone", "handle_email")
_FIELD_LABELS = {
    "receive_phone": "số điện thoại tiếp nhận",
    "receive_email": "email tiếp nhận",
    "handle_phone": "số điện thoại xử lý",
    "handle_email": "email xử lý",
}
NO_CONTACT = "Chưa có đầu mối"


@dataclass(frozen=True)
class ContactChanges:
    """Validated values for `services.save_ward_contact` (None: clear), with warnings."""

    values: dict[str, str | None]
    warnings: list[str]


def validate_contact(
    *,
    receive_phone: str | None = None,
    receive_email: str | None = None,
    handle_phone: str | None = None,
    handle_email: str | None = None,
    note: str | None = None,
) -> ContactChanges:
    """Check and normalise the given fields (an empty string clears one); all errors at once."""
    given = {
        "receive_phone": receive_phone,
        "receive_email": receive_email,
        "handle_phone": handle_phone,
        "handle_email": handle_email,
    }
    values: dict[str, str | None] = {}
    errors: list[str] = []
    warnings: list[str] = []
    for name, raw in given.items():
        if raw is None:
            continue
        if not raw.strip():
            values[name] = None
            continue
        try:
            if name.endswith("phone"):
                values[name] = normalize_phone(raw)
            else:
                values[name], warning = check_email(raw)
                if warning:
                    warnings.append(warning)
        except ContactError as exc:
            errors.append(f"--{name.replace('_', '-')}: {exc}")
    if note is not None:
        values["note"] = note.strip() or None
    if errors:
        raise ContactError("\n".join(errors))
    return ContactChanges(values, warnings)


def _contact_unit(ward: WardInfo) -> str:
    """'Ủy ban nhân dân phường Kỳ Lừa', as the seed-001 form names the unit."""
    return f"Ủy ban nhân dân {ward.name[:1].lower()}{ward.name[1:]}"


@dataclass(frozen=True)
class ContactsSummary:
    """How complete the province's contact points are."""

    wards: int
    missing: list[str]  # ward codes with no contact point at all
    incomplete: list[str]  # ward codes with some of the four values


def contacts_document(
    gazetteer: Gazetteer, contacts: dict[str, WardContact], *, as_of: datetime
) -> tuple[ContactsSummary, Document]:
    """The seed-001 contact-point table for every ward of the province, gaps flagged."""
    rows: list[list[Cell]] = []
    missing: list[str] = []
    incomplete: list[str] = []
    wards = gazetteer.wards()
    for number, ward in enumerate(wards, start=1):
        contact = contacts.get(ward.code)
        values = [getattr(contact, name) if contact else None for name in CONTACT_FIELDS]
        note = contact.note if contact else None
        if not any(values):
            missing.append(ward.code)
            remark = NO_CONTACT
        elif not all(values):
            incomplete.append(ward.code)
            absent = [
                _FIELD_LABELS[name]
                for name, value in zip(CONTACT_FIELDS, values, strict=True)
                if not value
            ]
            remark = "Thiếu " + ", ".join(absent)
        else:
            remark = ""
        remark = "; ".join(part for part in (remark, note or "") if part)
        rows.append([number, _contact_unit(ward), ward.code, *values, remark])
    summary = ContactsSummary(len(wards), missing, incomplete)
    notes = [
        f"{summary.wards} phường/xã/đặc khu; {len(missing)} chưa có đầu mối; "
        f"{len(incomplete)} chưa đủ thông tin.",
        f"Số liệu tại thời điểm {local_time(as_of)}.",
    ]
    table = Table(
        key="contacts",
        title="Đầu mối",
        headers=(
            "TT",
            "Đơn vị",
            "Mã đơn vị",
            "Số điện thoại",
            "Email",
            "Số điện thoại",
            "Email",
            "Ghi chú",
        ),
        groups=(
            (None, 1),
            (None, 1),
            (None, 1),
            ("Đầu mối tiếp nhận", 2),
            ("Đầu mối xử lý", 2),
            (None, 1),
        ),
        rows=rows,
        widths=(6, 40, 11, 15, 32, 15, 32, 30),
        wrap=frozenset({1, 7}),
    )
    title = (
        "Danh sách đầu mối tiếp nhận, xử lý thông tin phản ánh qua đường dây nóng về ô nhiễm "
        f"môi trường - {province_label(gazetteer)}"
    )
    return summary, Document(title=title, notes=tuple(notes), tables=(table,))


async def build_contacts(
    session: AsyncSession, gazetteer: Gazetteer, *, as_of: datetime | None = None
) -> tuple[ContactsSummary, Document]:
    """Load the contact points and make the province's table."""
    contacts = await services.ward_contacts(session)
    return contacts_document(gazetteer, contacts, as_of=as_of or utcnow())


def contacts_file_stem(gazetteer: Gazetteer, day: date) -> str:
    """'dau-moi-20-2026-11-23'."""
    return f"dau-moi-{gazetteer.province_code}-{day.isoformat()}"
