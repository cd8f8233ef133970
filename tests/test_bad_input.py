"""Bad input at every step, edits, forwards, channels, per-user limits and HTML safety.

The core is driven with neutral events over a real SQLite database (tests/harness.py);
the Telegram side (what each kind of update becomes) is checked on aiogram's own types and
end to end against the fake Bot API.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiogram.types import Message
from sqlmodel import col, select

from bot import db, services
from bot.app import Hotline
from bot.channels.telegram.routing import ALLOWED_UPDATES
from bot.channels.telegram.translate import message_to_event
from bot.demo import local_hotline
from bot.fakes.telegram import FakeBotAPI, FakeChat, FakeUser, tiny_png
from bot.i18n import t
from handlers.context import local_time
from handlers.intake import ADDRESS_MAX, DESCRIPTION_MAX, DESCRIPTION_MIN, NEED_KEY, STEPS
from handlers.limits import Admission, MessageRateLimiter, limits_for
from handlers.officer import group_help_text
from models.tables import Case, Conversation, Outbox
from tests.conftest import make_settings, migrate
from tests.harness import JPEG, KY_LUA, Person, advance_to, file_report

LONG_TEXT = ("Khói đen từ lò gạch bay khắp xóm. " * 400)[:10_000]
LONG_TEXT_EN = ("Black smoke from the brick kiln all over the street. " * 250)[:9_999] + "."
STATES = (None, *STEPS, "summary")  # None: no report in progress
_users = itertools.count(70_000)


class Clock:
    """An explicit clock for the limits: monotonic seconds and UTC time, moved by hand."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.seconds = 1000.0

    def monotonic(self) -> float:
        return self.seconds

    def utcnow(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds - 1000.0)

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


async def make_hotline(tmp_path: Path, **overrides: Any) -> Hotline:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
    await migrate(url)
    return Hotline(make_settings(url, tmp_path / "media", **overrides))


@pytest.fixture
async def roomy(tmp_path: Path) -> AsyncIterator[Hotline]:
    """A hotline whose message limit does not get in the way of a fast scripted citizen."""
    app = await make_hotline(tmp_path, user_messages_per_minute=10_000)
    yield app
    await app.close()


# ---------------------------------------------------------------- the state × input matrix


@dataclass
class Expect:
    """What one input at one step must produce."""

    state: str | None  # the state afterwards
    keys: list[tuple[str, dict[str, Any]]]  # catalogue messages the reply must contain
    markup: bool = False  # the step's buttons or keyboard come with the reply
    answer: str | None = None  # the button press is answered with this message
    changes: bool = False  # valid input that stays at the step but adds to the draft


Send = Callable[[Person], Awaitable[Any]]
KINDS: dict[str, Send] = {
    "empty": lambda p: p.text(""),
    "blank": lambda p: p.text("  \n\t "),
    # In the person's language: what people type decides the language they are answered in.
    "long_text": lambda p: p.text(LONG_TEXT_EN if p.language_code == "en" else LONG_TEXT),
    "sticker": lambda p: p.send("unsupported", unsupported_kind="sticker"),
    "gif": lambda p: p.send("unsupported", unsupported_kind="animation"),
    "poll": lambda p: p.send("unsupported", unsupported_kind="poll"),
    "dice": lambda p: p.send("unsupported", unsupported_kind="dice"),
    "game": lambda p: p.send("unsupported", unsupported_kind="game"),
    "contact_own": lambda p: p.contact("+84912345678", own=True),
    "contact_other": lambda p: p.contact("+84900000000", own=False),
    "location": lambda p: p.location(*KY_LUA),
    "photo": lambda p: p.photos(JPEG),
    "video": lambda p: p.file("video", b"video-bytes"),
    "voice": lambda p: p.file("voice", b"voice-bytes"),
    "document": lambda p: p.file("document", b"%PDF-1.4"),
    "file_25mb": lambda p: p.file("document", b"x", size=25 * 1024 * 1024),
    "unknown_command": lambda p: p.command("frobnicate"),
    "slash_only": lambda p: p.command(""),
    "other_bot": lambda p: p.send("command", command="report", text="", other_bot=True),
    "report_with_words": lambda p: p.command("report", "extra words"),
    "old_button": lambda p: p.press("c1:cat:noise"),  # c1:nat:earlier at the category
    "edited": lambda p: p.send("edited"),
}
LEADS = {
    "empty": "intake.got_empty",
    "blank": "intake.got_empty",
    "sticker": "intake.got_sticker",
    "gif": "intake.got_animation",
    "poll": "intake.got_poll",
    "dice": "intake.got_dice",
    "game": "intake.got_unsupported",
    "contact_own": "intake.got_contact",
    "contact_other": "intake.got_contact",
    "location": "intake.got_location",
    "unknown_command": "intake.unknown_command",
    "slash_only": "intake.unknown_command",
    "other_bot": "intake.command_other_bot",
    "old_button": "intake.got_old_button",
}
MEDIA = ("photo", "video", "voice", "document", "file_25mb")


