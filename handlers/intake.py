"""The citizen's report, step by step, in a private chat.

A plain state machine over the conversation row: each event moves the draft on and queues
the next question. The flow diagram lives next to this file in `intake.mmd`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any

from bot import services
from bot.geo import LocateResult, fold, parse_coordinates
from bot.i18n import SUPPORTED, t
from bot.services.notices import send_held
from handlers import audience, cards, case_chats, conversation, duplicates, filing, followup
from handlers.context import Turn, local_time
from handlers.conversation import Markup
from handlers.events import Button, KeyButton, Outgoing
from handlers.evidence import store_files
from handlers.language import detect_language
from models.enums import Category, LocationSource, Nature
from models.tables import Reporter

log = logging.getLogger(__name__)
DESCRIPTION_MIN = 10
DESCRIPTION_MAX = 3000
SOURCE_MAX = 200
ADDRESS_MAX = 500
QUOTE_MAX = 40  # the most of a person's text quoted back to them
PHONE_RE = re.compile(r"^\+?[0-9 ().-]{6,20}$")

# The order of the steps; `summary` is where a changed field returns to.
STEPS = ("category", "location", "ward", "evidence", "description", "nature", "source", "contact")
EDITABLE = {
    "category": "category",
    "location": "location",
    "evidence": "evidence",
    "description": "description",
    "nature": "nature",
    "source": "source",
    "contact": "contact",
}
CATEGORY_EMOJI = {
    Category.WASTEWATER: "💧",
    Category.EMISSIONS: "🏭",
    Category.SOLID_WASTE: "🗑",
    Category.NOISE: "🔊",
    Category.ODOUR: "👃",
    Category.OTHER: "❓",
}
ANONYMOUS_WORDS = {"an danh", "ẩn danh", "anonymous", "anon"}

# What each step needs, said again (with its buttons) whenever the input does not fit.
NEED_KEY = {
    "category": "intake.choose_category",
    "location": "intake.need_location",
    "ward": "intake.need_ward",
    "evidence": "intake.need_evidence",
    "description": "intake.need_description",
    "nature": "intake.choose_nature",
    "source": "intake.need_source",
    "contact": "intake.choose_contact",
    "summary": "intake.confirm_or_change",
}

# Forwarded messages (decided, and told in the README): a forwarded photo, video or
# document is evidence like any other; a forwarded text counts as typed (a description
# copied from a neighbour's message is welcome); a forwarded contact is never taken as
# the reporter's own phone number (the adapter sets contact_is_own=False); a forwarded
# command is plain text. Posts on behalf of channels never reach this module.


# ---------------------------------------------------------------- entry point


async def handle_private(turn: Turn, reporter: Reporter) -> None:
    """Handle one event from a citizen's private chat."""
    ev = turn.event
    conv = await services.load_conversation(turn.session, ev.channel, ev.user_id)
    state = conv.state if conv else None
    data: dict[str, Any] = dict(conv.data) if conv else {}

    if ev.kind == "edited":
        # An edit of an earlier message never changes the draft or a filed case.
        key = "intake.edit_ignored_summary" if state == "summary" else "intake.edit_ignored"
        await turn.send(key)
        return
    # A reply to an officer's question goes to the case, whatever the draft is doing.
    if await followup.try_answer(turn, reporter):
        return
    if ev.kind == "command":
        await _on_command(turn, reporter, state, data)
        return
    if ev.kind == "button" and (ev.button_data or "").startswith("c1:lang:"):
        await _on_lang_chosen(turn, reporter, state, data)
        return
    if ev.kind == "button" and ev.button_data in ("c1:resume:go", "c1:resume:new"):
        await _on_resume_choice(turn, state, data)
        return
    # Buttons about a filed case (in /mycases, or the satisfaction question): any state.
    if ev.kind == "button" and (ev.button_data or "").startswith("c1:add:"):
        await followup.start_add(turn, state, data)
        return
    if ev.kind == "button" and (ev.button_data or "").startswith("c1:sat:"):
        await followup.on_satisfaction(turn, state, data)
        return
    if ev.kind == "button" and ev.button_data == START_BUTTON:
        if state is None:  # the idle hint's button: as /report
            await _start_report(turn, {})
        else:
            await conversation.prompt_step(turn, state, data)  # a report is under way
        return
    if state is None:
        await _on_idle(turn, reporter)
        return
    registered = conversation.STATES.get(state)
    if registered is None:  # a state from an older version: start the report again
        await _start_report(turn, {})
        return
    if ev.kind == "text" and not (ev.text or "").strip():
        # An empty or blank message, whatever the step.
        await conversation.refuse(turn, state, data)
        return
    if state in STEPS and (
        (ev.kind == "text" and is_back(ev.text))
        or (ev.kind == "button" and ev.button_data == BACK_BUTTON)
    ):
        await go_back(turn, state, data)  # "quay lai" is never taken as a ward or a text
        return
    await registered.handle(turn, data)


