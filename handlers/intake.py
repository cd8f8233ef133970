"""The citizen's report, step by step, in a private chat.

A plain state machine over the conversation row: each event moves the draft on and queues
the next question. The flow diagram lives next to this file in `intake.mmd`.
"""

from __future__ import annotations

import re
from typing import Any

from bot import services
from bot.geo import LocateResult, fold, parse_coordinates
from bot.i18n import SUPPORTED, t
from bot.media import FileTooLarge
from handlers import cards
from handlers.context import Turn, local_time
from handlers.events import Button, KeyButton
from handlers.language import detect_language, normalize_locale
from models.enums import Category, LocationSource, Nature
from models.tables import Reporter

DESCRIPTION_MIN = 10
DESCRIPTION_MAX = 3000
SOURCE_MAX = 200
MAX_OTHER_FILES = 5  # videos, voice notes and documents, besides the photos
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


def reporter_locale(reporter: Reporter, language_code: str | None) -> str:
    """The reply language: /lang choice, else the client's language, else detected, else vi."""
    if reporter.language_chosen and reporter.language:
        return reporter.language
    return normalize_locale(language_code) or reporter.language or "vi"


# ---------------------------------------------------------------- entry point


async def handle_private(turn: Turn, reporter: Reporter) -> None:
    """Handle one event from a citizen's private chat."""
    ev = turn.event
    conv = await services.load_conversation(turn.session, ev.channel, ev.user_id)
    state = conv.state if conv else None
    data: dict[str, Any] = dict(conv.data) if conv else {}

    if ev.kind == "command":
        await _on_command(turn, reporter, state, data)
        return
    if ev.kind == "button" and (ev.button_data or "").startswith("c1:lang:"):
        await _on_lang_chosen(turn, reporter, state, data)
        return
    if ev.kind == "button" and ev.button_data in ("c1:resume:go", "c1:resume:new"):
        await _on_resume_choice(turn, state, data)
        return
    if state is None:
        await _on_idle(turn, reporter)
        return
    handler = _STATE_HANDLERS.get(state)
    if handler is None:  # a state from an older version: start the report again
        await _start_report(turn, {})
        return
    await handler(turn, data)


async def _save(turn: Turn, state: str, data: dict[str, Any]) -> None:
    ev = turn.event
    await services.save_conversation(turn.session, ev.channel, ev.user_id, ev.chat_id, state, data)


# ---------------------------------------------------------------- commands


async def _on_command(
    turn: Turn, reporter: Reporter, state: str | None, data: dict[str, Any]
) -> None:
    cmd = turn.event.command
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
        _discard_files(turn, data)
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
        await turn.send("intake.unknown_command")


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
        await _prompt(turn, state, data)


async def _on_resume_choice(turn: Turn, state: str | None, data: dict[str, Any]) -> None:
    if state is None:
        turn.answer("intake.stale_button")
        return
    if turn.event.button_data == "c1:resume:new":
        _discard_files(turn, data)
        await _start_report(turn, {})
    else:
        await _prompt(turn, state, data)


async def _on_idle(turn: Turn, reporter: Reporter) -> None:
    """A message outside any report: point to /report."""
    ev = turn.event
    if ev.kind == "button":
        turn.answer("intake.stale_button")
        return
    await turn.send("intake.idle_hint")


async def _send_my_cases(turn: Turn, reporter: Reporter) -> None:
    cases = await services.cases_of_reporter(turn.session, reporter.id or 0)
    if not cases:
        await turn.send("intake.mycases_empty")
        return
    lines = [turn.text("intake.mycases_header")]
    for case in cases:
        ward = turn.deps.gazetteer.ward(case.ward_code)
        lines.append(
            turn.text(
                "intake.mycases_line",
                code=case.code,
                category=turn.text(f"category.{case.category}"),
                ward=ward.name if ward else case.ward_code,
                status=turn.text(f"status.{case.status}"),
                filed=local_time(case.filed_at),
            )
        )
    await turn.send("\n".join(lines), raw=True)


# ---------------------------------------------------------------- prompts


async def _start_report(turn: Turn, data: dict[str, Any]) -> None:
    await _save(turn, "category", data)
    await _prompt(turn, "category", data)


