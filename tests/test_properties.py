"""Property-based: random event sequences never break the conversation or file stray cases."""

from __future__ import annotations

import asyncio
import itertools
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from bot import db
from bot.app import Hotline
from bot.i18n import t
from handlers.intake import DESCRIPTION_MAX, DESCRIPTION_MIN, STEPS
from models.tables import Case, Outbox
from tests.conftest import make_settings
from tests.harness import JPEG, KY_LUA, Person

VALID_STATES = {None, *STEPS, "summary"}
BUTTONS = [
    "c1:cat:odour",
    "c1:cat:noise",
    "c1:cat:bogus",
    "c1:ward:06187",
    "c1:ward:06193",
    "c1:ward:11407",
    "c1:wother",
    "c1:ev:done",
    "c1:nat:now",
    "c1:nat:later",
    "c1:src:skip",
    "c1:sum:ok",
    "c1:sum:cancel",
    "c1:edit:location",
    "c1:edit:description",
    "c1:edit:zzz",
    "c1:lang:en",
    "c1:lang:xx",
    "c1:resume:go",
    "c1:resume:new",
    "c0:ack:1",
    "",
]
TEXTS = st.one_of(
    st.sampled_from(
        [
            "Mùi hôi thối từ bãi rác bốc lên nồng nặc.",
            "xa Cao Loc",
            "ky lua",
            "🙈 Ẩn danh",
            "phuong An Bien, Hai Phong",
            "21.85926, 106.75417",
            "",
            "   ",
            "x" * 4000,
            "so 12 duong Tran Dang Ninh, phuong Hoang Van Thu, thanh pho Lang Son",
        ]
    ),
    st.text(max_size=60),
)
EVENTS = st.one_of(
    st.tuples(st.just("press"), st.sampled_from(BUTTONS)),
    st.tuples(st.just("text"), TEXTS),
    st.tuples(
        st.just("command"),
        st.sampled_from(["start", "report", "cancel", "mycases", "help", "lang", "nope"]),
    ),
    st.tuples(st.just("location"), st.sampled_from([KY_LUA, (21.0285, 105.8542), (0.0, 0.0)])),
    st.tuples(st.just("photos"), st.integers(min_value=1, max_value=4)),
    st.tuples(st.just("sticker"), st.none()),
    st.tuples(
        st.just("contact"),
        st.sampled_from([("+84912345678", True), ("123", True), ("+84900000000", False)]),
    ),
    # The channel delivers the previous update again (same update id): no effect at all.
    st.tuples(st.just("redeliver"), st.none()),
)
_users = itertools.count(50_000)


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database to copy for each example (migrating each time would be slow)."""
    path = tmp_path_factory.mktemp("template") / "hotline.db"
    db.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


async def _drive(workdir: Path, events: list[tuple[str, object]]) -> int:
    """Play the events as one citizen, check the invariants; returns how many cases exist."""
    url = f"sqlite+aiosqlite:///{workdir / 'hotline.db'}"
    hotline = Hotline(make_settings(url, workdir / "media"))
    try:
        citizen = Person(hotline, str(next(_users)))
        confirms_in_summary = 0
        for kind, arg in events:
            state_before = await citizen.state()
            if kind == "press":
                await citizen.press(str(arg))
                if arg == "c1:sum:ok" and state_before == "summary":
                    confirms_in_summary += 1
            elif kind == "text":
                await citizen.text(str(arg))
            elif kind == "command":
                await citizen.command(str(arg))
            elif kind == "location":
                await citizen.location(*arg)  # type: ignore[misc]
            elif kind == "photos":
                await citizen.photos(*([JPEG] * int(arg)))  # type: ignore[call-overload]
            elif kind == "sticker":
                await citizen.sticker()
            elif kind == "contact":
                phone, own = arg  # type: ignore[misc]
                await citizen.contact(phone, own=own)
            elif kind == "redeliver" and citizen.last_event is not None:
                draft_before = await citizen.draft()
                async with hotline.sessionmaker() as s:
                    rows_before = len((await s.exec(select(Outbox))).all())
                await citizen.redeliver()
                async with hotline.sessionmaker() as s:
                    assert len((await s.exec(select(Outbox))).all()) == rows_before
                assert await citizen.state() == state_before
                assert await citizen.draft() == draft_before
            assert await citizen.state() in VALID_STATES
        async with hotline.sessionmaker() as s:
            cases = (await s.exec(select(Case))).all()
            texts = [r.payload["text"] for r in (await s.exec(select(Outbox))).all()]
        # Nothing raised inside the core (a failure would have produced the apology).
        assert not any(t(loc, "error.generic") in texts for loc in ("vi", "en"))
        # Every confirmed report became exactly one case, and nothing else did.
        assert len(cases) == confirms_in_summary
        for case in cases:
            assert hotline.deps.gazetteer.ward(case.ward_code) is not None
            assert DESCRIPTION_MIN <= len(case.description) <= DESCRIPTION_MAX
        draft = await citizen.draft()
        photos = [e for e in draft.get("evidence", []) if e["kind"] == "photo"]
        assert len(photos) <= hotline.settings.max_photos
        return len(cases)
    finally:
        await hotline.close()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=st.lists(EVENTS, min_size=1, max_size=25))
def test_random_event_sequences_keep_the_conversation_sound(
    events: list[tuple[str, object]], template_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    workdir = tmp_path_factory.mktemp("example")
    shutil.copy(template_db, workdir / "hotline.db")
    asyncio.run(_drive(workdir, events))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(prefix=st.lists(EVENTS, max_size=8))
def test_a_valid_walk_after_any_noise_files_exactly_one_case(
    prefix: list[tuple[str, object]], template_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    walk: list[tuple[str, object]] = [
        ("command", "cancel"),
        ("command", "report"),
        ("press", "c1:cat:odour"),
        ("location", KY_LUA),
        ("press", "c1:ward:06187"),
        ("press", "c1:ev:done"),
        ("text", "Mùi hôi thối từ bãi rác bốc lên nồng nặc."),
        ("press", "c1:nat:now"),
        ("press", "c1:src:skip"),
        ("text", "🙈 Ẩn danh"),
        ("press", "c1:sum:ok"),
        ("redeliver", None),
        ("press", "c1:sum:ok"),
    ]
    workdir = tmp_path_factory.mktemp("walk")
    shutil.copy(template_db, workdir / "hotline.db")
    assert asyncio.run(_drive(workdir, [*prefix, *walk])) == 1
