"""Deadlines: the policy, urgency, reminders and overdue alerts, the daily digest, /open,
/overdue and /case. Real handlers and a real database; the core's clock is frozen and moved
by hand (no sleeping); what the bot sent is read from the outbox."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlmodel import col, select

from bot import db, services
from bot.app import Hotline
from bot.deadlines import DeadlinePolicy, DeadlinePolicyError, load_policy, policy_from_file
from bot.scheduler import DeadlineScheduler
from handlers import cards
from models.enums import CaseAction, CaseStatus
from models.tables import Case, DeadlineAlert, DigestRun, Outbox
from tests.conftest import make_settings, migrate
from tests.harness import Person, advance_to, buttons, card_actions, file_report
from tests.test_officer import card_sent, link_group

# 01:00 in Vietnam (UTC+7) on 4 March 2030: the acknowledgement deadline (2 h) falls before
# the 07:30 digest, so alert tests see no digest until they move the clock past it.
T0 = datetime(2030, 3, 3, 18, 0, tzinfo=UTC)
H = timedelta(hours=1)
KY_LUA, CAO_LOC = "06187", "06193"


class Clock:
    """A frozen clock, moved by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        self.now = now


def freeze(hotline: Hotline, clock: Clock) -> Clock:
    """Make `clock` the hotline's core clock (filing times, card marks, the scheduler)."""
    hotline.deps.limits.now = clock
    return clock


@pytest.fixture
def clock(hotline: Hotline) -> Clock:
    return freeze(hotline, Clock(T0))


async def new_case(
    hotline: Hotline,
    *,
    ward: str = KY_LUA,
    category: str = "noise",
    nature: str = "earlier",
    at: datetime = T0,
    urgent: bool = False,
    user: str = "5000",
) -> Case:
    """File a case directly through the service (as intake does), at `at`."""
    async with db.session_scope(hotline.sessionmaker) as s:
        reporter = await services.get_reporter(s, "telegram", user)
        case = await services.create_case(
            s,
            province_code="20",
            reporter=reporter,
            fields={
                "ward_code": ward,
                "category": category,
                "location_source": "address",
                "address": "Số 1 đường Trần Đăng Ninh",
                "nature": nature,
                "description": "Tiếng ồn lớn kéo dài suốt đêm.",
                "description_language": "vi",
                "channel": "telegram",
                "urgent": urgent,
            },
            evidence=[],
            verify_hours=hotline.deps.verify_hours,
            actor="reporter",
            now=at,
            deadlines=hotline.deps.deadlines,
        )
    return case


async def load(hotline: Hotline, case_id: int | None) -> Case:
    async with hotline.sessionmaker() as s:
        case = await s.get(Case, case_id)
    assert case is not None
    return case


async def tick(hotline: Hotline) -> datetime:
    return await hotline.scheduler.tick()


def texts(rows: list[Outbox], marker: str = "") -> list[str]:
    """Texts of new messages (no edits), those containing `marker`."""
    return [r.payload["text"] for r in rows if r.kind == "message" and marker in r.payload["text"]]


REMINDER, OVERDUE, DIGEST = "⏳ Nhắc hạn", "⏰ QUÁ HẠN —", "📋 Tổng hợp"


async def alerts(hotline: Hotline) -> list[tuple[int, str, str, int]]:
    async with hotline.sessionmaker() as s:
        rows = (await s.exec(select(DeadlineAlert).order_by(col(DeadlineAlert.id)))).all()
    return [(a.case_id, a.deadline, a.stage, a.cycle) for a in rows]


# ---------------------------------------------------------------- the policy


