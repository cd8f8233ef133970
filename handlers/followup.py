"""The reporter's side after filing: adding information, answering officers' questions, and
saying whether the problem was solved.

Conversation modes. Adding information to a case (state `followup`) and the optional
comment after "not solved" (state `sat_comment`) are conversation states of their own,
next to the intake steps (see handlers/intake.mmd). A citizen may be halfway through a new
report when they start one: the draft (its state and data, files included) is kept, as it
is, inside the mode's data under "suspended", and put back when the mode ends (Send, Cancel,
/cancel, Skip or the comment), with the draft's step asked again. A mode never suspends
another mode: starting one while in the other replaces it and keeps the same suspended
draft (adding information while unsent pieces for another case wait is refused, so nothing
is dropped silently).

Answers to officers' questions need no state: a reply to a question the bot sent (tracked as
MessageRef purpose "question" in the reporter's chat) is recognised as such whatever the
conversation is doing, and the draft stays as it was.

Everything a reporter sends here reaches the officer groups of the case's ward (else the
province's groups; plus any other group that holds the case's card and may act on it),
posted under the case's card, each group reading it as handlers/audience.py allows: the
reporter's phone only where they shared it, their words with phone numbers and emails
masked outside the case's own ward. Each piece writes an ANSWER line in the log book.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from bot import services
from bot.i18n import t
from handlers import case_chats, conversation, limits
from handlers.case_chats import (
    Sender,
    followed_case,
    is_open,
    post_under_case,
    reporter_actor,
    reporters_of_case,
    sender_of,
    turn_files_note,
)
from handlers.context import OFFICER_LOCALE, Turn
from handlers.events import Button, Outgoing
from handlers.evidence import store_files
from models.enums import OPEN_STATUSES, CaseAction, CaseStatus
from models.tables import Case, Reporter

log = logging.getLogger(__name__)

MODE_STATES = frozenset({"followup", "sat_comment"})
TEXT_MAX = 3000  # one piece of text, and all the texts of one addition together
QUESTION_QUOTE_MAX = 200

ADD_RE = re.compile(r"^c1:add:([0-9]{1,12})$")
FOLLOWUP_RE = re.compile(r"^c1:fu:(done|cancel):([0-9]{1,12})$")
SAT_RE = re.compile(r"^c1:sat:([0-9]{1,12}):(yes|no|skip)$")


# ---------------------------------------------------------------- who is writing


async def _reporter(turn: Turn) -> Reporter:
    ev = turn.event
    return await services.get_reporter(turn.session, ev.channel, ev.user_id)


# ---------------------------------------------------------------- posting under the case


def _media(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"path": item["path"], "kind": item["kind"]} for item in items]


def _discard(turn: Turn, items: list[dict[str, Any]]) -> None:
    for item in items:
        turn.deps.media.discard(item["path"])


# ---------------------------------------------------------------- modes and the draft


def _suspend(state: str | None, data: dict[str, Any]) -> dict[str, Any] | None:
    """What to keep aside while a mode runs: the draft in progress (never a mode)."""
    if state is None:
        return None
    if state in MODE_STATES:
        suspended = data.get("suspended")
        return dict(suspended) if suspended else None
    return {"state": state, "data": data}


async def restore(turn: Turn, data: dict[str, Any]) -> None:
    """End a mode: put the suspended draft back and ask its step again, or end the chat."""

    suspended = data.get("suspended")
    if not suspended:
        await services.clear_conversation(turn.session, turn.event.channel, turn.event.user_id)
        return
    state, draft = suspended["state"], dict(suspended["data"])
    await conversation.save_state(turn, state, draft)
    await turn.send("intake.draft_continues")
    await conversation.prompt_step(turn, state, draft)


async def cancel_mode(turn: Turn, state: str, data: dict[str, Any]) -> None:
    """/cancel (or the Cancel button) in a mode: drop its unsent pieces, keep the draft."""
    _discard(turn, data.get("evidence", []))
    key = "intake.followup_cancelled" if state == "followup" else "intake.sat_comment_skipped"
    await turn.send(key, code=data.get("code", ""), remove_keyboard=True)
    await restore(turn, data)


def discard_mode_files(turn: Turn, data: dict[str, Any]) -> None:
    """Delete the unsent files of a mode (not those of the suspended draft)."""
    _discard(turn, data.get("evidence", []))


# ---------------------------------------------------------------- adding information


def followup_rows(turn: Turn, data: dict[str, Any]) -> list[list[Button]]:
    cid = data.get("case_id", 0)
    return [
        [Button(turn.text("btn.followup_send"), f"c1:fu:done:{cid}")],
        [Button(turn.text("btn.followup_cancel"), f"c1:fu:cancel:{cid}")],
    ]


async def prompt_followup(turn: Turn, data: dict[str, Any]) -> None:
    await turn.send(
        "intake.followup_ask",
        code=data.get("code", ""),
        max_photos=turn.deps.max_photos,
        max_mb=turn.deps.max_file_mb,
        buttons=followup_rows(turn, data),
        remove_keyboard=True,
    )


async def _refuse_case(turn: Turn, key: str, **params: object) -> None:
    text = turn.text(key, **params)
    if turn.event.kind == "button":
        turn.answer(key, alert=True, **params)
    await turn.send(text, raw=True)


async def start_add(turn: Turn, state: str | None, data: dict[str, Any]) -> None:
    """The ➕ button of /mycases: start adding information to one of the reporter's cases."""
    match = ADD_RE.match(turn.event.button_data or "")
    reporter = await _reporter(turn)
    case = await services.get_case(turn.session, int(match.group(1))) if match else None
    if case is not None:
        case = await followed_case(turn, case)
    if case is None or await sender_of(turn, case, reporter) is None:
        await _refuse_case(turn, "intake.not_your_case")
        return
    if not is_open(case):
        await _refuse_case(
            turn, "intake.case_closed", code=case.code, status=turn.text(f"status.{case.status}")
        )
        return
    if state == "followup":
        if data.get("case_id") == case.id:
            turn.answer("intake.noted")
            await prompt_followup(turn, data)
            return
        if data.get("texts") or data.get("evidence"):
            turn.answer("intake.followup_busy", code=data.get("code", ""))
            await turn.send(
                "intake.followup_busy",
                code=data.get("code", ""),
                buttons=followup_rows(turn, data),
            )
            return
    new: dict[str, Any] = {"case_id": case.id, "code": case.code, "texts": [], "evidence": []}
    suspended = _suspend(state, data)
    if suspended:
        new["suspended"] = suspended
    turn.answer("intake.noted")
    await conversation.save_state(turn, "followup", new)
    await prompt_followup(turn, new)