async def _prompt(turn: Turn, state: str, data: dict[str, Any]) -> None:
    """Ask the question of `state`."""
    if state == "category":
        rows = [
            [
                Button(
                    f"{CATEGORY_EMOJI[c]} {turn.text(f'category.{c.value}')}", f"c1:cat:{c.value}"
                )
            ]
            for c in Category
        ]
        await turn.send("intake.ask_category", buttons=rows, remove_keyboard=True)
    elif state == "location":
        await turn.send(
            "intake.ask_location",
            province=turn.deps.gazetteer.province_name,
            keyboard=[[KeyButton(turn.text("btn.send_location"), request_location=True)]],
        )
    elif state == "ward":
        await _ask_ward(turn, data)
    elif state == "evidence":
        await turn.send(
            "intake.ask_evidence",
            max_photos=turn.deps.max_photos,
            max_mb=turn.deps.max_file_mb,
            buttons=[[_evidence_button(turn, data)]],
            remove_keyboard=True,
        )
    elif state == "description":
        await turn.send("intake.ask_description", min=DESCRIPTION_MIN, max=DESCRIPTION_MAX)
    elif state == "nature":
        await turn.send(
            "intake.ask_nature",
            buttons=[
                [Button(turn.text(f"nature.{n.value}"), f"c1:nat:{n.value}")] for n in Nature
            ],
        )
    elif state == "source":
        await turn.send(
            "intake.ask_source", buttons=[[Button(turn.text("btn.skip"), "c1:src:skip")]]
        )
    elif state == "contact":
        await turn.send(
            "intake.ask_contact",
            keyboard=[
                [KeyButton(turn.text("btn.share_phone"), request_contact=True)],
                [KeyButton(turn.text("btn.anonymous"))],
            ],
        )
    elif state == "summary":
        await _send_summary(turn, data)


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
    await _save(turn, nxt, data)
    await _prompt(turn, nxt, data)


async def _refuse(turn: Turn, key: str, state: str, data: dict[str, Any]) -> None:
    """Explain what is wrong and ask the same question again."""
    if turn.event.kind == "button":
        turn.answer(key)
    await turn.send(key)
    await _prompt(turn, state, data)


def _wrong_input_key(turn: Turn) -> str:
    ev = turn.event
    if ev.kind == "unsupported":
        return "intake.unsupported_here"
    if ev.kind == "button":
        return "intake.stale_button"
    return "intake.wrong_input"


# ---------------------------------------------------------------- step handlers


async def _on_category(turn: Turn, data: dict[str, Any]) -> None:
    ev = turn.event
    value = (ev.button_data or "").removeprefix("c1:cat:") if ev.kind == "button" else None
    if ev.kind == "text" and ev.text:
        value = _category_from_text(turn, ev.text)
    if value not in {c.value for c in Category}:
        await _refuse(turn, "intake.choose_category", "category", data)
        return
    data["category"] = value
    if ev.kind == "button":
        turn.answer("intake.noted")
    await _advance(turn, data, "category")


def _category_from_text(turn: Turn, text: str) -> str | None:
    folded = fold(text)
    for c in Category:
        for loc in SUPPORTED:
            if fold(t(loc, f"category.{c.value}")) == folded:
                return c.value
    return None


async def _on_location(turn: Turn, data: dict[str, Any]) -> None:
    ev = turn.event
    gaz = turn.deps.gazetteer
    point: tuple[float, float] | None = None
    if ev.kind == "location" and ev.latitude is not None and ev.longitude is not None:
        point = (ev.latitude, ev.longitude)
    elif ev.kind == "text" and ev.text:
        point = parse_coordinates(ev.text)  # coordinates typed or pasted from a map app
    if point is not None:
        lat, lon = point
        result = gaz.locate_point(lat, lon)
        if await _explain_outside(turn, result, "location", data):
            return
        data.update(
            location_source=LocationSource.GPS.value, latitude=lat, longitude=lon, address=None
        )
    elif ev.kind == "text" and ev.text and ev.text.strip():
        address = ev.text.strip()[:500]
        result = gaz.locate(address)
        if await _explain_outside(turn, result, "location", data):
            return
        data.update(
            location_source=LocationSource.ADDRESS.value,
            latitude=None,
            longitude=None,
            address=address,
        )
        if not result.suggestions:
            await turn.send("intake.address_not_found", province=gaz.province_name)
            data["suggestions"] = []
            await _save(turn, "ward", data)
            await turn.send("intake.ask_ward_name", province=gaz.province_name)
            return
    else:
        await _refuse(turn, "intake.need_location", "location", data)
        return
    data["suggestions"] = [s.ward.code for s in result.suggestions[:3]]
    await _save(turn, "ward", data)
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
    await _prompt(turn, state, data)
    return True


