"""The officers' side: linking groups, case cards, and acting on cases from the chat."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import outbox, services
from bot.geo import fold
from bot.i18n import t
from bot.media import FileTooLarge
from handlers import cards
from handlers.audience import Audience, audience_of
from handlers.context import OFFICER_LOCALE, Turn, local_time
from handlers.events import Button, Outgoing
from handlers.limits import limits_for
from models.enums import CaseAction, CaseStatus, RejectReason
from models.tables import Case, Evidence, GroupLink, MessageRef, Outbox
from models.transitions import IllegalTransition
from models.types import utcnow

log = logging.getLogger(__name__)

CALLBACK_RE = re.compile(r"^c1:([a-z]{2,5}):([0-9]{1,12})(?::([a-z_0-9]{1,24}))?$")
OP_PICK_WARD = "rsw"  # on the list of wards offered for a reassignment, not on a card
CORE_OPS = frozenset({"ack", "vfy", "cls", "rej", "rjr", "back", "rsg", OP_PICK_WARD})

# ---------------------------------------------------------------- extension points
# Officer tools in other modules register their buttons, group commands and reply prompts
# here (imported by handlers/core.py). Every handler runs after the permission check: the
# group is linked and, for buttons and prompts, may act on the case.

ButtonHandler = Callable[["Turn", GroupLink, Case, str | None], Awaitable[None]]
CommandHandler = Callable[["Turn", GroupLink], Awaitable[None]]
PromptHandler = Callable[["Turn", GroupLink, Case, MessageRef, str], Awaitable[None]]


H = TypeVar("H")


@dataclass(frozen=True)
class _Registered(Generic[H]):  # noqa: UP046  (the project supports Python 3.11)
    handler: H
    on_closed: bool  # also allowed on a resolved or rejected case


BUTTONS: dict[str, _Registered[ButtonHandler]] = {}
COMMANDS: dict[str, CommandHandler] = {}
PROMPTS: dict[str, _Registered[PromptHandler]] = {}


def button_op(op: str, *, on_closed: bool = False) -> Callable[[ButtonHandler], ButtonHandler]:
    """Register the handler of `c1:<op>:<case id>[:arg]` buttons on cards."""
    assert op not in CORE_OPS and op not in BUTTONS, op

    def register(handler: ButtonHandler) -> ButtonHandler:
        BUTTONS[op] = _Registered(handler, on_closed)
        return handler

    return register


def group_command(name: str) -> Callable[[CommandHandler], CommandHandler]:
    """Register a /command for linked officer and province groups."""
    assert name not in COMMANDS and name not in ("link", "help", "start"), name

    def register(handler: CommandHandler) -> CommandHandler:
        COMMANDS[name] = handler
        return handler

    return register


def prompt_action(
    action: str, *, on_closed: bool = False
) -> Callable[[PromptHandler], PromptHandler]:
    """Register what a reply to a ForceReply prompt (`ask_for_text(action=...)`) does."""
    assert action not in ("resolve", "reject", "reassign") and action not in PROMPTS, action

    def register(handler: PromptHandler) -> PromptHandler:
        PROMPTS[action] = _Registered(handler, on_closed)
        return handler

    return register


# Card buttons that depend on the chat as well as the case (e.g. the province's take-over
# and send-back on an escalated case): each provider gets the case and the chat's link. Cards
# are sent and redrawn per chat (`_send_card`, `refresh_cards`), so these rows stay put.
ChatRowsProvider = Callable[[Case, GroupLink | None], list[list[Button]]]
CHAT_ROWS: list[ChatRowsProvider] = []


def card_buttons_for(case: Case, link: GroupLink | None) -> list[list[Button]]:
    """The card's buttons in one chat: `cards.card_buttons(case)`, then the per-chat rows."""
    rows = cards.card_buttons(case)
    if case.merged_into_id is not None:
        return rows  # a merged case is handled under the case it joined: no buttons
    for provider in CHAT_ROWS:
        rows.extend(provider(case, link))
    return rows


RESULT_MIN = 2
RESULT_MAX = 3000


def actor_of(turn: Turn) -> str:
    """How an officer appears in the log book: channel, user id and display name."""
    ev = turn.event
    name = (ev.user_name or "").strip()[:80] or "?"
    return f"{ev.channel}:{ev.user_id} {name}"


# ---------------------------------------------------------------- new cases


