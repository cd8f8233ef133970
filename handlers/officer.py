"""The officers' side: linking groups, case cards, and acting on cases from the chat."""

from __future__ import annotations

import re
from typing import Any

from bot import services
from bot.geo import fold
from bot.i18n import t
from bot.media import FileTooLarge
from handlers import cards
from handlers.context import OFFICER_LOCALE, Turn
from handlers.events import Button, Outgoing
from models.enums import CaseAction, CaseStatus, RejectReason
from models.tables import Case, Evidence, GroupLink, Reporter
from models.transitions import IllegalTransition

CALLBACK_RE = re.compile(
    r"^c1:(ack|vfy|cls|rej|rjr|back|rsg|rsw):(\d{1,12})(?::([a-z_0-9]{1,24}))?$"
)
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
    text = await _card_text(turn, case, note=note, evidence=evidence)
    await services.enqueue(
        session,
        group.channel,
        Outgoing(
            chat_id=group.chat_id,
            text=text,
            html=True,
            buttons=cards.card_buttons(case),
            case_id=case.id,
            track={"purpose": "card"},
        ),
    )
    files = [{"path": e.path, "kind": e.kind} for e in evidence if not e.from_officer]
    if files:  # photos and videos as an album, other files one by one (see the transport)
        await services.enqueue(
            session,
            group.channel,
            Outgoing(
                chat_id=group.chat_id, kind="album", media=files, text=case.code, case_id=case.id
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
            ),
        )


async def _card_text(
    turn: Turn, case: Case, note: str | None = None, evidence: list[Evidence] | None = None
) -> str:
    ward = turn.deps.gazetteer.ward(case.ward_code)
    reporter_name = None
    if case.contact_shared:
        reporter = await turn.session.get(Reporter, case.reporter_id)
        reporter_name = reporter.full_name if reporter else None
    return cards.render_card(
        case,
        ward_name=ward.name if ward else case.ward_code,
        evidence=(
            evidence
            if evidence is not None
            else await services.case_evidence(turn.session, case.id or 0)
        ),
        reporter_name=reporter_name,
        note=note,
    )


async def _refresh_cards(
    turn: Turn,
    case: Case,
    *,
    buttons: list[list[Button]] | None = None,
    chat_id: str | None = None,
    note: str | None = None,
) -> None:
    """Queue an edit of the case's cards (in one chat, or every group that holds one)."""
    text = await _card_text(turn, case, note=note)
    chats = [chat_id] if chat_id else await services.chats_with_card(turn.session, case)
    for chat in chats:
        await services.enqueue(
            turn.session,
            turn.event.channel,
            Outgoing(
                chat_id=chat,
                kind="edit",
                edit_purpose="card",
                text=text,
                html=True,
                buttons=buttons if buttons is not None else cards.card_buttons(case),
                case_id=case.id,
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
    if link is None:
        # Not an officer group: say nothing that would reveal the hotline's cases.
        if ev.kind == "button":
            turn.answer("officer.not_allowed", alert=True)
        return
    if ev.kind == "button":
        await _on_button(turn, link)
    elif ev.kind == "command" and ev.command in ("help", "start"):
        await turn.send("officer.help")
    elif ev.reply_to_message_id is not None:
        await _on_reply(turn, link)


async def _on_link(turn: Turn) -> None:
    ev = turn.event
    code = (ev.text or "").strip()
    if not code:
        await turn.send("officer.link_usage")
        return
    link = await services.redeem_link_code(
        turn.session, code, channel=ev.channel, chat_id=ev.chat_id, actor=actor_of(turn)
    )
    if link is None:
        await turn.send("officer.link_invalid")
        return
    if link.ward_code is None:
        await turn.send("officer.linked_province", province=turn.deps.gazetteer.province_name)
    else:
        ward = turn.deps.gazetteer.ward(link.ward_code)
        await turn.send(
            "officer.linked_ward",
            ward=ward.name if ward else link.ward_code,
            province=turn.deps.gazetteer.province_name,
        )


async def _load_case_for(turn: Turn, link: GroupLink, case_id: int) -> Case | None:
    case = await services.get_case(turn.session, case_id)
    if case is None or not services.can_act_on(link, case):
        turn.answer("officer.not_allowed", alert=True)
        return None
    return case


async def _on_button(turn: Turn, link: GroupLink) -> None:
    match = CALLBACK_RE.match(turn.event.button_data or "")
    if match is None:
        turn.answer("officer.stale_button", alert=True)
        return
    op, raw_id, arg = match.group(1), int(match.group(2)), match.group(3)
    case = await _load_case_for(turn, link, raw_id)
    if case is None:
        return
    if CaseStatus(case.status) in (CaseStatus.RESOLVED, CaseStatus.REJECTED):
        turn.answer(
            "officer.already_closed", alert=True, status=turn.text(f"status.{case.status}")
        )
        await _refresh_cards(turn, case, chat_id=turn.event.chat_id)
        return
    try:
        if op == "ack":
            await _transition(turn, case, CaseAction.ACKNOWLEDGE)
        elif op == "vfy":
            await _transition(turn, case, CaseAction.VERIFY)
        elif op == "cls":
            await _ask_for_text(turn, case, "resolve", "officer.prompt_result")
        elif op == "rej":
            turn.answer("officer.choose_reason")
            await _refresh_cards(
                turn, case, buttons=cards.reject_reason_buttons(case), chat_id=turn.event.chat_id
            )
        elif op == "rjr" and arg in {r.value for r in RejectReason}:
            await _ask_for_text(turn, case, "reject", "officer.prompt_reject", reason=arg)
        elif op == "back":
            turn.answer("officer.ok")
            await _refresh_cards(turn, case, chat_id=turn.event.chat_id)
        elif op == "rsg":
            await _ask_for_text(turn, case, "reassign", "officer.prompt_reassign")
        elif op == "rsw" and arg and turn.deps.gazetteer.ward(arg):
            await _reassign(turn, case, arg)
        else:
            turn.answer("officer.stale_button", alert=True)
    except IllegalTransition:
        turn.answer("officer.illegal", alert=True, status=turn.text(f"status.{case.status}"))


async def _transition(turn: Turn, case: Case, action: CaseAction) -> None:
    """Apply a one-press action, update the cards, and tell the reporter."""
    await services.apply_action(turn.session, case, action, actor=actor_of(turn))
    turn.answer("officer.done", status=turn.text(f"status.{case.status}"))
    await _refresh_cards(turn, case)
    if action == CaseAction.ACKNOWLEDGE:
        await _notify_reporter(turn, case, "notify.acknowledged")
    elif action == CaseAction.VERIFY:
        await _notify_reporter(turn, case, "notify.verifying")


async def _ask_for_text(turn: Turn, case: Case, action: str, key: str, **extra: Any) -> None:
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
        ),
    )