async def _ask_ward(turn: Turn, data: dict[str, Any]) -> None:
    gaz = turn.deps.gazetteer
    rows = []
    for code in data.get("suggestions", []):
        ward = gaz.ward(code)
        if ward:
            rows.append([Button(f"✅ {ward.name}", f"c1:ward:{code}")])
    rows.append([Button(turn.text("btn.other_ward"), "c1:wother")])
    if data.get("location_source") == LocationSource.GPS.value:
        where = f"📍 {data['latitude']:.5f}, {data['longitude']:.5f}"
    else:
        where = data.get("address") or ""
    key = "intake.confirm_ward" if len(rows) > 1 else "intake.ask_ward_name"
    await turn.send(key, where=where, province=gaz.province_name, buttons=rows)


async def _on_ward(turn: Turn, data: dict[str, Any]) -> None:
    ev = turn.event
    gaz = turn.deps.gazetteer
    if ev.kind == "button" and (ev.button_data or "").startswith("c1:ward:"):
        code = (ev.button_data or "").removeprefix("c1:ward:")
        ward = gaz.ward(code)
        if ward is None or code not in data.get("suggestions", []):
            await _refuse(turn, "intake.stale_button", "ward", data)
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
    if ev.kind == "location":
        # A new pin replaces the old one: treat it as the location step again.
        await _on_location(turn, data)
        return
    if ev.kind == "text" and ev.text and ev.text.strip():
        matches = gaz.find_wards_by_name(ev.text.strip()[:100])
        if not matches:
            await turn.send(
                "intake.ward_not_found", name=ev.text.strip()[:100], province=gaz.province_name
            )
            return
        data["suggestions"] = [w.code for w in matches[:5]]
        await _save(turn, "ward", data)
        await _ask_ward(turn, data)
        return
    await _refuse(turn, _wrong_input_key(turn), "ward", data)


async def _on_evidence(turn: Turn, data: dict[str, Any]) -> None:
    ev = turn.event
    deps = turn.deps
    if ev.kind == "button" and ev.button_data == "c1:ev:done":
        turn.answer("intake.noted")
        await _advance(turn, data, "evidence")
        return
    if ev.kind != "media" or not ev.files:
        await _refuse(turn, _wrong_input_key(turn), "evidence", data)
        return
    evidence: list[dict[str, Any]] = list(data.get("evidence", []))
    too_large = 0
    photos_over = 0
    files_over = 0
    failed = 0
    for ref in ev.files:
        photos = sum(1 for item in evidence if item["kind"] == "photo")
        if ref.kind == "photo" and photos >= deps.max_photos:
            photos_over += 1
            continue
        if ref.kind != "photo" and len(evidence) - photos >= MAX_OTHER_FILES:
            files_over += 1
            continue
        try:
            stored = await deps.media.store(turn.fetcher, ref)
        except FileTooLarge:
            too_large += 1
            continue
        except Exception:  # noqa: BLE001  (a failed download must not lose the conversation)
            failed += 1
            continue
        evidence.append(stored.as_record())
    data["evidence"] = evidence
    await _save(turn, "evidence", data)
    if too_large:
        await turn.send("intake.file_too_large", max_mb=deps.max_file_mb)
    if photos_over:
        await turn.send("intake.too_many_photos", max_photos=deps.max_photos)
    if files_over:
        await turn.send("intake.too_many_files", max_files=MAX_OTHER_FILES)
    if failed:
        await turn.send("intake.download_failed")
    photos = sum(1 for item in evidence if item["kind"] == "photo")
    others = len(evidence) - photos
    await turn.send(
        "intake.evidence_received",
        photos=photos,
        max_photos=deps.max_photos,
        others=others,
        buttons=[[_evidence_button(turn, data)]],
    )


async def _on_description(turn: Turn, data: dict[str, Any]) -> None:
    ev = turn.event
    if ev.kind != "text" or ev.text is None:
        await _refuse(turn, _wrong_input_key(turn), "description", data)
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
        await _refuse(turn, "intake.choose_nature", "nature", data)
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
        await _refuse(turn, _wrong_input_key(turn), "source", data)
        return
    await _advance(turn, data, "source")


async def _on_contact(turn: Turn, data: dict[str, Any]) -> None:
    ev = turn.event
    if ev.kind == "contact" and ev.phone:
        if not ev.contact_is_own:
            await turn.send("intake.contact_not_own")
            return
        phone = ev.phone.strip()
        if not PHONE_RE.match(phone):
            await turn.send("intake.contact_invalid")
            return
        data.update(contact_shared=True, contact_phone=phone, contact_name=ev.user_name)
        await turn.send("intake.contact_saved", remove_keyboard=True)
    elif ev.kind == "text" and ev.text and _is_anonymous_choice(ev.text):
        data.update(contact_shared=False, contact_phone=None, contact_name=None)
        await turn.send("intake.anonymous_saved", remove_keyboard=True)
    else:
        await _refuse(turn, "intake.choose_contact", "contact", data)
        return
    await _advance(turn, data, "contact")