# ---------------------------------------------------------------- commands


async def _on_command(
    turn: Turn, reporter: Reporter, state: str | None, data: dict[str, Any]
) -> None:
    cmd = turn.event.command
    if turn.event.other_bot:  # /report@otherbot typed here
        await _refuse_command(turn, state, data)
        return
    if cmd in ("start", "report") and state in followup.MODE_STATES:
        # A new report ends the mode (its unsent pieces dropped); a suspended draft is back.
        followup.discard_mode_files(turn, data)
        await turn.send(
            "intake.followup_cancelled" if state == "followup" else "intake.sat_comment_skipped",
            code=data.get("code", ""),
        )
        suspended = data.get("suspended")
        if suspended:
            state, data = suspended["state"], dict(suspended["data"])
            await conversation.save_state(turn, state, data)
        else:
            state, data = None, {}
            await services.clear_conversation(turn.session, turn.event.channel, turn.event.user_id)
    if cmd in ("start", "report"):
        if state is not None and state != "category":
            await turn.send(
                "intake.resume_question",
                buttons=[
                    [Button(turn.text("btn.resume_continue"), "c1:resume:go")],
                    [Button(turn.text("btn.resume_restart"), "c1:resume:new")],
                ],
            )
            return
        if cmd == "start":
            await turn.send(
                "intake.welcome",
                province=turn.deps.gazetteer.province_name,
                remove_keyboard=True,
            )
        await _start_report(turn, {})
    elif cmd == "cancel":
        if state is None:
            await turn.send("intake.nothing_to_cancel", remove_keyboard=True)
            return
        if state in followup.MODE_STATES:  # ends the mode only; a suspended draft is back
            await followup.cancel_mode(turn, state, data)
            return
        filing.discard_files(turn, data)
        await services.clear_conversation(turn.session, turn.event.channel, turn.event.user_id)
        await turn.send("intake.cancelled", remove_keyboard=True)
    elif cmd == "mycases":
        await _send_my_cases(turn, reporter)
    elif cmd == "help":
        await turn.send("intake.help", max_photos=turn.deps.max_photos)
    elif cmd == "lang":
        await turn.send(
            "intake.lang_question",
            buttons=[[Button("🇻🇳 Tiếng Việt", "c1:lang:vi"), Button("🇬🇧 English", "c1:lang:en")]],
        )
    else:
        await _refuse_command(turn, state, data)


async def _refuse_command(turn: Turn, state: str | None, data: dict[str, Any]) -> None:
    """An unknown or malformed command ("/", "/report@otherbot"): say so, then the step."""
    if state is None or state not in conversation.STATES:
        await turn.send(conversation.lead_key(turn, None) or "intake.unknown_command")
        return
    await conversation.refuse(turn, state, data)


