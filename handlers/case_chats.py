"""What goes to the chats of a case: its cards in the officer groups (sent, redrawn, their
forum topics), what is posted under them, and its reporters (who they are, how to tell them).

Shared by the officers' side (officer.py, officer_tools.py, deadlines.py, duplicates.py) and
the reporters' side (followup.py), neither of which owns it: both import it, and it imports
neither of them, so the handlers' imports have no cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import outbox, services
from bot.i18n import t
from bot.services.notices import send_held
from handlers import cards
from handlers.audience import Audience, audience_of
from handlers.context import OFFICER_LOCALE, Turn
from handlers.events import Button, Outgoing
from handlers.limits import limits_for
from models.enums import OPEN_STATUSES, CaseStatus, EvidenceKind, OutboxPriority
from models.tables import Case, Evidence, GroupLink, Outbox, Reporter

log = logging.getLogger(__name__)

# Card buttons that depend on the chat as well as the case (e.g. the province's take-over
# and send-back on an escalated case): each provider gets the case and the chat's link. Cards
# are sent and redrawn per chat (`_send_card`, `refresh_cards`), so these rows stay put.
ChatRowsProvider = Callable[[Case, GroupLink | None], list[list[Button]]]


CHAT_ROWS: list[ChatRowsProvider] = []


def card_buttons_for(case: Case, link: GroupLink | None) -> list[list[Button]]:
    """The card's buttons in one chat, laid out for a phone (`compact`): the status actions
    of `cards.card_buttons(case)` and the per-chat rows, those the chat may press."""
    return compact(case, _chat_buttons(case, link))


def more_buttons_for(case: Case, link: GroupLink | None) -> list[list[Button]]:
    """What «Thêm…» opens in place of the card's buttons: the actions `compact` kept off the
    card, two to a row, and «⬅️ Quay lại» back to the card's own buttons."""
    shown = {b.data for row in card_buttons_for(case, link) for b in row}
    rest = [b for b in _chat_buttons(case, link) if b.data not in shown]
    if not rest:
        return card_buttons_for(case, link)
    rows = _rows(rest)
    rows.append([Button(t(OFFICER_LOCALE, "btn.back"), f"c1:back:{case.id}")])
    return rows


def _chat_buttons(case: Case, link: GroupLink | None) -> list[Button]:
    """Every button the card may carry in this chat, in their order of importance."""
    rows = cards.card_buttons(case)
    if case.merged_into_id is None:  # a merged case is handled under the case it joined
        for provider in CHAT_ROWS:
            rows.extend(provider(case, link))
    buttons = [b for row in rows for b in row]
    if ward_stands_aside(case, link):
        buttons = [b for b in buttons if _op(b) in WARD_OPS_AFTER_TAKE_OVER]
    return buttons


# A card is read on a phone, in a group where several cases are on screen at once: at most
# six buttons in at most three rows. The actions that move a case along come first, in
# this order: the Sở's decision on a case a ward sent up (take over, send back), then
# acknowledge, verify, close with a result, reject, ask the reporter. The others (take on,
# note, urgency, reassign, escalate, refer) wait behind «Thêm…», which shows them in place
# of the card's buttons (`more_buttons_for`).
CARD_MAX_BUTTONS = 6
CARD_ROW_WIDTH = 2
PRIMARY_OPS = ("tkov", "sndbk", "ack", "vfy", "cls", "rej", "ask")
OP_MORE = "more"


def compact(case: Case, buttons: list[Button]) -> list[list[Button]]:
    """`buttons` as at most CARD_MAX_BUTTONS in rows of CARD_ROW_WIDTH: all of them when
    they fit, else the primary ones and «Thêm…» for the rest."""
    if len(buttons) <= CARD_MAX_BUTTONS:
        return _rows(buttons)
    rank = {op: i for i, op in enumerate(PRIMARY_OPS)}
    primary = sorted((b for b in buttons if _op(b) in rank), key=lambda b: rank[_op(b)])
    shown = primary[: CARD_MAX_BUTTONS - 1]
    more = Button(t(OFFICER_LOCALE, "btn.more"), f"c1:{OP_MORE}:{case.id}")
    return _rows([*shown, more])


