"""How a draft and a case read: the reporter's summary and the officers' card."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from html import escape, unescape
from typing import TYPE_CHECKING, Any

from bot import deadlines, services
from bot.i18n import t
from handlers.audience import Audience, nobody
from handlers.context import OFFICER_LOCALE, local_time
from handlers.events import Button
from models.enums import OPEN_STATUSES, CaseAction, CaseStatus, Category, LocationSource, Nature
from models.tables import Case, Evidence
from models.types import utcnow

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from bot.geo import Gazetteer
    from handlers.context import Turn

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
        contact = t(
            loc,
            "summary.contact_shared",
            phone=data.get("contact_phone") or "",
            ward=ward.name if ward else "?",
        )
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
    audience: Audience | None = None,
    note: str | None = None,
    now: datetime | None = None,
    joined: int = 0,
    merged_into: str | None = None,
    reassigned_from: str | None = None,
    no_ward_group: bool = False,
) -> CardText:
    """The officers' card (HTML; every piece of user text escaped), made to fit one message.

    `now` (default: the current time) decides which deadlines are shown as overdue.

    The card is rendered for one chat, as its `audience` may see it (handlers/audience.py;
    by default as a chat that may see nothing personal): the reporter's phone where they
    shared it, else that they left one for their ward only; what they typed as written in
    the case's own ward's groups, with phone numbers and emails masked anywhere else.

    Free text (the address, the suspected source, the description, officers' reasons and
    results) is shortened on the card when the whole would not fit Telegram's limit; what
    was shortened comes back in full in `CardText.sections`, sent under the card.
    """
    loc = OFFICER_LOCALE
    status = CaseStatus(case.status)
    audience = audience or nobody(case)
    who = escape(
        audience.reporter(case.contact_shared, case.contact_phone, case.contact_ward_code)
    )
    # Laid out for a glance on a phone: what and where first, with the citizen's own words;
    # then who reported and who is on it; the times (when it came in, what is due) last.
    now = now or utcnow()
    lines: list[str | _Line] = [_title(case), *urgency_lines(case)]
    lines.append(
        t(
            loc,
            "card.what_where",
            category=t(loc, f"category.{case.category}"),
            ward=escape(ward_name),
        )
    )
    description = audience.text(case.description)
    lines.append(
        _Line(
            t(loc, "card.description_mark"),
            _Field("description", t(loc, "card.description"), description),
            "",
        )
    )
    if _get(case, "location_source") == LocationSource.GPS.value and case.latitude is not None:
        lines.append(t(loc, "card.where", value=escape(_where(case))))
    else:
        lines.append(_line("where", "card.where", "value", audience.text(case.address or "")))
    lines.append(t(loc, "card.nature", value=t(loc, f"nature.{case.nature}")))
    if case.suspected_source:
        lines.append(_line("source", "card.source", "value", audience.text(case.suspected_source)))
    lines.append(
        t(
            loc,
            "card.evidence",
            value=_evidence_line(loc, [e.kind for e in evidence if not e.from_officer]),
        )
    )
    lines.append(t(loc, "card.reporter", value=who))
    if case.channel == "zalo":
        lines.append(t(loc, "zalo.card_source"))
    # Officer tools (handlers/officer_tools.py): "Người xử lý" is the officer who took the
    # case on, and only them; any other officer's action reads as the last update.
    if case.assignee:
        lines.append(t(loc, "card.assignee", who=escape(_officer(case.assignee))))
    if case.handled_by:
        lines.append(
            t(
                loc,
                "card.last_update",
                who=escape(_officer(case.handled_by)),
                at=local_time(case.updated_at),
            )
        )
    if case.escalated_at is not None:
        lines.append(
            _line(
                "reason",
                "card.escalated",
                "reason",
                case.escalation_reason or "",
                at=local_time(case.escalated_at),
            )
        )
        if not case.province_owned:  # the Sở has not decided yet: take over or send back
            lines.append(t(loc, "card.escalation_request", ward=escape(ward_name)))
    if case.province_owned:
        lines.append(t(loc, "card.province_owned"))
    if case.referred_to:
        lines.append(_line("agency", "card.referred", "agency", case.referred_to))
    if case.result_text:
        key = "card.result" if status == CaseStatus.RESOLVED else "card.reject_note"
        lines.append(_line("result", key, "value", case.result_text))
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
    # Where the case came from, and why the Sở holds it: facts of the case, so they are on
    # every redraw (card_extras() reads them), not only on the first card.
    if reassigned_from:
        lines.append(t(loc, "card.reassigned_from", ward=escape(reassigned_from)))
    if no_ward_group and status in OPEN_STATUSES:
        lines.append(t(loc, "card.no_ward_group"))
    if note:
        lines.append(f"<i>{escape(note)}</i>")
    lines.append(t(loc, "card.filed", value=local_time(case.filed_at)))
    lines.extend(due_lines(case, now))
    return _fit(case, lines)


# ---------------------------------------------------------------- fitting Telegram's limit

# Telegram refuses a text over 4,096 characters (counted in UTF-16 code units, after the
# HTML is parsed). The whole raw HTML is kept within that count, so that no transport ever
# has to cut it: a cut inside a tag or an entity makes Telegram refuse the card for good.
TEXT_LIMIT = 4096
ELLIPSIS = "…"
NAME_MAX = 40  # an officer's display name on the card
_MARK = "\x00"  # where a line's free text goes (never in a catalogue message)
_SPLIT_LOOKBACK = 200  # a cut moves back to a space within this many characters


def u16(text: str) -> int:
    """Length in UTF-16 code units, the way Telegram counts a message's characters."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


