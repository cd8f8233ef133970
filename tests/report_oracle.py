"""The report's figures computed case by case in Python: the reference for the SQL ones.

This is the report's first implementation (over ORM objects), kept as the oracle that
`tests/test_reports.py` compares `bot.reports.report_figures` with, on random data sets.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import deadlines
from bot.deadlines import DEADLINES, Deadline, DeadlinePolicy
from models.enums import CaseStatus
from models.tables import Case

# Cases filed before deadlines were stored have none: they get the default policy's
# (2 h to acknowledge, 24 h to verify or 4 h if urgent, 10 days to answer) from filing.
_DEFAULT_POLICY = DeadlinePolicy()

DEADLINE_LABELS: dict[Deadline, str] = {
    "ack": "Tiếp nhận",
    "verify": "Xác minh",
    "result": "Trả kết quả",
}


def due_at(case: Case, deadline: Deadline) -> datetime:
    """When the deadline falls: the case's own, else the default policy's from filing."""
    return deadlines.due_at(case, deadline) or case.filed_at + _DEFAULT_POLICY.length(
        deadline, urgent=case.urgent
    )


def done_at(case: Case, deadline: Deadline) -> datetime | None:
    """When the case did what the deadline asks; None while it still owes it.

    Whether it is done follows the status machine (`bot.deadlines.is_met`): a reassigned
    case (back to new) or a reopened one (back to acknowledged) owes its steps again. When
    done, the time is that of the step, or of a later step that covers it (a case closed
    straight from new was answered when it was closed).
    """
    if not deadlines.is_met(case, deadline):
        return None
    if deadline == "ack":
        moment = case.acknowledged_at or case.verified_at or case.closed_at
    elif deadline == "verify":
        moment = case.verified_at or case.closed_at
    else:
        moment = case.closed_at
    return moment or case.updated_at  # never without a time (rows written by hand)


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


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
    def share_met(self) -> float | None:
        """Met / due in percent (one decimal), None when nothing was due."""
        return _percent(self.met, self.due)

    def text(self) -> str:
        """'8/10 (80%)', or '0/0' when nothing was due."""
        share = self.share_met
        return f"{self.met}/{self.due}" + ("" if share is None else f" ({share:g}%)")


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


@dataclass(frozen=True)
class Figures:
    """Everything a period report says, computed from its cases."""

    period: object
    ward_code: str | None
    as_of: datetime
    cases: int  # counted (merged duplicates excluded)
    merged: int  # merged duplicates, not counted anywhere
    counts: dict[tuple[str, str, str], int]  # (ward, category, status) -> cases
    deadlines: tuple[DeadlineFigure, ...]
    satisfied: int  # 'yes', of the cases that got a result
    unsatisfied: int  # 'no'
    unanswered: int
    overdue: tuple[Overdue, ...]

    @property
    def resolved(self) -> int:
        """Cases that got a result the reporter could answer (resolved at least once)."""
        return self.satisfied + self.unsatisfied + self.unanswered


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def compute_figures(
    cases: Sequence[Case], *, period: object, as_of: datetime, ward_code: str | None = None
) -> Figures:
    """The report's figures over the cases filed in the period, as of `as_of`."""
    counted = [case for case in cases if case.merged_into_id is None]
    merged = len(cases) - len(counted)
    counts = Counter((case.ward_code, case.category, case.status) for case in counted)
    figures: list[DeadlineFigure] = []
    overdue: list[Overdue] = []
    for deadline in DEADLINES:
        due = met = 0
        durations: list[float] = []
        for case in counted:
            deadline_at, finished = due_at(case, deadline), done_at(case, deadline)
            on_time = finished is not None and finished <= deadline_at
            if finished is not None:
                durations.append(_hours(finished - case.filed_at))
            if on_time:
                due += 1
                met += 1
            elif deadline_at <= as_of:
                due += 1
                overdue.append(
                    Overdue(
                        code=case.code,
                        ward_code=case.ward_code,
                        category=case.category,
                        deadline=deadline,
                        due_at=deadline_at,
                        done_at=finished,
                        late_hours=round(_hours((finished or as_of) - deadline_at), 1),
                    )
                )
        median = round(statistics.median(durations), 1) if durations else None
        figures.append(DeadlineFigure(deadline, due, met, len(durations), median))
    overdue.sort(key=lambda o: (o.due_at, o.code, DEADLINES.index(o.deadline)))
    # "Resolved" cases: resolved now, or reopened after the reporter said it was not solved.
    answered = [
        case
        for case in counted
        if case.status == CaseStatus.RESOLVED.value
        or case.reopened_count > 0
        or case.satisfaction is not None
    ]
    return Figures(
        period=period,
        ward_code=ward_code,
        as_of=as_of,
        cases=len(counted),
        merged=merged,
        counts=dict(counts),
        deadlines=tuple(figures),
        satisfied=sum(1 for case in answered if case.satisfaction == "yes"),
        unsatisfied=sum(1 for case in answered if case.satisfaction == "no"),
        unanswered=sum(1 for case in answered if case.satisfaction not in ("yes", "no")),
        overdue=tuple(overdue),
    )
