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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import deadlines, services
from bot.deadlines import DEADLINES, Deadline, DeadlinePolicy
from bot.exports import LOCAL_TZ, Cell, Document, Table
from bot.geo import Gazetteer, WardInfo
from bot.i18n import t
from handlers.context import local_time
from models.enums import CaseAction, CaseStatus, Category
from models.tables import Case, CaseEvent, WardContact
from models.types import utcnow

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


def _ward_name(gazetteer: Gazetteer, code: str) -> str:
    info = gazetteer.ward(code)
    return info.name if info else code


# ---------------------------------------------------------------- deadlines


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
    overdue: tuple[Overdue, ...]

    @property
    def resolved(self) -> int:
        """Cases that got a result the reporter could answer (resolved at least once)."""
        return self.satisfied + self.unsatisfied + self.unanswered


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def compute_figures(
    cases: Sequence[Case], *, period: Period, as_of: datetime, ward_code: str | None = None
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


# ---------------------------------------------------------------- the period report


def _period_notes(
    gazetteer: Gazetteer, period: Period, ward_code: str | None, as_of: datetime
) -> list[str]:
    where = f" ({_ward_name(gazetteer, ward_code)})" if ward_code else ""
    return [
        f"Kỳ báo cáo: phản ánh gửi {period.label} (giờ Việt Nam){where}.",
        f"Số liệu tại thời điểm {local_time(as_of)}.",
    ]


def _ward_order(gazetteer: Gazetteer) -> dict[str, int]:
    return {ward.code: index for index, ward in enumerate(gazetteer.wards())}


def report_document(figures: Figures, gazetteer: Gazetteer) -> Document:
    """The period report: counts, deadlines kept, satisfaction and the overdue list."""
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
            ["Tổng số phản ánh đã xử lý xong", resolved, 100.0 if resolved else None],
        ],
        widths=(34, 14, 12),
        bold_last_row=True,
    )
    overdue = Table(
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
        rows=[
            [
                o.code,
                o.ward_code,
                _ward_name(gazetteer, o.ward_code),
                t(FILE_LOCALE, f"category.{o.category}"),
                DEADLINE_LABELS[o.deadline],
                o.due_at,
                o.done_at if o.done_at is not None else "Chưa thực hiện",
                o.late_hours,
            ]
            for o in figures.overdue
        ],
        widths=(14, 14, 28, 22, 14, 18, 18, 12),
    )
    notes = _period_notes(gazetteer, figures.period, figures.ward_code, figures.as_of)
    total = f"Tổng số: {figures.cases} phản ánh"
    if figures.merged:
        total += f" (không tính {figures.merged} phản ánh trùng đã gộp vào phản ánh khác)"
    notes.insert(1, total + ".")
    notes.append(
        "Một phản ánh đến hạn khi đã quá hạn hoặc đã được thực hiện; đúng hạn khi được thực "
        "hiện không muộn hơn hạn. Đóng phản ánh (xử lý xong hoặc từ chối) hoàn thành mọi bước."
    )
    return Document(
        title=f"Báo cáo đường dây nóng về ô nhiễm môi trường - {province_label(gazetteer)}",
        notes=tuple(notes),
        tables=(counts, kept, satisfaction, overdue),
    )


async def build_report(
    session: AsyncSession,
    gazetteer: Gazetteer,
    period: Period,
    *,
    ward_code: str | None = None,
    as_of: datetime | None = None,
) -> tuple[Figures, Document]:
    """Load the period's cases and make the report's figures and document."""
    as_of = as_of or utcnow()
    start, end = period.bounds()
    cases = await services.cases_filed_between(
        session, gazetteer.province_code, start, end, ward_code=ward_code
    )
    figures = compute_figures(cases, period=period, as_of=as_of, ward_code=ward_code)
    return figures, report_document(figures, gazetteer)


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


def logbook_document(
    gazetteer: Gazetteer,
    period: Period,
    cases: Sequence[Case],
    events: dict[int, list[CaseEvent]],
    evidence: dict[int, int],
    merged_codes: dict[int, str],
    *,
    ward_code: str | None,
    as_of: datetime,
) -> Document:
    """The hotline log book (sổ nhật ký): each case received, with everything done to it.

    Confidential by construction: the reporter's phone only where they shared it, phone
    numbers in free text hidden, officers by display name only (no user ids).
    """
    case_rows: list[list[Cell]] = []
    event_rows: list[list[Cell]] = []
    for number, case in enumerate(cases, start=1):
        status = _status_label(case.status)
        if case.merged_into_id is not None:
            status += f" (trùng, đã gộp vào {merged_codes.get(case.merged_into_id, '?')})"
        history: list[str] = []
        for event in events.get(case.id or 0, []):
            who = actor_name(event.actor)
            history.append(
                f"{event.at.astimezone(LOCAL_TZ):%d/%m/%Y %H:%M} - "
                f"{_action_label(event.action)} - {who}"
            )
            event_rows.append(
                [
                    case.code,
                    event.at,
                    _action_label(event.action),
                    who,
                    _status_label(event.from_status),
                    _status_label(event.to_status),
                    _clip(mask_phones(event.note or "")),
                ]
            )
        phone = case.contact_phone if case.contact_shared and case.contact_phone else ANONYMOUS
        case_rows.append(
            [
                number,
                case.filed_at,
                case.code,
                _ward_name(gazetteer, case.ward_code),
                t(FILE_LOCALE, f"category.{case.category}"),
                _clip(mask_phones(case.description)),
                phone,
                evidence.get(case.id or 0, 0),
                status,
                _clip("\n".join(history)),
            ]
        )
    notes = _period_notes(gazetteer, period, ward_code, as_of)
    notes.insert(1, f"Số phản ánh tiếp nhận: {len(cases)}.")
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
    """Load the period's cases with their events and files; the number of cases and the book."""
    start, end = period.bounds()
    province = gazetteer.province_code
    cases = await services.cases_filed_between(session, province, start, end, ward_code=ward_code)
    events = await services.events_of_cases_filed_between(
        session, province, start, end, ward_code=ward_code
    )
    evidence = await services.evidence_counts_of_cases_filed_between(
        session, province, start, end, ward_code=ward_code
    )
    merged_codes = await services.case_codes(
        session, {case.merged_into_id for case in cases if case.merged_into_id is not None}
    )
    document = logbook_document(
        gazetteer,
        period,
        cases,
        events,
        evidence,
        merged_codes,
        ward_code=ward_code,
        as_of=as_of or utcnow(),
    )
    return len(cases), document


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