async def dispatch_new_case(turn: Turn, case: Case, *, note: str | None = None) -> None:
    """Send a new (or reassigned) case to its ward's groups, else to the province groups."""
    groups = await services.ward_groups(turn.session, case.ward_code)
    if not groups:
        groups = await services.ward_groups_of_province(turn.session, case.province_code)
        note = " ".join(filter(None, [note, t(OFFICER_LOCALE, "card.no_ward_group")]))
    for group in groups:
        await _send_card(turn, case, group, note=note)


async def _send_card(turn: Turn, case: Case, group: GroupLink, note: str | None) -> None:
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


for _what in ("card", "card_more", "edit:card"):
    outbox.GIVE_UP_HOOKS[_what] = card_given_up


def topic_name(case: Case) -> str:
    """A case's forum topic title: its code and category (no personal data)."""
    return f"{case.code} · {t(OFFICER_LOCALE, f'category.{case.category}')}"


async def set_topics_closed(turn: Turn, case: Case, closed: bool) -> None:
    """Close (or reopen) the case's forum topics in every group that has one."""
    for chat in await services.chats_with_card(turn.session, case):
        if await services.messages_of_case(turn.session, case.id or 0, chat, "topic"):
            await services.enqueue(
                turn.session,
                turn.event.channel,
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
        **await cards.card_extras(turn.session, case),  # joined reporters, merged into
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
        await services.enqueue(
            turn.session,
            turn.event.channel,
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
        await queue_card_more(turn, case, turn.event.channel, chat, rendered)


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


# ---------------------------------------------------------------- group events


async def handle_group(turn: Turn) -> None:
    """Handle one event from a group chat."""
    ev = turn.event
    turn.locale = OFFICER_LOCALE
    if ev.kind == "bot_removed":
        await services.unlink_chat(turn.session, ev.channel, ev.chat_id)
        return
    if ev.kind == "command" and ev.command == "link":
        await _on_link(turn)
        return
    link = await services.link_of_chat(turn.session, ev.channel, ev.chat_id)
    if link is not None and ev.kind != "button" and link.is_forum != ev.chat_is_forum:
        link.is_forum = ev.chat_is_forum  # the group was turned into a forum, or back
    if link is None:
        # Not an officer group: say nothing that would reveal the hotline's cases.
        if ev.kind == "button":
            turn.answer("officer.not_allowed", alert=True)
        return
    if ev.kind == "button":
        await _on_button(turn, link)
    elif ev.kind == "command" and ev.command in ("help", "start"):
        await turn.send("officer.help")
    elif ev.kind == "command" and ev.command in COMMANDS:
        await COMMANDS[ev.command](turn, link)
    elif ev.reply_to_message_id is not None:
        await _on_reply(turn, link)


async def _on_link(turn: Turn) -> None:
    ev = turn.event
    code = (ev.text or "").strip()
    if not code:
        await turn.send("officer.link_usage")
        return
    # Guessing is slowed down per chat: after too many wrong codes within the window, the
    # chat is refused for a while without the code being looked at, so that even the right
    # code does not tell a guesser anything. Every attempt is recorded; refused ones count
    # as wrong, so a script that keeps trying stays locked out.
    session, now = turn.session, utcnow()
    window = timedelta(minutes=turn.deps.link_failure_window_min)

    async def locked_until() -> datetime | None:
        return await services.link_locked_until(
            session,
            ev.channel,
            ev.chat_id,
            max_failures=turn.deps.link_max_failures,
            window=window,
            now=now,
        )

    link = None
    if await locked_until() is None:
        link = await services.redeem_link_code(
            session, code, channel=ev.channel, chat_id=ev.chat_id, actor=actor_of(turn), now=now
        )
    if link is not None:
        link.is_forum = ev.chat_is_forum
    await services.record_link_attempt(
        session, ev.channel, ev.chat_id, ok=link is not None, now=now
    )
    if link is None:
        until = await locked_until()
        if until is None:
            await turn.send("officer.link_invalid")
        else:
            log.warning("link attempts throttled", extra={"chat": ev.chat_id})
            await turn.send(
                "officer.link_locked",
                time=local_time(until),
                minutes=max(1, math.ceil((until - now).total_seconds() / 60)),
            )
        return
    log.info("group linked", extra={"chat": ev.chat_id, "update": ev.update_id})
    if link.ward_code is None:
        await turn.send("officer.linked_province", province=turn.deps.gazetteer.province_name)
    else:
        ward = turn.deps.gazetteer.ward(link.ward_code)
        await turn.send(
            "officer.linked_ward",
            ward=ward.name if ward else link.ward_code,
            province=turn.deps.gazetteer.province_name,
        )


async def load_case_for(turn: Turn, link: GroupLink, case_id: int) -> Case | None:
    case = await services.get_case(turn.session, case_id)
    if case is None or not services.can_act_on(link, case):
        turn.answer("officer.not_allowed", alert=True)
        return None
    await _remember_pressed_card(turn, case)
    if case.merged_into_id is not None:
        # A press on a merged card whose edit has not arrived yet: it acts on nothing.
        turn.answer("officer.stale_button", alert=True)
        await refresh_cards(turn, case, chat_id=turn.event.chat_id)
        return None
    return case


async def _remember_pressed_card(turn: Turn, case: Case) -> None:
    """A press on a copy of the case's card that we did not know of makes it known, so that
    it is redrawn with the others from now on: a copy sent again after a crash, whose id
    Telegram's lost answer never told us (see services.suspect_card_copies)."""
    ev = turn.event
    op = (ev.button_data or "").split(":")[1:2]
    if ev.message_id is None or op == [OP_PICK_WARD]:  # the ward list is not a card
        return
    refs = await services.messages_of_case(turn.session, case.id or 0, ev.chat_id, "card")
    if any(ref.message_id == ev.message_id and ref.channel == ev.channel for ref in refs):
        return
    await services.remember_message(
        turn.session, ev.channel, ev.chat_id, ev.message_id, case.id or 0, "card"
    )


async def _on_button(turn: Turn, link: GroupLink) -> None:
    match = CALLBACK_RE.match(turn.event.button_data or "")
    if match is None:
        turn.answer("officer.stale_button", alert=True)
        return
    op, raw_id, arg = match.group(1), int(match.group(2)), match.group(3)
    if op not in CORE_OPS and op not in BUTTONS:
        turn.answer("officer.stale_button", alert=True)
        return
    case = await load_case_for(turn, link, raw_id)
    if case is None:
        return
    closed = CaseStatus(case.status) in (CaseStatus.RESOLVED, CaseStatus.REJECTED)
    if op in BUTTONS and (BUTTONS[op].on_closed or not closed):
        try:
            await BUTTONS[op].handler(turn, link, case, arg)
        except IllegalTransition:
            turn.answer("officer.illegal", alert=True, status=turn.text(f"status.{case.status}"))
            await refresh_cards(turn, case, chat_id=turn.event.chat_id)  # a stale copy
        return
    if closed:
        turn.answer(
            "officer.already_closed", alert=True, status=turn.text(f"status.{case.status}")
        )
        await refresh_cards(turn, case, chat_id=turn.event.chat_id)
        return
    try:
        if op == "ack":
            await _transition(turn, case, CaseAction.ACKNOWLEDGE)
        elif op == "vfy":
            await _transition(turn, case, CaseAction.VERIFY)
        elif op == "cls":
            await ask_for_text(turn, case, "resolve", "officer.prompt_result")
        elif op == "rej":
            turn.answer("officer.choose_reason")
            await refresh_cards(
                turn, case, buttons=cards.reject_reason_buttons(case), chat_id=turn.event.chat_id
            )
        elif op == "rjr" and arg in {r.value for r in RejectReason}:
            await ask_for_text(turn, case, "reject", "officer.prompt_reject", reason=arg)
        elif op == "back":
            turn.answer("officer.ok")
            await refresh_cards(turn, case, chat_id=turn.event.chat_id)
        elif op == "rsg":
            await ask_for_text(turn, case, "reassign", "officer.prompt_reassign")
        elif op == OP_PICK_WARD and arg and turn.deps.gazetteer.ward(arg):
            await _reassign(turn, case, arg)
        else:
            turn.answer("officer.stale_button", alert=True)
    except IllegalTransition:
        turn.answer("officer.illegal", alert=True, status=turn.text(f"status.{case.status}"))
        await refresh_cards(turn, case, chat_id=turn.event.chat_id)  # a stale copy was pressed


def log_action(turn: Turn, case: Case, action: CaseAction) -> None:
    """Log an officer action by ids only: no officer name, no text they typed."""
    log.info(
        "case %s: now %s",
        action.value,
        case.status,
        extra={"case": case.code, "chat": turn.event.chat_id, "update": turn.event.update_id},
    )


async def _transition(turn: Turn, case: Case, action: CaseAction) -> None:
    """Apply a one-press action, update the cards, and tell the reporter."""
    await services.apply_action(turn.session, case, action, actor=actor_of(turn))
    log_action(turn, case, action)
    turn.answer("officer.done", status=turn.text(f"status.{case.status}"))
    await refresh_cards(turn, case)
    if action == CaseAction.ACKNOWLEDGE:
        await notify_reporter(turn, case, "notify.acknowledged")
    elif action == CaseAction.VERIFY:
        await notify_reporter(turn, case, "notify.verifying")


async def ask_for_text(turn: Turn, case: Case, action: str, key: str, **extra: Any) -> None:
    """Ask the officer for the text with a ForceReply prompt (groups run in privacy mode)."""
    turn.answer("officer.reply_needed")
    reason = extra.get("reason")
    await services.enqueue(
        turn.session,
        turn.event.channel,
        Outgoing(
            chat_id=turn.event.chat_id,
            text=t(
                OFFICER_LOCALE,
                key,
                code=case.code,
                reason=t(OFFICER_LOCALE, f"reject.{reason}") if reason else "",
            ),
            force_reply=True,
            case_id=case.id,
            track={"purpose": "prompt", "action": action, **extra},
            in_topic=True,  # in a forum group, the prompt goes into the case's topic
        ),
    )


async def _on_reply(turn: Turn, link: GroupLink) -> None:
    ev = turn.event
    ref = await services.find_message(
        turn.session, ev.channel, ev.chat_id, ev.reply_to_message_id or 0
    )
    if ref is None and ev.reply_to_bot and ev.reply_to_text:
        # A quick officer can answer a prompt before the sender has recorded its id; the
        # prompt is then found among the ones sent to this chat, by its text.
        ref = await services.prompt_sent_with_text(
            turn.session, ev.channel, ev.chat_id, ev.reply_to_text, ev.reply_to_message_id or 0
        )
    if ref is None or ref.purpose != "prompt":
        return  # an ordinary reply between officers
    case = await services.get_case(turn.session, ref.case_id)
    if case is None or not services.can_act_on(link, case):
        await turn.send("officer.not_allowed")
        return
    action = ref.extra.get("action")
    text = (ev.text or "").strip()
    closed = CaseStatus(case.status) in (CaseStatus.RESOLVED, CaseStatus.REJECTED)
    registered = PROMPTS.get(str(action))
    if closed and not (registered and registered.on_closed):
        await turn.send("officer.already_closed", status=turn.text(f"status.{case.status}"))
        return
    if registered is not None:
        try:
            await registered.handler(turn, link, case, ref, text)
        except IllegalTransition:
            await turn.send("officer.illegal", status=turn.text(f"status.{case.status}"))
        return
    if action == "reassign":
        await _on_reassign_reply(turn, case, text)
        return
    if len(text) < RESULT_MIN or len(text) > RESULT_MAX:
        await turn.send("officer.result_length", min=RESULT_MIN, max=RESULT_MAX)
        await ask_for_text(
            turn,
            case,
            str(action),
            "officer.prompt_result" if action == "resolve" else "officer.prompt_reject",
            **{k: v for k, v in ref.extra.items() if k not in ("action", "purpose")},
        )
        return
    photos = await store_officer_files(turn, case)
    try:
        if action == "resolve":
            case.result_text = text
            await services.apply_action(
                turn.session, case, CaseAction.RESOLVE, actor=actor_of(turn), note=text
            )
            log_action(turn, case, CaseAction.RESOLVE)
            await refresh_cards(turn, case)
            await turn.send("officer.closed_ok", code=case.code)
            await set_topics_closed(turn, case, True)
            await notify_reporter(turn, case, "notify.resolved", result=text, media=photos)
            from handlers.followup import ask_satisfaction

            await ask_satisfaction(turn, case)  # "is it solved?" to every reporter of the case
        elif action == "reject":
            reason = str(ref.extra.get("reason") or RejectReason.NOT_POLLUTION.value)
            case.reject_reason = reason
            case.result_text = text
            await services.apply_action(
                turn.session,
                case,
                CaseAction.REJECT,
                actor=actor_of(turn),
                note=f"{reason}: {text}",
            )
            log_action(turn, case, CaseAction.REJECT)
            await refresh_cards(turn, case)
            await turn.send("officer.rejected_ok", code=case.code)
            await set_topics_closed(turn, case, True)
            await notify_reporter(
                turn, case, "notify.rejected", result=text, reason_key=f"reject.{reason}"
            )
    except IllegalTransition:
        await turn.send("officer.illegal", status=turn.text(f"status.{case.status}"))


async def store_officer_files(turn: Turn, case: Case) -> list[dict[str, Any]]:
    stored: list[dict[str, Any]] = []
    for ref in turn.event.files:
        try:
            item = await turn.deps.media.store(turn.fetcher, ref)
        except FileTooLarge:
            await turn.send("officer.file_too_large", max_mb=turn.deps.max_file_mb)
            continue
        await services.add_evidence(
            turn.session, case.id or 0, item.as_record(), from_officer=True
        )
        stored.append({"path": item.path, "kind": item.kind})
    return stored


async def _on_reassign_reply(turn: Turn, case: Case, text: str) -> None:
    gaz = turn.deps.gazetteer
    matches = gaz.find_wards_by_name(text[:100]) if text else []
    if not matches:
        await turn.send("officer.ward_not_found", name=text[:100], province=gaz.province_name)
        await ask_for_text(turn, case, "reassign", "officer.prompt_reassign")
        return
    exact = [w for w in matches if _ward_key(w.name) == _ward_key(text)]
    if len(matches) == 1 or len(exact) == 1:
        await _reassign(turn, case, (exact or matches)[0].code)
        return
    rows = [[Button(w.name, f"c1:{OP_PICK_WARD}:{case.id}:{w.code}")] for w in matches[:5]]
    await services.enqueue(
        turn.session,
        turn.event.channel,
        Outgoing(
            chat_id=turn.event.chat_id,
            text=t(OFFICER_LOCALE, "officer.pick_ward", code=case.code),
            buttons=rows,
            case_id=case.id,
        ),
    )


def _ward_key(name: str) -> str:
    """A ward name without case, accents or type prefix, to spot an exact match."""
    folded = fold(name)
    for prefix in ("phuong ", "xa ", "dac khu "):
        folded = folded.removeprefix(prefix)
    return folded


async def _reassign(turn: Turn, case: Case, ward_code: str) -> None:
    if ward_code == case.ward_code:
        turn.answer("officer.same_ward")
        await turn.send("officer.same_ward")
        return
    old_ward = turn.deps.gazetteer.ward(case.ward_code)
    new_ward = turn.deps.gazetteer.ward(ward_code)
    assert new_ward is not None
    old_chats = await services.chats_with_card(turn.session, case)
    await services.apply_action(
        turn.session,
        case,
        CaseAction.REASSIGN,
        actor=actor_of(turn),
        note=f"{case.ward_code} -> {ward_code}",
    )
    case.ward_code = ward_code
    # The new ward starts afresh: nobody there has taken it on, nor sent it up to the Sở.
    case.assignee = None
    case.escalated_at, case.escalation_reason, case.province_owned = None, None, False
    turn.deps.deadlines.start(case, limits_for(turn.deps).now())  # from the reassignment
    log_action(turn, case, CaseAction.REASSIGN)
    turn.answer("officer.ok")
    note = t(
        OFFICER_LOCALE,
        "card.reassigned_to",
        ward=new_ward.name,
    )
    for chat in old_chats:
        await refresh_cards(turn, case, buttons=[], chat_id=chat, note=note)
    await turn.send("officer.reassigned_ok", code=case.code, ward=new_ward.name)
    await dispatch_new_case(
        turn,
        case,
        note=t(
            OFFICER_LOCALE,
            "card.reassigned_from",
            ward=old_ward.name if old_ward else "?",
        ),
    )
    await notify_reporter(turn, case, "notify.reassigned", ward=new_ward.name)
    await notify_contact_kept(turn, case)


# ---------------------------------------------------------------- the reporter hears back


async def notify_reporter(
    turn: Turn,
    case: Case,
    key: str,
    *,
    media: list[dict[str, Any]] | None = None,
    reason_key: str | None = None,
    **params: Any,
) -> None:
    """Tell the reporter, and every reporter who joined the case (handlers/followup.py),
    each in their own language, through the outbox."""
    from handlers.followup import reporters_of_case

    for reporter in await reporters_of_case(turn, case):
        locale = reporter.language or "vi"
        texts = dict(params)
        if reason_key:
            texts["reason"] = t(locale, reason_key)
        text = t(locale, key, code=case.code, **texts)
        await services.enqueue(
            turn.session,
            reporter.channel,
            Outgoing(chat_id=reporter.chat_id, text=text, case_id=case.id),
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
    from handlers.followup import reporters_of_case, sender_of

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
