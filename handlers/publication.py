"""Officers decide whether a closed case's result is published (Quy chế 174 Art. 5).

A closed case's result text is public (the web pages and Open311, bot/web/) unless an
officer of the case's ward or the province says not:

- a card button on a closed case: "Không công khai" (`c1:pub:<id>:off`) asks, with a reply
  prompt, for the reason; "Công khai lại" (`c1:pub:<id>:on`) publishes it again at once;
- `/khongcongkhai <code> <lý do>` does the same as the button and the reply in one line,
  `/congkhai <code>` reverses it.

Each change writes a log-book line with the reason (a NOTE line: the status stays) and
redraws the cards. The close prompt's notice that the result will be public is the
catalogue key `publication.notice`.
"""

from __future__ import annotations

import logging

from bot import services
from bot.i18n import t
from handlers import cards
from handlers.case_chats import refresh_cards
from handlers.context import OFFICER_LOCALE, Turn
from handlers.events import Button
from handlers.officer import actor_of, ask_for_text, button_op, group_command, prompt_action
from models.enums import CaseAction, CaseStatus
from models.tables import Case, GroupLink, MessageRef

log = logging.getLogger(__name__)

OP = "pub"
REASON_MIN = 2
REASON_MAX = 500
CLOSED = (CaseStatus.RESOLVED.value, CaseStatus.REJECTED.value)


def _publication_row(case: Case) -> list[list[Button]]:
    """On a closed case's card: keep its result off the public pages, or publish it again."""
    if case.status not in CLOSED or case.merged_into_id is not None:
        return []
    if case.result_public:
        return [[Button(t(OFFICER_LOCALE, "publication.btn_hide"), f"c1:{OP}:{case.id}:off")]]
    return [[Button(t(OFFICER_LOCALE, "publication.btn_show"), f"c1:{OP}:{case.id}:on")]]


cards.CARD_ROWS.append(_publication_row)


async def set_publication(turn: Turn, case: Case, public: bool, reason: str | None) -> None:
    """Publish a closed case's result or keep it off, with a log-book line; redraw the cards."""
    case.result_public = public
    case.result_public_reason = None if public else reason
    note = (
        turn.text("publication.log_shown")
        if public
        else turn.text("publication.log_hidden", reason=reason or "")
    )
    await services.note_event(turn.session, case, CaseAction.NOTE, actor=actor_of(turn), note=note)
    log.info(
        "case result %s",
        "published" if public else "not published",
        extra={"case": case.code, "chat": turn.event.chat_id, "update": turn.event.update_id},
    )
    await refresh_cards(turn, case)


@button_op(OP, on_closed=True)
async def on_publication_pressed(turn: Turn, link: GroupLink, case: Case, arg: str | None) -> None:
    """ "Không công khai" asks for the reason; "Công khai lại" publishes again."""
    if case.status not in CLOSED:
        turn.answer("publication.not_closed", alert=True)
        return
    if arg == "off" and case.result_public:
        await ask_for_text(turn, case, "unpublish", "publication.prompt_reason")
    elif arg == "on" and not case.result_public:
        await set_publication(turn, case, True, None)
        turn.answer("publication.shown_toast")
        await turn.send("publication.shown", code=case.code)
    else:  # a stale card
        turn.answer("officer.ok")
        await refresh_cards(turn, case, chat_id=turn.event.chat_id)


@prompt_action("unpublish", on_closed=True)
async def on_reason_reply(
    turn: Turn, link: GroupLink, case: Case, ref: MessageRef, text: str
) -> None:
    """The reason typed in reply to the prompt: the result is kept off the public pages."""
    if not REASON_MIN <= len(text) <= REASON_MAX:
        await turn.send("publication.reason_length", min=REASON_MIN, max=REASON_MAX)
        await ask_for_text(turn, case, "unpublish", "publication.prompt_reason")
        return
    if case.result_public:
        await set_publication(turn, case, False, text)
    await turn.send("publication.hidden", code=case.code)


async def _case_of_command(turn: Turn, link: GroupLink, code: str) -> Case | None:
    case = await services.case_by_code(turn.session, code) if code else None
    if case is None or not services.can_act_on(link, case) or case.merged_into_id is not None:
        await turn.send("publication.not_found", code=code[:20])
        return None
    if case.status not in CLOSED:
        await turn.send("publication.not_closed")
        return None
    return case


@group_command("khongcongkhai")
async def on_unpublish_command(turn: Turn, link: GroupLink) -> None:
    """/khongcongkhai <code> <lý do>: keep a closed case's result off the public pages."""
    parts = (turn.event.text or "").strip().split(maxsplit=1)
    if len(parts) < 2 or not REASON_MIN <= len(parts[1].strip()) <= REASON_MAX:
        await turn.send("publication.usage")
        return
    case = await _case_of_command(turn, link, parts[0])
    if case is None:
        return
    if case.result_public:
        await set_publication(turn, case, False, parts[1].strip())
    await turn.send("publication.hidden", code=case.code)


@group_command("congkhai")
async def on_publish_command(turn: Turn, link: GroupLink) -> None:
    """/congkhai <code>: publish a closed case's result again."""
    parts = (turn.event.text or "").strip().split()
    if not parts:
        await turn.send("publication.usage")
        return
    case = await _case_of_command(turn, link, parts[0])
    if case is None:
        return
    if not case.result_public:
        await set_publication(turn, case, True, None)
    await turn.send("publication.shown", code=case.code)