async def on_followup(turn: Turn, data: dict[str, Any]) -> None:
    """An event while adding information: collect text and files until Send or Cancel."""

    ev = turn.event
    if ev.kind == "button":
        match = FOLLOWUP_RE.match(ev.button_data or "")
        if match and int(match.group(2)) == data.get("case_id"):
            if match.group(1) == "done":
                await _send_followup(turn, data)
            else:
                turn.answer("intake.noted")
                await cancel_mode(turn, "followup", data)
            return
        await conversation.refuse(turn, "followup", data)
        return
    if ev.kind not in ("text", "media"):
        await conversation.refuse(turn, "followup", data)
        return
    texts: list[str] = list(data.get("texts", []))
    evidence: list[dict[str, Any]] = list(data.get("evidence", []))
    piece = (ev.text or "").strip()  # a text, or a caption
    if piece and sum(map(len, texts)) + len(piece) > TEXT_MAX:
        await turn.send(
            "intake.followup_text_too_long", max=TEXT_MAX, buttons=followup_rows(turn, data)
        )
        if ev.kind == "text":
            return
        piece = ""  # the files of a photo with a too-long caption are still kept
    if piece:
        texts.append(piece)
    if ev.kind == "media":
        evidence.extend(await store_files(turn, evidence, ev.files))
    data.update(texts=texts, evidence=evidence)
    await conversation.save_state(turn, "followup", data)
    photos = sum(1 for item in evidence if item["kind"] == "photo")
    await turn.send(
        "intake.followup_received",
        texts=len(texts),
        photos=photos,
        others=len(evidence) - photos,
        buttons=followup_rows(turn, data),
    )


