"""The inbox: updates are stored before Telegram forgets them and handled exactly once."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot import db, services
from bot.app import Hotline
from bot.demo import local_hotline, local_polling
from bot.fakes.telegram import FakeBotAPI, FakeChat, FakeUser, tiny_png
from bot.i18n import t
from bot.inbox import InboxDispatcher
from models.tables import Evidence, InboundUpdate, Outbox
from models.types import utcnow
from tests.conftest import migrate
from tests.harness import KY_LUA, Person, store_and_forget

CITIZEN = FakeUser(id=1001, first_name="Lan", language_code="vi")


def has(text: str) -> Any:
    return lambda m: text in (m.get("text") or m.get("caption") or "")


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


async def test_updates_left_in_the_inbox_are_handled_at_start(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
    await migrate(url)
    api.send_command(CITIZEN, "report")
    await store_and_forget(api, url)
    async with local_hotline(api, tmp_path, database_url=url) as hotline:
        await api.wait_for_message(CITIZEN.id, has("Bước 1/7"))
        async with hotline.sessionmaker() as s:
            rows = (await s.exec(select(InboundUpdate))).all()
    assert [r.processed_at is not None for r in rows] == [True]
    assert rows[0].payload is None  # handled: the raw update (names, numbers) is dropped


async def test_an_album_interrupted_while_being_collected_is_kept_whole(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
    await migrate(url)
    async with local_hotline(api, tmp_path, database_url=url):
        api.send_command(CITIZEN, "report")
        await api.wait_for_message(CITIZEN.id, has("Bước 1/7"))
        message = api.chat_messages(CITIZEN.id)[-1]
        api.press_button(CITIZEN, message, "c1:cat:odour")
        await api.wait_for_message(CITIZEN.id, has("Bước 2/7"))
        api.send_location(CITIZEN, *KY_LUA)
        ward = await api.wait_for_message(CITIZEN.id, lambda m: "c1:ward:06187" in str(m))
        api.press_button(CITIZEN, ward, "c1:ward:06187")
        await api.wait_for_message(CITIZEN.id, has("Bước 3/7"))
    # The bot is down; three photos of one album arrive and reach only the inbox.
    blobs = [tiny_png(4, 4, (i * 60, 20, 20)) for i in range(1, 4)]
    for blob in blobs:
        api.send_photo(CITIZEN, blob, media_group_id="album-crash")
    await store_and_forget(api, url)
    async with local_hotline(api, tmp_path, database_url=url) as hotline:
        received = await api.wait_for_message(CITIZEN.id, has("Đã nhận"))
        assert "3/5" in received["text"]
        await api.wait_idle()
        async with hotline.sessionmaker() as s:
            pending = (
                await s.exec(
                    select(InboundUpdate).where(col(InboundUpdate.processed_at).is_(None))
                )
            ).all()
        assert pending == []
        conv_evidence = (await Person(hotline, str(CITIZEN.id)).draft())["evidence"]
    assert len(conv_evidence) == 3


async def test_a_poison_update_is_given_up_after_three_starts(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
    await migrate(url)
    api.send_command(CITIZEN, "report")
    await store_and_forget(api, url)
    engine = db.make_engine(url)
    async with db.session_scope(db.make_sessionmaker(engine)) as session:
        row = (await session.exec(select(InboundUpdate))).one()
        row.attempts = 3  # in hand three times, and each time the process died
    await engine.dispose()
    async with local_hotline(api, tmp_path, database_url=url) as hotline:
        sorry = await api.wait_for_message(CITIZEN.id)
        await api.wait_idle()
        async with hotline.sessionmaker() as s:
            row = (await s.exec(select(InboundUpdate))).one()
    assert row.processed_at is not None and row.payload is None
    # Not handled (no step 1), but not dropped in silence either.
    assert sorry["text"] == t("vi", "error.generic")
    assert [m["text"] for m in api.chat_messages(CITIZEN.id)] == [sorry["text"]]


async def test_concurrent_claims_of_one_update_have_effect_once(any_hotline: Hotline) -> None:
    async with db.session_scope(any_hotline.sessionmaker) as session:
        await services.store_inbound(
            session, "telegram", [services.Arrival(77, {"update_id": 77}, "1001")]
        )

    async def claim() -> bool:
        async with db.session_scope(any_hotline.sessionmaker) as session:
            won = await services.claim_update(session, "telegram", 77)
            await asyncio.sleep(0.05)  # hold the transaction open while the other tries
            return won

    results = await asyncio.gather(claim(), claim(), claim())
    assert sorted(results) == [False, False, True]


async def test_an_update_never_stored_is_claimed_once(any_hotline: Hotline) -> None:
    async with db.session_scope(any_hotline.sessionmaker) as session:
        assert await services.claim_update(session, "telegram", 5, 6, 7)
    async with db.session_scope(any_hotline.sessionmaker) as session:
        assert not await services.claim_update(session, "telegram", 5)
    async with db.session_scope(any_hotline.sessionmaker) as session:
        assert not await services.claim_update(session, "telegram", 6)


async def test_a_redelivered_album_item_files_no_second_photo(hotline: Hotline) -> None:
    citizen = Person(hotline, "4242")
    await citizen.command("report")
    await citizen.press("c1:cat:odour")
    await citizen.location(*KY_LUA)
    await citizen.press("c1:ward:06187")
    await citizen.photos(tiny_png(3, 3), tiny_png(5, 5), update_id=9_000, more_update_ids=(9_001,))
    # The channel hands over the second item again on its own: it belongs to the album.
    await citizen.photos(tiny_png(5, 5), update_id=9_001)
    assert len((await citizen.draft())["evidence"]) == 2
    async with hotline.sessionmaker() as s:
        assert (await s.exec(select(Evidence))).all() == []  # still a draft


async def test_an_update_the_client_library_cannot_read_is_skipped(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    """One malformed update must not block polling for everyone after it."""
    async with local_hotline(api, tmp_path) as hotline:
        api.push_update(
            {
                "message": {
                    "message_id": 1,
                    "date": "not a date",
                    "chat": {"id": CITIZEN.id, "type": "private"},
                    "from": CITIZEN.to_dict(),
                    "text": "hello",
                }
            }
        )
        api.send_command(CITIZEN, "report")
        await api.wait_for_message(CITIZEN.id, has("Bước 1/7"))
        async with hotline.sessionmaker() as s:
            rows = (
                await s.exec(select(InboundUpdate).order_by(col(InboundUpdate.update_id)))
            ).all()
    # The unreadable one is known (a redelivery is ignored) and closed without its payload.
    assert [(r.processed_at is not None, r.payload) for r in rows] == [(True, None), (True, None)]


async def test_old_processed_updates_are_forgotten_pending_ones_never(hotline: Hotline) -> None:
    from datetime import timedelta

    from models.types import utcnow

    now = utcnow()
    async with db.session_scope(hotline.sessionmaker) as session:
        for uid, age_days, processed in ((1, 8, True), (2, 8, False), (3, 1, True)):
            session.add(
                InboundUpdate(
                    channel="telegram",
                    update_id=uid,
                    received_at=now - timedelta(days=age_days),
                    processed_at=now if processed else None,
                    payload=None if processed else {"update_id": uid},
                )
            )
    async with db.session_scope(hotline.sessionmaker) as session:
        assert await services.prune_inbound(session, now - timedelta(days=7)) == 1
    async with hotline.sessionmaker() as s:
        left = (await s.exec(select(InboundUpdate.update_id))).all()
    assert sorted(left) == [2, 3]


# ---------------------------------------------------------------- order within a chat


class SlowFirstHop(ThreadPoolExecutor):
    """The loop's default executor, except that the first job after `arm()` is slow.

    aiogram runs the routers' plain filters (`F.chat.type == "private"`) in this executor
    (asyncio.to_thread): with it, the update that makes that hop first is held up there,
    as a busy machine holds up any thread.
    """

    def __init__(self) -> None:
        super().__init__(max_workers=4)
        self.armed = False

    def arm(self) -> None:
        self.armed = True

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if not self.armed:
            return super().submit(fn, *args, **kwargs)
        self.armed = False

        def slow() -> Any:
            time.sleep(0.5)
            return fn(*args, **kwargs)

        return super().submit(slow)


async def test_a_chats_updates_reach_the_core_in_arrival_order(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    """A pin, then the ward button pressed right after it: the pin's trip through
    aiogram's filter thread is slow, and still the button does not overtake it."""
    executor = SlowFirstHop()
    asyncio.get_running_loop().set_default_executor(executor)
    try:
        async with local_hotline(api, tmp_path):
            api.send_command(CITIZEN, "report")
            await api.wait_for_message(CITIZEN.id, has("Bước 1/7"))
            api.press_button(CITIZEN, api.chat_messages(CITIZEN.id)[-1], "c1:cat:odour")
            ask_place = await api.wait_for_message(CITIZEN.id, has("Bước 2/7"))
            executor.arm()
            api.send_location(CITIZEN, *KY_LUA)
            # The citizen knows the ward and presses it at once (the button is checked
            # against the conversation, not against the message it was on).
            api.press_button(CITIZEN, ask_place, "c1:ward:06187", check=False)
            await api.wait_for_message(CITIZEN.id, has("Bước 3/7"), timeout=15)
    finally:
        executor.shutdown(wait=False)