def _need(state: str) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {}
    if state == "evidence":
        params = {"max_mb": 20}
    elif state == "description":
        params = {"min": DESCRIPTION_MIN, "max": DESCRIPTION_MAX}
    return NEED_KEY[state], params


def expect(state: str | None, kind: str) -> Expect:
    """The behaviour matrix: what `kind` of input at `state` gets (None: no report)."""
    answer = "intake.stale_button" if kind == "old_button" else None
    if kind == "edited":
        key = "intake.edit_ignored_summary" if state == "summary" else "intake.edit_ignored"
        return Expect(state, [(key, {})])
    if kind == "report_with_words":  # /REPORT extra words is /report
        if state in (None, "category"):
            return Expect("category", [("intake.ask_category", {})], markup=True)
        return Expect(state, [("intake.resume_question", {})])
    if state is None:
        keys: list[tuple[str, dict[str, Any]]] = []
        if kind in MEDIA:
            keys.append(("intake.got_media_early", {}))
        elif kind in LEADS and kind not in ("location", "contact_own", "contact_other"):
            keys.append((LEADS[kind], {}))
        if kind not in ("unknown_command", "slash_only", "other_bot"):
            keys.append(("intake.idle_hint", {}))
        return Expect(None, keys, answer=answer)
    # Inputs the step can use.
    if state == "location" and kind == "location":
        return Expect("ward", [("intake.confirm_ward", {"where": "📍 21.85926, 106.75417"})])
    if state in ("location", "ward") and kind == "long_text":  # both take an address
        lead = ("intake.address_too_long", {"max": ADDRESS_MAX})
        return Expect(state, [lead, _need(state)], markup=True)
    if state == "ward" and kind == "location":  # a new pin: the wards are suggested again
        where = {"where": "📍 21.85926, 106.75417"}
        return Expect("ward", [("intake.confirm_ward", where)], changes=True)
    if state == "evidence" and kind in MEDIA:
        keys = [("intake.file_too_large", {"max_mb": 20})] if kind == "file_25mb" else []
        counts = {"photos": 1 if kind == "photo" else 0, "max_photos": 5}
        counts["others"] = 0 if kind in ("photo", "file_25mb") else 1
        received = ("intake.evidence_received", counts)
        return Expect(state, [*keys, received], markup=True, changes=True)
    if state == "description" and kind == "long_text":
        params = {"max": DESCRIPTION_MAX, "length": len(LONG_TEXT.strip())}
        return Expect(state, [("intake.description_too_long", params)])
    if state == "source" and kind == "long_text":
        return Expect(state, [("intake.source_too_long", {"max": 200})])
    if state == "contact" and kind == "contact_own":
        return Expect("summary", [("intake.contact_saved", {"ward": "Phường Kỳ Lừa"})])
    if state == "contact" and kind == "contact_other":
        return Expect(state, [("intake.contact_not_own", {})], markup=True)
    # Everything else: what was wrong (when there is something to say), what is needed.
    keys = []
    if kind in MEDIA:
        early = state in ("category", "location", "ward")
        keys.append(("intake.got_media_early" if early else "intake.got_media_late", {}))
    elif kind in LEADS:
        keys.append((LEADS[kind], {}))
    keys.append(_need(state))
    return Expect(state, keys, markup=state != "description", answer=answer)


async def _drafts(hotline: Hotline, state: str) -> dict[str, Any]:
    """A real draft at `state`, made by walking a citizen there."""
    walker = Person(hotline, str(next(_users)))
    await advance_to(walker, state)
    assert await walker.state() == state
    return await walker.draft()


async def _seed(hotline: Hotline, person: Person, state: str | None, data: dict[str, Any]) -> None:
    if state is None:
        return
    async with db.session_scope(hotline.sessionmaker) as s:
        await services.save_conversation(
            s, "telegram", person.user_id, person.chat_id, state, data
        )