def _rows(buttons: list[Button]) -> list[list[Button]]:
    return [buttons[i : i + CARD_ROW_WIDTH] for i in range(0, len(buttons), CARD_ROW_WIDTH)]


# Once the Sở has taken a case over, its ward may still write internal notes for the Sở
# on it (what it knows locally); every other action is the Sở's.
WARD_OPS_AFTER_TAKE_OVER = frozenset({"note"})


def ward_stands_aside(case: Case, link: GroupLink | None) -> bool:
    """Whether `link` is a ward group of an open case the Sở has taken over."""
    return (
        bool(case.province_owned)
        and link is not None
        and link.ward_code is not None
        and CaseStatus(case.status) in OPEN_STATUSES
    )


def _op(button: Button) -> str:
    """The operation of a card button ("c1:<op>:<id>...")."""
    parts = button.data.split(":")
    return parts[1] if len(parts) > 1 else ""


async def dispatch_new_case(turn: Turn, case: Case) -> None:
    """Send a new (or reassigned) case to its ward's groups, else to the province groups."""
    groups = await services.ward_groups(turn.session, case.ward_code)
    if not groups:  # the card says so itself (cards.card_extras: no_ward_group)
        groups = await services.ward_groups_of_province(turn.session, case.province_code)
    for group in groups:
        await send_card(turn, case, group, note=None)


async def send_card(turn: Turn, case: Case, group: GroupLink, note: str | None) -> None:
    session = turn.session
    evidence = await services.case_evidence(session, case.id or 0)
    rendered = await card_text(
        turn,
        case,
        note=note,
        evidence=evidence,
        audience=await audience_of(session, group, case),
    )
    log.info(
        "card queued for group",
        extra={"case": case.code, "chat": group.chat_id, "update": turn.event.update_id},
    )
    # In a forum supergroup the case gets its own topic (once per group): card, evidence,
    # pin and everything later "under the case" go there; it is closed with the case.
    in_topic = group.is_forum
    if in_topic and not await services.messages_of_case(
        session, case.id or 0, group.chat_id, "topic"
    ):
        await services.enqueue(
            session,
            group.channel,
            Outgoing(
                chat_id=group.chat_id,
                kind="topic",
                text=topic_name(case),
                case_id=case.id,
                track={"purpose": "topic"},
            ),
        )
    await services.enqueue(
        session,
        group.channel,
        Outgoing(
            chat_id=group.chat_id,
            text=rendered.html,
            html=True,
            buttons=card_buttons_for(case, group),
            case_id=case.id,
            track={"purpose": "card"},
            in_topic=in_topic,
        ),
    )
    await queue_card_more(turn, case, group.channel, group.chat_id, rendered)
    files = [{"path": e.path, "kind": e.kind} for e in evidence if not e.from_officer]
    if files:  # photos and videos as an album, other files one by one (see the transport)
        await services.enqueue(
            session,
            group.channel,
            Outgoing(
                chat_id=group.chat_id,
                kind="album",
                media=files,
                text=case.code,
                case_id=case.id,
                in_topic=in_topic,
            ),
        )
    if case.latitude is not None and case.longitude is not None:
        await services.enqueue(
            session,
            group.channel,
            Outgoing(
                chat_id=group.chat_id,
                kind="location",
                latitude=case.latitude,
                longitude=case.longitude,
                case_id=case.id,
                in_topic=in_topic,
            ),
        )


async def card_given_up(session: AsyncSession, row: Outbox) -> None:
    """A card (its full text, or an edit of it) that will never reach its group: log it as
    an error and tell the province groups, by case code only."""
    case = await services.get_case(session, row.case_id) if row.case_id is not None else None
    if case is None:
        return
    link = await services.link_of_chat(session, row.channel, row.chat_id)
    if link is not None and link.ward_code is not None:
        group = t(OFFICER_LOCALE, "officer.card_undeliverable_ward", ward=link.ward_code)
    else:
        group = t(OFFICER_LOCALE, "officer.card_undeliverable_province")
    provinces = await services.ward_groups_of_province(session, case.province_code)
    log.error(
        "card given up: it will not reach its group; %s province group(s) told",
        len(provinces),
        extra={"case": case.code, "chat": row.chat_id},
    )
    text = t(OFFICER_LOCALE, "officer.card_undeliverable", code=case.code, group=group)
    for province in provinces:
        await services.enqueue(
            session, province.channel, Outgoing(chat_id=province.chat_id, text=text)
        )


