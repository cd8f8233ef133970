"""How a draft and a case read: the reporter's summary and the officers' card."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any

from bot import deadlines
from bot.i18n import t
from handlers.context import OFFICER_LOCALE, local_time
from handlers.events import Button
from models.enums import OPEN_STATUSES, CaseStatus, Category, LocationSource, Nature
from models.tables import Case, Evidence
from models.types import utcnow

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from handlers.context import Turn

TEXT_LIMIT = 4096
STATUS_EMOJI = {
    CaseStatus.NEW: "🆕",
    CaseStatus.ACKNOWLEDGED: "👀",
    CaseStatus.VERIFYING: "🔎",
    CaseStatus.RESOLVED: "✅",
    CaseStatus.REJECTED: "⛔",
}


def _evidence_line(locale: str, kinds: list[str]) -> str:
    if not kinds:
        return t(locale, "card.no_evidence")
    counts = Counter(kinds)
    return ", ".join(t(locale, f"evidence.{kind}", n=n) for kind, n in sorted(counts.items()))


def _where(data_or_case: Any) -> str:
    lat = _get(data_or_case, "latitude")
    lon = _get(data_or_case, "longitude")
    if _get(data_or_case, "location_source") == LocationSource.GPS.value and lat is not None:
        return f"📍 {lat:.5f}, {lon:.5f}"
    return str(_get(data_or_case, "address") or "")


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name)


def render_summary(turn: Turn, data: dict[str, Any]) -> str:
    """The reporter's draft, in their language, plain text (no markup to escape)."""
    loc = turn.locale
    ward = turn.deps.gazetteer.ward(data.get("ward_code") or "")
    if data.get("contact_shared"):
        contact = t(loc, "summary.contact_shared", phone=data.get("contact_phone") or "")
    else:
        contact = t(loc, "summary.anonymous")
    return t(
        loc,
        "summary.text",
        category=t(loc, f"category.{data.get('category', 'other')}"),
        ward=ward.name if ward else "?",
        where=_where(data),
        evidence=_evidence_line(loc, [e["kind"] for e in data.get("evidence", [])]),
        description=data.get("description", ""),
        nature=t(loc, f"nature.{data.get('nature', 'now')}"),
        source=data.get("suspected_source") or t(loc, "summary.source_unknown"),
        contact=contact,
    )


def render_card(
    case: Case,
    *,
    ward_name: str,
    evidence: list[Evidence],
    reporter_name: str | None = None,
    note: str | None = None,
    show_contact: bool = False,
    now: datetime | None = None,
    joined: int = 0,
    merged_into: str | None = None,
) -> str:
    """The officers' card (HTML; every piece of user text escaped).

    `now` (default: the current time) decides which deadlines are shown as overdue.

    The reporter's identity is confidential (Quy chế 174): their phone number and name are
    shown only with `show_contact`, which the caller sets for the officer groups of the
    case's own ward. Any other chat (the province group standing in for a ward without a
    group, a former ward after reassignment) reads that the contact went to the ward only.
    """
    loc = OFFICER_LOCALE
    status = CaseStatus(case.status)
    if not (case.contact_shared and case.contact_phone):
        who = t(loc, "card.anonymous")
    elif not show_contact:
        who = t(loc, "card.contact_ward_only")
    else:
        who = escape(case.contact_phone)
        if reporter_name:
            who += f" ({escape(reporter_name)})"
    lines = [
        f"{STATUS_EMOJI[status]} <b>{escape(case.code)}</b> · {t(loc, f'status.{status.value}')}",
        t(loc, "card.category", value=t(loc, f"category.{case.category}")),
        t(loc, "card.ward", value=escape(ward_name)),
        t(loc, "card.where", value=escape(_where(case))),
        t(loc, "card.nature", value=t(loc, f"nature.{case.nature}")),
    ]
    if case.suspected_source:
        lines.append(t(loc, "card.source", value=escape(case.suspected_source)))
    lines.append(
        t(
            loc,
            "card.evidence",
            value=_evidence_line(loc, [e.kind for e in evidence if not e.from_officer]),
        )
    )
    lines.append(t(loc, "card.reporter", value=who))
    lines.append(t(loc, "card.filed", value=local_time(case.filed_at)))
    lines.extend(deadline_lines(case, now or utcnow()))
    if case.handled_by and not case.assignee:
        lines.append(
            t(
                loc,
                "card.handled_by",
                who=escape(case.handled_by.split(" ", 1)[-1]),
                at=local_time(case.updated_at),
            )
        )
    # Officer tools (handlers/officer_tools.py): who took the case on ("Người xử lý"; the
    # last officer to act then reads as the last update), escalation, referral.
    if case.assignee:
        lines.append(t(loc, "card.assignee", who=escape(case.assignee.split(" ", 1)[-1])))
        if case.handled_by:
            lines.append(
                t(
                    loc,
                    "card.last_update",
                    who=escape(case.handled_by.split(" ", 1)[-1]),
                    at=local_time(case.updated_at),
                )
            )
    if case.escalated_at is not None:
        lines.append(
            t(
                loc,
                "card.escalated",
                at=local_time(case.escalated_at),
                reason=escape(case.escalation_reason or ""),
            )
        )
    if case.province_owned:
        lines.append(t(loc, "card.province_owned"))
    if case.referred_to:
        lines.append(t(loc, "card.referred", agency=escape(case.referred_to)))
    if case.result_text:
        key = "card.result" if status == CaseStatus.RESOLVED else "card.reject_note"
        lines.append(t(loc, key, value=escape(case.result_text)))
    if case.reject_reason:
        lines.append(t(loc, "card.reject_reason", value=t(loc, f"reject.{case.reject_reason}")))
    # The reporters' loop (handlers/followup.py, handlers/duplicates.py); `joined` and
    # `merged_into` (the code of the case this one was merged into) come from card_extras().
    if joined:
        lines.append(t(loc, "card.joined_count", n=joined))
    # "Solved" about the current result, or the "not solved" that reopened the case (an
    # answer about an earlier result is not shown once the case is resolved again).
    if (case.satisfaction == "yes" and status == CaseStatus.RESOLVED) or (
        case.satisfaction == "no" and status in OPEN_STATUSES
    ):
        lines.append(t(loc, SATISFACTION_KEYS[case.satisfaction]))
    if case.reopened_count:
        lines.append(t(loc, "card.reopened", n=case.reopened_count))
    if case.merged_into_id is not None:
        lines.append(t(loc, "card.merged_into", code=escape(merged_into or "?")))
    if note:
        lines.append(f"<i>{escape(note)}</i>")
    head = "\n".join(lines)
    description = escape(case.description)
    room = TEXT_LIMIT - len(head) - 40
    if len(description) > room:
        description = description[: max(room, 0)].rsplit("&", 1)[0] + "…"
    return f"{head}\n\n{t(loc, 'card.description')}\n{description}"


