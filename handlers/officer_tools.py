"""Officer tools on the case card, beside the status buttons of handlers/officer.py.

- 🙋 "I'll take it": the pressing officer becomes the case's assignee (log-book TAKE); a
  later press by someone else re-assigns it. The reporter hears once per case that an
  officer is handling it, without the officer's name: the hotline speaks for the ward,
  whose official contact points are never personal ones (DOMAIN.md), and a civil
  servant's name is their personal data.
- 📝 Internal note: text (and photos, kept as officer evidence) in the log book (NOTE),
  confirmed in the group under the case; never sent to the reporter.
- ❓ Ask the reporter: the question goes to the reporter's private chat in their language,
  as a ForceReply tracked with purpose "question" so their reply finds the case (the
  answer is handled by handlers/followup.py). Log-book ASK. The group never learns who
  the reporter is; an unreachable reporter is said so in the group instead.
- ⬆️ Escalate to the province (the Sở): a reason, then the province groups get the card
  (as the province may see it: without the reporter's contact) with take-over and
  send-back buttons. An escalated case cannot be escalated again until it is sent back.
- ↪️ Refer to another agency ("agency: reason"): the card shows the agency, the reporter
  is told the agency (not the reason). A referral does not close the case: the ward (or
  the Sở) still closes it with a result, which is what the reporter waits for.

Which buttons a card shows depends on the chat as well as the case (take-over and
send-back only on the province's card of an escalated case; escalate only on the ward's),
so the rows come from an `case_chats.CHAT_ROWS` provider, which `_send_card` and
`refresh_cards` apply per chat. Every action is checked against the pressing group
(`services.can_act_on`, plus "province only" for take-over and send-back).
"""

from __future__ import annotations

from bot import services
from bot.i18n import t
from handlers import case_chats, officer
from handlers.context import OFFICER_LOCALE, Turn
from handlers.events import Button, Outgoing
from models.enums import OPEN_STATUSES, CaseAction, CaseStatus
from models.tables import Case, GroupLink, MessageRef, Reporter

TEXT_MIN = 2
NOTE_MAX = 2000
QUESTION_MAX = 1000
REASON_MAX = 1000
AGENCY_MAX = 200  # Case.referred_to

OP_TAKE, OP_NOTE, OP_ASK, OP_ESCALATE, OP_REFER = "take", "note", "ask", "esc", "refer"
OP_TAKE_OVER, OP_SEND_BACK = "tkov", "sndbk"


# ---------------------------------------------------------------- buttons


def tool_rows(case: Case, link: GroupLink | None) -> list[list[Button]]:
    """The tool rows of a case's card in the chat of `link` (none once closed).

    The case's ward groups: take, note, ask / escalate (until escalated), refer. The
    province group: take, note, ask / on an escalated case, take over (until taken) and
    send back, else refer. Any other chat (a former ward): none.
    """
    if CaseStatus(case.status) not in OPEN_STATUSES or link is None or not link.active:
        return []
    loc, cid = OFFICER_LOCALE, case.id
    take = Button(t(loc, "btn.take"), f"c1:{OP_TAKE}:{cid}")
    note = Button(t(loc, "btn.note"), f"c1:{OP_NOTE}:{cid}")
    ask = Button(t(loc, "btn.ask"), f"c1:{OP_ASK}:{cid}")
    refer = Button(t(loc, "btn.refer"), f"c1:{OP_REFER}:{cid}")
    if link.ward_code is None:
        if link.province_code != case.province_code:
            return []
        if case.escalated_at is None:
            return [[take, note, ask], [refer]]
        send_back = Button(t(loc, "btn.send_back"), f"c1:{OP_SEND_BACK}:{cid}")
        if case.province_owned:
            return [[take, note, ask], [refer, send_back]]
        take_over = Button(t(loc, "btn.take_over"), f"c1:{OP_TAKE_OVER}:{cid}")
        return [[take, note, ask], [take_over, send_back]]
    if link.ward_code != case.ward_code:
        return []
    second = []
    if case.escalated_at is None:
        second.append(Button(t(loc, "btn.escalate"), f"c1:{OP_ESCALATE}:{cid}"))
    second.append(refer)
    return [[take, note, ask], second]