@pytest.mark.parametrize("state", STATES, ids=lambda s: s or "idle")
async def test_every_input_at_every_step(roomy: Hotline, state: str | None) -> None:
    """Each kind of input at this step, in Vietnamese and English: no failure, the state
    moves only on valid input, and the reply is the step's own message, in the reporter's
    language, with the step's buttons again, as plain text that never quotes long input."""
    draft = await _drafts(roomy, state) if state else {}
    problems: list[str] = []
    for lang, other in (("vi", "en"), ("en", "vi")):
        for kind, act in KINDS.items():
            person = Person(roomy, str(next(_users)), language_code=lang)
            await _seed(roomy, person, state, draft)
            if kind == "old_button" and state == "category":
                reply = await person.press("c1:nat:earlier")
            else:
                reply = await act(person)
            rows = await person.new_messages()
            texts = [r.payload["text"] for r in rows]
            everything = "\n".join(texts)
            want = expect(state, kind)
            where = f"{state or 'idle'} × {kind} ({lang})"
            if t(lang, "error.generic") in everything:
                problems.append(f"{where}: failed: {texts}")
                continue
            if (got := await person.state()) != want.state:
                problems.append(f"{where}: state {got!r}, expected {want.state!r}")
            if not rows:
                problems.append(f"{where}: no reply")
                continue
            for key, params in want.keys:
                if t(lang, key, **params) not in everything:
                    problems.append(f"{where}: no {key} in {texts}")
                if t(other, key, **params) in everything and lang != other:
                    problems.append(f"{where}: {key} in the wrong language")
            if want.markup:
                last = t(lang, want.keys[-1][0], **want.keys[-1][1])
                row = next((r for r in rows if last in r.payload["text"]), None)
                if row is None or not (row.payload["buttons"] or row.payload["keyboard"]):
                    problems.append(f"{where}: the step's buttons are not repeated")
            if want.answer and (reply is None or reply.callback_text != t(lang, want.answer)):
                problems.append(f"{where}: button answered {reply and reply.callback_text!r}")
            if any(r.payload["html"] for r in rows):
                problems.append(f"{where}: a reply to the citizen uses HTML")
            if LONG_TEXT[:200] in everything:
                problems.append(f"{where}: the long text was echoed back")
            if want.state == state and state is not None and not want.changes:
                if await person.draft() != draft:
                    problems.append(f"{where}: the draft changed")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- Telegram updates → events


def _message(**content: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "message_id": 10,
        "date": 0,
        "chat": {"id": 1001, "type": "private", "first_name": "Lan"},
        "from": {"id": 1001, "is_bot": False, "first_name": "Lan", "language_code": "vi"},
    }
    message = {**base, **content}
    Message.model_validate(message)  # a message Telegram could send
    return message


GROUP = {"id": -1001, "type": "supergroup", "title": "Kỳ Lừa officers"}
CHANNEL = {"id": -100777, "type": "channel", "title": "Tin môi trường"}
FILE = {"file_id": "F1", "file_unique_id": "U1"}