# ---------------------------------------------------------------- database errors


class ReadOnlyFile:
    """Makes an engine fail as SQLite does on a file that became read-only: every write
    (and so every transaction, which begins IMMEDIATE) raises "attempt to write a
    readonly database". Other engines on the same file are not affected."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.on = False
        event.listen(engine.sync_engine, "before_cursor_execute", self._check)

    def _check(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if self.on and verb in ("BEGIN", "INSERT", "UPDATE", "DELETE"):
            raise sqlite3.OperationalError("attempt to write a readonly database")


async def outbox_settled(hotline: Hotline) -> None:
    """Wait until every queued message was sent and recorded."""
    for _ in range(500):
        async with hotline.sessionmaker() as session:
            busy = (await session.exec(select(Outbox.id).where(Outbox.status != "sent"))).first()
        if busy is None:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the outbox did not settle")


async def test_database_errors_do_not_end_the_bot(
    api: FakeBotAPI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A read-only database file under a running bot: polling, dispatching, sending and
    the deadline scheduler stay up, log at ERROR, and go on once it is writable again.
    A getUpdates answer with a non-numeric update_id ends nothing either."""
    caplog.set_level(logging.WARNING)
    other = FakeUser(id=1002, first_name="Hoa", language_code="vi")
    late = FakeUser(id=1003, first_name="Tú", language_code="vi")
    async with local_polling(api, tmp_path) as (hotline, polling):
        api.push_raw_update({"update_id": "abc", "message": {"text": "no number"}})
        api.send_command(CITIZEN, "help")
        await api.wait_for_message(CITIZEN.id, has("/report"))
        assert polling.skipped == 1
        await outbox_settled(hotline)  # (a message sent but not recorded would wait 60 s)

        read_only = ReadOnlyFile(hotline.engine)
        read_only.on = True
        # Updates a receiver stored before the file went read-only (here through
        # another connection) wait in the inbox; the ones sent now stay at Telegram.
        api.send_command(other, "report")
        await store_and_forget(api, hotline.settings.database_url)
        api.send_command(CITIZEN, "report")

        def errors_from(logger: str) -> list[logging.LogRecord]:
            return [r for r in caplog.records if r.name == logger and r.levelno == logging.ERROR]

        await api.wait_until(
            lambda: errors_from("bot.channels.telegram.polling") and errors_from("bot.inbox"),
            timeout=15,
            what="the receiver and the dispatcher logging the outage at ERROR",
        )
        assert not polling.stopped.is_set()
        assert api.pending_updates  # not confirmed: Telegram keeps them

        read_only.on = False
        api.send_command(late, "report")  # and one sent once it is writable again
        for person in (other, CITIZEN, late):
            await api.wait_for_message(person.id, has("Bước 1/7"), timeout=90)
        await api.wait_idle()
        assert not polling.stopped.is_set()
        async with hotline.sessionmaker() as session:
            assert await services.count_pending_inbound(session, "telegram") == 0