@dataclass(frozen=True)
class Section:
    """A piece of free text shortened on a card, in full: a heading and the text (plain)."""

    key: str  # the field and a fingerprint of its text: whether a chat already has it
    text: str


@dataclass(frozen=True)
class CardText:
    """A card as one chat receives it: the card itself (HTML within Telegram's limit) and
    the sections of text it had to shorten, which go in full under it (`more_messages`)."""

    html: str
    sections: tuple[Section, ...] = ()


@dataclass(frozen=True)
class _Field:
    name: str
    heading: str  # how the follow-up introduces it ("Mô tả:")
    text: str  # plain text, as the chat may read it


@dataclass(frozen=True)
class _Line:
    """A card line with free text in it: HTML before, the (escaped) text, HTML after."""

    prefix: str
    field: _Field
    suffix: str


def _line(name: str, key: str, slot: str, text: str, **params: object) -> _Line:
    """A catalogue line whose `slot` placeholder takes free text that may be shortened."""
    html = t(OFFICER_LOCALE, key, **{slot: _MARK}, **params)
    prefix, _, suffix = html.partition(_MARK)
    return _Line(prefix, _Field(name, _plain(prefix).strip(), text), suffix)


def _title(case: Case) -> str:
    """The card's first line: status mark, code, status."""
    status = CaseStatus(case.status)
    label = t(OFFICER_LOCALE, f"status.{status.value}")
    return f"{STATUS_EMOJI[status]} <b>{escape(case.code)}</b> · {label}"


def _plain(html_text: str) -> str:
    """Catalogue HTML as plain text (for the follow-up, which is sent without markup)."""
    return unescape(re.sub(r"<[^>]*>", "", html_text))


def _name(name: str) -> str:
    return name if len(name) <= NAME_MAX else name[: NAME_MAX - 1] + ELLIPSIS


def _officer(actor: str) -> str:
    """An officer as the card shows them: the display name of a log-book actor."""
    return _name(actor.split(" ", 1)[-1])