@pytest.mark.parametrize(
    ("content", "kind", "check"),
    [
        (
            {
                "sticker": {
                    **FILE,
                    "type": "regular",
                    "width": 1,
                    "height": 1,
                    "is_animated": False,
                    "is_video": False,
                }
            },
            "unsupported",
            {"unsupported_kind": "sticker"},
        ),
        (
            {
                "animation": {**FILE, "width": 1, "height": 1, "duration": 1},
                "document": {**FILE, "file_name": "a.mp4"},
            },
            "unsupported",
            {"unsupported_kind": "animation", "files": ()},
        ),
        (
            {
                "poll": {
                    "id": "1",
                    "question": "?",
                    "options": [],
                    "total_voter_count": 0,
                    "is_closed": False,
                    "is_anonymous": True,
                    "type": "regular",
                    "allows_multiple_answers": False,
                    "allows_revoting": True,
                    "members_only": False,
                }
            },
            "unsupported",
            {"unsupported_kind": "poll"},
        ),
        ({"dice": {"emoji": "🎲", "value": 3}}, "unsupported", {"unsupported_kind": "dice"}),
        (
            {
                "venue": {
                    "location": {"latitude": 21.8, "longitude": 106.7},
                    "title": "Chợ",
                    "address": "x",
                },
                "location": {"latitude": 21.8, "longitude": 106.7},
            },
            "location",
            {"latitude": 21.8},
        ),
        (
            {"contact": {"phone_number": "+84912345678", "first_name": "Lan", "user_id": 1001}},
            "contact",
            {"contact_is_own": True},
        ),
        (
            {"contact": {"phone_number": "+84900000000", "first_name": "B", "user_id": 9}},
            "contact",
            {"contact_is_own": False},
        ),
        (
            {
                "contact": {"phone_number": "+84912345678", "first_name": "Lan", "user_id": 1001},
                "forward_origin": {
                    "type": "user",
                    "date": 0,
                    "sender_user": {"id": 1001, "is_bot": False, "first_name": "L"},
                },
            },
            "contact",
            {"contact_is_own": False, "forwarded": True},
        ),
        (
            {"document": {**FILE, "file_name": "big.mp4", "file_size": 25 * 1024 * 1024}},
            "media",
            {"files": (("document", 25 * 1024 * 1024),)},
        ),
        (
            {
                "photo": [{**FILE, "width": 1, "height": 1, "file_size": 10}],
                "forward_origin": {"type": "hidden_user", "date": 0, "sender_user_name": "X"},
            },
            "media",
            {"forwarded": True},
        ),
        (
            {
                "text": "Khói đen",
                "forward_origin": {"type": "channel", "date": 0, "chat": CHANNEL, "message_id": 3},
            },
            "text",
            {"forwarded": True, "text": "Khói đen"},
        ),
        (
            {
                "text": "/report",
                "forward_origin": {"type": "hidden_user", "date": 0, "sender_user_name": "X"},
            },
            "text",
            {"text": "/report"},
        ),
        ({"text": "/"}, "command", {"command": "", "other_bot": False}),
        ({"text": "/ report"}, "command", {"command": ""}),
        ({"text": "/REPORT extra words"}, "command", {"command": "report", "text": "extra words"}),
        ({"text": "/report\nmore"}, "command", {"command": "report", "text": "more"}),
        ({"text": "/report@otherbot"}, "command", {"command": "report", "other_bot": True}),
        (
            {"text": "/report@Hotline_Test_Bot"},
            "command",
            {"command": "report", "other_bot": False},
        ),
        ({"text": "Sửa lại", "edit_date": 5}, "edited", {}),
    ],
)
def test_telegram_message_kinds(content: dict[str, Any], kind: str, check: dict[str, Any]) -> None:
    event = message_to_event(_message(**content), 1, "hotline_test_bot")
    assert event is not None and event.kind == kind
    for name, value in check.items():
        if name == "files":
            got = tuple((f.kind, f.size) for f in event.files)
            assert got == tuple(value), event.files
        else:
            assert getattr(event, name) == value, name


@pytest.mark.parametrize(
    "update",
    [
        {"text": "/report@otherbot", "chat": GROUP},  # another bot's command in a group
        {"text": "Sửa", "edit_date": 5, "chat": GROUP},  # edits in groups: not answered
        {"location": {"latitude": 21.8, "longitude": 106.7}, "edit_date": 5},  # live location
        {"pinned_message": {"message_id": 3, "date": 0, "chat": {"id": 1001, "type": "private"}}},
        {"message_auto_delete_timer_changed": {"message_auto_delete_time": 86400}},
        {"text": "Bài mới", "chat": CHANNEL},  # a channel post
        {  # a channel admin posting in the group as the channel
            "text": "Thông báo",
            "chat": GROUP,
            "from": {"id": 136817688, "is_bot": True, "first_name": "Channel"},
            "sender_chat": CHANNEL,
        },
        {  # a channel post copied into its linked discussion group
            "text": "Thông báo",
            "chat": GROUP,
            "from": {"id": 777000, "is_bot": False, "first_name": "Telegram"},
            "sender_chat": CHANNEL,
            "is_automatic_forward": True,
            "forward_origin": {"type": "channel", "date": 0, "chat": CHANNEL, "message_id": 2},
        },
    ],
    ids=[
        "other-bot",
        "group-edit",
        "live-location",
        "pinned",
        "timer",
        "channel-post",
        "as-channel",
        "automatic-forward",
    ],
)
def test_noise_becomes_no_event(update: dict[str, Any]) -> None:
    assert message_to_event(_message(**update), 1, "hotline_test_bot") is None


def test_anonymous_group_admin_still_counts() -> None:
    anonymous = _message(
        text="/help",
        chat=GROUP,
        sender_chat=GROUP,
        **{"from": {"id": 1087968824, "is_bot": True, "first_name": "Group"}},
    )
    event = message_to_event(anonymous, 1, "hotline_test_bot")
    assert event is not None and event.kind == "command" and event.chat_type == "group"


# ---------------------------------------------------------------- edits never change anything