def _is_anonymous_choice(text: str) -> bool:
    """The reporter pressed 'stay anonymous' (in either language) or typed it."""
    labels = {fold(t(loc, "btn.anonymous")) for loc in SUPPORTED}
    folded = fold(text)
    return folded in labels or folded in {fold(w) for w in ANONYMOUS_WORDS}


async def _send_summary(turn: Turn, data: dict[str, Any]) -> None:
    text = cards.render_summary(turn, data)
    rows = [
        [Button(turn.text("btn.confirm"), "c1:sum:ok")],
        [
            Button(turn.text("btn.edit_category"), "c1:edit:category"),
            Button(turn.text("btn.edit_location"), "c1:edit:location"),
        ],
        [
            Button(turn.text("btn.edit_evidence"), "c1:edit:evidence"),
            Button(turn.text("btn.edit_description"), "c1:edit:description"),
        ],
        [
            Button(turn.text("btn.edit_nature"), "c1:edit:nature"),
            Button(turn.text("btn.edit_source"), "c1:edit:source"),
        ],
        [Button(turn.text("btn.edit_contact"), "c1:edit:contact")],
        [Button(turn.text("btn.cancel"), "c1:sum:cancel")],
    ]
    await turn.send(text, raw=True, buttons=rows, remove_keyboard=False)


async def _on_summary(turn: Turn, data: dict[str, Any]) -> None:
    ev = turn.event
    choice = ev.button_data or "" if ev.kind == "button" else ""
    if choice == "c1:sum:ok":
        turn.answer("intake.noted")
        await _file(turn, data)
        return
    if choice == "c1:sum:cancel":
        turn.answer("intake.cancelled")
        _discard_files(turn, data)
        await services.clear_conversation(turn.session, ev.channel, ev.user_id)
        await turn.send("intake.cancelled", remove_keyboard=True)
        return
    if choice.startswith("c1:edit:") and choice.removeprefix("c1:edit:") in EDITABLE:
        target = EDITABLE[choice.removeprefix("c1:edit:")]
        turn.answer("intake.noted")
        data["editing"] = True
        await _save(turn, target, data)
        await _prompt(turn, target, data)
        return
    await _refuse(turn, "intake.confirm_or_change", "summary", data)


async def _file(turn: Turn, data: dict[str, Any]) -> None:
    """Turn the confirmed draft into a case, tell the ward and the reporter."""
    from handlers import officer

    ev = turn.event
    required = ("category", "ward_code", "description", "nature", "location_source")
    missing = [k for k in required if not data.get(k)]
    if missing:  # should not happen; a draft from an older version, for instance
        await _save(turn, STEPS[0] if "category" in missing else "location", data)
        await _prompt(turn, "category" if "category" in missing else "location", data)
        return
    reporter = await services.get_reporter(turn.session, ev.channel, ev.user_id)
    shared = bool(data.get("contact_shared"))
    if shared:
        reporter.phone = data.get("contact_phone")
        reporter.full_name = data.get("contact_name")
    case = await services.create_case(
        turn.session,
        province_code=turn.deps.province_code,
        reporter=reporter,
        fields={
            "ward_code": data["ward_code"],
            "category": data["category"],
            "latitude": data.get("latitude"),
            "longitude": data.get("longitude"),
            "address": data.get("address"),
            "location_source": data["location_source"],
            "nature": data["nature"],
            "suspected_source": data.get("suspected_source"),
            "description": data["description"],
            "description_language": data.get("description_language") or "und",
            "contact_shared": shared,
            "contact_phone": data.get("contact_phone") if shared else None,
            "channel": ev.channel,
        },
        evidence=data.get("evidence", []),
        verify_hours=turn.deps.verify_hours,
        actor="reporter",
    )
    await services.clear_conversation(turn.session, ev.channel, ev.user_id)
    ward = turn.deps.gazetteer.ward(case.ward_code)
    await turn.send(
        "intake.filed",
        code=case.code,
        ward=ward.name if ward else case.ward_code,
        deadline=local_time(case.verify_due_at),
        hours=f"{turn.deps.verify_hours:g}",
        remove_keyboard=True,
    )
    await officer.dispatch_new_case(turn, case)


def _discard_files(turn: Turn, data: dict[str, Any]) -> None:
    for item in data.get("evidence", []):
        turn.deps.media.discard(item["path"])


_STATE_HANDLERS = {
    "category": _on_category,
    "location": _on_location,
    "ward": _on_ward,
    "evidence": _on_evidence,
    "description": _on_description,
    "nature": _on_nature,
    "source": _on_source,
    "contact": _on_contact,
    "summary": _on_summary,
}