def test_policy_defaults_then_environment_then_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    p = load_policy(make_settings(url, tmp_path))
    assert (p.ack_hours, p.verify_hours, p.verify_urgent_hours, p.result_days) == (2, 24, 4, 10)
    assert (p.reminder_share, p.digest_time) == (0.75, time(7, 30))
    monkeypatch.setenv("HOTLINE_ACK_HOURS", "3")
    monkeypatch.setenv("HOTLINE_RESULT_DAYS", "15")
    monkeypatch.setenv("HOTLINE_DIGEST_TIME", "06:45")
    from_env = load_policy(make_settings(url, tmp_path))
    env = (from_env.ack_hours, from_env.result_days, from_env.digest_time)
    assert env == (3, 15, time(6, 45))
    toml = tmp_path / "deadlines.toml"
    toml.write_text(
        'ack_hours = 1\nverify_urgent_hours = 2.5\nreminder_share = 0.5\ndigest_time = "08:00"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("HOTLINE_DEADLINES_FILE", str(toml))
    both = load_policy(make_settings(url, tmp_path))
    # The file wins where it speaks; the environment fills the rest.
    assert (both.ack_hours, both.verify_urgent_hours, both.reminder_share) == (1, 2.5, 0.5)
    assert (both.result_days, both.verify_hours, both.digest_time) == (15, 24, time(8, 0))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("ack_hour = 2\n", "unknown key(s) ack_hour"),
        ('ack_hours = "two"\n', "ack_hours must be a number"),
        ("ack_hours = 0\n", "ack_hours must be a number greater than 0"),
        ("reminder_share = 1.5\n", "reminder_share must be a number between 0 and 1"),
        ("verify_urgent_hours = 30\n", "verify_urgent_hours (30) must not exceed verify_hours"),
        ('digest_time = "7h30"\n', 'digest_time must be a time of day such as "07:30"'),
        ("ack_hours = \n", "not valid TOML"),
    ],
)
def test_a_bad_policy_file_is_refused_with_a_clear_error(
    tmp_path: Path, content: str, message: str
) -> None:
    toml = tmp_path / "deadlines.toml"
    toml.write_text(content, encoding="utf-8")
    with pytest.raises(DeadlinePolicyError) as err:
        policy_from_file(toml)
    assert message in str(err.value) and str(toml) in str(err.value)