async def _on_lang_chosen(
    turn: Turn, reporter: Reporter, state: str | None, data: dict[str, Any]
) -> None:
    choice = (turn.event.button_data or "").rsplit(":", 1)[-1]
    if choice not in ("vi", "en"):
        turn.answer("intake.stale_button")
        return
    reporter.language = choice
    reporter.language_chosen = True
    turn.locale = choice
    turn.answer("intake.lang_set")
    await turn.send("intake.lang_set")
    if state is not None:
        await conversation.prompt_step(turn, state, data)


async def _on_resume_choice(turn: Turn, state: str | None, data: dict[str, Any]) -> None:
    if state is None:
        turn.answer("intake.stale_button")
        return
    if turn.event.button_data == "c1:resume:new":
        filing.discard_files(turn, data)
        await _start_report(turn, {})
    else:
        await conversation.prompt_step(turn, state, data)


START_BUTTON = "c1:start:go"  # under the idle hint: start a report


async def _on_idle(turn: Turn, reporter: Reporter) -> None:
    """A message outside any report: say what was wrong with it, if anything; point to /report."""
    if turn.event.kind == "button":
        turn.answer("intake.stale_button")
    lead = conversation.lead_key(turn, None)
    parts = [turn.text(lead)] if lead else []
    parts.append(turn.text("intake.idle_hint"))
    start = [[Button(turn.text("btn.start_report"), START_BUTTON)]]
    await turn.send("\n".join(parts), raw=True, buttons=start)


MYCASES_BUTTONS = 10  # ➕ buttons under /mycases: the latest open cases


async def _send_my_cases(turn: Turn, reporter: Reporter) -> None:
    """The reporter's cases, filed or joined; a ➕ button for each open one."""
    cases = await services.cases_of_reporter_or_joined(turn.session, reporter.id or 0)
    if not cases:
        await turn.send("intake.mycases_empty")
        return
    lines = [turn.text("intake.mycases_header")]
    rows: list[list[Button]] = []
    for case, joined in cases:
        ward = turn.deps.gazetteer.ward(case.ward_code)
        if case.merged_into_id is not None:
            into = await services.get_case(turn.session, case.merged_into_id)
            status = turn.text("intake.mycases_merged", code=into.code if into else "?")
        else:
            status = turn.text(f"status.{case.status}")
        if joined:
            status += " · " + turn.text("intake.mycases_joined")
        lines.append(
            turn.text(
                "intake.mycases_line",
                code=case.code,
                category=turn.text(f"category.{case.category}"),
                ward=ward.name if ward else case.ward_code,
                status=status,
                filed=local_time(case.filed_at),
            )
        )
        if case_chats.is_open(case) and len(rows) < MYCASES_BUTTONS:
            rows.append([Button(turn.text("btn.add_info", code=case.code), f"c1:add:{case.id}")])
    if rows:
        lines.append(turn.text("intake.mycases_add_hint"))
    await turn.send("\n".join(lines), raw=True, buttons=rows)


# ---------------------------------------------------------------- prompts


async def _start_report(turn: Turn, data: dict[str, Any]) -> None:
    await conversation.save_state(turn, "category", data)
    await conversation.prompt_step(turn, "category", data)


BACK_BUTTON = "c1:back"  # «⬅️ Quay lại» in a report's step (an officer's has a case id)


def _with_back(turn: Turn, state: str, data: dict[str, Any], markup: Markup) -> Markup:
    """Every step after the first offers «⬅️ Quay lại» (typing "quay lai" works too): a
    button under the step's own, or a key of its keyboard where the step has one (a
    message carries buttons or a keyboard, not both). Not while a field is being changed
    from the summary, which the step's answer returns to."""
    if state not in STEPS or state == STEPS[0] or data.get("editing"):
        return markup
    if markup.keyboard:
        return replace(markup, keyboard=[*markup.keyboard, [KeyButton(turn.text("btn.back"))]])
    back = Button(turn.text("btn.back"), BACK_BUTTON)
    return replace(markup, buttons=[*(markup.buttons or []), [back]])


