"""Duplicate reports of one incident: offered at Confirm, joined by reporters, merged by officers.

Detection (at Confirm, before filing): an open case that is not merged into another, of the
same category, filed within HOTLINE_DUPLICATE_HOURS (48 h) before now, whose position is
within HOTLINE_DUPLICATE_RADIUS_M (500 m) of the draft's, by the haversine distance. The
database is asked only for the cases that can be that close (pins in the squares under the
radius's bounding box, addresses of the wards whose centroid is in reach: migration 0004's
indexes); the distance is then measured here, so the answer is that of measuring them all. A
position is the GPS point when there is one, else the centroid of the confirmed ward (from
the gazetteer); both count, so two address-only reports of the same category in the same
ward always match (their centroids are the same point), and an address-only report matches
GPS reports near its ward's centroid. Cases the reporter filed or joined are not offered
(joining one's own case means nothing; a repeated report by the same person is filed, and
officers can merge it). A ward without a known centroid gives no position: no match.

Found ones are shown (code, category, ward, status, filing time: nothing of any other
reporter, neither identity nor description) with "join" and "file separately" buttons; the
draft waits in the state `duplicate`. Joining makes the reporter a CaseReporter of that case
(with their contact choice), adds their files as its evidence and posts their report under
its card (the phone only to the ward the reporter gave it to, only when shared; typed
phone numbers masked outside the case's ward: handlers/audience.py), writes a JOIN line and
clears the draft; they then hear that case's updates and result. Filing separately files as
usual (with the reports-per-hour limit). Both buttons are answered once: the first press
leaves the state, so a second one (or a redelivered update, which the inbox claim stops
before it gets here) finds nothing to do.

Merging (officers): `/merge <code> <into code>` and `/unmerge <code>` in a ward or province
group that may act on the cases. `Case.merged_into_id` is the one source of truth: a merged
case counts as neither open nor closed, its card shows where it went and has no buttons.
"""

from __future__ import annotations

import logging
import math
import re
from datetime import datetime, timedelta
from typing import Any

from bot import services
from bot.geo import Gazetteer
from bot.i18n import t
from handlers import case_chats, conversation, filing, limits, officer
from handlers.context import OFFICER_LOCALE, Turn, local_time
from handlers.events import Button
from models.enums import OPEN_STATUSES, CaseAction, CaseStatus
from models.tables import GEO_CELL_ROW, Case, GroupLink, geo_cell

log = logging.getLogger(__name__)

EARTH_RADIUS_M = 6_371_008.8
MAX_OFFERED = 3
# The nearest this many candidates are read, whatever piles up around a place; the nearest
# MAX_OFFERED by the exact measure are among them (services.duplicate_candidates).
READ_AT_MOST = 50
MAX_SINGLE_SQUARES = 64  # beyond, the lookup reads each row of squares as one range
WARD_MARGIN_KM = 0.001  # wards a hair beyond the radius are read too; distance_m decides
JOIN_RE = re.compile(r"^c1:dup:([0-9]{1,12})$")
CODE_MAX = 20  # the most of a typed code said back


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The great-circle (haversine) distance between two points, in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def flat_measure(here: tuple[float, float], there: tuple[float, float]) -> float:
    """The database's ordering measure between two points (services.duplicate_candidates):
    squared degrees, longitude shortened by the cosine of `here`'s latitude."""
    squeeze = math.cos(math.radians(here[0]))
    dlat, dlon = there[0] - here[0], (there[1] - here[1]) * squeeze
    return dlat * dlat + dlon * dlon


def position(
    gazetteer: Gazetteer, latitude: float | None, longitude: float | None, ward_code: str | None
) -> tuple[float, float] | None:
    """Where a report is: its GPS point, else its ward's centroid, else unknown."""
    if latitude is not None and longitude is not None:
        return (latitude, longitude)
    ward = gazetteer.ward(ward_code or "")
    if ward is not None and ward.lat is not None and ward.lon is not None:
        return (ward.lat, ward.lon)
    return None