async def test_an_edit_changes_neither_the_draft_nor_a_filed_case(roomy: Hotline) -> None:
    citizen = Person(roomy, "1001")
    await advance_to(citizen, "summary")
    before = await citizen.draft()
    await citizen.new_messages()
    await citizen.send("edited", message_id=3)
    (notice,) = await citizen.texts()
    assert notice == t("vi", "intake.edit_ignored_summary")
    assert await citizen.state() == "summary" and await citizen.draft() == before
    await citizen.press("c1:sum:ok")
    await citizen.new_messages()
    await citizen.send("edited", message_id=3)
    assert await citizen.texts() == [t("vi", "intake.edit_ignored")]
    async with roomy.sessionmaker() as s:
        case = (await s.exec(select(Case))).one()
    assert case.description == before["description"]


# ---------------------------------------------------------------- messages per minute


def test_sliding_window_refuses_notifies_once_and_lets_in_again() -> None:
    clock = Clock(datetime(2026, 1, 1, tzinfo=UTC))
    limiter = MessageRateLimiter(clock.monotonic)
    key = ("telegram", "1")
    verdicts = []
    for _ in range(3):
        verdicts.append(limiter.admit(key, 3))
        clock.advance(10)
    verdicts += [limiter.admit(key, 3), limiter.admit(key, 3)]  # t = 30
    assert verdicts == [Admission.ALLOW] * 3 + [Admission.NOTICE, Admission.DROP]
    clock.advance(30.5)  # the first admitted (t = 0) has left the window, the others not
    assert limiter.admit(key, 3) is Admission.ALLOW
    assert limiter.admit(key, 3) is Admission.NOTICE  # a new episode: told again, once
    assert limiter.admit(key, 3) is Admission.DROP
    assert limiter.admit(("telegram", "2"), 3) is Admission.ALLOW  # others are unaffected


def test_limiter_memory_is_bounded() -> None:
    clock = Clock(datetime(2026, 1, 1, tzinfo=UTC))
    limiter = MessageRateLimiter(clock.monotonic, max_tracked=50)
    for user in range(40):
        limiter.admit(("telegram", str(user)), 30)
    assert len(limiter) == 40
    clock.advance(61)  # all idle for a whole window: forgotten on the next event
    limiter.admit(("telegram", "new"), 30)
    assert len(limiter) == 1
    for user in range(500):
        limiter.admit(("telegram", f"flood-{user}"), 30)
    assert len(limiter) == 50


async def test_hundred_messages_in_a_minute(tmp_path: Path) -> None:
    """The default 30 a minute: 30 answers, exactly one notice, silence, then answers again."""
    hotline = await make_hotline(tmp_path)
    try:
        clock = Clock(datetime(2026, 1, 1, tzinfo=UTC))
        limits_for(hotline.deps).messages.clock = clock.monotonic
        citizen = Person(hotline, "1001")
        for _ in range(100):
            await citizen.text("xin chào")
            clock.advance(0.5)  # 100 messages in 50 seconds
        texts = await citizen.texts()
        hint, notice = t("vi", "intake.idle_hint"), t("vi", "intake.too_fast", limit=30)
        assert texts == [hint] * 30 + [notice]
        clock.advance(60)
        await citizen.text("xin chào")
        assert await citizen.texts() == [hint]
        async with hotline.sessionmaker() as s:
            rows = (await s.exec(select(Outbox))).all()
        assert len(rows) == 32  # the 69 refused messages cost no outbox row
    finally:
        await hotline.close()


async def test_refused_input_is_not_recorded_and_presses_count(tmp_path: Path) -> None:
    hotline = await make_hotline(tmp_path, user_messages_per_minute=3)
    try:
        clock = Clock(datetime(2026, 1, 1, tzinfo=UTC))
        limits_for(hotline.deps).messages.clock = clock.monotonic
        citizen = Person(hotline, "1001", language_code="en")
        await citizen.command("report")
        await citizen.press("c1:cat:odour")
        await citizen.location(*KY_LUA)
        await citizen.new_messages()
        refused = await citizen.press("c1:ward:06187")  # the 4th event in the minute
        notice = t("en", "intake.too_fast", limit=3)
        assert refused is not None and refused.callback_text == notice
        assert await citizen.texts() == [notice]
        silent = await citizen.press("c1:ward:06187")
        assert silent is not None and silent.callback_text is None
        assert await citizen.texts() == []
        assert await citizen.state() == "ward" and "ward_code" not in await citizen.draft()
        clock.advance(61)
        await citizen.press("c1:ward:06187")
        assert await citizen.state() == "evidence"
    finally:
        await hotline.close()