case_chats.CHAT_ROWS.append(tool_rows)


def _is_province(link: GroupLink) -> bool:
    return link.ward_code is None


async def say_under_case(
    turn: Turn, case: Case, key: str, *, group: GroupLink | None = None, **params: object
) -> None:
    """A message in an officer group (this one, or `group`), under the case's card."""
    await services.enqueue(
        turn.session,
        group.channel if group else turn.event.channel,
        Outgoing(
            chat_id=group.chat_id if group else turn.event.chat_id,
            text=t(OFFICER_LOCALE, key, **params),
            case_id=case.id,
            reply_to_card=True,
            in_topic=True,
        ),
    )


def _name(actor: str) -> str:
    """The display name in a log-book actor ("telegram:42 Cán bộ Lan" -> "Cán bộ Lan")."""
    return actor.split(" ", 1)[-1]


def _person(actor: str | None) -> str:
    """The channel user in a log-book actor ("telegram:42"), whatever their display name."""
    return (actor or "").split(" ", 1)[0]


async def _too_long_or_short(
    turn: Turn, case: Case, ref: MessageRef, text: str, key: str, maximum: int
) -> bool:
    """Check a reply's length; if it does not fit, say so and ask again."""
    if TEXT_MIN <= len(text) <= maximum:
        return False
    await turn.send("officer.result_length", min=TEXT_MIN, max=maximum)
    await officer.ask_for_text(turn, case, str(ref.extra.get("action")), key)
    return True


# ---------------------------------------------------------------- I'll take it


@officer.button_op(OP_TAKE)
async def on_take(turn: Turn, link: GroupLink, case: Case, arg: str | None) -> None:
    actor = officer.actor_of(turn)
    if case.assignee and _person(case.assignee) == _person(actor):
        turn.answer("officer.take_already", who=_name(case.assignee))
        return
    first = not await services.case_has_event(turn.session, case.id or 0, CaseAction.TAKE)
    await services.take_case(turn.session, case, actor=actor)
    officer.log_action(turn, case, CaseAction.TAKE)
    turn.answer("officer.take_ok", who=_name(actor))
    await case_chats.refresh_cards(turn, case)
    if first:  # once per case; no officer name for the citizen (see the module's doc)
        await case_chats.notify_reporter(turn, case, "notify.taken")


# ---------------------------------------------------------------- internal notes


@officer.button_op(OP_NOTE)
async def on_note(turn: Turn, link: GroupLink, case: Case, arg: str | None) -> None:
    await officer.ask_for_text(turn, case, "note", "officer.prompt_note")


@officer.prompt_action("note")
async def on_note_reply(
    turn: Turn, link: GroupLink, case: Case, ref: MessageRef, text: str
) -> None:
    has_files = bool(turn.event.files)
    if len(text) > NOTE_MAX or (len(text) < TEXT_MIN and not has_files):
        await turn.send("officer.result_length", min=TEXT_MIN, max=NOTE_MAX)
        await officer.ask_for_text(turn, case, "note", "officer.prompt_note")
        return
    stored = await officer.store_officer_files(turn, case)
    if not text and not stored:  # only a file, and it was refused (too large)
        return
    note = "\n".join(filter(None, [text, f"📎 {len(stored)}" if stored else ""]))
    await services.note_event(
        turn.session, case, CaseAction.NOTE, actor=officer.actor_of(turn), note=note
    )
    officer.log_action(turn, case, CaseAction.NOTE)
    await say_under_case(turn, case, "officer.note_saved", code=case.code)


# ---------------------------------------------------------------- questions to the reporter


