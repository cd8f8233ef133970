"""How a draft and a case read: the reporter's summary and the officers' card."""

from __future__ import annotations

from collections import Counter
from html import escape
from typing import TYPE_CHECKING, Any

from bot.i18n import t
from handlers.context import OFFICER_LOCALE, local_time
from handlers.events import Button
from models.enums import CaseStatus, LocationSource
from models.tables import Case, Evidence

if TYPE_CHECKING:
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
) -> str:
    """The officers' card (HTML; every piece of user text escaped)."""
    loc = OFFICER_LOCALE
    status = CaseStatus(case.status)
    if case.contact_shared and case.contact_phone:
        who = escape(case.contact_phone)
        if reporter_name:
            who += f" ({escape(reporter_name)})"
    else:
        who = t(loc, "card.anonymous")
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
    if status in (CaseStatus.NEW, CaseStatus.ACKNOWLEDGED, CaseStatus.VERIFYING):
        lines.append(t(loc, "card.deadline", value=local_time(case.verify_due_at)))
    if case.handled_by:
        lines.append(
            t(
                loc,
                "card.handled_by",
                who=escape(case.handled_by.split(" ", 1)[-1]),
                at=local_time(case.updated_at),
            )
        )
    if case.result_text:
        key = "card.result" if status == CaseStatus.RESOLVED else "card.reject_note"
        lines.append(t(loc, key, value=escape(case.result_text)))
    if case.reject_reason:
        lines.append(t(loc, "card.reject_reason", value=t(loc, f"reject.{case.reject_reason}")))
    if note:
        lines.append(f"<i>{escape(note)}</i>")
    head = "\n".join(lines)
    description = escape(case.description)
    room = TEXT_LIMIT - len(head) - 40
    if len(description) > room:
        description = description[: max(room, 0)].rsplit("&", 1)[0] + "…"
    return f"{head}\n\n{t(loc, 'card.description')}\n{description}"


def card_buttons(case: Case) -> list[list[Button]]:
    """The officer buttons for the case's current status (none once closed)."""
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