def _markup(turn: Turn, state: str, data: dict[str, Any]) -> Markup:
    if state == "category":
        rows = [
            [
                Button(
                    f"{CATEGORY_EMOJI[c]} {turn.text(f'category.{c.value}')}", f"c1:cat:{c.value}"
                )
            ]
            for c in Category
        ]
        return Markup(buttons=rows, remove_keyboard=True)
    if state == "location":
        return Markup(
            keyboard=[[KeyButton(turn.text("btn.send_location"), request_location=True)]]
        )
    if state == "ward":
        return Markup(buttons=_ward_rows(turn, data))
    if state == "evidence":
        return Markup(buttons=[[_evidence_button(turn, data)]], remove_keyboard=True)
    if state == "nature":
        return Markup(
            buttons=[[Button(turn.text(f"nature.{n.value}"), f"c1:nat:{n.value}")] for n in Nature]
        )
    if state == "source":
        return Markup(buttons=[[Button(turn.text("btn.skip"), "c1:src:skip")]])
    if state == "contact":
        return Markup(
            keyboard=[
                [KeyButton(turn.text("btn.share_phone"), request_contact=True)],
                [KeyButton(turn.text("btn.anonymous"))],
            ]
        )
    if state == "summary":
        return Markup(buttons=filing.summary_rows(turn))
    return Markup()  # description: free text


async def _ask(turn: Turn, state: str, data: dict[str, Any]) -> None:
    """Ask the question of one of the report's steps."""
    if state == "ward":
        await _ask_ward(turn, data)
        return
    if state == "summary":
        await _send_summary(turn, data)
        return
    if state == "contact":
        await _ask_contact(turn, data)
        return
    questions: dict[str, tuple[str, dict[str, object]]] = {
        "category": ("intake.ask_category", {}),
        "location": ("intake.ask_location", {"province": turn.deps.gazetteer.province_name}),
        "evidence": (
            "intake.ask_evidence",
            {"max_photos": turn.deps.max_photos, "max_mb": turn.deps.max_file_mb},
        ),
        "description": (
            "intake.ask_description",
            {"min": DESCRIPTION_MIN, "max": DESCRIPTION_MAX},
        ),
        "nature": ("intake.ask_nature", {}),
        "source": ("intake.ask_source", {}),
    }
    if state not in questions:
        return
    key, params = questions[state]
    markup = conversation.step_markup(turn, state, data)
    await turn.send(
        turn.text(key, **params),
        raw=True,
        buttons=markup.buttons,
        keyboard=markup.keyboard,
        remove_keyboard=markup.remove_keyboard,
    )


def _evidence_button(turn: Turn, data: dict[str, Any]) -> Button:
    if data.get("evidence"):
        return Button(turn.text("btn.evidence_done"), "c1:ev:done")
    return Button(turn.text("btn.skip"), "c1:ev:done")


async def _advance(turn: Turn, data: dict[str, Any], finished: str) -> None:
    """Go to the step after `finished`, or back to the summary when changing a field."""
    # A changed location still needs its ward confirmed before the summary.
    if data.get("editing") and finished != "location":
        data.pop("editing", None)
        nxt = "summary"
    else:
        nxt = STEPS[STEPS.index(finished) + 1] if finished != STEPS[-1] else "summary"
    await conversation.save_state(turn, nxt, data)
    await conversation.prompt_step(turn, nxt, data)


def _need_text(turn: Turn, state: str) -> str:
    if state == "evidence":
        return turn.text(NEED_KEY[state], max_mb=turn.deps.max_file_mb)
    if state == "description":
        return turn.text(NEED_KEY[state], min=DESCRIPTION_MIN, max=DESCRIPTION_MAX)
    return turn.text(NEED_KEY[state])