async def _on_reply(turn: Turn, link: GroupLink) -> None:
    ev = turn.event
    ref = await services.find_message(
        turn.session, ev.channel, ev.chat_id, ev.reply_to_message_id or 0
    )
    if ref is None or ref.purpose != "prompt":
        return  # an ordinary reply between officers
    case = await services.get_case(turn.session, ref.case_id)
    if case is None or not services.can_act_on(link, case):
        await turn.send("officer.not_allowed")
        return
    if CaseStatus(case.status) in (CaseStatus.RESOLVED, CaseStatus.REJECTED):
        await turn.send("officer.already_closed", status=turn.text(f"status.{case.status}"))
        return
    action = ref.extra.get("action")
    text = (ev.text or "").strip()
    if action == "reassign":
        await _on_reassign_reply(turn, case, text)
        return
    if len(text) < RESULT_MIN or len(text) > RESULT_MAX:
        await turn.send("officer.result_length", min=RESULT_MIN, max=RESULT_MAX)
        await _ask_for_text(
            turn,
            case,
            str(action),
            "officer.prompt_result" if action == "resolve" else "officer.prompt_reject",
            **{k: v for k, v in ref.extra.items() if k not in ("action", "purpose")},
        )
        return
    photos = await _store_officer_files(turn, case)
    try:
        if action == "resolve":
            case.result_text = text
            await services.apply_action(
                turn.session, case, CaseAction.RESOLVE, actor=actor_of(turn), note=text
            )
            await _refresh_cards(turn, case)
            await turn.send("officer.closed_ok", code=case.code)
            await _notify_reporter(turn, case, "notify.resolved", result=text, media=photos)
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
            await _refresh_cards(turn, case)
            await turn.send("officer.rejected_ok", code=case.code)
            await _notify_reporter(
                turn, case, "notify.rejected", result=text, reason_key=f"reject.{reason}"
            )
    except IllegalTransition:
        await turn.send("officer.illegal", status=turn.text(f"status.{case.status}"))


async def _store_officer_files(turn: Turn, case: Case) -> list[dict[str, Any]]:
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
        await _ask_for_text(turn, case, "reassign", "officer.prompt_reassign")
        return
    exact = [w for w in matches if _ward_key(w.name) == _ward_key(text)]
    if len(matches) == 1 or len(exact) == 1:
        await _reassign(turn, case, (exact or matches)[0].code)
        return
    rows = [[Button(w.name, f"c1:rsw:{case.id}:{w.code}")] for w in matches[:5]]
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
    turn.answer("officer.ok")
    note = t(
        OFFICER_LOCALE,
        "card.reassigned_to",
        ward=new_ward.name,
    )
    for chat in old_chats:
        await _refresh_cards(turn, case, buttons=[], chat_id=chat, note=note)
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
    await _notify_reporter(turn, case, "notify.reassigned", ward=new_ward.name)


# ---------------------------------------------------------------- the reporter hears back


async def _notify_reporter(
    turn: Turn,
    case: Case,
    key: str,
    *,
    media: list[dict[str, Any]] | None = None,
    reason_key: str | None = None,
    **params: Any,
) -> None:
    """Tell the reporter, in their language, through the outbox."""
    reporter = await turn.session.get(Reporter, case.reporter_id)
    if reporter is None:
        return
    locale = reporter.language or "vi"
    if reason_key:
        params["reason"] = t(locale, reason_key)
    text = t(locale, key, code=case.code, **params)
    await services.enqueue(
        turn.session,
        case.channel,
        Outgoing(chat_id=reporter.chat_id, text=text, case_id=case.id),
    )
    if media:
        await services.enqueue(
            turn.session,
            case.channel,
            Outgoing(chat_id=reporter.chat_id, kind="album", media=media, case_id=case.id),
        )
