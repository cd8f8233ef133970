"""Filing: the confirmed draft becomes a case, its ward is told and the reporter hears its code.

Reached from the summary (intake.py) and from "file separately" at the duplicate choice
(duplicates.py).
"""

from __future__ import annotations

import logging
from typing import Any

from bot import services
from handlers import case_chats, conversation, limits
from handlers.context import Turn, local_time
from handlers.events import Button

log = logging.getLogger(__name__)


async def file_case(turn: Turn, data: dict[str, Any]) -> None:
    """Turn the confirmed draft into a case, tell the ward and the reporter."""

    ev = turn.event
    required = ("category", "ward_code", "description", "nature", "location_source")
    missing = [k for k in required if not data.get(k)]
    if missing:  # should not happen; a draft from an older version, for instance
        step = "category" if "category" in missing else "location"
        await conversation.save_state(turn, step, data)
        await conversation.prompt_step(turn, step, data)
        return
    reporter = await services.get_reporter(turn.session, ev.channel, ev.user_id)
    now = limits.limits_for(turn.deps).now()
    free_at = await limits.next_filing_allowed_at(
        turn.session, reporter.id or 0, turn.deps.user_cases_per_hour, now
    )
    if free_at is not None:
        # Not filed; the draft stays at the summary, to be confirmed again from `free_at`.
        turn.answer("intake.case_limit_toast", time=local_time(free_at))
        await turn.send(
            "intake.case_limit",
            limit=turn.deps.user_cases_per_hour,
            time=local_time(free_at),
            buttons=summary_rows(turn),
        )
        return
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
        now=now,
        deadlines=turn.deps.deadlines,
    )
    # Ids only: nothing of the reporter (not even their chat id) goes with the case code.
    log.info("case filed", extra={"case": case.code, "update": ev.update_id})
    await services.clear_conversation(turn.session, ev.channel, ev.user_id)
    ward = turn.deps.gazetteer.ward(case.ward_code)
    await turn.send(
        "intake.filed",
        code=case.code,
        ward=ward.name if ward else case.ward_code,
        deadline=local_time(case.verify_due_at),
        hours=f"{(case.verify_due_at - case.filed_at).total_seconds() / 3600:g}",
        remove_keyboard=True,
        case_id=case.id,  # a reporter who blocks the bot at once: the ward is told
    )
    await case_chats.dispatch_new_case(turn, case)


def discard_files(turn: Turn, data: dict[str, Any]) -> None:
    """Delete a draft's files (and those of a draft suspended under a follow-up mode)."""
    for item in data.get("evidence", []):
        turn.deps.media.discard(item["path"])
    suspended = data.get("suspended")
    if suspended:
        discard_files(turn, dict(suspended.get("data") or {}))


def summary_rows(turn: Turn) -> list[list[Button]]:
    return [
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
