"""The officers' side: linking groups, case cards, and acting on cases from the chat."""

from __future__ import annotations

import html
import logging
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from bot import services
from bot.geo import fold
from bot.i18n import t
from bot.media import FileTooLarge
from handlers import cards
from handlers.case_chats import (
    OP_MORE,
    WARD_OPS_AFTER_TAKE_OVER,
    dispatch_new_case,
    more_buttons_for,
    notify_contact_kept,
    notify_reporter,
    refresh_cards,
    set_topics_closed,
    ward_stands_aside,
)
from handlers.context import OFFICER_LOCALE, Turn, local_time
from handlers.events import Button, Outgoing
from handlers.followup import ask_satisfaction
from handlers.limits import limits_for
from models.enums import CaseAction, CaseStatus, RejectReason
from models.tables import Case, GroupLink, MessageRef
from models.transitions import IllegalTransition
from models.types import utcnow

log = logging.getLogger(__name__)

CALLBACK_RE = re.compile(r"^c1:([a-z]{2,5}):([0-9]{1,12})(?::([a-z_0-9]{1,24}))?$")
OP_PICK_WARD = "rsw"  # on the list of wards offered for a reassignment, not on a card
CORE_OPS = frozenset(
    {"ack", "vfy", "cls", "rej", "rjr", "back", "rsg", OP_PICK_WARD}
    | {"rok", "redit", "rfix"}  # the result's confirm step and correction (OP_*_RESULT)
    | {"rund"}  # undo a reassignment (OP_UNDO_REASSIGN)
    | {OP_MORE}  # «Thêm…»: the card's other actions
)

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
    assert action not in ("resolve", "reject", "reassign", "correct"), action
    assert action not in PROMPTS, action

    def register(handler: PromptHandler) -> PromptHandler:
        PROMPTS[action] = _Registered(handler, on_closed)
        return handler

    return register


# A result or a rejection note is what the reporter reads as the answer to their report:
# "xong" or "ok" is not one. At least this many characters and words.
RESULT_MIN = 12
RESULT_MIN_WORDS = 4
RESULT_MAX = 3000
OP_SEND_RESULT, OP_EDIT_RESULT, OP_FIX_RESULT = "rok", "redit", "rfix"
OP_UNDO_REASSIGN = "rund"
PREVIEW = "result_preview"  # the tracked purpose of the "what the reporter will read" message
PREVIEW_DONE = "pvx:"  # + the message id: one spent preview, edited once (MessageRef purpose)
# Buttons on messages that are not cards (the ward list, the result's preview and the
# "closed" notice): a press on them must not make the message a card.
NOT_ON_CARDS = frozenset(
    {OP_PICK_WARD, OP_SEND_RESULT, OP_EDIT_RESULT, OP_FIX_RESULT, OP_UNDO_REASSIGN}
)


def actor_of(turn: Turn) -> str:
    """How an officer appears in the log book: channel, user id and display name."""
    ev = turn.event
    name = (ev.user_name or "").strip()[:80] or "?"
    return f"{ev.channel}:{ev.user_id} {name}"


# ---------------------------------------------------------------- new cases


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
        await turn.send(group_help_text(), raw=True)
    elif ev.kind == "command" and ev.command in COMMANDS:
        await COMMANDS[ev.command](turn, link)
    elif ev.reply_to_message_id is not None:
        await _on_reply(turn, link)


