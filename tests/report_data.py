"""A seeded generator of case histories for reports: the random-data test and the benchmark.

Rows are written with SQLAlchemy Core (no ORM objects), so a million cases can be seeded.
The histories follow the status machine and `services.apply_action` (the times each step
sets), with the odd cases the report must get right: closed straight from new, reassigned
back to new, reopened, merged, urgent, deadlines missing (filed before they were stored).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.deadlines import DeadlinePolicy
from models.enums import CaseAction, CaseStatus, Category
from models.tables import Case, CaseEvent, Evidence, Reporter

H = timedelta(hours=1)
OFFICER = "telegram:700100200 Cán bộ Lan"
CATEGORIES = [c.value for c in Category]


@dataclass(frozen=True)
class Spec:
    """What to generate: how many cases, filed between `start` and `end`, in which wards."""

    cases: int
    start: datetime
    end: datetime
    wards: tuple[str, ...]
    province: str = "20"
    first_id: int = 1
    events: bool = True  # the log book's lines (the report needs only some)
    evidence: bool = True
    microseconds: bool = False  # times to the microsecond, as the bot writes them


def _jitter(rng: random.Random, spec: Spec) -> timedelta:
    return timedelta(microseconds=rng.randrange(1_000_000)) if spec.microseconds else timedelta()


def _after(rng: random.Random, at: datetime, mean_hours: float, jitter: timedelta) -> datetime:
    """A moment after `at`, exponentially distributed (some steps are late)."""
    return at + timedelta(seconds=int(rng.expovariate(1 / mean_hours) * 3600) + 60) + jitter


def _case_history(
    rng: random.Random, case_id: int, spec: Spec, policy: DeadlinePolicy
) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """One case row, its log-book lines and its number of evidence files."""
    span = int((spec.end - spec.start).total_seconds())
    filed = spec.start + timedelta(seconds=rng.randrange(span)) + _jitter(rng, spec)
    urgent = rng.random() < 0.05
    row: dict[str, Any] = {
        "id": case_id,
        "code": f"PA{spec.province}-{case_id:07d}",
        "province_code": spec.province,
        "seq": case_id,
        "ward_code": rng.choice(spec.wards),
        "category": rng.choice(CATEGORIES),
        "status": CaseStatus.NEW.value,
        "location_source": "address",
        "nature": "now",
        "description": "Khói đen bốc ra từ nhà máy mỗi tối, gọi 0912 345 678.",
        "description_language": "vi",
        "reporter_id": 1,
        "contact_shared": rng.random() < 0.3,
        "contact_phone": None,
        "channel": "telegram",
        "filed_at": filed,
        "updated_at": filed,
        "urgent": urgent,
        "acknowledged_at": None,
        "verified_at": None,
        "closed_at": None,
        "merged_into_id": None,
        "satisfaction": None,
        "reopened_count": 0,
        "escalated_at": None,
        "referred_to": None,
    }
    if row["contact_shared"]:
        row["contact_phone"] = "0912345678"
    start_deadlines(row, policy, filed)
    if rng.random() < 0.03:  # filed before deadlines were stored
        row["ack_due_at"] = row["result_due_at"] = None
    events = [_event(case_id, filed, "reporter", CaseAction.FILE, None, "new")]
    now = filed

    def act(action: CaseAction, at: datetime, note: str | None = "ok") -> None:
        nonlocal now
        current = row["status"]
        target = _target(action, current)
        if (
            action in (CaseAction.ACKNOWLEDGE, CaseAction.VERIFY)
            and row["acknowledged_at"] is None
        ):
            row["acknowledged_at"] = at
        if action == CaseAction.VERIFY and row["verified_at"] is None:
            row["verified_at"] = at
        if target in (CaseStatus.RESOLVED.value, CaseStatus.REJECTED.value):
            row["closed_at"] = at
        if action == CaseAction.REASSIGN:
            row["acknowledged_at"] = None
        row["status"], row["updated_at"], now = target, at, at
        events.append(_event(case_id, at, OFFICER, action, current, target, note))

    def note(action: CaseAction, at: datetime, text: str | None = None) -> None:
        nonlocal now
        now = at
        events.append(_event(case_id, at, OFFICER, action, row["status"], row["status"], text))

    roll = rng.random()
    if roll < 0.04:  # closed straight from new
        act(
            rng.choice([CaseAction.RESOLVE, CaseAction.REJECT]),
            _after(rng, now, 1, _jitter(rng, spec)),
        )
    elif roll > 0.05:  # 1 % never touched
        act(CaseAction.ACKNOWLEDGE, _after(rng, now, 0.5, _jitter(rng, spec)))
        if rng.random() < 0.03:
            note(CaseAction.ESCALATE, _after(rng, now, 2, _jitter(rng, spec)), "vượt thẩm quyền")
            row["escalated_at"] = now
            if rng.random() < 0.5:
                note(CaseAction.SEND_BACK, _after(rng, now, 2, _jitter(rng, spec)), "phường xử lý")
                row["escalated_at"] = None
        if rng.random() < 0.02:
            note(
                CaseAction.REFER,
                _after(rng, now, 2, _jitter(rng, spec)),
                "Công an: có dấu hiệu tội phạm",
            )
            row["referred_to"] = "Công an"
        if rng.random() < 0.03:
            act(CaseAction.REASSIGN, _after(rng, now, 2, _jitter(rng, spec)), "06187")
            row["ward_code"] = rng.choice(spec.wards)
            start_deadlines(row, policy, now)
            if rng.random() < 0.3:  # the new ward has not acknowledged it yet
                return row, events, rng.randrange(4)
            act(CaseAction.ACKNOWLEDGE, _after(rng, now, 1.5, _jitter(rng, spec)))
        if rng.random() < 0.99:
            act(CaseAction.VERIFY, _after(rng, now, 5, _jitter(rng, spec)))
            if rng.random() < 0.99:
                close = CaseAction.RESOLVE if rng.random() < 0.85 else CaseAction.REJECT
                act(close, _after(rng, now, 40, _jitter(rng, spec)), "đã xử lý")
                if close == CaseAction.RESOLVE and rng.random() < 0.7:
                    answer = "yes" if rng.random() < 0.95 else "no"
                    row["satisfaction"] = answer
                    if answer == "no":
                        act(CaseAction.REOPEN, _after(rng, now, 5, _jitter(rng, spec)), None)
                        row["reopened_count"] = 1
                        start_deadlines(row, policy, now)
                        if rng.random() < 0.5:
                            act(
                                CaseAction.RESOLVE,
                                _after(rng, now, 48, _jitter(rng, spec)),
                                "xử lý lại",
                            )
    return row, events, rng.randrange(4)


def start_deadlines(row: dict[str, Any], policy: DeadlinePolicy, at: datetime) -> None:
    """The three deadlines from `at` (as `DeadlinePolicy.start` sets them on a case)."""
    row["ack_due_at"] = at + policy.length("ack")
    row["verify_due_at"] = at + policy.length("verify", urgent=row["urgent"])
    row["result_due_at"] = at + policy.length("result")


def _target(action: CaseAction, current: str) -> str:
    from models.transitions import next_status

    return next_status(action, CaseStatus(current)).value


def _event(
    case_id: int,
    at: datetime,
    actor: str,
    action: CaseAction,
    from_status: str | None,
    to_status: str,
    note: str | None = None,
) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "at": at,
        "actor": actor,
        "action": action.value,
        "from_status": from_status,
        "to_status": to_status,
        "note": note,
    }


def generate(
    spec: Spec, seed: int, *, chunk: int = 5_000
) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]]:
    """Chunks of (case rows, event rows, evidence rows); about 1 % merged into earlier cases."""
    rng = random.Random(seed)
    policy = DeadlinePolicy()
    cases: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    for offset in range(spec.cases):
        case_id = spec.first_id + offset
        row, lines, evidence = _case_history(rng, case_id, spec, policy)
        if offset and rng.random() < 0.01:
            row["merged_into_id"] = spec.first_id + rng.randrange(offset)
        cases.append(row)
        if spec.events:
            events.extend(lines)
        if spec.evidence:
            files.extend(
                {
                    "case_id": case_id,
                    "kind": "photo",
                    "path": f"p/{case_id}-{n}.jpg",
                    "sha256": "0" * 64,
                    "size": 1000,
                    "from_officer": n == 3,
                    "created_at": row["filed_at"],
                }
                for n in range(evidence)
            )
        if len(cases) >= chunk:
            yield cases, events, files
            cases, events, files = [], [], []
    if cases:
        yield cases, events, files


async def seed(engine: AsyncEngine, spec: Spec, seed_value: int) -> int:
    """Insert the generated cases (and one reporter) into a migrated database; their count."""
    async with engine.begin() as conn:
        exists = (await conn.execute(text("SELECT count(*) FROM reporter WHERE id = 1"))).scalar()
        if not exists:
            await conn.execute(
                insert(Reporter.__table__),  # type: ignore[arg-type]
                [{"id": 1, "channel": "telegram", "user_id": "1", "chat_id": "1",
                  "language_chosen": False, "unreachable": False,
                  "created_at": datetime(2020, 1, 1, tzinfo=UTC)}],
            )  # fmt: skip
    total = 0
    for cases, events, files in generate(spec, seed_value):
        async with engine.begin() as conn:
            await conn.execute(insert(Case.__table__), cases)  # type: ignore[arg-type]
            if events:
                await conn.execute(insert(CaseEvent.__table__), events)  # type: ignore[arg-type]
            if files:
                await conn.execute(insert(Evidence.__table__), files)  # type: ignore[arg-type]
        total += len(cases)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            for table in ("reporter", "case", "case_event", "evidence"):
                await conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                        f'(SELECT max(id) FROM "{table}"))'
                    )
                )
            # Statistics, as autovacuum keeps them on a live database (without them the
            # planner takes the new tables for empty).
            await conn.execute(text('ANALYZE "case", case_event, evidence'))
    return total