async def _send_followup(turn: Turn, data: dict[str, Any]) -> None:
    texts: list[str] = list(data.get("texts", []))
    evidence: list[dict[str, Any]] = list(data.get("evidence", []))
    turn.answer("intake.noted")
    if not texts and not evidence:
        await turn.send("intake.followup_empty", remove_keyboard=True)
        await restore(turn, data)
        return
    reporter = await _reporter(turn)
    case = await services.get_case(turn.session, int(data.get("case_id") or 0))
    if case is not None:
        case = await followed_case(turn, case)
    sender = await sender_of(turn, case, reporter) if case is not None else None
    if case is None or sender is None or not is_open(case):
        _discard(turn, evidence)
        if case is None or sender is None:
            await turn.send("intake.not_your_case")
        else:
            await turn.send(
                "intake.case_closed", code=case.code, status=turn.text(f"status.{case.status}")
            )
        await restore(turn, data)
        return
    body = "\n\n".join(texts)
    await _record_answer(turn, case, sender, body, evidence, "card.followup_added")
    await turn.send("intake.followup_sent", code=case.code, remove_keyboard=True)
    await restore(turn, data)


async def _record_answer(
    turn: Turn,
    case: Case,
    sender: Sender,
    body: str,
    evidence: list[dict[str, Any]],
    headline_key: str,
    *,
    quote: str | None = None,
) -> None:
    """Keep what a reporter sent on the case (evidence rows, ANSWER line) and post it."""

    for item in evidence:
        await services.add_evidence(turn.session, case.id or 0, item, from_officer=False)
    files_note = turn_files_note(evidence)
    note = "\n".join(filter(None, [body, files_note])) or None
    if quote:  # an answer to an officer's question, told apart from added information
        note = f"{ANSWER_MARK}{quote}\n{note or ''}".rstrip("\n")
    await services.note_event(
        turn.session,
        case,
        CaseAction.ANSWER,
        actor=reporter_actor(case, sender.reporter),
        note=note,
        now=limits.limits_for(turn.deps).now(),
    )
    shown = body
    if quote:
        asked = t(OFFICER_LOCALE, "card.answer_to", question=quote)
        shown = "\n".join(filter(None, [asked, body]))
    await post_under_case(turn, case, sender, headline_key, shown, _media(evidence))
    if evidence:
        await case_chats.refresh_cards(turn, case)  # the evidence count on the card changed
    log.info(
        "reporter sent information", extra={"case": case.code, "update": turn.event.update_id}
    )


# ---------------------------------------------------------------- answers to questions

ANSWER_MARK = "↩ "  # an ANSWER note starting so: "↩ <question>\n<answer>" (else added info)