def _quote(text: str) -> str:
    """A person's text, shortened before it is quoted back to them."""
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_MAX else text[: QUOTE_MAX - 1] + "…"


# ---------------------------------------------------------------- step handlers


_WORD_RE = re.compile(r"[a-z0-9]+")
# Typed at any step of a report: back to the step before (accents and case do not matter).
BACK_WORDS = frozenset({"quay lai", "tro lai", "back", "go back", "quay ve"})


def is_back(text: str | None) -> bool:
    """Whether a typed text asks to go back one step ("quay lai", "back")."""
    return bool(text) and " ".join(_WORD_RE.findall(fold(text or ""))) in BACK_WORDS


async def go_back(turn: Turn, state: str, data: dict[str, Any]) -> None:
    """Back to the step before `state` (the first step asks itself again)."""
    index = STEPS.index(state)
    previous = STEPS[max(index - 1, 0)]
    await conversation.save_state(turn, previous, data)
    await conversation.prompt_step(turn, previous, data)


async def _on_category(turn: Turn, data: dict[str, Any]) -> None:
    ev = turn.event
    value = (ev.button_data or "").removeprefix("c1:cat:") if ev.kind == "button" else None
    if ev.kind == "text" and ev.text:
        value = _category_from_text(turn, ev.text)
    if value not in {c.value for c in Category}:
        await conversation.refuse(turn, "category", data)
        return
    data["category"] = value
    if ev.kind == "button":
        turn.answer("intake.noted")
    await _advance(turn, data, "category")


def _category_from_text(turn: Turn, text: str) -> str | None:
    """A typed category: the whole label, or words of one label only ("khoi bui" is
    "Khói, bụi, khí thải"; "thai" alone fits three labels and is asked again)."""
    folded = fold(text)
    words = set(_WORD_RE.findall(folded))
    found: set[str] = set()
    for c in Category:
        for loc in SUPPORTED:
            label = fold(t(loc, f"category.{c.value}"))
            if label == folded:
                return c.value
            if words and words <= set(_WORD_RE.findall(label)):
                found.add(c.value)
    return found.pop() if len(found) == 1 else None


async def _on_location(turn: Turn, data: dict[str, Any]) -> None:
    """The place: a pin, typed coordinates or an address (new or old style)."""
    ev = turn.event
    if ev.kind == "location" and ev.latitude is not None and ev.longitude is not None:
        await _place_pin(turn, data, (ev.latitude, ev.longitude), "location")
    elif ev.kind == "text" and ev.text and ev.text.strip():
        await _place_text(turn, data, ev.text.strip(), "location")
    else:
        await conversation.refuse(turn, "location", data)


async def _place_text(turn: Turn, data: dict[str, Any], text: str, state: str) -> None:
    """Typed text at the location or ward step: coordinates, an address or a ward's name.

    Nothing recognised: said so (no guess offered), and the next text may be the address
    again or the ward's name. At the ward step a ward's name keeps the address given before;
    anything else that is recognised is the new address.
    """
    gaz = turn.deps.gazetteer
    if len(text) > ADDRESS_MAX:
        await conversation.refuse(
            turn, state, data, lead=turn.text("intake.address_too_long", max=ADDRESS_MAX)
        )
        return
    point = parse_coordinates(text)  # coordinates typed or pasted from a map app
    if point is not None:
        await _place_pin(turn, data, point, state)
        return
    result = gaz.locate(text)
    if await _explain_outside(turn, result, state, data):
        return
    if not result.suggestions:
        if state == "location":  # kept: the ward's name may follow
            data.update(
                location_source=LocationSource.ADDRESS.value,
                latitude=None,
                longitude=None,
                address=text,
                suggestions=[],
            )
            await conversation.save_state(turn, "ward", data)
        await turn.send(
            "intake.place_not_found",
            text=_quote(text),
            province=gaz.province_name,
            buttons=_ward_rows(turn, data) if data.get("suggestions") else None,
        )
        return
    named_only = state == "ward" and data.get("location_source") and gaz.is_ward_name(text)
    if not named_only:
        data.update(
            location_source=LocationSource.ADDRESS.value,
            latitude=None,
            longitude=None,
            address=text,
        )
    data["suggestions"] = [s.ward.code for s in result.suggestions[:3]]
    await conversation.save_state(turn, "ward", data)
    await _ask_ward(turn, data)


