"""Two `hotline serve` workers on one PostgreSQL database, as real subprocesses.

The fake Bot API (in the test process) enforces Telegram's limits; 50 citizens file a report
each, every update POSTed to the workers' webhooks in turn (a chat's consecutive updates land
on different workers, and so do the items of an album). Checked: every case filed once, each
chat's updates handled in arrival order, albums whole, nothing sent twice, no 429 from the
whole deployment; and when the leader (the one sender) is SIGKILLed mid-burst, the other
worker takes over within seconds and nothing is lost (a message may repeat only within the
outbox's documented crash window).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func
from sqlmodel import col, select

from bot import db, services
from bot.fakes.telegram import FakeBotAPI, FakeUser
from models.tables import Case, Evidence, InboundUpdate
from tests.conftest import POSTGRES_URL, _postgres_reason, _reset_postgres
from tests.serve_cluster import Cluster, Worker, copies, duplicates, rate_limited

CITIZENS = 50

pytestmark = pytest.mark.skipif(
    _postgres_reason() is not None,
    reason=f"several workers need PostgreSQL: {_postgres_reason()}",
)


def telegram_limits(api: FakeBotAPI) -> None:
    """Telegram's documented limits: a message a second per chat, 20 a minute per group,
    30 a second overall."""
    api.enforce_rate_limits(
        per_chat_interval=1.0, per_group_per_window=(20, 60.0), global_per_second=30
    )


async def start_cluster(api: FakeBotAPI, tmp_path: Path, n: int, **settings: str) -> list[Worker]:
    workers = [Worker(f"w{i + 1}", api, POSTGRES_URL, tmp_path, dict(settings)) for i in range(n)]
    for worker in workers:
        await worker.start()
    for worker in workers:
        await worker.wait_up()
    await wait_for_leader(workers, 30)
    return workers


async def wait_for_leader(workers: list[Worker], within: float) -> Worker:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        leaders = [w for w in workers if w.alive() and await w.leads()]
        if len(leaders) == 1:
            return leaders[0]
        assert len(leaders) <= 1, "two workers send at once"
        await asyncio.sleep(0.1)
    raise AssertionError("no worker became the sender")


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[FakeBotAPI]:
    await asyncio.to_thread(_reset_postgres, POSTGRES_URL)
    await db.upgrade_async(POSTGRES_URL)
    async with FakeBotAPI() as fake:
        telegram_limits(fake)
        yield fake
    await asyncio.to_thread(_reset_postgres, POSTGRES_URL)


async def check_database(citizens: list[FakeUser]) -> None:
    engine = db.make_engine(POSTGRES_URL)
    try:
        async with db.make_sessionmaker(engine)() as session:
            cases = (await session.exec(select(func.count()).select_from(Case))).one()
            assert cases == len(citizens)
            pending = (
                await session.exec(
                    select(func.count())
                    .select_from(InboundUpdate)
                    .where(col(InboundUpdate.processed_at).is_(None))
                )
            ).one()
            assert pending == 0
            rows = (
                await session.exec(
                    select(InboundUpdate).order_by(
                        col(InboundUpdate.chat_key), col(InboundUpdate.update_id)
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    # Each chat's updates were handled in arrival order, across both workers.
    last: dict[str | None, object] = {}
    for row in rows:
        previous = last.get(row.chat_key)
        assert row.processed_at is not None
        if previous is not None:
            assert row.processed_at >= previous, f"chat {row.chat_key} out of order"
        last[row.chat_key] = row.processed_at


async def check_albums(citizens: list[FakeUser], photos: int) -> None:
    """Each album's photos are the evidence of its reporter's case, all of them."""
    engine = db.make_engine(POSTGRES_URL)
    try:
        async with db.make_sessionmaker(engine)() as session:
            for citizen in citizens:
                reporter = await services.reporter_of_chat(session, "telegram", str(citizen.id))
                assert reporter is not None and reporter.id is not None
                (case,) = await services.cases_of_reporter(session, reporter.id)
                evidence = (
                    await session.exec(select(Evidence).where(Evidence.case_id == case.id))
                ).all()
                assert len(evidence) == photos
    finally:
        await engine.dispose()


async def test_two_workers_file_every_case_once_in_order_without_a_429(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    workers = await start_cluster(api, tmp_path, 2)
    citizens = [FakeUser(id=50_000 + i, first_name=f"Dân {i}") for i in range(CITIZENS)]
    try:
        async with aiohttp.ClientSession() as http:
            cluster = Cluster(api, workers, http)
            # Every fifth citizen sends an album of three photos, its items to both workers.
            codes = await asyncio.gather(
                *(
                    cluster.file_report(c, i, album=3 if i % 5 == 0 else 0)
                    for i, c in enumerate(citizens)
                )
            )
            handled = [
                (await w.metrics()).get('hotline_updates_handled_total{channel="telegram"}', 0)
                for w in workers
            ]
    finally:
        for worker in workers:
            await worker.stop()
    assert len(set(codes)) == CITIZENS
    await check_albums(citizens[::5], 3)
    assert all(h > 0 for h in handled), f"both workers handle updates: {handled}"
    assert sum(handled) == cluster.posted
    await check_database(citizens)
    assert [d for c in citizens for d in duplicates(api, c.id)] == []
    assert rate_limited(api) == 0
    for worker in workers:
        assert worker.proc is not None and worker.proc.returncode == 0, worker.log()


async def test_sigkill_of_the_sender_mid_burst_another_takes_over(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    # Short leases, so that the dead worker's updates and rows in hand come back quickly.
    workers = await start_cluster(
        api, tmp_path, 2, HOTLINE_INBOX_LEASE_S="3", HOTLINE_OUTBOX_CLAIM_S="5"
    )
    citizens = [FakeUser(id=60_000 + i, first_name=f"Dân {i}") for i in range(CITIZENS)]
    try:
        async with aiohttp.ClientSession() as http:
            cluster = Cluster(api, workers, http)
            burst = asyncio.gather(*(cluster.file_report(c, i) for i, c in enumerate(citizens)))
            while cluster.posted < 3 * CITIZENS:  # noqa: ASYNC110  (a counter, polled)
                await asyncio.sleep(0.05)
            leader = await wait_for_leader(workers, 5)
            leader.kill()
            killed = time.monotonic()
            survivor = await wait_for_leader([w for w in workers if w is not leader], 30)
            takeover = time.monotonic() - killed
            codes = await burst
    finally:
        for worker in workers:
            await worker.stop()
    assert survivor is not leader
    assert takeover < 5.0, takeover
    assert len(set(codes)) == CITIZENS
    await check_database(citizens)
    # The one documented window: a call accepted by Telegram just before the sender died is
    # sent again; at most one per row in flight, and a chat has one row in flight at a time
    # (up to HOTLINE_SEND_CONCURRENCY chats at once): at most one message repeated per chat,
    # and only once.
    for citizen in citizens:
        repeated = duplicates(api, citizen.id)
        assert len(repeated) <= 1, (citizen.id, repeated)
        sent = copies(api, citizen.id)
        assert max(sent.values(), default=1) <= 2, (citizen.id, sent.most_common(1))
    survivor_proc = survivor.proc
    assert survivor_proc is not None and survivor_proc.returncode == 0, survivor.log()