def _fit(case: Case, lines: list[str | _Line]) -> CardText:
    """Join the lines, shortening free text so that the card fits one message."""
    fields = [line.field for line in lines if isinstance(line, _Line)]
    fixed = u16("\n".join("" if isinstance(ln, _Line) else ln for ln in lines))
    fixed += sum(u16(ln.prefix) + u16(ln.suffix) for ln in lines if isinstance(ln, _Line))
    full = [u16(escape(f.text)) for f in fields]
    caps: list[int | None] = [None] * len(fields)
    if fixed + sum(full) > TEXT_LIMIT:
        notice = t(OFFICER_LOCALE, "card.continued_below")
        room = TEXT_LIMIT - fixed - u16("\n" + notice)
        cap = _water_level(full, room)
        if cap is None:  # cannot happen with the catalogue as it is; never send a bad card
            return _minimal(case, _description(fields))
        caps = [cap if n > cap else None for n in full]
        lines = [*lines, notice]
    shown: list[str] = []
    it = iter(zip(fields, caps, strict=True))
    for line in lines:
        if not isinstance(line, _Line):
            shown.append(line)
            continue
        field, cap = next(it)
        text = escape(field.text) if cap is None else _shorten(field.text, cap)
        shown.append(f"{line.prefix}{text}{line.suffix}")
    html = "\n".join(shown)
    if u16(html) > TEXT_LIMIT:  # pragma: no cover  (guards the arithmetic above)
        return _minimal(case, _description(fields))
    sections = tuple(
        Section(_section_key(f), f"{f.heading}\n{f.text}")
        for f, cap in zip(fields, caps, strict=True)
        if cap is not None
    )
    return CardText(html, sections)


def _description(fields: list[_Field]) -> str:
    return next((f.text for f in fields if f.name == "description"), "")


def _water_level(lengths: list[int], room: int) -> int | None:
    """The largest cap c with sum(min(n, c)) <= room, each shortened text keeping at least
    its "…" (None when even that does not fit)."""
    if sum(lengths) <= room:
        return max(lengths, default=0)
    low, high = 1, max(lengths)
    if sum(min(n, low) for n in lengths) > room:
        return None
    while low < high:
        mid = (low + high + 1) // 2
        if sum(min(n, mid) for n in lengths) <= room:
            low = mid
        else:
            high = mid - 1
    return low


def _shorten(text: str, cap: int) -> str:
    """The escaped beginning of `text` and "…", at most `cap` UTF-16 units long.

    The plain text is cut before it is escaped, so a cut never falls inside an entity.
    """
    budget = cap - u16(ELLIPSIS)
    used, end = 0, 0
    for index, char in enumerate(text):
        cost = u16(escape(char))
        if used + cost > budget:
            break
        used += cost
        end = index + 1
    space = max(text.rfind(" ", 0, end), text.rfind("\n", 0, end))
    if space > 0 and end - space < _SPLIT_LOOKBACK and end < len(text):
        end = space
    return escape(text[:end].rstrip()) + ELLIPSIS