async def _place_pin(
    turn: Turn, data: dict[str, Any], point: tuple[float, float], state: str
) -> None:
    """A GPS point (shared or typed): the nearest wards of the province, to confirm."""
    lat, lon = point
    result = turn.deps.gazetteer.locate_point(lat, lon)
    if await _explain_outside(turn, result, state, data):
        return
    data.update(
        location_source=LocationSource.GPS.value, latitude=lat, longitude=lon, address=None
    )
    data["suggestions"] = [s.ward.code for s in result.suggestions[:3]]
    await conversation.save_state(turn, "ward", data)
    await _ask_ward(turn, data)


async def _explain_outside(
    turn: Turn, result: LocateResult, state: str, data: dict[str, Any]
) -> bool:
    if not result.outside:
        return False
    key = "intake.outside_named" if result.other_province else "intake.outside_unknown"
    await turn.send(
        key,
        province=turn.deps.gazetteer.province_name,
        other=result.other_province or "",
    )
    await conversation.prompt_step(turn, state, data)
    return True


def _ward_rows(turn: Turn, data: dict[str, Any]) -> list[list[Button]]:
    rows = []
    for code in data.get("suggestions", []):
        ward = turn.deps.gazetteer.ward(code)
        if ward:
            rows.append([Button(f"✅ {ward.name}", f"c1:ward:{code}")])
    if rows:  # with nothing suggested, the question itself asks for a name or an address
        rows.append([Button(turn.text("btn.other_ward"), "c1:wother")])
    return rows


async def _ask_ward(turn: Turn, data: dict[str, Any]) -> None:
    gaz = turn.deps.gazetteer
    suggested = bool(_ward_rows(turn, data))
    rows = conversation.step_markup(turn, "ward", data).buttons
    if data.get("location_source") == LocationSource.GPS.value:
        where = f"📍 {data['latitude']:.5f}, {data['longitude']:.5f}"
    else:
        where = data.get("address") or ""
    key = "intake.confirm_ward" if suggested else "intake.ask_ward_name"
    await turn.send(key, where=where, province=gaz.province_name, buttons=rows)


async def _on_ward(turn: Turn, data: dict[str, Any]) -> None:
    """The ward in charge: a suggested ward's button, or a ward's name, an address or a pin."""
    ev = turn.event
    gaz = turn.deps.gazetteer
    if ev.kind == "button" and (ev.button_data or "").startswith("c1:ward:"):
        code = (ev.button_data or "").removeprefix("c1:ward:")
        ward = gaz.ward(code)
        if ward is None or code not in data.get("suggestions", []):
            await conversation.refuse(turn, "ward", data)
            return
        data["ward_code"] = code
        turn.answer("intake.noted")
        await turn.send("intake.ward_confirmed", ward=ward.name, remove_keyboard=True)
        await _advance(turn, data, "ward")
        return
    if ev.kind == "button" and ev.button_data == "c1:wother":
        turn.answer("intake.noted")
        await turn.send("intake.ask_ward_name", province=gaz.province_name)
        return
    if ev.kind == "location" and ev.latitude is not None and ev.longitude is not None:
        # A new pin replaces the old one.
        await _place_pin(turn, data, (ev.latitude, ev.longitude), "ward")
        return
    if ev.kind == "text" and ev.text and ev.text.strip():
        await _place_text(turn, data, ev.text.strip(), "ward")
        return
    await conversation.refuse(turn, "ward", data)