def topic_name(case: Case) -> str:
    """A case's forum topic title: its code and category (no personal data)."""
    return f"{case.code} · {t(OFFICER_LOCALE, f'category.{case.category}')}"


async def set_topics_closed(turn: Turn, case: Case, closed: bool) -> None:
    """Close (or reopen) the case's forum topics in every group that has one."""
    # Each group on its own channel (a reporter on Zalo may reopen a case: never theirs).
    for link in await services.links_with_card(turn.session, case):
        chat = link.chat_id
        if await services.messages_of_case(turn.session, case.id or 0, chat, "topic"):
            await services.enqueue(
                turn.session,
                link.channel,
                Outgoing(
                    chat_id=chat,
                    kind="topic_close" if closed else "topic_reopen",
                    case_id=case.id,
                ),
            )


async def card_text(
    turn: Turn,
    case: Case,
    note: str | None = None,
    evidence: list[Evidence] | None = None,
    *,
    audience: Audience | None = None,
) -> cards.CardText:
    """The case's card as one chat may see it (see `cards.render_card`)."""
    ward = turn.deps.gazetteer.ward(case.ward_code)
    return cards.render_card(
        case,
        ward_name=ward.name if ward else case.ward_code,
        evidence=(
            evidence
            if evidence is not None
            else await services.case_evidence(turn.session, case.id or 0)
        ),
        audience=audience,
        note=note,
        now=limits_for(turn.deps).now(),  # the core's clock: which deadlines are overdue
        **await cards.card_extras(turn.session, case, turn.deps.gazetteer),
    )


async def refresh_cards(
    turn: Turn,
    case: Case,
    *,
    buttons: list[list[Button]] | None = None,
    chat_id: str | None = None,
    note: str | None = None,
) -> None:
    """Queue an edit of the case's cards (in one chat, or every group that holds one).

    Each chat gets the card as its audience may see it (handlers/audience.py).
    """
    if chat_id:
        link_of = await services.link_of_chat(turn.session, turn.event.channel, chat_id)
        targets = [(chat_id, link_of)]
    else:
        targets = [(lk.chat_id, lk) for lk in await services.links_with_card(turn.session, case)]
    texts: dict[Audience, cards.CardText] = {}
    for chat, link in targets:
        audience = await audience_of(turn.session, link, case)
        if audience not in texts:
            texts[audience] = await card_text(turn, case, note=note, audience=audience)
        rendered = texts[audience]
        # The group's own channel, not the turn's (a reporter on Zalo, a system turn).
        channel = link.channel if link is not None else turn.event.channel
        await services.enqueue(
            turn.session,
            channel,
            Outgoing(
                chat_id=chat,
                kind="edit",
                edit_purpose="card",
                text=rendered.html,
                html=True,
                buttons=buttons if buttons is not None else card_buttons_for(case, link),
                case_id=case.id,
            ),
        )
        # Text that grew too long for the card (a long result, say) goes under it in full.
        await queue_card_more(turn, case, channel, chat, rendered)


async def queue_card_more(
    turn: Turn,
    case: Case,
    channel: str,
    chat_id: str,
    rendered: cards.CardText,
    *,
    again: bool = False,
) -> None:
    """Send in full, under the card, the text the card had to shorten, unless this chat
    has it already (`again`: send it anyway, as /case does with the card itself)."""
    if not rendered.sections:
        return
    have = (
        set()
        if again
        else await services.card_more_sections(turn.session, case.id or 0, channel, chat_id)
    )
    missing = [section for section in rendered.sections if section.key not in have]
    if not missing:
        return
    keys = [section.key for section in missing]
    for text in cards.more_messages(case.code, missing):
        await services.enqueue(
            turn.session,
            channel,
            Outgoing(
                chat_id=chat_id,
                text=text,
                case_id=case.id,
                track={"purpose": "card_more", "sections": keys},
                reply_to_card=True,
                in_topic=True,
            ),
        )