# ---------------------------------------------------------------- floods and memory


async def test_a_flood_waits_in_the_table_not_in_memory(api: FakeBotAPI, tmp_path: Path) -> None:
    """300 messages into one private chat and 200 into a group that is not linked.

    The group's messages are refused before they are stored; the private flood is fetched
    only while the backlog is below the bound (the rest waits at Telegram), held in memory
    only one getUpdates answer at a time before storing and only `inbox_concurrency`
    updates at a time while handled. Maps keyed by chat shrink back once it is over.
    """
    from bot.channels.telegram.polling import POLL_LIMIT

    stranger = FakeUser(id=6666, first_name="Kẻ lạ", language_code="vi")
    unlinked = FakeChat(id=-5555, type="supergroup", title="Nhóm lạ")
    api.bot_added_to_group(stranger, unlinked)
    async with local_polling(api, tmp_path, inbox_max_pending=40, inbox_concurrency=4) as (
        hotline,
        polling,
    ):
        for i in range(300):
            api.send_text(CITIZEN, f"tin nhắn {i}")
            if i < 200:
                api.send_text(stranger, f"quảng cáo {i}", chat=unlinked)
        api.send_command(stranger, "link", "WRONGCODE1234", chat=unlinked)
        await api.wait_for_message(unlinked.id, timeout=120)
        await api.wait_idle(timeout=120)
        dispatcher = polling.dispatcher
        assert dispatcher is not None
        # Past the citizen's per-minute limit the bot handles updates without answering:
        # a quiet API does not mean the inbox is empty, so wait for the table to say so.
        for _ in range(1200):
            async with hotline.sessionmaker() as session:
                rows = (await session.exec(select(InboundUpdate))).all()
            mine = [r for r in rows if r.chat_key == str(CITIZEN.id)]
            if len(mine) == 300 and all(r.processed_at is not None for r in rows):
                break
            await asyncio.sleep(0.1)
        tg_dispatcher = dispatcher.handler.dispatcher  # type: ignore[attr-defined]
        fsm_chats = len(getattr(tg_dispatcher.storage, "storage", {}))
    stored = {r.chat_key for r in rows}
    assert len([r for r in rows if r.chat_key == str(CITIZEN.id)]) == 300
    # The unlinked group: only its /link (answered) and the bot joining it were stored.
    assert len([r for r in rows if r.chat_key == str(unlinked.id)]) == 2, stored
    assert polling.refused == 200
    assert all(r.processed_at is not None for r in rows)
    # Backpressure: fetching paused while 40 waited; never more than one getUpdates
    # answer between fetch and store, never more than 4 updates in hand.
    assert polling.pauses >= 1
    assert polling.peak_unstored <= POLL_LIMIT
    assert polling.peak_backlog < 40 + POLL_LIMIT
    assert dispatcher.peak_in_hand <= 4 and dispatcher.peak_updates_in_hand <= 4
    assert dispatcher.handled == len(rows)
    # Nothing keyed by chat stayed behind: per-chat turns, aiogram's FSM storage.
    assert hotline._chat_locks == {}
    assert fsm_chats == 0