def group_help_text() -> str:
    """The officers' /help: their work on cards, then what is published and how to stop it."""
    return f"{t(OFFICER_LOCALE, 'officer.help')}\n\n{t(OFFICER_LOCALE, 'publication.help')}"


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
    if ev.message_id is None or (op and op[0] in NOT_ON_CARDS):
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
    if op == OP_UNDO_REASSIGN:
        await _undo_reassign(turn, link, raw_id, arg or "")
        return
    case = await load_case_for(turn, link, raw_id)
    if case is None:
        return
    if ward_stands_aside(case, link) and op not in WARD_OPS_AFTER_TAKE_OVER:
        turn.answer("officer.province_owns", alert=True)
        await refresh_cards(turn, case, chat_id=turn.event.chat_id)  # a copy from before
        return
    closed = CaseStatus(case.status) in (CaseStatus.RESOLVED, CaseStatus.REJECTED)
    if op == OP_FIX_RESULT:
        await _on_result_button(turn, case, op)
        return
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
        elif op == OP_MORE:  # the card's other actions, in this chat only
            await refresh_cards(
                turn, case, buttons=more_buttons_for(case, link), chat_id=turn.event.chat_id
            )
        elif op == "rsg":
            await ask_for_text(turn, case, "reassign", "officer.prompt_reassign")
        elif op in (OP_SEND_RESULT, OP_EDIT_RESULT):
            await _on_result_button(turn, case, op)
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
    """Ask the officer for the text with a ForceReply prompt (groups run in privacy mode).

    The prompt names the officer who pressed and is selective: only they get the reply box,
    not every member of the group."""
    turn.answer("officer.reply_needed")
    reason = extra.get("reason")
    prompt = t(
        OFFICER_LOCALE,
        key,
        code=case.code,
        reason=t(OFFICER_LOCALE, f"reject.{reason}") if reason else "",
    )
    ev = turn.event
    name = (ev.user_name or "").strip()[:80] or t(OFFICER_LOCALE, "officer.you")
    plain = t(OFFICER_LOCALE, "officer.prompt_to", name=name, prompt=prompt)
    mention = f'<a href="tg://user?id={html.escape(ev.user_id)}">{html.escape(name)}</a>'
    shown = t(OFFICER_LOCALE, "officer.prompt_to", name=mention, prompt=html.escape(prompt))
    telegram = ev.channel == "telegram"  # a mention is Telegram's markup; others get text
    await services.enqueue(
        turn.session,
        ev.channel,
        Outgoing(
            chat_id=ev.chat_id,
            text=shown if telegram else plain,
            html=telegram,
            force_reply=True,
            selective=True,
            case_id=case.id,
            track={"purpose": "prompt", "action": action, "plain": plain, **extra},
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
    if closed and not (registered and registered.on_closed) and action != "correct":
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
    if action == "correct":
        await _on_correction_reply(turn, case, text)
        return
    if not _meaningful(text):
        await turn.send(
            "officer.result_too_short", min=RESULT_MIN, words=RESULT_MIN_WORDS, max=RESULT_MAX
        )
        await ask_for_text(
            turn,
            case,
            str(action),
            "officer.prompt_result" if action == "resolve" else "officer.prompt_reject",
            **{k: v for k, v in ref.extra.items() if k not in ("action", "purpose", "plain")},
        )
        return
    photos = await store_officer_files(turn, case)
    reason = str(ref.extra.get("reason") or RejectReason.NOT_POLLUTION.value)
    await _send_preview(turn, case, str(action), text, reason, photos)


def _meaningful(text: str) -> bool:
    """Long enough to be a result a citizen can read as one (not "xong", "ok")."""
    return RESULT_MIN <= len(text) <= RESULT_MAX and len(text.split()) >= RESULT_MIN_WORDS


def _reporter_text(turn: Turn, case: Case, action: str, text: str, reason: str) -> str:
    """What the reporter reads, in Vietnamese: the same catalogue text notify_reporter sends."""
    if action == "resolve":
        return t("vi", "notify.resolved", code=case.code, result=text)
    return t(
        "vi", "notify.rejected", code=case.code, result=text, reason=t("vi", f"reject.{reason}")
    )


async def _send_preview(
    turn: Turn, case: Case, action: str, text: str, reason: str, photos: list[dict[str, Any]]
) -> None:
    """The confirm step: exactly what the reporter will read, with «Gửi» and «Sửa»."""
    shown = _reporter_text(turn, case, action, text, reason)
    parts = [t(OFFICER_LOCALE, "officer.result_preview", code=case.code, text=shown)]
    if photos:
        parts.append(t(OFFICER_LOCALE, "officer.result_preview_photos", n=len(photos)))
    if case.result_public:
        parts.append(t(OFFICER_LOCALE, "publication.notice"))
    cid = case.id
    await services.enqueue(
        turn.session,
        turn.event.channel,
        Outgoing(
            chat_id=turn.event.chat_id,
            text="\n\n".join(parts),
            buttons=[
                [
                    Button(t(OFFICER_LOCALE, "btn.result_send"), f"c1:{OP_SEND_RESULT}:{cid}"),
                    Button(t(OFFICER_LOCALE, "btn.result_edit"), f"c1:{OP_EDIT_RESULT}:{cid}"),
                ]
            ],
            case_id=cid,
            track={
                "purpose": PREVIEW,
                "action": action,
                "text": text,
                "reason": reason,
                "photos": photos,
            },
            in_topic=True,
        ),
    )


async def _on_result_button(turn: Turn, case: Case, op: str) -> None:
    """«Gửi» sends the previewed result; «Sửa» asks for it again; «Sửa kết quả» (within the
    correction window after sending) asks for a correction."""
    ev = turn.event
    if op == OP_FIX_RESULT:
        await _on_fix_pressed(turn, case)
        return
    draft = await services.latest_tracked(
        turn.session, ev.channel, ev.chat_id, case.id or 0, PREVIEW
    )
    if draft is None:
        turn.answer("officer.stale_button", alert=True)
        return
    action, reason = str(draft["action"]), str(draft.get("reason") or "")
    shown = _reporter_text(turn, case, action, str(draft["text"]), reason)
    if op == OP_EDIT_RESULT:
        await _settle_preview(turn, case, "officer.result_preview_dropped", shown)
        key = "officer.prompt_result" if action == "resolve" else "officer.prompt_reject"
        extra = {"reason": reason} if action == "reject" else {}
        await ask_for_text(turn, case, action, key, **extra)
        return
    await _settle_preview(turn, case, "officer.result_preview_sent", shown)
    await _apply_result(turn, case, action, str(draft["text"]), reason, draft.get("photos") or [])


async def _settle_preview(turn: Turn, case: Case, key: str, shown: str) -> None:
    """The pressed preview loses its «Gửi»/«Sửa» buttons and says what became of it (sent,
    or dropped for a new text), so nobody presses a spent preview later. Only that message
    is edited: the chat may hold other previews of the case, with other texts."""
    ev = turn.event
    if ev.message_id is None:
        return
    purpose = f"{PREVIEW_DONE}{ev.message_id}"
    await services.remember_message(
        turn.session, ev.channel, ev.chat_id, ev.message_id, case.id or 0, purpose
    )
    await services.enqueue(
        turn.session,
        ev.channel,
        Outgoing(
            chat_id=ev.chat_id,
            kind="edit",
            edit_purpose=purpose,
            text=t(
                OFFICER_LOCALE,
                key,
                code=case.code,
                at=local_time(limits_for(turn.deps).now()),
                text=shown,
            ),
            buttons=[],
            case_id=case.id,
        ),
    )


async def _apply_result(
    turn: Turn, case: Case, action: str, text: str, reason: str, photos: list[dict[str, Any]]
) -> None:
    """Close the case with the confirmed result and tell its reporters."""
    now = limits_for(turn.deps).now()  # the core's clock: the correction window runs from it
    fix = [
        [
            Button(
                t(
                    OFFICER_LOCALE,
                    "btn.result_fix",
                    minutes=turn.deps.result_correction_minutes,
                ),
                f"c1:{OP_FIX_RESULT}:{case.id}",
            )
        ]
    ]
    if action == "resolve":
        case.result_text = text
        await services.apply_action(
            turn.session, case, CaseAction.RESOLVE, actor=actor_of(turn), note=text, now=now
        )
        log_action(turn, case, CaseAction.RESOLVE)
        turn.answer("officer.result_sent")
        await refresh_cards(turn, case)
        await turn.send("officer.closed_ok", code=case.code, buttons=fix)
        await set_topics_closed(turn, case, True)
        await notify_reporter(
            turn,
            case,
            "notify.resolved",
            result=text,
            media=photos,
            public_url=_public_url(turn, case),
        )
        await ask_satisfaction(turn, case)  # "is it solved?" to every reporter of the case
        return
    case.reject_reason = reason
    case.result_text = text
    await services.apply_action(
        turn.session,
        case,
        CaseAction.REJECT,
        actor=actor_of(turn),
        note=f"{reason}: {text}",
        now=now,
    )
    log_action(turn, case, CaseAction.REJECT)
    turn.answer("officer.result_sent")
    await refresh_cards(turn, case)
    await turn.send("officer.rejected_ok", code=case.code, buttons=fix)
    await set_topics_closed(turn, case, True)
    await notify_reporter(
        turn, case, "notify.rejected", result=text, reason_key=f"reject.{reason}"
    )


def _public_url(turn: Turn, case: Case) -> str | None:
    """The public page of a resolved case for its reporters, when the site is set up
    (HOTLINE_PUBLIC_URL) and the result is public; None otherwise."""
    if turn.deps.case_url is None or not case.result_public:
        return None
    return turn.deps.case_url(case.code)


async def _on_fix_pressed(turn: Turn, case: Case) -> None:
    closed_at = case.closed_at
    window = timedelta(minutes=turn.deps.result_correction_minutes)
    now = limits_for(turn.deps).now()
    if closed_at is None or case.status not in (CaseStatus.RESOLVED, CaseStatus.REJECTED):
        turn.answer("officer.stale_button", alert=True)
        return
    if now - closed_at > window:
        turn.answer(
            "officer.correction_expired", alert=True, minutes=turn.deps.result_correction_minutes
        )
        return
    await ask_for_text(turn, case, "correct", "officer.prompt_correction")


async def _on_correction_reply(turn: Turn, case: Case, text: str) -> None:
    """The corrected result, within the window: on the card, in the log book, to reporters."""
    now = limits_for(turn.deps).now()
    window = timedelta(minutes=turn.deps.result_correction_minutes)
    if case.closed_at is None or now - case.closed_at > window:
        await turn.send("officer.correction_expired", minutes=turn.deps.result_correction_minutes)
        return
    if not _meaningful(text):
        await turn.send(
            "officer.result_too_short", min=RESULT_MIN, words=RESULT_MIN_WORDS, max=RESULT_MAX
        )
        await ask_for_text(turn, case, "correct", "officer.prompt_correction")
        return
    case.result_text = text
    await services.note_event(
        turn.session,
        case,
        CaseAction.NOTE,
        actor=actor_of(turn),
        note=t(OFFICER_LOCALE, "officer.correction_log", text=text),
        now=now,
    )
    await refresh_cards(turn, case)
    await turn.send("officer.correction_sent", code=case.code)
    await notify_reporter(turn, case, "notify.result_corrected", result=text)


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
        # One ward meant: still confirmed with a press, as a typo would send the case away.
        matches = (exact or matches)[:1]
    rows = [
        [
            Button(
                t(OFFICER_LOCALE, "btn.reassign_to", ward=w.name),
                f"c1:{OP_PICK_WARD}:{case.id}:{w.code}",
            )
        ]
        for w in matches[:5]
    ]
    rows.append([Button(t(OFFICER_LOCALE, "btn.reassign_cancel"), f"c1:back:{case.id}")])
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


async def _undo_reassign(turn: Turn, link: GroupLink, case_id: int, old_ward: str) -> None:
    """«Hoàn tác» under "reassigned": the group that sent the case away takes it back, while
    the new ward has not acted on it and within the window."""
    case = await services.get_case(turn.session, case_id)
    if case is None or not old_ward:
        turn.answer("officer.stale_button", alert=True)
        return
    may = link.active and (
        link.ward_code == old_ward
        or (link.ward_code is None and link.province_code == case.province_code)
    )
    if not may:
        turn.answer("officer.not_allowed", alert=True)
        return
    last = await services.latest_case_event(turn.session, case.id or 0, CaseAction.REASSIGN)
    now = limits_for(turn.deps).now()
    window = timedelta(minutes=turn.deps.result_correction_minutes)
    if (
        last is None
        or last.note != f"{old_ward} -> {case.ward_code}"
        or CaseStatus(case.status) != CaseStatus.NEW
        or now - last.at > window
    ):
        turn.answer("officer.undo_too_late", alert=True)
        return
    await _reassign(turn, case, old_ward, undoing=True)


def _ward_key(name: str) -> str:
    """A ward name without case, accents or type prefix, to spot an exact match."""
    folded = fold(name)
    for prefix in ("phuong ", "xa ", "dac khu "):
        folded = folded.removeprefix(prefix)
    return folded


async def _reassign(turn: Turn, case: Case, ward_code: str, *, undoing: bool = False) -> None:
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
        now=limits_for(turn.deps).now(),
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
    undo = [
        [
            Button(
                t(
                    OFFICER_LOCALE,
                    "btn.reassign_undo",
                    minutes=turn.deps.result_correction_minutes,
                ),
                f"c1:{OP_UNDO_REASSIGN}:{case.id}:{old_ward.code if old_ward else ''}",
            )
        ]
    ]
    await turn.send(
        "officer.reassigned_ok",
        code=case.code,
        ward=new_ward.name,
        buttons=[] if undoing else undo,
    )
    await dispatch_new_case(turn, case)  # the card says where it came from (card_extras)
    await notify_reporter(turn, case, "notify.reassigned", ward=new_ward.name)
    await notify_contact_kept(turn, case)


# ---------------------------------------------------------------- the reporter hears back