def _section_key(field: _Field) -> str:
    digest = hashlib.sha256(field.text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{field.name}:{digest}"


def _minimal(case: Case, description: str) -> CardText:
    """A card that always fits: the code, the status and a pointer to the full text."""
    loc = OFFICER_LOCALE
    html = "\n".join(
        [
            _title(case),
            t(loc, "card.category", value=t(loc, f"category.{case.category}")),
            t(loc, "card.continued_below"),
        ]
    )
    field = _Field("description", t(loc, "card.description"), description)
    return CardText(html, (Section(_section_key(field), f"{field.heading}\n{field.text}"),))


def more_messages(code: str, sections: list[Section] | tuple[Section, ...]) -> list[str]:
    """The follow-up messages under a card: the sections in full, as plain text."""
    if not sections:
        return []
    head = t(OFFICER_LOCALE, "card.more_head", code=code)
    return split_text(head, "\n\n".join(section.text for section in sections), code)


def split_text(head: str, body: str, code: str) -> list[str]:
    """`head` and `body` as plain-text messages, each within Telegram's limit: one when it
    fits, else the body goes on in messages headed "📄 <code> · (continued k/n)". A text cut
    between two messages ends the one and begins the next with "…" (which also keeps
    Telegram from trimming away a space at the cut)."""
    whole = f"{head}\n{body}" if body else head
    if u16(whole) <= TEXT_LIMIT:
        return [whole]
    widest = t(OFFICER_LOCALE, "card.continued_head", code=code, part=99, parts=99)
    first_room = TEXT_LIMIT - u16(head) - 1 - u16(ELLIPSIS)
    next_room = TEXT_LIMIT - u16(widest) - 1 - 2 * u16(ELLIPSIS)
    chunks = _split(body, first_room, next_room)
    messages = [f"{head}\n{chunks[0]}{ELLIPSIS}"]
    for number, chunk in enumerate(chunks[1:], 2):
        part = t(OFFICER_LOCALE, "card.continued_head", code=code, part=number, parts=len(chunks))
        tail = ELLIPSIS if number < len(chunks) else ""
        messages.append(f"{part}\n{ELLIPSIS}{chunk}{tail}")
    return messages


def _split(text: str, first_room: int, room: int) -> list[str]:
    """`text` in pieces of at most `first_room`, then `room`, UTF-16 units; a cut moves back
    to just after a space or line break when one is near."""
    pieces: list[str] = []
    start = 0
    limit = max(first_room, 1)
    while start < len(text):
        used, end = 0, start
        while end < len(text) and used + u16(text[end]) <= limit:
            used += u16(text[end])
            end += 1
        if end == start:  # a room smaller than one character: take it anyway
            end += 1
        if end < len(text):
            space = max(text.rfind(" ", start, end), text.rfind("\n", start, end))
            if space >= start and end - space < _SPLIT_LOOKBACK:
                end = space + 1
        pieces.append(text[start:end])
        start = end
        limit = room
    return pieces


URGENT_CATEGORIES = frozenset({Category.WASTEWATER, Category.EMISSIONS, Category.ODOUR})


def urgency_suggested(case: Case) -> bool:
    """Happening now and spreading (water, air, smell): suggest urgent handling."""
    return case.nature == Nature.NOW.value and case.category in URGENT_CATEGORIES


def urgency_lines(case: Case) -> list[str]:
    """The card's urgency mark (under its title): urgent, or urgency suggested."""
    if not deadlines.watched(case):
        return []
    if case.urgent:
        return [t(OFFICER_LOCALE, "card.urgent")]
    if urgency_suggested(case):
        return [t(OFFICER_LOCALE, "card.urgent_suggested")]
    return []


def due_lines(case: Case, now: datetime) -> list[str]:
    """The deadlines the case still owes (overdue ones marked), at the card's foot."""
    loc = OFFICER_LOCALE
    lines: list[str] = []
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


async def card_extras(
    session: AsyncSession, case: Case, gazetteer: Gazetteer | None = None
) -> dict[str, Any]:
    """What render_card() needs from other rows: how many reporters joined the case, the
    code of the case it was merged into, the ward it was transferred from (the log book's
    last reassignment to its present ward), and whether its ward has no officer group (so
    the province group holds the card in its stead)."""
    merged_into = None
    if case.merged_into_id is not None:
        target = await services.get_case(session, case.merged_into_id)
        merged_into = target.code if target else None
    reassigned_from = None
    last = await services.latest_case_event(session, case.id or 0, CaseAction.REASSIGN)
    if last is not None and last.note:
        old, _, new = last.note.partition(" -> ")
        if new == case.ward_code and old != new:
            ward = gazetteer.ward(old) if gazetteer is not None else None
            reassigned_from = ward.name if ward else old
    return {
        "joined": await services.count_case_reporters(session, case.id or 0),
        "merged_into": merged_into,
        "reassigned_from": reassigned_from,
        "no_ward_group": not await services.ward_groups(session, case.ward_code),
    }