async def _on_evidence(turn: Turn, data: dict[str, Any]) -> None:
    ev = turn.event
    deps = turn.deps
    if ev.kind == "button" and ev.button_data == "c1:ev:done":
        turn.answer("intake.noted")
        await _advance(turn, data, "evidence")
        return
    if ev.kind != "media" or not ev.files:
        await conversation.refuse(turn, "evidence", data)
        return
    evidence: list[dict[str, Any]] = list(data.get("evidence", []))
    evidence.extend(await store_files(turn, evidence, ev.files))
    data["evidence"] = evidence
    await conversation.save_state(turn, "evidence", data)
    photos = sum(1 for item in evidence if item["kind"] == "photo")
    others = len(evidence) - photos
    # Photos sent one by one (Zalo has no albums) get one count, not one each: the count
    # waits a moment for the next photo, which replaces it (bot/services/notices.py).
    await send_held(
        turn.session,
        ev.channel,
        Outgoing(
            chat_id=ev.chat_id,
            text=turn.text(
                "intake.evidence_received",
                photos=photos,
                max_photos=deps.max_photos,
                others=others,
            ),
            buttons=[[_evidence_button(turn, data)]],
        ),
        purpose="evidence_ack",
        hold_s=deps.evidence_ack_hold_s,
        join="replace",
    )


async def _on_description(turn: Turn, data: dict[str, Any]) -> None:
    ev = turn.event
    if ev.kind != "text" or ev.text is None:
        await conversation.refuse(turn, "description", data)
        return
    text = ev.text.strip()
    if len(text) < DESCRIPTION_MIN:
        await turn.send("intake.description_too_short", min=DESCRIPTION_MIN)
        return
    if len(text) > DESCRIPTION_MAX:
        await turn.send("intake.description_too_long", max=DESCRIPTION_MAX, length=len(text))
        return
    data["description"] = text
    data["description_language"] = detect_language(text)
    await _advance(turn, data, "description")


async def _on_nature(turn: Turn, data: dict[str, Any]) -> None:
    ev = turn.event
    value = (ev.button_data or "").removeprefix("c1:nat:") if ev.kind == "button" else None
    if value not in {n.value for n in Nature}:
        await conversation.refuse(turn, "nature", data)
        return
    data["nature"] = value
    turn.answer("intake.noted")
    await _advance(turn, data, "nature")


async def _on_source(turn: Turn, data: dict[str, Any]) -> None:
    ev = turn.event
    if ev.kind == "button" and ev.button_data == "c1:src:skip":
        data["suspected_source"] = None
        turn.answer("intake.noted")
    elif ev.kind == "text" and ev.text and ev.text.strip():
        text = ev.text.strip()
        if len(text) > SOURCE_MAX:
            await turn.send("intake.source_too_long", max=SOURCE_MAX)
            return
        data["suspected_source"] = text
    else:
        await conversation.refuse(turn, "source", data)
        return
    await _advance(turn, data, "source")


async def _ask_contact(turn: Turn, data: dict[str, Any]) -> None:
    """The contact step's question, saying who exactly would see the number: the ward's
    receiving officers, or the province's while the ward has no group (handlers/audience.py)."""
    code = str(data.get("ward_code") or "")
    ward = turn.deps.gazetteer.ward(code)
    name = ward.name if ward else "?"
    if code and await audience.contact_goes_to_stand_in(turn.session, code):
        text = turn.text(
            "intake.ask_contact_stand_in", ward=name, province=turn.deps.gazetteer.province_name
        )
    else:
        text = turn.text("intake.ask_contact", ward=name)
    await turn.send(
        text, raw=True, keyboard=conversation.step_markup(turn, "contact", data).keyboard
    )