async def try_answer(turn: Turn, reporter: Reporter) -> bool:
    """A reply to an officer's question: pass it on under the case; True when it was one."""
    ev = turn.event
    if ev.reply_to_message_id is None or ev.kind not in ("text", "media"):
        return False
    ref = await services.find_message(turn.session, ev.channel, ev.chat_id, ev.reply_to_message_id)
    if ref is None and ev.reply_to_bot:
        # Answered before the sender recorded the question's id (a quick reporter): the
        # question on its way to this chat is the one answered.
        ref = await services.question_in_flight(
            turn.session, ev.channel, ev.chat_id, ev.reply_to_message_id, ev.reply_to_text
        )
    if ref is None or ref.purpose != "question":
        return False
    case = await services.get_case(turn.session, ref.case_id)
    if case is not None:
        case = await followed_case(turn, case)
    sender = await sender_of(turn, case, reporter) if case is not None else None
    if case is None or sender is None:
        await turn.send("intake.not_your_case")
        return True
    if CaseStatus(case.status) not in OPEN_STATUSES:
        await turn.send(
            "intake.answer_closed", code=case.code, status=turn.text(f"status.{case.status}")
        )
        return True
    text = (ev.text or "").strip()
    if len(text) > TEXT_MAX:
        await turn.send("intake.answer_too_long", max=TEXT_MAX)
        return True
    evidence = await store_files(turn, [], ev.files) if ev.kind == "media" else []
    if not text and not evidence:
        await turn.send("intake.answer_empty")
        return True
    question = str(ref.extra.get("question") or "").strip()
    if not question:  # the question asked: the case's latest ASK line before it went out
        asked = await services.latest_case_event(
            turn.session, ref.case_id, CaseAction.ASK, at_or_before=ref.created_at
        )
        question = (asked.note or "").strip() if asked is not None else ""
    quote = None
    if question:
        quote = " ".join(question.split())
        if len(quote) > QUESTION_QUOTE_MAX:
            quote = quote[: QUESTION_QUOTE_MAX - 1] + "…"
    await _record_answer(turn, case, sender, text, evidence, "card.answer_received", quote=quote)
    await turn.send("intake.answer_sent", code=case.code)
    return True


# ---------------------------------------------------------------- satisfaction


async def ask_satisfaction(turn: Turn, case: Case) -> None:
    """After a result: ask each reporter of the case whether the problem is solved."""
    case.satisfaction = None  # a new resolution is answered afresh
    case.satisfaction_at = None
    for reporter in await reporters_of_case(turn, case):
        locale = reporter.language or "vi"
        await services.enqueue(
            turn.session,
            reporter.channel,
            Outgoing(
                chat_id=reporter.chat_id,
                text=t(locale, "notify.satisfaction_question", code=case.code),
                buttons=[
                    [
                        Button(t(locale, "btn.sat_yes"), f"c1:sat:{case.id}:yes"),
                        Button(t(locale, "btn.sat_no"), f"c1:sat:{case.id}:no"),
                    ]
                ],
                case_id=case.id,
            ),
        )


