"""Deadlines as officers meet them: urgency, alerts, the daily digest, /open, /overdue, /case.

- 🚨 Urgent (card button `c1:urg:<id>:on|off`): marks the case urgent or not. The
  verification deadline is set again (`DeadlinePolicy.set_urgent`), the log book gets an
  URGENT line, the cards are redrawn with 🚨; the reporter is not told. A case happening
  now with wastewater, emissions or odour shows a suggestion on its card; officers decide.
- Alerts (`send_due_alerts`, run by `bot/scheduler.py`): for each deadline an open case still
  owes, a reminder at `reminder_share` of the way to it, to the ward's groups (to the
  province group when the ward has none or the Sở handles the case); once it has passed,
  an overdue alert to the ward's groups *and* the province group, and the cards are redrawn
  with ⏰ QUÁ HẠN. Each alert is recorded (`deadline_alert`) in the transaction that queues
  its messages, so it goes out once, across restarts. A reminder whose deadline has passed
  before it could be sent (the bot was down) is not sent: the overdue alert says more.
- Digest (`send_digest`): at the policy's digest time (local), each ward group with open
  cases gets their list, the province group a per-ward table and the overdue list. Once a
  local day (`digest_run`); after downtime it is sent when the bot is back the same day,
  never for a past day.
- /open, /overdue (the group's open or overdue cases: a ward group its ward's, the province
  group the whole province's, overdue first) and /case <code> (the card again with its
  buttons, and the log book). A ward group sees only its ward's cases; any other code gets
  the same "not found" as an unknown one.

Times come from the core's clock (`now_of`), which tests freeze.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import deadlines, services
from bot.deadlines import Deadline, Stage
from bot.i18n import t
from handlers import cards, case_chats, officer
from handlers.audience import Audience, audience_of
from handlers.context import OFFICER_LOCALE, HotlineDeps, Turn, local_time
from handlers.events import Button, Event, FileRef, Outgoing
from handlers.followup import ANSWER_MARK
from handlers.limits import limits_for
from models.enums import CaseAction, RejectReason
from models.tables import Case, CaseEvent, GroupLink

log = logging.getLogger(__name__)

OP_URGENT = "urg"
SYSTEM_ACTOR = "system"
# Telegram's limit is 4096 characters (UTF-16 units, after the HTML is parsed): counting the
# raw HTML in UTF-16 units stays below it, with room to spare.
MESSAGE_LIMIT = 4000
NOTE_MAX = 300  # a log-book note in /case, shortened beyond this
_CODE_RE = re.compile(r"^(?:PA(\d{2})-)?(\d{1,6})$")
_LONG_DIGITS = re.compile(r"\d{6,}")  # user ids in log-book actors are never shown
NOBODY = Audience(case_ward="")  # masks what reporters wrote


def now_of(deps: HotlineDeps) -> datetime:
    """The core's clock (the one that also stamps filing times; frozen in tests)."""
    return limits_for(deps).now()


# ---------------------------------------------------------------- urgency


def _urgent_row(case: Case) -> list[list[Button]]:
    if not deadlines.watched(case):
        return []
    if case.urgent:
        return [[Button(t(OFFICER_LOCALE, "btn.urgent_off"), f"c1:{OP_URGENT}:{case.id}:off")]]
    return [[Button(t(OFFICER_LOCALE, "btn.urgent_on"), f"c1:{OP_URGENT}:{case.id}:on")]]


cards.CARD_ROWS.append(_urgent_row)


@officer.button_op(OP_URGENT)
async def on_urgent(turn: Turn, link: GroupLink, case: Case, arg: str | None) -> None:
    """Mark the case urgent (arg 'on') or not ('off'); a repeated press changes nothing."""
    if arg not in ("on", "off"):
        turn.answer("officer.stale_button", alert=True)
        return
    urgent = arg == "on"
    if case.merged_into_id is not None:
        turn.answer("officer.urgent_merged", alert=True)
        return
    if case.urgent != urgent:
        turn.deps.deadlines.set_urgent(case, urgent, now_of(turn.deps))
        case.updated_at = now_of(turn.deps)
        await services.note_event(
            turn.session,
            case,
            CaseAction.URGENT,
            actor=officer.actor_of(turn),
            note="on" if urgent else "off",
            now=now_of(turn.deps),
        )
        log.info(
            "case urgent %s",
            arg,
            extra={"case": case.code, "chat": turn.event.chat_id, "update": turn.event.update_id},
        )
    turn.answer(
        "officer.urgent_set" if urgent else "officer.urgent_unset",
        deadline=local_time(case.verify_due_at),
    )
    await case_chats.refresh_cards(turn, case)


