"""The inbox: updates are stored before Telegram forgets them and handled exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from bot import db, services
from bot.app import Hotline
from bot.demo import local_hotline
from bot.fakeapi import FakeBotAPI, FakeUser, tiny_png
from models.tables import Evidence, InboundUpdate
from tests.harness import KY_LUA, Person

CITIZEN = FakeUser(id=1001, first_name="Lan", language_code="vi")


def has(text: str) -> Any:
    return lambda m: text in (m.get("text") or m.get("caption") or "")


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


async def _store_and_forget(api: FakeBotAPI, url: str) -> None:
    """What a run that died after storing its batch leaves: inbox rows Telegram forgot."""
    pending = api.pending_updates
    engine = db.make_engine(url)
    try:
        async with db.session_scope(db.make_sessionmaker(engine)) as session:
            for update in pending:
                await services.store_inbound(session, "telegram", update["update_id"], update)
    finally:
        await engine.dispose()
    bot = api.create_bot()
    try:  # confirm them at the server: only the inbox has them now
        await bot.delete_webhook(drop_pending_updates=True)
    finally:
        await bot.session.close()
    assert api.pending_updates == []


async def test_updates_left_in_the_inbox_are_handled_at_start(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
    await db.upgrade_async(url)
    api.send_command(CITIZEN, "report")
    await _store_and_forget(api, url)
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
    await db.upgrade_async(url)
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
    await _store_and_forget(api, url)
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
    await db.upgrade_async(url)
    api.send_command(CITIZEN, "report")
    await _store_and_forget(api, url)
    engine = db.make_engine(url)
    async with db.session_scope(db.make_sessionmaker(engine)) as session:
        row = (await session.exec(select(InboundUpdate))).one()
        row.failures = 3  # it was replayed three times and each time the process died
    await engine.dispose()
    async with local_hotline(api, tmp_path, database_url=url) as hotline:
        await api.wait_idle()
        async with hotline.sessionmaker() as s:
            row = (await s.exec(select(InboundUpdate))).one()
    assert row.processed_at is not None and row.payload is None
    assert api.chat_messages(CITIZEN.id)[1:] == []  # only the citizen's own /report


async def test_concurrent_claims_of_one_update_have_effect_once(any_hotline: Hotline) -> None:
    async with db.session_scope(any_hotline.sessionmaker) as session:
        await services.store_inbound(session, "telegram", 77, {"update_id": 77})

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
    assert [(r.processed_at is not None, r.failures) for r in rows] == [(True, 1), (True, 0)]


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