async def _reachable_reporter(turn: Turn, case: Case) -> Reporter | None:
    reporter = await turn.session.get(Reporter, case.reporter_id)
    return None if reporter is None or reporter.unreachable else reporter


@officer.button_op(OP_ASK)
async def on_ask(turn: Turn, link: GroupLink, case: Case, arg: str | None) -> None:
    if await _reachable_reporter(turn, case) is None:
        turn.answer("officer.ask_unreachable", alert=True, code=case.code)
        await say_under_case(turn, case, "officer.ask_unreachable", code=case.code)
        return
    await officer.ask_for_text(turn, case, "ask", "officer.prompt_ask")


@officer.prompt_action("ask")
async def on_ask_reply(
    turn: Turn, link: GroupLink, case: Case, ref: MessageRef, text: str
) -> None:
    if await _too_long_or_short(turn, case, ref, text, "officer.prompt_ask", QUESTION_MAX):
        return
    reporter = await _reachable_reporter(turn, case)
    if reporter is None:
        await say_under_case(turn, case, "officer.ask_unreachable", code=case.code)
        return
    await services.enqueue(
        turn.session,
        reporter.channel,  # the reporter's own channel (Zalo, Telegram)
        Outgoing(
            chat_id=reporter.chat_id,
            text=t(reporter.language or "vi", "notify.question", code=case.code, question=text),
            force_reply=True,
            case_id=case.id,
            # The reporter's reply to it finds the case and the question (handlers/followup.py).
            track={"purpose": "question", "question": text},
        ),
    )
    await services.note_event(
        turn.session, case, CaseAction.ASK, actor=officer.actor_of(turn), note=text
    )
    officer.log_action(turn, case, CaseAction.ASK)
    await say_under_case(turn, case, "officer.ask_sent", code=case.code)


# ---------------------------------------------------------------- escalation to the province


@officer.button_op(OP_ESCALATE)
async def on_escalate(turn: Turn, link: GroupLink, case: Case, arg: str | None) -> None:
    if case.escalated_at is not None:
        turn.answer("officer.already_escalated", alert=True)
    elif not await services.ward_groups_of_province(turn.session, case.province_code):
        turn.answer("officer.no_province_group", alert=True)
    else:
        await officer.ask_for_text(turn, case, "escalate", "officer.prompt_escalate")


@officer.prompt_action("escalate")
async def on_escalate_reply(
    turn: Turn, link: GroupLink, case: Case, ref: MessageRef, text: str
) -> None:
    if await _too_long_or_short(turn, case, ref, text, "officer.prompt_escalate", REASON_MAX):
        return
    provinces = await services.ward_groups_of_province(turn.session, case.province_code)
    if not provinces:
        await say_under_case(turn, case, "officer.no_province_group")
        return
    if not await services.escalate_case(
        turn.session, case, actor=officer.actor_of(turn), reason=text
    ):
        await say_under_case(turn, case, "officer.already_escalated")
        return
    officer.log_action(turn, case, CaseAction.ESCALATE)
    holding = set(await services.chats_with_card(turn.session, case))
    await case_chats.refresh_cards(turn, case)  # the ward's card, and any the province holds
    ward = turn.deps.gazetteer.ward(case.ward_code)
    ward_name = ward.name if ward else case.ward_code
    for group in provinces:
        if group.chat_id in holding:  # it has the card already (an edit makes no sound)
            await say_under_case(
                turn,
                case,
                "officer.escalated_notice",
                group=group,
                ward=ward_name,
                code=case.code,
                reason=text,
            )
        else:  # the card as the province may see it: without the reporter's contact
            # (the card itself says the ward asks the Sở to decide: cards.render_card)
            await case_chats.send_card(turn, case, group, note=None)
    await say_under_case(turn, case, "officer.escalated_ok", code=case.code)


