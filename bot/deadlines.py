"""The deadline policy: how long a ward has to acknowledge, verify and answer a case.

Reception is around the clock (Quy chế 174), so deadlines run in calendar hours, holidays
included. Each case carries its three deadlines (`ack_due_at`, `verify_due_at`,
`result_due_at`); they are set

- at filing, from the filing time;
- again on reassignment (from the reassignment: the new ward starts afresh) and on
  reopening (from the reopening), with `start()`;
- for the verification deadline only, when the case is marked urgent or not, with
  `set_urgent()`: urgent means `verify_urgent_hours` from the moment the urgency is known
  (from the start of the deadlines when marked at once), never later than the normal
  deadline; unmarked, the normal deadline applies again.

A deadline is met when the case has moved past it: acknowledged (any status but new),
verifying, or closed. That follows the status machine, so a reassigned case (back to new)
or a reopened one (back to acknowledged) owes its steps again.

Alerts (see `handlers/deadlines.py`) are sent once per deadline *value*: their `cycle` is the
deadline in minutes since the Unix epoch, so setting a deadline to another moment re-arms
its reminder and overdue alert, while a restart, or setting the same moment again, does not.

The policy comes from the settings (HOTLINE_ACK_HOURS, HOTLINE_VERIFY_HOURS,
HOTLINE_VERIFY_URGENT_HOURS, HOTLINE_RESULT_DAYS, HOTLINE_REMINDER_SHARE,
HOTLINE_DIGEST_TIME) and, when HOTLINE_DEADLINES_FILE names a TOML file, from that file,
whose keys override them. Pure code: no I/O but reading that file.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from models.enums import OPEN_STATUSES, CaseStatus

if TYPE_CHECKING:
    from bot.settings import Settings
    from models.tables import Case

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

Deadline = Literal["ack", "verify", "result"]
DEADLINES: tuple[Deadline, ...] = ("ack", "verify", "result")
Stage = Literal["reminder", "overdue"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class DeadlinePolicyError(ValueError):
    """The configured deadline policy is invalid (the message says what and where)."""


@dataclass(frozen=True)
class DeadlinePolicy:
    """Deadline lengths, when reminders go out, and when the daily digest is sent."""

    ack_hours: float = 2.0
    verify_hours: float = 24.0
    verify_urgent_hours: float = 4.0
    result_days: float = 10.0
    reminder_share: float = 0.75  # a reminder at this share of the way to the deadline
    digest_time: time = time(7, 30)  # local time (Asia/Ho_Chi_Minh)

    def __post_init__(self) -> None:
        for name in ("ack_hours", "verify_hours", "verify_urgent_hours", "result_days"):
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value) or value <= 0:
                raise DeadlinePolicyError(f"{name} must be a number greater than 0, not {value!r}")
        share = self.reminder_share
        if not _is_number(share) or not 0 < share < 1:
            raise DeadlinePolicyError(
                f"reminder_share must be a number between 0 and 1 (exclusive), not {share!r}"
            )
        if self.verify_urgent_hours > self.verify_hours:
            raise DeadlinePolicyError(
                f"verify_urgent_hours ({self.verify_urgent_hours:g}) must not exceed "
                f"verify_hours ({self.verify_hours:g})"
            )
        if not isinstance(self.digest_time, time):
            raise DeadlinePolicyError(f"digest_time must be a time, not {self.digest_time!r}")

    # ------------------------------------------------------------ lengths

    def length(self, deadline: Deadline, *, urgent: bool = False) -> timedelta:
        """How long the ward has for `deadline`, from the start of the deadlines."""
        if deadline == "ack":
            return timedelta(hours=self.ack_hours)
        if deadline == "verify":
            return timedelta(hours=self.verify_urgent_hours if urgent else self.verify_hours)
        return timedelta(days=self.result_days)

    # ------------------------------------------------------------ setting deadlines

    def start(self, case: Case, at: datetime) -> None:
        """Set all three deadlines from `at` (filing, reassignment or reopening)."""
        case.ack_due_at = at + self.length("ack")
        case.verify_due_at = at + self.length("verify", urgent=case.urgent)
        case.result_due_at = at + self.length("result")

    def set_urgent(self, case: Case, urgent: bool, now: datetime) -> None:
        """Mark the case urgent (or not) and set its verification deadline accordingly.

        Urgent: `verify_urgent_hours` from the start of the deadlines or from now, whichever
        is later, but never later than the normal deadline. Not urgent: the normal one.
        """
        start = self.started_at(case, now)
        normal = start + self.length("verify")
        case.urgent = urgent
        if urgent:
            quick = self.length("verify", urgent=True)
            case.verify_due_at = min(normal, max(start + quick, now + quick))
        else:
            case.verify_due_at = normal

    def started_at(self, case: Case, now: datetime) -> datetime:
        """When the case's deadlines were last set (filing, reassignment or reopening).

        Read back from the acknowledgement deadline, which only `start()` sets; kept
        between the filing time and now.
        """
        if case.ack_due_at is None:
            return case.filed_at
        return min(
            max(case.ack_due_at - self.length("ack"), case.filed_at), max(now, case.filed_at)
        )

    # ------------------------------------------------------------ reading deadlines

    def reminder_at(self, case: Case, deadline: Deadline) -> datetime | None:
        """When the reminder for `deadline` is due: `reminder_share` of its length in."""
        due = due_at(case, deadline)
        if due is None:
            return None
        length = self.length(deadline, urgent=case.urgent and deadline == "verify")
        return due - length * (1 - self.reminder_share)

    def next_digest_at(self, now: datetime) -> datetime:
        """The next digest moment at or after `now` (today's if not yet past)."""
        local = now.astimezone(LOCAL_TZ)
        today = datetime.combine(local.date(), self.digest_time, tzinfo=LOCAL_TZ)
        moment = today if today >= local else today + timedelta(days=1)
        return moment.astimezone(UTC)

    def digest_day_due(self, now: datetime) -> str | None:
        """Today's local date (YYYY-MM-DD) once today's digest time has come, else None.

        Only today's: a digest missed on a past day (the bot was down) is not sent late.
        """
        local = now.astimezone(LOCAL_TZ)
        if local.time() < self.digest_time:
            return None
        return local.date().isoformat()


def due_at(case: Case, deadline: Deadline) -> datetime | None:
    """The moment `deadline` falls due for the case (None: never set)."""
    if deadline == "ack":
        return case.ack_due_at
    if deadline == "verify":
        return case.verify_due_at
    return case.result_due_at


def is_met(case: Case, deadline: Deadline) -> bool:
    """Whether the case has done what `deadline` asks (from its status)."""
    status = CaseStatus(case.status)
    if status not in OPEN_STATUSES:
        return True
    if deadline == "ack":
        return status != CaseStatus.NEW
    if deadline == "verify":
        return status == CaseStatus.VERIFYING
    return False


def watched(case: Case) -> bool:
    """Whether the case's deadlines count: open, and not merged into another case."""
    return CaseStatus(case.status) in OPEN_STATUSES and case.merged_into_id is None


def pending(case: Case) -> list[tuple[Deadline, datetime]]:
    """The deadlines the case still owes, with their moments, in order of the steps."""
    if not watched(case):
        return []
    out: list[tuple[Deadline, datetime]] = []
    for deadline in DEADLINES:
        due = due_at(case, deadline)
        if due is not None and not is_met(case, deadline):
            out.append((deadline, due))
    return out


def overdue(case: Case, now: datetime) -> list[tuple[Deadline, datetime]]:
    """The deadlines the case owes that have passed."""
    return [(d, due) for d, due in pending(case) if due <= now]


def next_due(case: Case) -> tuple[Deadline, datetime] | None:
    """The earliest deadline the case still owes."""
    owed = pending(case)
    return min(owed, key=lambda item: item[1]) if owed else None


def cycle_of(due: datetime) -> int:
    """The alert cycle of a deadline value: minutes since the Unix epoch (UTC)."""
    return int((due - _EPOCH).total_seconds() // 60)


# ---------------------------------------------------------------- configuration

_FILE_KEYS = {f.name for f in fields(DeadlinePolicy)}


def parse_clock(value: Any, what: str = "digest_time") -> time:
    """A local time of day from "HH:MM" (or a TOML time)."""
    if isinstance(value, time):
        return value.replace(tzinfo=None)
    if isinstance(value, str):
        try:
            hours, minutes = value.strip().split(":")
            return time(int(hours), int(minutes))
        except ValueError:
            pass
    raise DeadlinePolicyError(f'{what} must be a time of day such as "07:30", not {value!r}')


def load_policy(settings: Settings) -> DeadlinePolicy:
    """The policy from the settings, overridden by HOTLINE_DEADLINES_FILE when given."""
    try:
        policy = DeadlinePolicy(
            ack_hours=settings.ack_hours,
            verify_hours=settings.verify_hours,
            verify_urgent_hours=settings.verify_urgent_hours,
            result_days=settings.result_days,
            reminder_share=settings.reminder_share,
            digest_time=parse_clock(settings.digest_time, "HOTLINE_DIGEST_TIME"),
        )
    except DeadlinePolicyError as exc:
        raise DeadlinePolicyError(f"deadline settings (HOTLINE_*): {exc}") from None
    if settings.deadlines_file is None:
        return policy
    return policy_from_file(settings.deadlines_file, policy)


def policy_from_file(path: Path, base: DeadlinePolicy | None = None) -> DeadlinePolicy:
    """`base` (the defaults) with the values of a TOML file such as:

    ack_hours = 2
    verify_hours = 24
    verify_urgent_hours = 4
    result_days = 10
    reminder_share = 0.75
    digest_time = "07:30"
    """
    where = f"HOTLINE_DEADLINES_FILE {path}"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DeadlinePolicyError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DeadlinePolicyError(f"{where}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - _FILE_KEYS)
    if unknown:
        raise DeadlinePolicyError(
            f"{where}: unknown key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(_FILE_KEYS))}"
        )
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "digest_time":
            try:
                values[key] = parse_clock(value)
            except DeadlinePolicyError as exc:
                raise DeadlinePolicyError(f"{where}: {exc}") from None
        elif _is_number(value):
            values[key] = float(value)
        else:
            raise DeadlinePolicyError(f"{where}: {key} must be a number, not {value!r}")
    try:
        return replace(base or DeadlinePolicy(), **values)
    except DeadlinePolicyError as exc:
        raise DeadlinePolicyError(f"{where}: {exc}") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