async def on_satisfaction(turn: Turn, state: str | None, data: dict[str, Any]) -> None:
    """Có / Chưa (and Skip of the comment) pressed in a reporter's private chat."""

    match = SAT_RE.match(turn.event.button_data or "")
    if match is None:
        turn.answer("intake.stale_button")
        return
    reporter = await _reporter(turn)
    case = await services.get_case(turn.session, int(match.group(1)))
    sender = await sender_of(turn, case, reporter) if case is not None else None
    if case is None or sender is None:
        await _refuse_case(turn, "intake.not_your_case")
        return
    answer = match.group(2)
    if answer == "skip":
        if state == "sat_comment" and data.get("case_id") == case.id:
            turn.answer("intake.noted")
            await cancel_mode(turn, "sat_comment", data)
        else:
            turn.answer("intake.stale_button")
        return
    resolved = await services.latest_case_event(turn.session, case.id or 0, CaseAction.RESOLVE)
    actor = reporter_actor(case, reporter)
    if resolved is not None and await services.case_events_since(
        turn.session, case.id or 0, CaseAction.SATISFACTION, resolved.id or 0, actor
    ):
        turn.answer("intake.sat_already", code=case.code)
        await turn.send("intake.sat_already", code=case.code)
        return
    if resolved is None or CaseStatus(case.status) != CaseStatus.RESOLVED:
        turn.answer("intake.stale_button")
        await turn.send(
            "intake.sat_not_applicable", code=case.code, status=turn.text(f"status.{case.status}")
        )
        return
    now = limits.limits_for(turn.deps).now()
    case.satisfaction = answer
    case.satisfaction_at = now
    await services.note_event(
        turn.session, case, CaseAction.SATISFACTION, actor=actor, note=answer, now=now
    )
    if answer == "yes":
        turn.answer("intake.sat_thanks", code=case.code)
        await turn.send("intake.sat_thanks", code=case.code)
        await case_chats.refresh_cards(turn, case)
        return
    # Not solved: the case goes back to the ward, in hand, with fresh deadlines.
    handled_by = case.handled_by
    await services.apply_action(turn.session, case, CaseAction.REOPEN, actor=actor, now=now)
    case.handled_by = handled_by  # still the officer who had it, not the reporter
    case.closed_at = None
    case.result_text = None  # the earlier result stays in the log book (its RESOLVE line)
    case.reopened_count += 1
    turn.deps.deadlines.start(case, now)  # deadlines run again from the reopening
    log.info("case reopened by its reporter", extra={"case": case.code})
    await case_chats.set_topics_closed(turn, case, False)  # its forum topics open again first
    await post_under_case(turn, case, sender, "card.reopened_alert")
    await case_chats.refresh_cards(turn, case)
    turn.answer("intake.noted")
    await turn.send("intake.sat_reopened", code=case.code)
    if state in MODE_STATES:
        return  # already adding information or commenting: no second question on top
    comment: dict[str, Any] = {"case_id": case.id, "code": case.code}
    suspended = _suspend(state, data)
    if suspended:
        comment["suspended"] = suspended
    await conversation.save_state(turn, "sat_comment", comment)
    await prompt_sat_comment(turn, comment)


def sat_comment_rows(turn: Turn, data: dict[str, Any]) -> list[list[Button]]:
    return [[Button(turn.text("btn.skip"), f"c1:sat:{data.get('case_id', 0)}:skip")]]


async def prompt_sat_comment(turn: Turn, data: dict[str, Any]) -> None:
    await turn.send(
        "intake.sat_ask_comment",
        code=data.get("code", ""),
        buttons=sat_comment_rows(turn, data),
        remove_keyboard=True,
    )


async def on_sat_comment(turn: Turn, data: dict[str, Any]) -> None:
    """The optional comment after "not solved": a text (or a photo with a caption)."""

    ev = turn.event
    if ev.kind not in ("text", "media"):
        await conversation.refuse(turn, "sat_comment", data)
        return
    text = (ev.text or "").strip()
    if len(text) > TEXT_MAX:
        await turn.send("intake.answer_too_long", max=TEXT_MAX)
        return
    reporter = await _reporter(turn)
    case = await services.get_case(turn.session, int(data.get("case_id") or 0))
    sender = await sender_of(turn, case, reporter) if case is not None else None
    if case is None or sender is None:
        await turn.send("intake.not_your_case")
        await restore(turn, data)
        return
    evidence = await store_files(turn, [], ev.files) if ev.kind == "media" else []
    if not text and not evidence:
        await conversation.refuse(turn, "sat_comment", data)
        return
    await _record_answer(turn, case, sender, text, evidence, "card.sat_comment")
    await turn.send("intake.sat_comment_sent", code=case.code, remove_keyboard=True)
    await restore(turn, data)


# The modes are conversation states next to the report's steps (handlers/conversation.py).
conversation.register(
    "followup",
    conversation.State(
        handle=on_followup,
        prompt=prompt_followup,
        need=lambda turn: turn.text("intake.need_followup"),
        markup=lambda turn, data: conversation.Markup(buttons=followup_rows(turn, data)),
    ),
)
conversation.register(
    "sat_comment",
    conversation.State(
        handle=on_sat_comment,
        prompt=prompt_sat_comment,
        need=lambda turn: turn.text("intake.need_sat_comment"),
        markup=lambda turn, data: conversation.Markup(buttons=sat_comment_rows(turn, data)),
    ),
)