async def _province_may_decide(turn: Turn, link: GroupLink, case: Case) -> bool:
    """Take-over and send-back: the province group, on an escalated case."""
    if not _is_province(link):
        turn.answer("officer.province_only", alert=True)
        return False
    if case.escalated_at is None:
        turn.answer("officer.not_escalated", alert=True)
        await case_chats.refresh_cards(turn, case, chat_id=turn.event.chat_id)  # stale buttons
        return False
    return True


@officer.button_op(OP_TAKE_OVER)
async def on_take_over(turn: Turn, link: GroupLink, case: Case, arg: str | None) -> None:
    if not await _province_may_decide(turn, link, case):
        return
    if not await services.take_over_case(turn.session, case, actor=officer.actor_of(turn)):
        turn.answer("officer.already_taken_over", alert=True)
        return
    officer.log_action(turn, case, CaseAction.TAKE_OVER)
    turn.answer("officer.take_over_ok", code=case.code)
    await case_chats.refresh_cards(turn, case)
    for group in await services.ward_groups(turn.session, case.ward_code):
        await say_under_case(turn, case, "officer.province_took_over", group=group, code=case.code)


@officer.button_op(OP_SEND_BACK)
async def on_send_back(turn: Turn, link: GroupLink, case: Case, arg: str | None) -> None:
    if await _province_may_decide(turn, link, case):
        await officer.ask_for_text(turn, case, "send_back", "officer.prompt_send_back")


@officer.prompt_action("send_back")
async def on_send_back_reply(
    turn: Turn, link: GroupLink, case: Case, ref: MessageRef, text: str
) -> None:
    if not _is_province(link):
        await turn.send("officer.province_only")
        return
    if await _too_long_or_short(turn, case, ref, text, "officer.prompt_send_back", REASON_MAX):
        return
    if not await services.send_back_case(
        turn.session, case, actor=officer.actor_of(turn), reason=text
    ):
        await say_under_case(turn, case, "officer.not_escalated")
        return
    officer.log_action(turn, case, CaseAction.SEND_BACK)
    await case_chats.refresh_cards(turn, case)
    for group in await services.ward_groups(turn.session, case.ward_code):
        await say_under_case(
            turn, case, "officer.sent_back", group=group, code=case.code, reason=text
        )
    ward = turn.deps.gazetteer.ward(case.ward_code)
    await say_under_case(
        turn, case, "officer.send_back_ok", code=case.code, ward=ward.name if ward else "?"
    )


# ---------------------------------------------------------------- referral to another agency


@officer.button_op(OP_REFER)
async def on_refer(turn: Turn, link: GroupLink, case: Case, arg: str | None) -> None:
    await officer.ask_for_text(turn, case, "refer", "officer.prompt_refer")


def parse_referral(text: str) -> tuple[str, str] | None:
    """ "Công an tỉnh: dấu hiệu tội phạm" -> (agency, reason); None if it does not fit."""
    agency, colon, reason = text.partition(":")
    agency, reason = " ".join(agency.split()), reason.strip()
    if not colon or not TEXT_MIN <= len(agency) <= AGENCY_MAX:
        return None
    if not TEXT_MIN <= len(reason) <= REASON_MAX:
        return None
    return agency, reason


@officer.prompt_action("refer")
async def on_refer_reply(
    turn: Turn, link: GroupLink, case: Case, ref: MessageRef, text: str
) -> None:
    parsed = parse_referral(text)
    if parsed is None:
        await turn.send("officer.refer_format", agency_max=AGENCY_MAX, reason_max=REASON_MAX)
        await officer.ask_for_text(turn, case, "refer", "officer.prompt_refer")
        return
    agency, reason = parsed
    await services.refer_case(
        turn.session, case, actor=officer.actor_of(turn), agency=agency, reason=reason
    )
    officer.log_action(turn, case, CaseAction.REFER)
    await case_chats.refresh_cards(turn, case)
    await say_under_case(turn, case, "officer.referred_ok", code=case.code, agency=agency)
    # The reporter learns where their report went, not why (the reason may concern an
    # investigation).
    await case_chats.notify_reporter(turn, case, "notify.referred", agency=agency)