# ---------------------------------------------------------------- the dispatcher itself


class Recorder:
    """A channel handler that records what it is handed and closes it as the core does."""

    channel = "telegram"

    def __init__(self, hotline: Hotline, fail_once: set[int] | None = None) -> None:
        self.hotline = hotline
        self.handed: list[list[int]] = []
        self.active: set[str] = set()
        self.most_at_once = 0
        self.overlaps: list[str] = []
        self.fail_once = set(fail_once or ())
        self.together: list[int] = []  # how many were in hand at each handing

    async def handle(self, items: Any) -> bool:
        ids = [item.update_id for item in items]
        chat = items[0].chat_key or f"#{ids[0]}"
        if chat in self.active:
            self.overlaps.append(chat)
        self.active.add(chat)
        self.most_at_once = max(self.most_at_once, len(self.active))
        self.together.append(len(self.active))
        self.handed.append(ids)
        try:
            await asyncio.sleep(0.005)
            if ids[0] in self.fail_once:
                self.fail_once.discard(ids[0])
                raise sqlite3.OperationalError("database or disk is full")
            async with db.session_scope(self.hotline.sessionmaker) as session:
                await services.claim_update(session, "telegram", *ids)
            return True
        finally:
            self.active.discard(chat)

    async def apology(self, session: Any, item: Any) -> None:
        return None


async def store(hotline: Hotline, rows: list[tuple[int, str | None, str | None]]) -> None:
    async with db.session_scope(hotline.sessionmaker) as session:
        await services.store_inbound(
            session,
            "telegram",
            [services.Arrival(uid, {"update_id": uid}, chat, group) for uid, chat, group in rows],
        )