URGENT_CATEGORIES = frozenset({Category.WASTEWATER, Category.EMISSIONS, Category.ODOUR})


def urgency_suggested(case: Case) -> bool:
    """Happening now and spreading (water, air, smell): suggest urgent handling."""
    return case.nature == Nature.NOW.value and case.category in URGENT_CATEGORIES


def deadline_lines(case: Case, now: datetime) -> list[str]:
    """The card's urgency mark and the deadlines the case still owes (overdue ones marked)."""
    loc = OFFICER_LOCALE
    lines: list[str] = []
    if deadlines.watched(case):
        if case.urgent:
            lines.append(t(loc, "card.urgent"))
        elif urgency_suggested(case):
            lines.append(t(loc, "card.urgent_suggested"))
    for name, due in deadlines.pending(case):
        key = "card.due_overdue" if due <= now else "card.due"
        lines.append(t(loc, key, label=t(loc, f"card.deadline_{name}"), value=local_time(due)))
    return lines


# Officer tools in other modules add their rows of card buttons here; each provider
# returns the rows that fit the case's current state (or none).
CARD_ROWS: list[Callable[[Case], list[list[Button]]]] = []


def card_buttons(case: Case) -> list[list[Button]]:
    """The officer buttons for the case's current state: core actions, then the tools'."""
    if case.merged_into_id is not None:  # merged into another case: nothing to act on here
        return []
    rows = _core_buttons(case)
    for provider in CARD_ROWS:
        rows.extend(provider(case))
    return rows


def _core_buttons(case: Case) -> list[list[Button]]:
    """The status buttons (none once closed)."""
    loc = OFFICER_LOCALE
    status = CaseStatus(case.status)
    cid = case.id
    rows: list[list[Button]] = []
    if status == CaseStatus.NEW:
        rows.append(
            [
                Button(t(loc, "btn.ack"), f"c1:ack:{cid}"),
                Button(t(loc, "btn.verify"), f"c1:vfy:{cid}"),
            ]
        )
    elif status == CaseStatus.ACKNOWLEDGED:
        rows.append([Button(t(loc, "btn.verify"), f"c1:vfy:{cid}")])
    if status in (CaseStatus.NEW, CaseStatus.ACKNOWLEDGED, CaseStatus.VERIFYING):
        rows.append(
            [
                Button(t(loc, "btn.close"), f"c1:cls:{cid}"),
                Button(t(loc, "btn.reject"), f"c1:rej:{cid}"),
            ]
        )
        rows.append([Button(t(loc, "btn.reassign"), f"c1:rsg:{cid}")])
    return rows


def reject_reason_buttons(case: Case) -> list[list[Button]]:
    """The reason choice shown when an officer presses Reject."""
    from models.enums import RejectReason

    loc = OFFICER_LOCALE
    rows = [
        [Button(t(loc, f"reject.{r.value}"), f"c1:rjr:{case.id}:{r.value}")] for r in RejectReason
    ]
    rows.append([Button(t(loc, "btn.back"), f"c1:back:{case.id}")])
    return rows


# ---------------------------------------------------------------- joined and merged cases

SATISFACTION_KEYS = {"yes": "card.satisfied", "no": "card.not_satisfied"}


async def card_extras(session: AsyncSession, case: Case) -> dict[str, Any]:
    """What render_card() needs from other rows: how many reporters joined the case, and
    the code of the case it was merged into."""
    from bot import services

    merged_into = None
    if case.merged_into_id is not None:
        target = await services.get_case(session, case.merged_into_id)
        merged_into = target.code if target else None
    return {
        "joined": await services.count_case_reporters(session, case.id or 0),
        "merged_into": merged_into,
    }