# A reporter's notices of progress, held for the next ones (bot/services/notices.py).
HELD_NOTICES = frozenset({"notify.acknowledged", "notify.verifying", "notify.taken"})


async def notify_reporter(
    turn: Turn,
    case: Case,
    key: str,
    *,
    media: list[dict[str, Any]] | None = None,
    reason_key: str | None = None,
    public_url: str | None = None,
    **params: Any,
) -> None:
    """Tell the reporter, and every reporter who joined the case (handlers/followup.py),
    each in their own language, through the outbox (with the case's public page, if any)."""

    for reporter in await reporters_of_case(turn, case):
        locale = reporter.language or "vi"
        texts = dict(params)
        if reason_key:
            texts["reason"] = t(locale, reason_key)
        text = t(locale, key, code=case.code, **texts)
        if public_url:
            text = f"{text}\n\n{t(locale, 'publication.result_link', url=public_url)}"
        # An officer's quick succession of actions reaches the reporter as one message:
        # progress is held a few seconds for what follows; anything else goes at once,
        # taking a held notice with it.
        await send_held(
            turn.session,
            reporter.channel,
            Outgoing(chat_id=reporter.chat_id, text=text, case_id=case.id),
            purpose="notice",
            hold_s=turn.deps.notice_hold_s if key in HELD_NOTICES else 0.0,
            join="append",
            priority=OutboxPriority.HELD,
        )
        if media:
            await services.enqueue(
                turn.session,
                reporter.channel,
                Outgoing(chat_id=reporter.chat_id, kind="album", media=media, case_id=case.id),
            )


async def notify_contact_kept(turn: Turn, case: Case, only: set[int] | None = None) -> None:
    """Tell each reporter of the case (or those in `only`) whose shared phone stays with
    another ward (after a reassignment, a merge or a join) that the case's ward does not
    get it, and how they can give it."""

    gazetteer = turn.deps.gazetteer
    for reporter in await reporters_of_case(turn, case):
        if only is not None and reporter.id not in only:
            continue
        sender = await sender_of(turn, case, reporter)
        if sender is None or not sender.contact_shared or sender.contact_ward == case.ward_code:
            continue
        given_to = gazetteer.ward(sender.contact_ward or "")
        now_at = gazetteer.ward(case.ward_code)
        await services.enqueue(
            turn.session,
            reporter.channel,
            Outgoing(
                chat_id=reporter.chat_id,
                text=t(
                    reporter.language or "vi",
                    "notify.contact_kept",
                    code=case.code,
                    ward=given_to.name if given_to else "?",
                    new_ward=now_at.name if now_at else case.ward_code,
                ),
                case_id=case.id,
            ),
        )


for _what in ("card", "card_more", "edit:card"):
    outbox.GIVE_UP_HOOKS[_what] = card_given_up


@dataclass(frozen=True)
class Sender:
    """A reporter of a case (its filer, or one who joined it) and their contact choice."""

    reporter: Reporter
    owner: bool
    contact_shared: bool
    contact_phone: str | None
    contact_ward: str | None = None  # the ward they gave the phone to (handlers/audience.py)


async def sender_of(turn: Turn, case: Case, reporter: Reporter) -> Sender | None:
    """The reporter as a reporter of `case`, or None when it is not their case."""
    if reporter.id is not None and case.reporter_id == reporter.id:
        return Sender(
            reporter,
            True,
            bool(case.contact_shared and case.contact_phone),
            case.contact_phone,
            case.contact_ward_code,
        )
    row = await services.case_reporter_row(turn.session, case.id or 0, reporter.id or 0)
    if row is None:
        return None
    return Sender(
        reporter,
        False,
        bool(row.contact_shared and row.contact_phone),
        row.contact_phone,
        row.contact_ward_code,
    )