def test_a_missing_file_or_bad_setting_stops_the_start(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    missing = make_settings(url, tmp_path, deadlines_file=tmp_path / "nope.toml")
    with pytest.raises(SystemExit) as stop:
        Hotline(missing)
    assert "HOTLINE_DEADLINES_FILE" in str(stop.value) and "cannot be read" in str(stop.value)
    with pytest.raises(SystemExit) as stop:
        Hotline(make_settings(url, tmp_path, verify_hours=3))  # urgent 4 h > 3 h
    assert "verify_urgent_hours (4) must not exceed verify_hours (3)" in str(stop.value)
    with pytest.raises(ValidationError):
        make_settings(url, tmp_path, reminder_share=1.0)


async def test_a_policy_file_sets_the_deadlines_of_new_cases(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    await migrate(url)
    toml = tmp_path / "deadlines.toml"
    toml.write_text("ack_hours = 1\nverify_hours = 12\nresult_days = 5\n", encoding="utf-8")
    hotline = Hotline(make_settings(url, tmp_path / "media", deadlines_file=toml))
    try:
        freeze(hotline, Clock(T0))
        citizen = Person(hotline, "1001")
        await file_report(citizen, photos=0)
        case = (await _all_cases(hotline))[0]
        assert (case.ack_due_at, case.verify_due_at, case.result_due_at) == (
            T0 + H,
            T0 + 12 * H,
            T0 + timedelta(days=5),
        )
        # The reporter is told the policy's verification deadline, in local time.
        (filed,) = texts(await citizen.new_messages(citizen.chat_id), case.code)
        assert "13:00 04/03/2030 (12 giờ)" in filed
    finally:
        await hotline.close()


async def _all_cases(hotline: Hotline) -> list[Case]:
    async with hotline.sessionmaker() as s:
        return list((await s.exec(select(Case).order_by(col(Case.id)))).all())


# ---------------------------------------------------------------- deadlines at filing


async def test_deadlines_at_filing_normal_and_urgent(hotline: Hotline, clock: Clock) -> None:
    officer = await link_group(hotline, "-1001")
    citizen = Person(hotline, "1001")
    code = await file_report(citizen, photos=0)
    (case,) = await _all_cases(hotline)
    assert case.filed_at == T0 and not case.urgent
    assert case.ack_due_at == T0 + 2 * H
    assert case.verify_due_at == T0 + 24 * H
    assert case.result_due_at == T0 + timedelta(days=10)
    (filed,) = texts(await citizen.new_messages(citizen.chat_id), code)
    assert "01:00 05/03/2030 (24 giờ)" in filed  # T0 + 24 h in Asia/Ho_Chi_Minh
    card = texts(await officer.new_messages(), code)[0]
    assert "⏳ Hạn tiếp nhận: 03:00 04/03/2030" in card
    assert "⏳ Hạn xác minh: 01:00 05/03/2030" in card
    assert "⏳ Hạn trả kết quả: 01:00 14/03/2030" in card
    assert "QUÁ HẠN" not in card and "KHẨN" not in card and "Đề xuất" not in card

    urgent = await new_case(hotline, urgent=True, at=T0 + H)
    assert urgent.verify_due_at == T0 + 5 * H  # 4 h from filing
    assert urgent.ack_due_at == T0 + 3 * H and urgent.result_due_at == T0 + H + timedelta(days=10)


async def test_happening_now_odour_suggests_urgency_on_the_card(
    hotline: Hotline, clock: Clock
) -> None:
    officer = await link_group(hotline, "-1001")
    citizen = Person(hotline, "1001")
    await advance_to(citizen, "summary")  # odour, happening now
    await citizen.press("c1:sum:ok")
    (case,) = await _all_cases(hotline)
    assert (case.category, case.nature) == ("odour", "now") and not case.urgent
    card = texts(await officer.new_messages(), case.code)[0]
    assert "💡 Đề xuất xử lý khẩn cấp" in card
    sent = await officer.new_messages(officer.chat_id)
    card_row = next(r for r in sent if r.case_id == case.id)
    assert f"c1:urg:{case.id}:on" in await card_actions(officer, card_row)
    noise = await new_case(hotline, category="noise", nature="now")
    rendered = cards.render_card(noise, ward_name="Phường Kỳ Lừa", evidence=[], now=T0)
    assert "Đề xuất" not in rendered.html  # noise is not urgent by itself


# ---------------------------------------------------------------- reminders and overdue alerts


async def test_reminder_at_exactly_three_quarters_and_only_once(
    hotline: Hotline, clock: Clock
) -> None:
    ward = await link_group(hotline, "-1001")
    province = await link_group(hotline, "-2000", ward=None)
    code = await file_report(Person(hotline, "1001"), photos=0)
    (case,) = await _all_cases(hotline)
    await ward.new_messages(), await province.new_messages()

    clock.set(T0 + 90 * timedelta(minutes=1) - timedelta(seconds=1))  # just before 1 h 30
    assert await tick(hotline) == T0 + 90 * timedelta(minutes=1)  # it knows when to wake
    assert await ward.new_messages() == [] and await alerts(hotline) == []

    clock.set(T0 + 90 * timedelta(minutes=1))  # 75 % of the 2 h to acknowledge
    await tick(hotline)
    (reminder,) = texts(await ward.new_messages())
    assert reminder.startswith(REMINDER) and f"<b>{code}</b>" in reminder
    assert "Hạn tiếp nhận là 03:00 04/03/2030, còn 30 phút" in reminder
    assert await province.new_messages() == []  # the ward has a group: it is the ward's
    assert [a[1:3] for a in await alerts(hotline)] == [("ack", "reminder")]

    clock.set(T0 + 100 * timedelta(minutes=1))
    await tick(hotline)
    await tick(hotline)
    assert await ward.new_messages() == []
    async with hotline.sessionmaker() as s:
        reminds = await services.case_events(s, case.id or 0)
    assert [e.note for e in reminds if e.action == CaseAction.REMIND] == ["ack reminder"]


async def test_reminder_goes_to_the_province_when_the_ward_has_no_group(
    hotline: Hotline, clock: Clock
) -> None:
    province = await link_group(hotline, "-2000", ward=None)
    await file_report(Person(hotline, "1001"), photos=0)
    await province.new_messages()
    clock.set(T0 + 95 * timedelta(minutes=1))
    await tick(hotline)
    (reminder,) = texts(await province.new_messages())
    assert reminder.startswith(REMINDER) and "Phường Kỳ Lừa" in reminder


async def test_overdue_alerts_ward_and_province_once_and_the_card_says_so(
    hotline: Hotline, clock: Clock
) -> None:
    ward = await link_group(hotline, "-1001")
    province = await link_group(hotline, "-2000", ward=None)
    code = await file_report(Person(hotline, "1001"), photos=0)
    (case,) = await _all_cases(hotline)
    await card_sent(hotline, "-1001", case.id or 0)
    clock.set(T0 + 90 * timedelta(minutes=1))
    await tick(hotline)  # the reminder
    await ward.new_messages(), await province.new_messages()

    clock.set(T0 + 2 * H - timedelta(seconds=1))
    await tick(hotline)
    assert await ward.new_messages() == [] and await province.new_messages() == []

    clock.set(T0 + 2 * H + timedelta(minutes=5))
    await tick(hotline)
    ward_rows, province_rows = await ward.new_messages(), await province.new_messages()
    (alert,) = texts(ward_rows)
    assert alert.startswith(OVERDUE) and f"<b>{code}</b>" in alert
    assert "Hạn tiếp nhận là 03:00 04/03/2030, đã quá 5 phút" in alert
    assert texts(province_rows) == [alert]
    (edit,) = [r for r in ward_rows if r.kind == "edit"]
    assert "⏰ QUÁ HẠN · Hạn tiếp nhận: 03:00 04/03/2030" in edit.payload["text"]
    assert "⏳ Hạn xác minh" in edit.payload["text"]  # the others are not overdue
    assert f"c1:ack:{case.id}" in buttons(edit)

    clock.set(T0 + 3 * H)
    await tick(hotline)
    assert await ward.new_messages() == [] and await province.new_messages() == []
    assert [a[1:3] for a in await alerts(hotline)] == [("ack", "reminder"), ("ack", "overdue")]


async def test_a_met_deadline_is_not_alerted(hotline: Hotline, clock: Clock) -> None:
    ward = await link_group(hotline, "-1001")
    await file_report(Person(hotline, "1001"), photos=0)
    (case,) = await _all_cases(hotline)
    await ward.new_messages()
    clock.set(T0 + H)
    await ward.press(f"c1:ack:{case.id}")
    await ward.new_messages()
    clock.set(T0 + 3 * H)
    await tick(hotline)
    assert await ward.new_messages() == [] and await alerts(hotline) == []
    clock.set(T0 + 18 * H)  # 75 % of 24 h: the verification is still owed
    await tick(hotline)
    (reminder,) = texts(await ward.new_messages(), REMINDER)
    assert "Hạn xác minh" in reminder and "Hạn tiếp nhận" not in reminder


async def test_restart_in_the_middle_of_a_deadline_loses_and_repeats_nothing(
    any_hotline: Hotline, db_url: str, tmp_path: Path
) -> None:
    clock = freeze(any_hotline, Clock(T0))
    ward = await link_group(any_hotline, "-1001")
    province = await link_group(any_hotline, "-2000", ward=None)
    await file_report(Person(any_hotline, "1001"), photos=0)
    clock.set(T0 + H)
    await tick(any_hotline)  # too early for anything

    async def restarted(at: datetime) -> Hotline:
        app = Hotline(make_settings(db_url, tmp_path / "media"))
        freeze(app, Clock(at))
        return app

    async def sent(app: Hotline, chat: str, marker: str) -> list[str]:
        async with app.sessionmaker() as s:
            rows = (await s.exec(select(Outbox).where(Outbox.chat_id == chat))).all()
        return texts(list(rows), marker)

    # The bot was down when the reminder fell due (1 h 30): it goes out when it is back.
    second = await restarted(T0 + 105 * timedelta(minutes=1))
    try:
        await second.scheduler.tick()
        assert len(await sent(second, ward.chat_id, REMINDER)) == 1
    finally:
        await second.close()
    third = await restarted(T0 + 110 * timedelta(minutes=1))
    try:
        await third.scheduler.tick()  # a restart before the deadline: nothing again
        assert len(await sent(third, ward.chat_id, REMINDER)) == 1
        third.deps.limits.now = Clock(T0 + 2 * H)
        await third.scheduler.tick()
    finally:
        await third.close()
    fourth = await restarted(T0 + 2 * H + timedelta(minutes=1))
    try:
        await fourth.scheduler.tick()
        assert len(await sent(fourth, ward.chat_id, OVERDUE)) == 1
        assert len(await sent(fourth, province.chat_id, OVERDUE)) == 1
        assert len(await sent(fourth, ward.chat_id, REMINDER)) == 1
    finally:
        await fourth.close()
    assert [a[1:3] for a in await alerts(any_hotline)] == [("ack", "reminder"), ("ack", "overdue")]


async def test_downtime_over_a_whole_deadline_sends_the_overdue_alert_only(
    hotline: Hotline, clock: Clock
) -> None:
    ward = await link_group(hotline, "-1001")
    await file_report(Person(hotline, "1001"), photos=0)
    await ward.new_messages()
    clock.set(T0 + 150 * timedelta(minutes=1))  # reminder and deadline both passed
    await tick(hotline)
    rows = await ward.new_messages()
    assert texts(rows, REMINDER) == [] and len(texts(rows, OVERDUE)) == 1


# ---------------------------------------------------------------- urgency


async def test_urgent_button_recomputes_the_verification_deadline(
    hotline: Hotline, clock: Clock
) -> None:
    ward = await link_group(hotline, "-1001")
    citizen = Person(hotline, "1001")
    await file_report(citizen, photos=0)
    (case,) = await _all_cases(hotline)
    await card_sent(hotline, "-1001", case.id or 0)
    await ward.new_messages(), await citizen.new_messages()

    clock.set(T0 + H)
    reply = await ward.press(f"c1:urg:{case.id}:on")
    assert reply is not None and "06:00 04/03/2030" in (reply.callback_text or "")
    case = await load(hotline, case.id)
    assert case.urgent and case.verify_due_at == T0 + 5 * H  # 4 h from marking
    (edit,) = [r for r in await ward.new_messages() if r.kind == "edit"]
    assert "🚨 KHẨN CẤP" in edit.payload["text"]
    assert "⏳ Hạn xác minh: 06:00 04/03/2030" in edit.payload["text"]
    assert f"c1:urg:{case.id}:off" in await card_actions(ward, edit)
    await ward.press(f"c1:urg:{case.id}:on")  # pressed twice: nothing more
    assert (await load(hotline, case.id)).verify_due_at == T0 + 5 * H

    clock.set(T0 + 4 * H)  # 75 % of the urgent 4 h
    await tick(hotline)
    rows = await ward.new_messages()
    assert len([m for m in texts(rows, REMINDER) if "Hạn xác minh" in m]) == 1
    assert "🚨 KHẨN" in texts(rows, REMINDER)[0]

    clock.set(T0 + 22 * H)  # unmarked, then marked again late: never later than normal
    await ward.press(f"c1:urg:{case.id}:off")
    assert (await load(hotline, case.id)).verify_due_at == T0 + 24 * H
    await ward.press(f"c1:urg:{case.id}:on")
    assert (await load(hotline, case.id)).verify_due_at == T0 + 24 * H

    async with hotline.sessionmaker() as s:
        events = await services.case_events(s, case.id or 0)
    assert [e.note for e in events if e.action == CaseAction.URGENT] == ["on", "off", "on"]
    assert all(e.actor.endswith("Cán bộ Lan") for e in events if e.action == "urgent")
    assert await citizen.texts() == []  # the reporter is not told


async def test_reassignment_sets_the_deadlines_again_from_then(
    hotline: Hotline, clock: Clock
) -> None:
    ward = await link_group(hotline, "-1001")
    other = await link_group(hotline, "-1003", ward=CAO_LOC)
    await file_report(Person(hotline, "1001"), photos=0)
    (case,) = await _all_cases(hotline)
    clock.set(T0 + 90 * timedelta(minutes=1))
    await tick(hotline)  # the first ward's reminder
    clock.set(T0 + 100 * timedelta(minutes=1))
    await ward.press(f"c1:rsw:{case.id}:{CAO_LOC}")
    case = await load(hotline, case.id)
    start = T0 + 100 * timedelta(minutes=1)
    assert case.ward_code == CAO_LOC
    assert (case.ack_due_at, case.verify_due_at) == (start + 2 * H, start + 24 * H)
    await ward.new_messages(), await other.new_messages()
    clock.set(T0 + 2 * H + timedelta(minutes=1))  # the old deadline: nothing
    await tick(hotline)
    assert texts(await other.new_messages(), OVERDUE) == []
    clock.set(start + 90 * timedelta(minutes=1))  # the new deadline's reminder, re-armed
    await tick(hotline)
    assert len(texts(await other.new_messages(), REMINDER)) == 1
    assert texts(await ward.new_messages()) == []


# ---------------------------------------------------------------- the daily digest


async def test_daily_digest_at_0730_with_the_right_lists_once_a_day(
    any_hotline: Hotline, db_url: str, tmp_path: Path
) -> None:
    hotline = any_hotline
    clock = freeze(hotline, Clock(T0))
    ward = await link_group(hotline, "-1001")
    province = await link_group(hotline, "-2000", ward=None)
    late = await new_case(hotline, at=T0 - 30 * H)  # every deadline but the result overdue
    digest_day = datetime(2030, 3, 4, 0, 30, tzinfo=UTC)  # 07:30 local
    fresh = await new_case(hotline, category="odour", at=digest_day - H, user="5001")
    elsewhere = await new_case(
        hotline, ward=CAO_LOC, category="wastewater", at=digest_day - H, user="5002"
    )
    closed = await new_case(hotline, user="5003")
    async with db.session_scope(hotline.sessionmaker) as s:
        row = await s.get(Case, closed.id)
        assert row is not None
        await services.apply_action(s, row, CaseAction.RESOLVE, actor="t", note="xong")

    clock.set(digest_day - timedelta(seconds=1))
    await tick(hotline)
    assert texts(await ward.new_messages(), DIGEST) == []
    assert texts(await province.new_messages(), DIGEST) == []

    clock.set(digest_day)
    await tick(hotline)
    (ward_digest,) = texts(await ward.new_messages(), DIGEST)
    assert "04/03/2030" in ward_digest and "Phường Kỳ Lừa: 2 phản ánh đang mở, 1 quá hạn" in (
        ward_digest
    )
    assert late.code in ward_digest and fresh.code in ward_digest
    assert ward_digest.index(late.code) < ward_digest.index(fresh.code)  # overdue first
    assert elsewhere.code not in ward_digest and closed.code not in ward_digest
    assert "⏰ QUÁ HẠN · Hạn tiếp nhận 21:00 02/03/2030" in ward_digest
    (province_digest,) = texts(await province.new_messages(), DIGEST)
    assert "3 phản ánh đang mở, 1 quá hạn" in province_digest
    assert "• Phường Kỳ Lừa: 2 / 1" in province_digest
    assert "• Xã Cao Lộc: 1 / 0" in province_digest
    overdue_part = province_digest.split("Phản ánh quá hạn (1):")[1]
    assert late.code in overdue_part and fresh.code not in overdue_part
    assert closed.code not in province_digest

    clock.set(digest_day + 8 * H)
    await tick(hotline)  # later the same day: not again
    assert texts(await province.new_messages(), DIGEST) == []

    # Down over the next morning's 07:30: sent when back, the same day...
    back = Hotline(make_settings(db_url, tmp_path / "media"))
    try:
        freeze(back, Clock(digest_day + 24 * H + 4 * H))
        await back.scheduler.tick()
    finally:
        await back.close()
    assert len(texts(await province.new_messages(), DIGEST)) == 1
    # ...but a day missed altogether is not sent the next day.
    clock.set(digest_day + 72 * H - timedelta(minutes=1))  # 07:29 two days later
    await tick(hotline)
    assert texts(await province.new_messages(), DIGEST) == []
    async with hotline.sessionmaker() as s:
        days = [r.day for r in (await s.exec(select(DigestRun).order_by(DigestRun.day))).all()]
    assert days == ["2030-03-04", "2030-03-05"]


# ---------------------------------------------------------------- /open, /overdue, /case


async def test_open_and_overdue_lists_per_group(hotline: Hotline, clock: Clock) -> None:
    ward = await link_group(hotline, "-1001")
    other = await link_group(hotline, "-1003", ward=CAO_LOC)
    province = await link_group(hotline, "-2000", ward=None)
    fresh = await new_case(hotline, at=T0 - H)
    late = await new_case(hotline, category="emissions", at=T0 - 3 * H, user="5001")
    elsewhere = await new_case(hotline, ward=CAO_LOC, urgent=True, user="5002")

    await ward.command("open")
    (listing,) = texts(await ward.new_messages())
    assert "Phường Kỳ Lừa: 2 (quá hạn: 1)" in listing
    assert listing.index(late.code) < listing.index(fresh.code)
    assert elsewhere.code not in listing
    late_line = next(line for line in listing.splitlines() if late.code in line)
    assert "Khói" in late_line and "Mới" in late_line and "3 giờ" in late_line
    assert "⏰ QUÁ HẠN · Hạn tiếp nhận 00:00 04/03/2030" in late_line
    fresh_line = next(line for line in listing.splitlines() if fresh.code in line)
    assert "QUÁ HẠN" not in fresh_line and "Hạn tiếp nhận 02:00 04/03/2030" in fresh_line

    await ward.command("overdue")
    (overdue,) = texts(await ward.new_messages())
    assert late.code in overdue and fresh.code not in overdue

    await other.command("overdue")
    assert (
        "Hiện không có phản ánh nào quá hạn (Xã Cao Lộc)" in texts(await other.new_messages())[0]
    )

    await province.command("open")
    (everything,) = texts(await province.new_messages())
    assert "toàn tỉnh Lạng Sơn: 3 (quá hạn: 1)" in everything
    assert everything.index(late.code) < everything.index(elsewhere.code)
    assert "🚨 <b>" + elsewhere.code in everything and "Xã Cao Lộc ·" in everything


async def test_a_long_list_is_split_under_telegrams_limit(hotline: Hotline, clock: Clock) -> None:
    ward = await link_group(hotline, "-1001")
    codes = [(await new_case(hotline, at=T0 - i * H, user=str(6000 + i))).code for i in range(45)]
    await ward.command("open")
    parts = texts(await ward.new_messages())
    assert len(parts) >= 2
    assert all(len(p.encode("utf-16-le")) // 2 <= 4096 for p in parts)
    listed = re.findall(r"PA20-\d{6}", "\n".join(parts))
    assert sorted(listed) == sorted(codes) and len(listed) == 45


async def test_case_shows_card_and_log_book_within_the_group_area(
    hotline: Hotline, clock: Clock
) -> None:
    ward = await link_group(hotline, "-1001")
    other = await link_group(hotline, "-1003", ward=CAO_LOC)
    province = await link_group(hotline, "-2000", ward=None)
    citizen = Person(hotline, "1001")
    code = await file_report(citizen, photos=0, anonymous=False)
    (case,) = await _all_cases(hotline)
    async with db.session_scope(hotline.sessionmaker) as s:
        row = await s.get(Case, case.id)
        assert row is not None
        await services.note_event(
            s,
            row,
            CaseAction.NOTE,
            actor="telegram:987654321 Cán bộ <Hùng>",
            note="<script>x</script>",
        )
    await ward.new_messages(), await other.new_messages(), await province.new_messages()

    await ward.command("case", code.lower().replace("pa20-0000", "pa20-"))  # pa20-01 style
    card, book = await ward.new_messages()
    assert card.payload["html"] and card.payload["track"] == {"purpose": "card"}
    assert code in card.payload["text"] and "+84912345678" in card.payload["text"]
    assert f"c1:ack:{case.id}" in buttons(card)
    assert f"c1:urg:{case.id}:on" in await card_actions(ward, card)
    log = book.payload["text"]
    assert book.payload["html"] and f"Sổ nhật ký phản ánh <b>{code}</b>" in log
    assert "Người phản ánh · Gửi phản ánh" in log
    assert "Cán bộ &lt;Hùng&gt; · Ghi chú nội bộ: &lt;script&gt;x&lt;/script&gt;" in log
    # No Telegram user id (a distinctive one: times in the log hold any 2 digits).
    assert "<script>" not in log and "987654321" not in log

    await province.command("case", code)  # the province sees it, without the contact
    card, _book = await province.new_messages()
    assert code in card.payload["text"] and "+84" not in card.payload["text"]

    await other.command("case", code)  # another ward: as if it did not exist
    (foreign,) = texts(await other.new_messages())
    await other.command("case", "PA20-999999")
    (unknown,) = texts(await other.new_messages())
    assert foreign.replace(code, "X") == unknown.replace("PA20-999999", "X")
    assert "Không tìm thấy" in foreign and "Phường Kỳ Lừa" not in foreign
    await other.command("case")
    assert "/case <mã phản ánh>" in texts(await other.new_messages())[0]


async def test_commands_are_answered_in_linked_groups_only(hotline: Hotline, clock: Clock) -> None:
    await new_case(hotline)
    stranger = Person(hotline, "77", chat_id="-5555", chat_type="group")
    for command, args in (("open", ""), ("overdue", ""), ("case", "PA20-000001")):
        await stranger.command(command, args)
    assert await stranger.new_messages() == []


# ---------------------------------------------------------------- the loop


async def test_the_scheduler_loop_ticks_and_stops_on_request(
    hotline: Hotline, clock: Clock
) -> None:
    ward = await link_group(hotline, "-1001")
    await new_case(hotline, at=T0 - 3 * H)  # overdue already
    woken = asyncio.Event()
    scheduler = DeadlineScheduler(
        hotline.sessionmaker, hotline.deps, wake=woken.set, clock=clock, max_sleep_s=60
    )
    task = asyncio.create_task(scheduler.run())
    await asyncio.wait_for(woken.wait(), timeout=20)  # a guard, not a timing assertion
    scheduler.stop()
    await asyncio.wait_for(task, timeout=20)
    assert len(texts(await ward.new_messages(), OVERDUE)) == 1


# ---------------------------------------------------------------- policy arithmetic


@pytest.mark.parametrize(
    ("marked_after", "expected"),
    [(timedelta(0), 4 * H), (H, 5 * H), (21 * H, 24 * H), (30 * H, 24 * H)],
)
def test_urgent_verify_deadline_rule(marked_after: timedelta, expected: timedelta) -> None:
    policy = DeadlinePolicy()
    case = _bare_case()
    policy.start(case, T0)
    policy.set_urgent(case, True, T0 + marked_after)
    assert case.verify_due_at == T0 + expected
    policy.set_urgent(case, False, T0 + marked_after + H)
    assert case.verify_due_at == T0 + 24 * H


def test_reminder_moment_and_digest_moment() -> None:
    policy = DeadlinePolicy()
    case = _bare_case()
    policy.start(case, T0)
    assert policy.reminder_at(case, "ack") == T0 + 90 * timedelta(minutes=1)
    assert policy.reminder_at(case, "verify") == T0 + 18 * H
    assert policy.reminder_at(case, "result") == T0 + timedelta(days=7.5)
    case.urgent = True
    policy.set_urgent(case, True, T0)
    assert policy.reminder_at(case, "verify") == T0 + 3 * H
    assert policy.next_digest_at(T0) == datetime(2030, 3, 4, 0, 30, tzinfo=UTC)
    assert policy.digest_day_due(datetime(2030, 3, 4, 0, 29, tzinfo=UTC)) is None
    assert policy.digest_day_due(datetime(2030, 3, 4, 0, 30, tzinfo=UTC)) == "2030-03-04"


def _bare_case(**values: Any) -> Case:
    fields: dict[str, Any] = {
        "code": "PA20-000001",
        "province_code": "20",
        "seq": 1,
        "ward_code": KY_LUA,
        "category": "noise",
        "location_source": "address",
        "nature": "now",
        "description": "x",
        "description_language": "vi",
        "reporter_id": 1,
        "channel": "telegram",
        "filed_at": T0,
        "verify_due_at": T0,
        "status": CaseStatus.NEW.value,
        **values,
    }
    return Case(**fields)


async def test_an_alert_or_a_digest_is_recorded_once(any_hotline: Hotline) -> None:
    case = await new_case(any_hotline)
    async with db.session_scope(any_hotline.sessionmaker) as s:
        assert await services.record_deadline_alert(s, case.id or 0, "ack", "overdue", 7, T0)
        assert not await services.record_deadline_alert(s, case.id or 0, "ack", "overdue", 7, T0)
        assert await services.record_deadline_alert(s, case.id or 0, "ack", "overdue", 8, T0)
        assert await services.claim_digest(s, "2030-03-04", T0)
        assert not await services.claim_digest(s, "2030-03-04", T0)
    assert len(await alerts(any_hotline)) == 2