# ---------------------------------------------------------------- lists of cases


def _owed(case: Case, now: datetime) -> tuple[bool, Deadline | None, datetime | None]:
    """(overdue?, the deadline to show, its moment): the most overdue, else the next."""
    late = deadlines.overdue(case, now)
    if late:
        name, due = min(late, key=lambda item: item[1])
        return True, name, due
    upcoming = deadlines.next_due(case)
    return (False, *upcoming) if upcoming else (False, None, None)


def is_overdue(case: Case, now: datetime) -> bool:
    """Whether the case owes a deadline that has passed."""
    return bool(deadlines.overdue(case, now))


def sort_cases(cases: Iterable[Case], now: datetime) -> list[Case]:
    """Overdue first (the longest overdue first), then by the next deadline."""
    far = datetime.max.replace(tzinfo=now.tzinfo)

    def key(case: Case) -> tuple[int, datetime, int]:
        late, _name, due = _owed(case, now)
        return (0 if late else 1, due or far, case.id or 0)

    return sorted(cases, key=key)


def _age(filed_at: datetime, now: datetime) -> str:
    minutes = max(0, int((now - filed_at).total_seconds() // 60))
    if minutes < 60:
        return t(OFFICER_LOCALE, "officer.age_minutes", n=minutes)
    if minutes < 48 * 60:
        return t(OFFICER_LOCALE, "officer.age_hours", n=minutes // 60)
    return t(OFFICER_LOCALE, "officer.age_days", n=minutes // (24 * 60))


def case_line(deps: HotlineDeps, case: Case, now: datetime, *, with_ward: bool) -> str:
    """One compact HTML line: code, (ward,) category, status, age, deadline."""
    loc = OFFICER_LOCALE
    late, name, due = _owed(case, now)
    if name is None or due is None:
        deadline = ""
    else:
        key = "officer.line_overdue" if late else "officer.line_due"
        deadline = t(loc, key, label=t(loc, f"card.deadline_{name}"), due=local_time(due))
    ward = deps.gazetteer.ward(case.ward_code)
    return t(
        loc,
        "officer.case_line",
        mark="🚨 " if case.urgent else "",
        code=escape(case.code),
        place=f"{escape(ward.name if ward else case.ward_code)} · " if with_ward else "",
        category=t(loc, f"category.{case.category}"),
        status=t(loc, f"status.{case.status}"),
        age=_age(case.filed_at, now),
        deadline=deadline,
    )


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_messages(head: str, lines: list[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """The head and the lines in as few messages as fit `limit`, breaking between lines.

    A single line longer than the limit (none of ours is) is cut.
    """
    messages: list[str] = []
    current = head
    for whole in lines:
        line = whole if _units(whole) <= limit - 2 else whole[: limit // 2 - 2] + "…"
        if _units(current) + 1 + _units(line) <= limit:
            current = f"{current}\n{line}" if current else line
        else:
            messages.append(current)
            current = line
    if current:
        messages.append(current)
    return messages


async def _send_html(session: AsyncSession, channel: str, chat_id: str, texts: list[str]) -> None:
    for text in texts:
        await services.enqueue(session, channel, Outgoing(chat_id=chat_id, text=text, html=True))


async def _group_cases(turn: Turn, link: GroupLink) -> tuple[list[Case], bool]:
    """The cases a group looks after: its ward's, or the whole province's (province group)."""
    province = link.ward_code is None
    cases = await services.watched_cases(
        turn.session, link.province_code, None if province else link.ward_code
    )
    return cases, province


def _scope(turn: Turn, link: GroupLink) -> str:
    """Whose cases a group sees, in words (plain text: escape it for HTML)."""
    if link.ward_code is None:
        return t(
            OFFICER_LOCALE, "officer.scope_province", province=turn.deps.gazetteer.province_name
        )
    ward = turn.deps.gazetteer.ward(link.ward_code)
    return ward.name if ward else link.ward_code


@officer.group_command("open")
async def on_open(turn: Turn, link: GroupLink) -> None:
    """/open: the group's open cases, overdue first."""
    now = now_of(turn.deps)
    cases, province = await _group_cases(turn, link)
    if not cases:
        await turn.send("officer.open_none", scope=_scope(turn, link))
        return
    ordered = sort_cases(cases, now)
    late = sum(1 for c in ordered if is_overdue(c, now))
    head = t(
        OFFICER_LOCALE,
        "officer.open_head",
        scope=escape(_scope(turn, link)),
        n=len(ordered),
        late=late,
    )
    lines = [case_line(turn.deps, c, now, with_ward=province) for c in ordered]
    await _send_html(
        turn.session, turn.event.channel, turn.event.chat_id, split_messages(head, lines)
    )


@officer.group_command("overdue")
async def on_overdue(turn: Turn, link: GroupLink) -> None:
    """/overdue: the group's overdue cases, the longest overdue first."""
    now = now_of(turn.deps)
    cases, province = await _group_cases(turn, link)
    late = sort_cases([c for c in cases if is_overdue(c, now)], now)
    if not late:
        await turn.send("officer.overdue_none", scope=_scope(turn, link))
        return
    head = t(OFFICER_LOCALE, "officer.overdue_head", scope=escape(_scope(turn, link)), n=len(late))
    lines = [case_line(turn.deps, c, now, with_ward=province) for c in late]
    await _send_html(
        turn.session, turn.event.channel, turn.event.chat_id, split_messages(head, lines)
    )


# ---------------------------------------------------------------- /case <code>


def parse_code(text: str, province_code: str) -> str | None:
    """A case code from what an officer typed: PA20-000123, pa20-123 or 123."""
    match = _CODE_RE.match(text.strip().upper().replace(" ", ""))
    if match is None:
        return None
    number = int(match.group(2))
    if number == 0:
        return None
    return services.format_case_code(match.group(1) or province_code, number)


def _actor(actor: str) -> str:
    """How a log-book actor is shown: a label for the reporter and the system, else the
    officer's display name (never a user id)."""
    actor = actor.strip()
    if actor in ("reporter", SYSTEM_ACTOR):
        return t(OFFICER_LOCALE, f"card.logbook_{actor}")
    head, _, rest = actor.partition(" ")
    name = (rest.strip() or "?") if ":" in head else actor
    return _LONG_DIGITS.sub("…", name)


_REASSIGN_NOTE = re.compile(r"^(\d{4,5}) -> (\d{4,5})$")
_FILES_NOTE = re.compile(r"\[(\d+ [a-z]+(?:, \d+ [a-z]+)*)\]")  # older rows: '[1 photo]'
_SATISFACTION = ("yes", "no")


def _files_in_words(note: str) -> str:
    """'[1 photo, 2 video]' (older rows) as officers read it: '[1 ảnh, 2 video]'."""

    def words(match: re.Match[str]) -> str:
        parts = []
        for part in match.group(1).split(", "):
            n, _, kind = part.partition(" ")
            parts.append(case_chats.files_label(kind, int(n)))
        return "[" + ", ".join(parts) + "]"

    return _FILES_NOTE.sub(words, note)


def _what(event: CaseEvent) -> str:
    """The log-book label of an action; an answer to a question is told from added info."""
    if event.action == CaseAction.ANSWER.value:
        if (event.note or "").startswith(ANSWER_MARK):
            return t(OFFICER_LOCALE, "card.logbook_answer")
        return t(OFFICER_LOCALE, "card.logbook_added_info")
    if event.action in {a.value for a in CaseAction}:
        return t(OFFICER_LOCALE, f"card.logbook_{event.action}")
    return escape(event.action)


def _note(event: CaseEvent, ward_name: Callable[[str], str] | None = None) -> str:
    """A log-book note as officers read it: codes in words (reasons, wards, answers, files)."""
    note = (event.note or "").strip()
    action = event.action
    if action == CaseAction.URGENT.value and note in ("on", "off"):
        return t(OFFICER_LOCALE, f"card.logbook_urgent_{note}")
    if action == CaseAction.REMIND.value:
        deadline, _, stage = note.partition(" ")
        if deadline in deadlines.DEADLINES and stage in ("reminder", "overdue"):
            return t(
                OFFICER_LOCALE,
                f"card.logbook_remind_{stage}",
                label=t(OFFICER_LOCALE, f"card.deadline_{deadline}"),
            )
    if action == CaseAction.SATISFACTION.value and note in _SATISFACTION:
        return t(OFFICER_LOCALE, f"card.logbook_satisfaction_{note}")
    if action == CaseAction.REJECT.value:
        reason, sep, text = note.partition(": ")
        if reason in {r.value for r in RejectReason}:
            label = t(OFFICER_LOCALE, f"reject.{reason}")
            return f"{label}: {text}" if sep else label
    if action == CaseAction.REASSIGN.value and ward_name is not None:
        match = _REASSIGN_NOTE.match(note)
        if match:
            return f"{ward_name(match.group(1))} → {ward_name(match.group(2))}"
    if action == CaseAction.ANSWER.value and note.startswith(ANSWER_MARK):
        question, _, answer = note.removeprefix(ANSWER_MARK).partition("\n")
        note = t(OFFICER_LOCALE, "card.logbook_answer_note", question=question, answer=answer)
    return _files_in_words(note)


def logbook_lines(
    events: list[CaseEvent],
    audience: Audience | None = None,
    ward_name: Callable[[str], str] | None = None,
) -> list[str]:
    """The log book as HTML lines: time, who, what, note (user text escaped; what reporters
    wrote as `audience` may read it, masked by default). `ward_name` names wards by code."""
    loc = OFFICER_LOCALE
    lines: list[str] = []
    for event in events:
        what = _what(event)
        note = _note(event, ward_name)
        if event.actor.startswith("reporter"):  # "reporter", "reporter:<id>": their words
            note = (audience or NOBODY).text(note)
        if len(note) > NOTE_MAX:
            note = note[:NOTE_MAX] + "…"
        lines.append(
            t(
                loc,
                "card.logbook_line",
                at=local_time(event.at),
                who=escape(_actor(event.actor)),
                what=what,
                note=f": {escape(note)}" if note else "",
            )
        )
    return lines


def ward_namer(deps: HotlineDeps) -> Callable[[str], str]:
    """A ward's name by its code, for the log book (the code itself when unknown)."""

    def name(code: str) -> str:
        ward = deps.gazetteer.ward(code)
        return ward.name if ward is not None else code

    return name


@officer.group_command("case")
async def on_case(turn: Turn, link: GroupLink) -> None:
    """/case <code>: the card again (with its buttons) and the log book."""
    typed = (turn.event.text or "").strip()
    if not typed:
        await turn.send("officer.case_usage")
        return
    code = parse_code(typed, turn.deps.province_code)
    case = await services.case_by_code(turn.session, code) if code else None
    if case is None or not services.can_act_on(link, case):
        # The same answer for unknown codes and other wards' cases: nothing leaks.
        await turn.send("officer.case_not_found", code=typed[:32])
        return
    channel, chat = turn.event.channel, turn.event.chat_id
    audience = await audience_of(turn.session, link, case)
    rendered = await case_chats.card_text(turn, case, audience=audience)
    await services.enqueue(
        turn.session,
        channel,
        Outgoing(
            chat_id=chat,
            text=rendered.html,
            html=True,
            buttons=case_chats.card_buttons_for(case, link),
            case_id=case.id,
            track={"purpose": "card"},  # redrawn with the others from now on
        ),
    )
    await case_chats.queue_card_more(turn, case, channel, chat, rendered, again=True)
    events = await services.case_events(turn.session, case.id or 0)
    head = t(OFFICER_LOCALE, "card.logbook_head", code=escape(case.code))
    lines = logbook_lines(events, audience, ward_namer(turn.deps))
    await _send_html(turn.session, channel, chat, split_messages(head, lines))


# ---------------------------------------------------------------- alerts


@dataclass(frozen=True)
class DueAlert:
    """An alert that is due now and not yet sent."""

    case: Case
    deadline: Deadline
    stage: Stage
    due: datetime
    at: datetime  # when it became due: the reminder moment, or the deadline

    @property
    def cycle(self) -> int:
        return deadlines.cycle_of(self.due)


def due_alerts(
    policy: deadlines.DeadlinePolicy,
    cases: Iterable[Case],
    sent: set[tuple[int, str, str, int]],
    now: datetime,
) -> list[DueAlert]:
    """The alerts due at `now` that were not sent yet, oldest first."""
    out: list[DueAlert] = []
    for case in cases:
        for name, due in deadlines.pending(case):
            if due <= now:
                stage: Stage = "overdue"
                at = due
            else:
                remind = policy.reminder_at(case, name)
                if remind is None or remind > now:
                    continue
                stage, at = "reminder", remind
            if (case.id or 0, name, stage, deadlines.cycle_of(due)) in sent:
                continue
            out.append(DueAlert(case, name, stage, due, at))
    out.sort(key=lambda a: (a.at, a.case.id or 0))
    return out


def next_alert_at(
    policy: deadlines.DeadlinePolicy,
    cases: Iterable[Case],
    sent: set[tuple[int, str, str, int]],
    now: datetime,
) -> datetime | None:
    """The next moment after `now` at which an alert falls due."""
    moments: list[datetime] = []
    for case in cases:
        for name, due in deadlines.pending(case):
            remind = policy.reminder_at(case, name)
            cycle = deadlines.cycle_of(due)
            if (
                remind is not None
                and remind > now
                and (case.id or 0, name, "reminder", cycle) not in sent
            ):
                moments.append(remind)
            if due > now:
                moments.append(due)
    return min(moments, default=None)


class _NoFiles:
    """The scheduler's turns never download files."""

    async def fetch(self, ref: FileRef, destination: str) -> None:
        raise RuntimeError("the scheduler does not download files")


def system_turn(deps: HotlineDeps, session: AsyncSession, channel: str) -> Turn:
    """A turn for work the hotline does by itself (redrawing cards after a deadline)."""
    event = Event(
        channel=channel, chat_id="", chat_type="group", user_id=SYSTEM_ACTOR, kind="command"
    )
    return Turn(deps=deps, session=session, event=event, fetcher=_NoFiles(), locale=OFFICER_LOCALE)


async def _alert_groups(session: AsyncSession, case: Case, stage: Stage) -> list[GroupLink]:
    """Reminders: the ward's groups, else (or when the Sở handles it) the province group.
    Overdue: the ward's groups and the province group."""
    province = await services.ward_groups_of_province(session, case.province_code)
    ward = await services.ward_groups(session, case.ward_code)
    if stage == "reminder":
        groups = province if case.province_owned or not ward else ward
    else:
        groups = ward + province
    seen: set[tuple[str, str]] = set()
    unique: list[GroupLink] = []
    for group in groups:
        if (group.channel, group.chat_id) not in seen:
            seen.add((group.channel, group.chat_id))
            unique.append(group)
    return unique


def _span(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return t(OFFICER_LOCALE, "officer.span_minutes", n=minutes)
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        if rest == 0:
            return t(OFFICER_LOCALE, "officer.span_hours", h=hours)
        return t(OFFICER_LOCALE, "officer.span_hours_minutes", h=hours, m=rest)
    return t(OFFICER_LOCALE, "officer.span_days", n=hours // 24)


def alert_text(deps: HotlineDeps, alert: DueAlert, now: datetime) -> str:
    """The alert message (HTML)."""
    loc, case = OFFICER_LOCALE, alert.case
    ward = deps.gazetteer.ward(case.ward_code)
    params = {
        "code": escape(case.code),
        "ward": escape(ward.name if ward else case.ward_code),
        "category": t(loc, f"category.{case.category}"),
        "status": t(loc, f"status.{case.status}"),
        "label": t(loc, f"card.deadline_{alert.deadline}"),
        "due": local_time(alert.due),
        "urgent": t(loc, "officer.alert_urgent") if case.urgent else "",
    }
    if alert.stage == "reminder":
        return t(loc, "officer.deadline_reminder", left=_span(alert.due - now), **params)
    return t(loc, "officer.deadline_overdue", late=_span(now - alert.due), **params)


async def send_due_alerts(
    deps: HotlineDeps, session: AsyncSession, now: datetime, *, limit: int = 50
) -> tuple[int, bool]:
    """Send up to `limit` due alerts in the caller's transaction: (sent, more are due)."""
    cases = await services.watched_cases(session, deps.province_code)
    sent = await services.deadline_alerts_sent(session, [c.id or 0 for c in cases])
    due = due_alerts(deps.deadlines, cases, sent, now)
    batch = due[:limit]
    redraw: dict[int, Case] = {}
    done = 0
    for alert in batch:
        case = alert.case
        if not await services.record_deadline_alert(
            session, case.id or 0, alert.deadline, alert.stage, alert.cycle, now
        ):
            continue  # another scheduler got there first
        text = alert_text(deps, alert, now)
        for group in await _alert_groups(session, case, alert.stage):
            await services.enqueue(
                session,
                group.channel,
                Outgoing(chat_id=group.chat_id, text=text, html=True, case_id=case.id),
            )
        await services.note_event(
            session,
            case,
            CaseAction.REMIND,
            actor=SYSTEM_ACTOR,
            note=f"{alert.deadline} {alert.stage}",
            now=now,
        )
        log.info("deadline %s %s", alert.deadline, alert.stage, extra={"case": case.code})
        if alert.stage == "overdue":
            redraw[case.id or 0] = case
        done += 1
    for case in redraw.values():
        await case_chats.refresh_cards(system_turn(deps, session, case.channel), case)
    return done, len(due) > limit


# ---------------------------------------------------------------- the daily digest


async def send_digest(deps: HotlineDeps, session: AsyncSession, now: datetime) -> bool:
    """Send today's digest if its time has come and it was not sent; True if sent now."""
    day = deps.deadlines.digest_day_due(now)
    if day is None or not await services.claim_digest(session, day, now):
        return False
    loc = OFFICER_LOCALE
    date = now.astimezone(deadlines.LOCAL_TZ).strftime("%d/%m/%Y")
    cases = sort_cases(await services.watched_cases(session, deps.province_code), now)
    by_ward: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        by_ward[case.ward_code].append(case)
    links = await services.list_links(session)
    for link in links:
        if link.ward_code is None or link.province_code != deps.province_code:
            continue
        mine = by_ward.get(link.ward_code, [])
        if not mine:
            continue  # nothing open: no message
        ward = deps.gazetteer.ward(link.ward_code)
        head = t(
            loc,
            "officer.digest_ward_head",
            date=date,
            ward=escape(ward.name if ward else link.ward_code),
            n=len(mine),
            late=sum(1 for c in mine if is_overdue(c, now)),
        )
        lines = [case_line(deps, c, now, with_ward=False) for c in mine]
        await _send_html(session, link.channel, link.chat_id, split_messages(head, lines))
    province_links = await services.ward_groups_of_province(session, deps.province_code)
    if province_links:
        texts = _province_digest(deps, cases, by_ward, now, date)
        for link in province_links:
            await _send_html(session, link.channel, link.chat_id, texts)
    log.info("daily digest sent for %s", day)
    return True


def _province_digest(
    deps: HotlineDeps,
    cases: list[Case],
    by_ward: dict[str, list[Case]],
    now: datetime,
    date: str,
) -> list[str]:
    loc = OFFICER_LOCALE
    late = [c for c in cases if is_overdue(c, now)]
    head = t(
        loc,
        "officer.digest_province_head",
        date=date,
        province=escape(deps.gazetteer.province_name),
        n=len(cases),
        late=len(late),
    )
    rows: list[tuple[int, int, str]] = []
    for code, mine in by_ward.items():
        ward = deps.gazetteer.ward(code)
        rows.append(
            (sum(1 for c in mine if is_overdue(c, now)), len(mine), ward.name if ward else code)
        )
    rows.sort(key=lambda r: (-r[0], -r[1], r[2]))
    lines = [t(loc, "officer.digest_table_head")] if rows else []
    lines += [
        t(loc, "officer.digest_table_row", ward=escape(name), open=n_open, late=n_late)
        for n_late, n_open, name in rows
    ]
    if late:
        lines.append(t(loc, "officer.digest_overdue_head", n=len(late)))
        lines += [case_line(deps, c, now, with_ward=True) for c in late]
    else:
        lines.append(t(loc, "officer.digest_overdue_none"))
    return split_messages(head, lines)


async def next_moment(deps: HotlineDeps, session: AsyncSession, now: datetime) -> datetime:
    """When the scheduler has something to do next: an alert, or the next digest."""
    cases = await services.watched_cases(session, deps.province_code)
    sent = await services.deadline_alerts_sent(session, [c.id or 0 for c in cases])
    digest = deps.deadlines.next_digest_at(now)
    if digest <= now:  # today's moment is now: tomorrow's is the next
        digest = deps.deadlines.next_digest_at(now + timedelta(seconds=1))
    alert = next_alert_at(deps.deadlines, cases, sent, now)
    return min(digest, alert) if alert else digest