def reporter_actor(case: Case, reporter: Reporter) -> str:
    """How a reporter appears in the log book: 'reporter' for the filer (as on the FILE
    line), 'reporter:<id>' for one who joined (an internal id, no personal data)."""
    return "reporter" if case.reporter_id == reporter.id else f"reporter:{reporter.id}"


async def followed_case(turn: Turn, case: Case) -> Case:
    """The case that carries on for `case`: the one it was merged into, if any."""
    if case.merged_into_id is None:
        return case
    target = await services.get_case(turn.session, case.merged_into_id)
    return target or case


def is_open(case: Case) -> bool:
    """Open and not merged into another case."""
    return CaseStatus(case.status) in OPEN_STATUSES and case.merged_into_id is None


async def case_groups(turn: Turn, case: Case) -> list[GroupLink]:
    """The groups that look after the case: its ward's (else the province's), plus any other
    group holding its card that may act on it (the province group of an escalated case)."""
    groups = await services.officer_groups_of_case(turn.session, case)
    seen = {(g.channel, g.chat_id) for g in groups}
    for link in await services.links_with_card(turn.session, case):
        if (link.channel, link.chat_id) not in seen:
            groups.append(link)
            seen.add((link.channel, link.chat_id))
    return groups


async def post_under_case(
    turn: Turn,
    case: Case,
    sender: Sender,
    headline_key: str,
    body: str = "",
    files: list[dict[str, Any]] | None = None,
    *,
    latitude: float | None = None,
    longitude: float | None = None,
) -> None:
    """Post what a reporter sent to the case's groups, under its card (plain text), each
    group reading it as its audience may (handlers/audience.py): the sender's phone only
    where they gave it, their words with phone numbers masked outside the case's ward."""
    for link in await case_groups(turn, case):
        audience = await audience_of(turn.session, link, case)
        who = audience.reporter(sender.contact_shared, sender.contact_phone, sender.contact_ward)
        head = t(OFFICER_LOCALE, headline_key, code=case.code, who=who)
        common: dict[str, Any] = {"case_id": case.id, "reply_to_card": True, "in_topic": True}
        for text in cards.split_text(head, audience.text(body), case.code):
            await services.enqueue(
                turn.session, link.channel, Outgoing(chat_id=link.chat_id, text=text, **common)
            )
        if files:
            await services.enqueue(
                turn.session,
                link.channel,
                Outgoing(
                    chat_id=link.chat_id, kind="album", media=files, text=case.code, **common
                ),
            )
        if latitude is not None and longitude is not None:
            await services.enqueue(
                turn.session,
                link.channel,
                Outgoing(
                    chat_id=link.chat_id,
                    kind="location",
                    latitude=latitude,
                    longitude=longitude,
                    **common,
                ),
            )


def turn_files_note(evidence: list[dict[str, Any]]) -> str:
    """A log-book mention of the files that came with a piece: '[2 ảnh, 1 tài liệu]'."""
    if not evidence:
        return ""
    counts: dict[str, int] = {}
    for item in evidence:
        counts[item["kind"]] = counts.get(item["kind"], 0) + 1
    return "[" + ", ".join(files_label(kind, n) for kind, n in sorted(counts.items())) + "]"


def files_label(kind: str, n: int) -> str:
    """'2 ảnh', '1 tài liệu': a count of files of one kind, in the officers' language."""
    if kind in {k.value for k in EvidenceKind}:
        return t(OFFICER_LOCALE, f"evidence.{kind}", n=n)
    return f"{n} {kind}"


async def reporters_of_case(turn: Turn, case: Case) -> list[Reporter]:
    """The case's filer and every reporter who joined it (or came with a merged case)."""
    reporters: list[Reporter] = []
    owner = await turn.session.get(Reporter, case.reporter_id)
    if owner is not None:
        reporters.append(owner)
    for row in await services.case_reporter_rows(turn.session, case.id or 0):
        joined = await turn.session.get(Reporter, row.reporter_id)
        if joined is not None and joined.id != case.reporter_id:
            reporters.append(joined)
    return reporters