async def test_officer_groups_have_no_message_limit(tmp_path: Path) -> None:
    from tests.test_officer import link_group

    hotline = await make_hotline(tmp_path, user_messages_per_minute=2)
    try:
        limits_for(hotline.deps).messages.clock = lambda: 5.0  # time stands still
        officer = await link_group(hotline, "-1001")
        for _ in range(5):
            await officer.command("help")
        assert await officer.texts() == [group_help_text()] * 5
    finally:
        await hotline.close()


# ---------------------------------------------------------------- filed cases per hour


async def test_cases_per_hour_keeps_the_draft_and_says_when(tmp_path: Path) -> None:
    hotline = await make_hotline(tmp_path, user_cases_per_hour=2, user_messages_per_minute=10_000)
    try:
        clock = Clock(datetime(2026, 3, 9, 3, 0, 30, tzinfo=UTC))
        limits_for(hotline.deps).now = clock.utcnow
        citizen = Person(hotline, "1001")
        await file_report(citizen)
        clock.advance(5 * 60)
        await file_report(citizen)
        clock.advance(20 * 60)
        await advance_to(citizen, "summary")
        draft = await citizen.draft()
        await citizen.new_messages()
        reply = await citizen.press("c1:sum:ok")
        # The first case (03:00:30 UTC) leaves the hour at 04:00:30: said as 11:01 local.
        when = "11:01 09/03/2026"
        assert local_time(datetime(2026, 3, 9, 4, 1, tzinfo=UTC)) == when
        assert reply is not None and reply.callback_text == t(
            "vi", "intake.case_limit_toast", time=when
        )
        (notice,) = await citizen.new_messages()
        assert notice.payload["text"] == t("vi", "intake.case_limit", limit=2, time=when)
        assert "c1:sum:ok" in str(notice.payload["buttons"])
        assert await citizen.state() == "summary" and await citizen.draft() == draft
        other = Person(hotline, "1002")  # limits are per reporter
        await file_report(other)
        clock.advance(35 * 60 + 31)  # 04:01:01: the first case is over an hour old
        await citizen.press("c1:sum:ok")
        async with hotline.sessionmaker() as s:
            cases = (await s.exec(select(Case).order_by(col(Case.id)))).all()
        assert len(cases) == 4 and await citizen.state() is None
        assert cases[-1].filed_at == clock.utcnow()
    finally:
        await hotline.close()


# ---------------------------------------------------------------- user text in replies


async def test_user_text_is_never_sent_as_html(roomy: Hotline) -> None:
    citizen = Person(roomy, "1001")
    await advance_to(citizen, "ward")
    await citizen.text("<b>Phường</b> & <i>")
    await citizen.press("c1:ward:06187")
    await citizen.press("c1:ev:done")
    risky = "<b>Khói</b> & <script>alert(1)</script> từ lò gạch"
    await citizen.text(risky)
    await citizen.press("c1:nat:now")
    await citizen.text("Xưởng <A&B>")
    await citizen.text("🙈 Ẩn danh")
    rows = await citizen.new_messages()
    summary = rows[-1].payload
    assert risky in summary["text"] and "Xưởng <A&B>" in summary["text"]
    assert not any(r.payload["html"] for r in rows)
    assert any("<b>Phường</b> &" in r.payload["text"] for r in rows)


# ---------------------------------------------------------------- through the real aiogram


CITIZEN = FakeUser(id=1001, first_name="Lan", language_code="vi")
ENGLISH = FakeUser(id=1002, first_name="Ann", language_code="en")
OFFICER = FakeUser(id=2001, first_name="Minh", language_code="vi")
WARD_GROUP = FakeChat(id=-1001, type="supergroup", title="Kỳ Lừa officers")
NEWS = FakeChat(id=-100777, type="channel", title="Tin môi trường")


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