async def _on_contact(turn: Turn, data: dict[str, Any]) -> None:
    ev = turn.event
    if ev.kind == "contact" and ev.phone:
        keyboard = conversation.step_markup(turn, "contact", data).keyboard
        if not ev.contact_is_own:  # someone else's card, or a forwarded one
            await turn.send("intake.contact_not_own", keyboard=keyboard)
            return
        phone = ev.phone.strip()
        if not PHONE_RE.match(phone):
            await turn.send("intake.contact_invalid", keyboard=keyboard)
            return
        # The number alone: the reporter was asked for it, not for their Telegram name.
        data.update(contact_shared=True, contact_phone=phone, contact_name=None)
        ward = turn.deps.gazetteer.ward(str(data.get("ward_code") or ""))
        await turn.send(
            "intake.contact_saved", remove_keyboard=True, ward=ward.name if ward else "?"
        )
    elif ev.kind == "text" and ev.text and _is_anonymous_choice(ev.text):
        data.update(contact_shared=False, contact_phone=None, contact_name=None)
        await turn.send("intake.anonymous_saved", remove_keyboard=True)
    elif ev.kind == "text" and ev.text and PHONE_RE.match(ev.text.strip()):
        # A typed number could be anyone's: only the share button proves it is theirs.
        await conversation.refuse(turn, "contact", data, lead=turn.text("intake.contact_typed"))
        return
    else:
        await conversation.refuse(turn, "contact", data)
        return
    await _advance(turn, data, "contact")


def _is_anonymous_choice(text: str) -> bool:
    """The reporter pressed 'stay anonymous' (in either language) or typed it."""
    labels = {fold(t(loc, "btn.anonymous")) for loc in SUPPORTED}
    folded = fold(text)
    return folded in labels or folded in {fold(w) for w in ANONYMOUS_WORDS}


async def _send_summary(turn: Turn, data: dict[str, Any]) -> None:
    # Plain text (no parse mode): the person's own words need no escaping.
    text = cards.render_summary(turn, data)
    await turn.send(text, raw=True, buttons=filing.summary_rows(turn), remove_keyboard=False)


async def _on_summary(turn: Turn, data: dict[str, Any]) -> None:
    ev = turn.event
    choice = ev.button_data or "" if ev.kind == "button" else ""
    if choice == "c1:sum:ok":
        turn.answer("intake.noted")
        # The same incident may already be reported: offer to join it before filing.
        if await duplicates.offer_if_any(turn, data):
            return
        await filing.file_case(turn, data)
        return
    if choice == "c1:sum:cancel":
        turn.answer("intake.cancelled")
        filing.discard_files(turn, data)
        await services.clear_conversation(turn.session, ev.channel, ev.user_id)
        await turn.send("intake.cancelled", remove_keyboard=True)
        return
    if choice.startswith("c1:edit:") and choice.removeprefix("c1:edit:") in EDITABLE:
        target = EDITABLE[choice.removeprefix("c1:edit:")]
        turn.answer("intake.noted")
        data["editing"] = True
        await conversation.save_state(turn, target, data)
        await conversation.prompt_step(turn, target, data)
        return
    await conversation.refuse(turn, "summary", data)


# ---------------------------------------------------------------- the report's states


def _state(name: str, handle: conversation.StepHandler) -> conversation.State:
    async def ask(turn: Turn, data: dict[str, Any]) -> None:
        await _ask(turn, name, data)

    def markup(turn: Turn, data: dict[str, Any]) -> Markup:
        return _with_back(turn, name, data, _markup(turn, name, data))

    def need(turn: Turn) -> str:
        return _need_text(turn, name)

    return conversation.State(handle=handle, prompt=ask, need=need, markup=markup)


for _name, _handle in {
    "category": _on_category,
    "location": _on_location,
    "ward": _on_ward,
    "evidence": _on_evidence,
    "description": _on_description,
    "nature": _on_nature,
    "source": _on_source,
    "contact": _on_contact,
    "summary": _on_summary,
}.items():
    conversation.register(_name, _state(_name, _handle))