async def run_until_empty(hotline: Hotline, *dispatchers: InboxDispatcher) -> None:
    tasks = [asyncio.create_task(d.run()) for d in dispatchers]
    try:
        for _ in range(1000):
            async with hotline.sessionmaker() as session:
                if await services.count_pending_inbound(session, "telegram") == 0:
                    break
            for d in dispatchers:
                d.wake()
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the inbox was not emptied")
    finally:
        for d in dispatchers:
            d.stop()
        await asyncio.gather(*tasks)


async def attempts_of(hotline: Hotline) -> dict[int, int]:
    async with hotline.sessionmaker() as session:
        rows = (await session.exec(select(InboundUpdate))).all()
    return {r.update_id: r.attempts for r in rows}


async def test_two_dispatchers_share_an_inbox(any_hotline: Hotline) -> None:
    """Claims: each update handed over once, a chat to one dispatcher at a time, in order
    (as several `hotline serve` processes will share one PostgreSQL inbox)."""
    rows = [(uid, str(uid % 7), None) for uid in range(1, 141)]
    await store(any_hotline, rows)
    recorder = Recorder(any_hotline)
    first, second = (
        InboxDispatcher(any_hotline.sessionmaker, recorder, concurrency=3, idle_poll_s=0.05)
        for _ in range(2)
    )
    await run_until_empty(any_hotline, first, second)
    handed = [uid for ids in recorder.handed for uid in ids]
    assert sorted(handed) == list(range(1, 141))
    assert recorder.overlaps == []
    for chat in range(7):
        order = [uid for uid in handed if uid % 7 == chat]
        assert order == sorted(order)
    assert first.handled and second.handled  # both took part
    assert set((await attempts_of(any_hotline)).values()) == {1}


async def test_suspects_are_handled_alone_and_first(any_hotline: Hotline) -> None:
    """Updates in hand when a process died are taken one at a time, before the others;
    the ones that merely waited are not counted."""
    await store(any_hotline, [(uid, str(uid), None) for uid in range(1, 13)])
    async with db.session_scope(any_hotline.sessionmaker) as session:
        for uid in (4, 9):  # in hand at the crash (its claim ran out since)
            row = await session.get(InboundUpdate, ("telegram", uid))
            assert row is not None
            row.attempts = 1
    recorder = Recorder(any_hotline)
    dispatcher = InboxDispatcher(any_hotline.sessionmaker, recorder, concurrency=4)
    await run_until_empty(any_hotline, dispatcher)
    assert recorder.handed[:2] == [[4], [9]]
    assert recorder.together[:2] == [1, 1]  # alone
    assert recorder.most_at_once > 1  # the others went on together
    attempts = await attempts_of(any_hotline)
    assert attempts == {uid: 2 if uid in (4, 9) else 1 for uid in range(1, 13)}


async def test_a_database_error_while_handling_is_not_counted(any_hotline: Hotline) -> None:
    """The handling of update 2 meets a full disk: it is put back uncounted and handled
    again, after a backoff, in its chat's order."""
    await store(any_hotline, [(1, "a", None), (2, "b", None), (3, "b", None)])
    recorder = Recorder(any_hotline, fail_once={2})
    dispatcher = InboxDispatcher(any_hotline.sessionmaker, recorder, concurrency=4)
    await run_until_empty(any_hotline, dispatcher)
    handed = [ids[0] for ids in recorder.handed]
    assert sorted(handed) == [1, 2, 2, 3]
    assert handed.index(3) > len(handed) - 1 - handed[::-1].index(2)  # 3 after 2 succeeded
    assert await attempts_of(any_hotline) == {1: 1, 2: 1, 3: 1}
    assert dispatcher.given_up == 0