def bounding_box(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """(lat_min, lat_max, lon_min, lon_max) holding every point within radius_m of a point.

    Exact for great circles (|Δlat| <= r, |Δlon| <= asin(sin r / cos lat)), padded so that
    rounding never leaves out a point on the circle.
    """
    reach = radius_m / EARTH_RADIUS_M
    dlat = math.degrees(reach)
    if abs(lat) + dlat >= 90.0 or math.sin(reach) >= math.cos(math.radians(lat)):
        dlon = 180.0
    else:
        dlon = math.degrees(math.asin(math.sin(reach) / math.cos(math.radians(lat))))
    pad = 1e-7
    return lat - dlat - pad, lat + dlat + pad, lon - dlon - pad, lon + dlon + pad


def squares(box: tuple[float, float, float, float]) -> list[tuple[int, int]]:
    """The geo_cell ranges covering a box: one range per row of squares (a single square
    per range while they are few, so that the index is entered at each one's window)."""
    lat_min, lat_max, lon_min, lon_max = box
    first, last = geo_cell(lat_min, lon_min), geo_cell(lat_max, lon_max)
    assert first is not None and last is not None
    rows = range(first // GEO_CELL_ROW, last // GEO_CELL_ROW + 1)
    col_lo, col_hi = first % GEO_CELL_ROW, last % GEO_CELL_ROW
    if len(rows) * (col_hi - col_lo + 1) <= MAX_SINGLE_SQUARES:
        return [(r * GEO_CELL_ROW + c,) * 2 for r in rows for c in range(col_lo, col_hi + 1)]
    return [(r * GEO_CELL_ROW + col_lo, r * GEO_CELL_ROW + col_hi) for r in rows]


async def find_duplicates(
    turn: Turn, data: dict[str, Any], reporter_id: int, now: datetime
) -> list[Case]:
    """Open cases that may be the same incident as the draft, nearest first.

    Only cases around the draft are read: pinned ones in the squares of the radius's
    bounding box, address-only ones of the wards whose centroid is within the radius.
    """
    gaz = turn.deps.gazetteer
    here = position(gaz, data.get("latitude"), data.get("longitude"), data.get("ward_code"))
    if here is None or not data.get("category"):
        return []
    radius = turn.deps.duplicate_radius_m
    box = bounding_box(*here, radius)
    candidates = await services.duplicate_candidates(
        turn.session,
        province_code=turn.deps.province_code,
        category=str(data["category"]),
        filed_since=now - timedelta(hours=turn.deps.duplicate_hours),
        filed_until=now,
        reporter_id=reporter_id,
        box=box,
        squares=squares(box),
        wards={
            w.code: flat_measure(here, (w.lat, w.lon))
            for w in gaz.wards_near(*here, radius / 1000 + WARD_MARGIN_KM)
            if w.lat is not None and w.lon is not None
        },
        origin=here,
        limit=READ_AT_MOST,
    )
    near: list[tuple[float, int, Case]] = []
    for case in candidates:
        there = position(gaz, case.latitude, case.longitude, case.ward_code)
        if there is None:
            continue
        dist = distance_m(*here, *there)
        if dist <= turn.deps.duplicate_radius_m:
            near.append((dist, -(case.id or 0), case))
    near.sort(key=lambda item: (item[0], item[1]))
    return [case for _, _, case in near[:MAX_OFFERED]]


# ---------------------------------------------------------------- the reporter's choice


async def offer_if_any(turn: Turn, data: dict[str, Any]) -> bool:
    """At Confirm: when the incident may already be reported, offer to join it (True)."""

    ev = turn.event
    reporter = await services.get_reporter(turn.session, ev.channel, ev.user_id)
    found = await find_duplicates(turn, data, reporter.id or 0, limits.limits_for(turn.deps).now())
    if not found:
        return False
    data["duplicates"] = [{"id": case.id, "code": case.code} for case in found]
    await conversation.save_state(turn, "duplicate", data)
    await send_offer(turn, data)
    return True


def offer_rows(turn: Turn, data: dict[str, Any]) -> list[list[Button]]:
    """One join button per case offered, then "file separately"."""
    offered = data.get("duplicates", [])
    rows = []
    for item in offered:
        label = (
            turn.text("btn.dup_join")
            if len(offered) == 1
            else turn.text("btn.dup_join_code", code=item["code"])
        )
        rows.append([Button(label, f"c1:dup:{item['id']}")])
    rows.append([Button(turn.text("btn.dup_new"), "c1:dup:new")])
    return rows


async def send_offer(turn: Turn, data: dict[str, Any]) -> None:
    """What is already being handled, told without anything of its reporters."""
    lines = [turn.text("intake.duplicate_found")]
    for item in data.get("duplicates", []):
        case = await services.get_case(turn.session, int(item["id"]))
        if case is None:
            continue
        ward = turn.deps.gazetteer.ward(case.ward_code)
        lines.append(
            turn.text(
                "intake.duplicate_line",
                code=case.code,
                category=turn.text(f"category.{case.category}"),
                ward=ward.name if ward else case.ward_code,
                status=turn.text(f"status.{case.status}"),
                filed=local_time(case.filed_at),
            )
        )
    lines.append(turn.text("intake.duplicate_choice"))
    await turn.send("\n".join(lines), raw=True, buttons=offer_rows(turn, data))


async def on_duplicate(turn: Turn, data: dict[str, Any]) -> None:
    """The state `duplicate`: join one of the cases offered, or file separately."""

    ev = turn.event
    choice = (ev.button_data or "") if ev.kind == "button" else ""
    offered = {int(item["id"]) for item in data.get("duplicates", [])}
    if choice == "c1:dup:new":
        turn.answer("intake.noted")
        data.pop("duplicates", None)
        await conversation.save_state(turn, "summary", data)
        await filing.file_case(turn, data)
        return
    match = JOIN_RE.match(choice)
    if match and int(match.group(1)) in offered:
        await _join(turn, data, int(match.group(1)))
        return
    await conversation.refuse(turn, "duplicate", data)


async def _join(turn: Turn, data: dict[str, Any], case_id: int) -> None:

    ev = turn.event
    case = await services.get_case(turn.session, case_id)
    if case is None or not case_chats.is_open(case):
        turn.answer("intake.duplicate_gone", code=case.code if case else "")
        data.pop("duplicates", None)
        await conversation.save_state(turn, "summary", data)
        await turn.send("intake.duplicate_gone", code=case.code if case else "")
        await conversation.prompt_step(turn, "summary", data)
        return
    reporter = await services.get_reporter(turn.session, ev.channel, ev.user_id)
    shared = bool(data.get("contact_shared") and data.get("contact_phone"))
    if shared:
        reporter.phone = data.get("contact_phone")
    # The phone was offered to the ward the reporter chose (the contact step named it): it
    # stays that ward's, even if the case joined is another ward's (handlers/audience.py).
    contact_ward = str(data.get("ward_code") or case.ward_code) if shared else None
    now = limits.limits_for(turn.deps).now()
    await services.add_case_reporter(
        turn.session,
        case.id or 0,
        reporter.id or 0,
        contact_shared=shared,
        contact_phone=data.get("contact_phone") if shared else None,
        contact_ward_code=contact_ward,
        now=now,
    )
    evidence: list[dict[str, Any]] = list(data.get("evidence", []))
    for item in evidence:
        await services.add_evidence(turn.session, case.id or 0, item, from_officer=False)
    body = _join_body(turn, data)
    await services.note_event(
        turn.session,
        case,
        CaseAction.JOIN,
        actor=case_chats.reporter_actor(case, reporter),
        note="\n".join(filter(None, [body, case_chats.turn_files_note(evidence)])),
        now=now,
    )
    await services.clear_conversation(turn.session, ev.channel, ev.user_id)
    sender = case_chats.Sender(reporter, False, shared, data.get("contact_phone"), contact_ward)
    await case_chats.post_under_case(
        turn,
        case,
        sender,
        "card.joined",
        body,
        [{"path": e["path"], "kind": e["kind"]} for e in evidence],
        latitude=data.get("latitude"),
        longitude=data.get("longitude"),
    )
    await case_chats.refresh_cards(turn, case)
    log.info("reporter joined a case", extra={"case": case.code, "update": ev.update_id})
    ward = turn.deps.gazetteer.ward(case.ward_code)
    turn.answer("intake.noted")
    await turn.send(
        "intake.joined",
        code=case.code,
        ward=ward.name if ward else case.ward_code,
        remove_keyboard=True,
    )
    await case_chats.notify_contact_kept(turn, case, only={reporter.id or 0})


def _where(data: dict[str, Any]) -> str:
    if data.get("latitude") is not None and data.get("longitude") is not None:
        return f"📍 {data['latitude']:.5f}, {data['longitude']:.5f}"
    return str(data.get("address") or "")


def _join_body(turn: Turn, data: dict[str, Any]) -> str:
    """The joining reporter's report, as officers read it (plain text)."""
    loc = OFFICER_LOCALE
    lines = [
        t(loc, "card.where", value=_where(data)),
        t(loc, "card.nature", value=t(loc, f"nature.{data.get('nature') or 'now'}")),
    ]
    if data.get("suspected_source"):
        lines.append(t(loc, "card.source", value=data["suspected_source"]))
    lines.append(t(loc, "card.description"))
    lines.append(str(data.get("description") or ""))
    return "\n".join(lines)


# ---------------------------------------------------------------- merging (officers)


async def _case_for(turn: Turn, link: GroupLink, code: str) -> Case | None:
    """A case this group may act on, by code; None (and a message) otherwise. The same
    answer for a code that does not exist and one of another ward: nothing is revealed."""
    case = await services.case_by_code(turn.session, code)
    if case is None or not services.can_act_on(link, case):
        await turn.send("officer.merge_not_found", code=code[:CODE_MAX])
        return None
    return case


async def _moved_reporters(
    turn: Turn, case: Case
) -> list[tuple[int, bool, str | None, str | None]]:
    """(reporter id, shared, phone, the ward it was shared with) of a case's filer and
    joined reporters."""
    moved = [
        (case.reporter_id, bool(case.contact_shared), case.contact_phone, case.contact_ward_code)
    ]
    for row in await services.case_reporter_rows(turn.session, case.id or 0):
        moved.append(
            (row.reporter_id, row.contact_shared, row.contact_phone, row.contact_ward_code)
        )
    return moved


@officer.group_command("merge")
async def merge_command(turn: Turn, link: GroupLink) -> None:
    """/merge <code> <into code>: group a duplicate with the case that carries on."""
    args = (turn.event.text or "").split()
    if len(args) != 2:
        await turn.send("officer.merge_usage")
        return
    source = await _case_for(turn, link, args[0])
    if source is None:
        return
    target = await _case_for(turn, link, args[1])
    if target is None:
        return
    if source.id == target.id:
        await turn.send("officer.merge_same", code=source.code)
        return
    for case in (source, target):
        if case.merged_into_id is not None:
            into = await services.get_case(turn.session, case.merged_into_id)
            await turn.send(
                "officer.merge_already_merged", code=case.code, into=into.code if into else "?"
            )
            return
        if CaseStatus(case.status) not in OPEN_STATUSES:
            await turn.send(
                "officer.merge_not_open", code=case.code, status=turn.text(f"status.{case.status}")
            )
            return
    if await services.cases_merged_into(turn.session, source.id or 0):
        await turn.send("officer.merge_has_merged", code=source.code)
        return
    now = limits.limits_for(turn.deps).now()
    actor = officer.actor_of(turn)
    source.merged_into_id = target.id
    source.updated_at = now
    moved: set[int] = set()
    for reporter_id, shared, phone, contact_ward in await _moved_reporters(turn, source):
        if reporter_id != target.reporter_id:
            # Their phone stays with the ward they gave it to, not the target's ward.
            _, created = await services.add_case_reporter(
                turn.session,
                target.id or 0,
                reporter_id,
                contact_shared=shared and bool(phone),
                contact_phone=phone,
                contact_ward_code=contact_ward,
                now=now,
            )
            if created:
                moved.add(reporter_id)
    await services.note_event(
        turn.session, source, CaseAction.MERGE, actor=actor, note=f"→ {target.code}", now=now
    )
    await services.note_event(
        turn.session, target, CaseAction.MERGE, actor=actor, note=f"← {source.code}", now=now
    )
    log.info("case merged", extra={"case": source.code, "chat": turn.event.chat_id})
    await case_chats.refresh_cards(turn, source, buttons=[])
    await case_chats.refresh_cards(turn, target)
    await turn.send("officer.merged_ok", code=source.code, into=target.code)
    await case_chats.notify_reporter(turn, source, "notify.merged", into=target.code)
    await case_chats.notify_contact_kept(turn, target, only=moved)


@officer.group_command("unmerge")
async def unmerge_command(turn: Turn, link: GroupLink) -> None:
    """/unmerge <code>: undo a merge; the case is handled on its own again."""
    args = (turn.event.text or "").split()
    if len(args) != 1:
        await turn.send("officer.unmerge_usage")
        return
    source = await _case_for(turn, link, args[0])
    if source is None:
        return
    if source.merged_into_id is None:
        await turn.send("officer.unmerge_not_merged", code=source.code)
        return
    target = await services.get_case(turn.session, source.merged_into_id)
    merged = await services.latest_case_event(turn.session, source.id or 0, CaseAction.MERGE)
    now = limits.limits_for(turn.deps).now()
    actor = officer.actor_of(turn)
    source.merged_into_id = None
    source.updated_at = now
    if target is not None:
        # Only the CaseReporter rows the merge added (joined at the merge or later; a
        # reporter who had joined the target before keeps their place).
        moved_ids = [rid for rid, _, _, _ in await _moved_reporters(turn, source)]
        await services.remove_case_reporters(
            turn.session,
            target.id or 0,
            [rid for rid in moved_ids if rid != target.reporter_id],
            joined_since=merged.at if merged is not None else source.filed_at,
        )
        await services.note_event(
            turn.session, target, CaseAction.UNMERGE, actor=actor, note=f"↛ {source.code}", now=now
        )
    into = target.code if target is not None else "?"
    await services.note_event(
        turn.session, source, CaseAction.UNMERGE, actor=actor, note=f"↛ {into}", now=now
    )
    log.info("case unmerged", extra={"case": source.code, "chat": turn.event.chat_id})
    await case_chats.refresh_cards(turn, source)
    if target is not None:
        await case_chats.refresh_cards(turn, target)
    await turn.send("officer.unmerged_ok", code=source.code, into=into)
    await case_chats.notify_reporter(turn, source, "notify.unmerged", into=into)


conversation.register(
    "duplicate",
    conversation.State(
        handle=on_duplicate,
        prompt=send_offer,
        need=lambda turn: turn.text("intake.need_duplicate_choice"),
        markup=lambda turn, data: conversation.Markup(buttons=offer_rows(turn, data)),
    ),
)