def has(text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: text in (m.get("text") or m.get("caption") or "")


async def hotline_alive(hotline: Hotline) -> bool:
    """The core still handles events (nothing above brought it down)."""
    probe = Person(hotline, "424242")
    await probe.command("help")
    return bool(await probe.texts())


async def _report_to(api: FakeBotAPI, user: FakeUser, step: str) -> None:
    """Walk `user` to the evidence or description step through the fake server."""
    lang = user.language_code or "vi"
    api.send_command(user, "report")
    ask = await api.wait_for_message(user.id, has(t(lang, "intake.ask_category")))
    api.press_button(user, ask, "c1:cat:odour")
    await api.wait_for_message(user.id, has(t(lang, "intake.ask_location").split("\n")[0]))
    api.send_location(user, *KY_LUA)
    ward = await api.wait_for_message(user.id, lambda m: "c1:ward:06187" in str(m))
    api.press_button(user, ward, "c1:ward:06187")
    evidence = await api.wait_for_message(user.id, lambda m: "c1:ev:done" in str(m))
    if step == "description":
        api.press_button(user, evidence, "c1:ev:done")
        await api.wait_for_message(
            user.id, has(t(lang, "intake.ask_description", min=10, max=3000))
        )


async def test_odd_telegram_input_gets_specific_replies(api: FakeBotAPI, tmp_path: Path) -> None:
    async with local_hotline(
        api, tmp_path, user_messages_per_minute=10_000, send_chat_interval_s=0
    ) as hotline:
        assert "edited_message" in ALLOWED_UPDATES
        await _report_to(api, CITIZEN, "evidence")
        need = t("vi", "intake.need_evidence", max_mb=20)
        for send, lead in [
            (lambda: api.send_sticker(CITIZEN), "intake.got_sticker"),
            (lambda: api.send_animation(CITIZEN), "intake.got_animation"),
            (lambda: api.send_poll(CITIZEN), "intake.got_poll"),
            (lambda: api.send_dice(CITIZEN), "intake.got_dice"),
            (lambda: api.send_text(CITIZEN, "/"), "intake.unknown_command"),
            (lambda: api.send_text(CITIZEN, "/report@otherbot"), "intake.command_other_bot"),
        ]:
            send()
            reply = await api.wait_for_message(CITIZEN.id, has(t("vi", lead)))
            assert need in reply["text"] and "c1:ev:done" in str(reply["reply_markup"])
        # A 25 MB file: refused from its declared size, never downloaded.
        api.send_document(
            CITIZEN,
            b"%PDF",
            file_name="big.pdf",
            mime_type="application/pdf",
            file_size=25 * 1024 * 1024,
        )
        await api.wait_for_message(CITIZEN.id, has(t("vi", "intake.file_too_large", max_mb=20)))
        assert not [c for c in api.calls if c.method == "getFile"]
        # A forwarded photo is evidence.
        api.send_forwarded(CITIZEN, OFFICER, photo=tiny_png(4, 4))
        await api.wait_for_message(CITIZEN.id, has("Đã nhận: 1/5 ảnh"))
        # A venue at the location step is a pin; in English for an English client.
        api.send_command(ENGLISH, "report")
        ask = await api.wait_for_message(ENGLISH.id, lambda m: "c1:cat:noise" in str(m))
        api.press_button(ENGLISH, ask, "c1:cat:noise")
        await api.wait_for_message(ENGLISH.id, has("Step 2/7"))
        api.send_contact(ENGLISH, "+84900000000", own=False)
        reply = await api.wait_for_message(ENGLISH.id, has(t("en", "intake.got_contact")))
        assert t("en", "intake.need_location") in reply["text"]
        assert "request_location" in str(reply["reply_markup"])
        api.send_venue(ENGLISH, *KY_LUA, title="Chợ Kỳ Lừa")
        await api.wait_for_message(ENGLISH.id, lambda m: "c1:ward:06187" in str(m))
        await api.wait_idle()
        for user in (CITIZEN, ENGLISH):
            texts = [m.get("text", "") for m in api.chat_messages(user.id)]
            assert not [x for x in texts if x == t(user.language_code, "error.generic")]
        assert await hotline_alive(hotline)


async def test_edits_forwards_and_channels(api: FakeBotAPI, tmp_path: Path) -> None:
    async with local_hotline(
        api, tmp_path, user_messages_per_minute=10_000, send_chat_interval_s=0
    ) as hotline:
        from tests.test_e2e import link

        await link(api, hotline, WARD_GROUP, "06187")
        await _report_to(api, CITIZEN, "description")
        sent = api.send_text(CITIZEN, "Mùi hôi thối từ bãi rác bốc lên nồng nặc.")
        await api.wait_for_message(CITIZEN.id, has("Bước 5/7"))
        # Editing the description afterwards: told it does not count, nothing changes.
        api.edit_user_message(CITIZEN, sent["message"], text="Đã hết mùi rồi, cảm ơn.")
        await api.wait_for_message(CITIZEN.id, has(t("vi", "intake.edit_ignored")))
        async with hotline.sessionmaker() as s:
            conv = (await s.exec(select(Conversation))).one()
        assert conv.state == "nature" and "bãi rác" in conv.data["description"]
        # A live location moving (an edit too) is not answered.
        pin = api.send_location(CITIZEN, *KY_LUA)
        await api.wait_for_message(CITIZEN.id, has(t("vi", "intake.got_location")))
        api.edit_user_message(CITIZEN, pin["message"], location=(21.86, 106.76))
        # Messages on behalf of a channel, edits in a group, channel posts: ignored.
        api.send_as_channel(NEWS, WARD_GROUP, "/help")
        api.send_as_channel(NEWS, WARD_GROUP, "/help", automatic_forward=True)
        group_text = api.send_text(OFFICER, "Đã nhận", chat=WARD_GROUP)
        api.edit_user_message(OFFICER, group_text["message"], text="Đã nhận, đang đi xác minh")
        api.post_to_channel(NEWS, "/help")
        # The probes: each chat's next reply is to them, so nothing came before.
        api.send_command(OFFICER, "help", chat=WARD_GROUP)
        api.send_command(CITIZEN, "help")
        group_reply = await api.wait_for_message(WARD_GROUP.id)
        assert group_reply["text"] == group_help_text()
        citizen_reply = await api.wait_for_message(CITIZEN.id)
        assert citizen_reply["text"].startswith(t("vi", "intake.help", max_photos=5)[:30])
        await api.wait_idle()
        assert [m["text"] for m in api.chat_messages(WARD_GROUP.id)][-1] == group_reply["text"]
        assert api.chat_messages(CITIZEN.id)[-1]["message_id"] == citizen_reply["message_id"]
        assert [u for u in api.dropped_updates if "channel_post" in u]
        # A forwarded text is a description; a forwarded contact is not the reporter's phone.
        await _report_to(api, ENGLISH, "description")
        api.send_forwarded(ENGLISH, NEWS, text="Black smoke <b>over</b> the river & fields.")
        press = await api.wait_for_message(ENGLISH.id, lambda m: "c1:nat:now" in str(m))
        assert "Step 5/7" in press["text"]
        api.press_button(ENGLISH, press, "c1:nat:now")
        skip = await api.wait_for_message(ENGLISH.id, lambda m: "c1:src:skip" in str(m))
        api.press_button(ENGLISH, skip, "c1:src:skip")
        await api.wait_for_message(ENGLISH.id, has("Step 7/7"))
        api.send_forwarded(ENGLISH, ENGLISH, contact_phone="+84912345678")
        await api.wait_for_message(ENGLISH.id, has(t("en", "intake.contact_not_own")))
        async with hotline.sessionmaker() as s:
            convs = (await s.exec(select(Conversation))).all()
        english = next(c for c in convs if c.user_id == str(ENGLISH.id))
        assert english.state == "contact" and "contact_phone" not in english.data
        # The summary shows the forwarded text as typed: plain text, no parse mode.
        api.press_reply_button(ENGLISH, t("en", "btn.anonymous"))
        summary = await api.wait_for_message(ENGLISH.id, lambda m: "c1:sum:ok" in str(m))
        assert "Black smoke <b>over</b> the river & fields." in summary["text"]
        (call,) = [
            c for c in api.calls if c.method == "sendMessage" and "<b>over</b>" in c.params["text"]
        ]
        assert call.ok and call.params.get("parse_mode") is None


async def test_flood_through_telegram(api: FakeBotAPI, tmp_path: Path) -> None:
    async with local_hotline(
        api, tmp_path, user_messages_per_minute=3, send_chat_interval_s=0
    ) as hotline:
        clock = Clock(datetime(2026, 1, 1, tzinfo=UTC))
        limits_for(hotline.deps).messages.clock = clock.monotonic
        for _ in range(8):
            api.send_command(CITIZEN, "help")
        notice = t("vi", "intake.too_fast", limit=3)
        await api.wait_for_message(CITIZEN.id, has(notice))
        await api.wait_idle()
        texts = [m["text"] for m in api.chat_messages(CITIZEN.id)]
        assert texts.count(notice) == 1 and len(texts) == 4
        clock.advance(61)
        api.send_command(CITIZEN, "help")
        await api.wait_for_message(CITIZEN.id, has("/report"))
        await api.wait_idle()
        texts = [m["text"] for m in api.chat_messages(CITIZEN.id)]
        assert texts.count(notice) == 1 and len(texts) == 5