async def test_an_album_is_handed_over_whole_once_quiet(any_hotline: Hotline) -> None:
    """Items of one album, stored in two batches, are handed over together once no item
    has come for a while; the chat's next update waits behind the album."""
    clock = [utcnow() - timedelta(seconds=5)]  # the dispatcher's time stands still
    await store(any_hotline, [(1, "7", "g1"), (2, "7", "g1")])
    recorder = Recorder(any_hotline)
    dispatcher = InboxDispatcher(
        any_hotline.sessionmaker, recorder, album_quiet_s=1.0, clock=lambda: clock[0]
    )
    task = asyncio.create_task(dispatcher.run())
    try:
        await store(any_hotline, [(3, "7", "g1"), (4, "7", None), (5, "8", None)])
        dispatcher.wake()
        for _ in range(500):
            if recorder.handed:
                break
            await asyncio.sleep(0.01)
        assert recorder.handed == [[5]]  # the album is not complete yet; 4 waits behind it
        clock[0] = utcnow() + timedelta(seconds=2)  # quiet for long enough
        dispatcher.wake()
        for _ in range(500):
            if len(recorder.handed) == 3:
                break
            await asyncio.sleep(0.01)
    finally:
        dispatcher.stop()
        await task
    assert recorder.handed == [[5], [1, 2, 3], [4]]


async def test_updates_stored_before_the_upgrade_get_their_keys(db_url: str) -> None:
    """Rows left by the previous version (no keys, a count of replays) are handled after
    the upgrade as if stored now: their chat and album read from the payload."""
    await db.upgrade_async(db_url, "0003")
    album_item = {
        "update_id": 11,
        "message": {"chat": {"id": 1001, "type": "private"}, "media_group_id": "alb"},
    }
    press = {"update_id": 12, "callback_query": {"from": {"id": 1002}, "data": "x"}}
    engine = db.make_engine(db_url)
    try:
        async with engine.begin() as conn:
            for payload in (album_item, press):
                await conn.execute(
                    text(
                        "INSERT INTO inbound_update (channel, update_id, payload, received_at,"
                        " failures) VALUES ('telegram', :uid, :payload, :now, 2)"
                    ),
                    {"uid": payload["update_id"], "payload": json.dumps(payload), "now": utcnow()},
                )
    finally:
        await engine.dispose()
    await db.upgrade_async(db_url)
    engine = db.make_engine(db_url)
    try:
        async with db.make_sessionmaker(engine)() as session:
            rows = (
                await session.exec(select(InboundUpdate).order_by(col(InboundUpdate.update_id)))
            ).all()
    finally:
        await engine.dispose()
    assert [(r.chat_key, r.group_key, r.attempts) for r in rows] == [
        ("1001", "alb", 0),
        ("1002", None, 0),
    ]


def test_routing_facts_are_read_from_the_raw_update() -> None:
    """chat_key, group_key and what a group that is not linked may send, without aiogram."""
    from bot.channels.telegram.routing import route_update

    group = {"id": -100, "type": "supergroup"}
    private = {"id": 7, "type": "private"}
    cases = [
        ({"message": {"chat": private, "text": "hi"}}, ("7", None, False)),
        ({"message": {"chat": private, "media_group_id": "a1"}}, ("7", "a1", False)),
        ({"edited_message": {"chat": private, "media_group_id": "a1"}}, ("7", None, False)),
        ({"message": {"chat": group, "text": "spam"}}, ("-100", None, True)),
        ({"message": {"chat": group, "text": "/link ABC"}}, ("-100", None, False)),
        ({"message": {"chat": group, "text": "/LINK@hotline_bot ABC"}}, ("-100", None, False)),
        ({"message": {"chat": group, "text": "/linked"}}, ("-100", None, True)),
        ({"message": {"chat": group, "caption": "/link ABC"}}, ("-100", None, True)),
        ({"edited_message": {"chat": group, "text": "/link ABC"}}, ("-100", None, True)),
        (
            {"callback_query": {"from": {"id": 7}, "message": {"chat": group}}},
            ("-100", None, False),
        ),
        ({"callback_query": {"from": {"id": 7}, "inline_message_id": "x"}}, ("7", None, False)),
        ({"my_chat_member": {"chat": group}}, ("-100", None, False)),
        ({"message": {"chat": {"id": "7", "type": "private"}}}, (None, None, False)),
        ({"poll": {"id": "1"}}, (None, None, False)),
    ]
    for raw, expected in cases:
        route = route_update({"update_id": 1, **raw})
        assert (route.chat_key, route.group_key, route.refused(frozenset())) == expected, raw
    linked_spam = route_update({"update_id": 2, "message": {"chat": group, "text": "x"}})
    assert not linked_spam.refused(frozenset({"-100"}))
