"""Serve benchmark: one vs two `hotline serve` workers on one PostgreSQL, in one run.

    HOTLINE_TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/bench \
        python scripts/bench_serve.py [--burst-chats 200] [--per-chat 5] [--reporters 20]

The workers are real subprocesses behind the fake Bot API, which enforces Telegram's limits
(a message a second per chat, 20 a minute per group, 30 a second overall). For each size of
deployment (1 worker, then 2), on an emptied database:

1. intake: `--burst-chats` citizens each send `--per-chat` messages at once, POSTed to the
   workers' webhooks in turn; updates handled per second = updates / time until the inbox is
   empty (the answers are queued; the one sender delivers them at Telegram's pace);
   then the time until every answer to the burst was delivered (the one sender, at
   Telegram's pace);
2. conversation: `--reporters` citizens file a whole report each; p95 of the time from
   posting an update to the bot's answer arriving;
3. 429s the fake Bot API answered over both phases (the deployment's sender must cause none);
4. with two workers: SIGKILL of the sending worker, and the time until the other sends.

Printed: a table of the figures and the ratios two workers / one worker.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from sqlalchemy import func, text
from sqlmodel import col, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import db  # noqa: E402
from bot.fakes.telegram import FakeBotAPI, FakeUser  # noqa: E402
from models.tables import InboundUpdate, Outbox  # noqa: E402
from tests.serve_cluster import Cluster, Worker, p95, rate_limited  # noqa: E402


async def _reset(url: str) -> None:
    engine = db.make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()
    await db.upgrade_async(url)


async def _pending(url: str) -> int:
    engine = db.make_engine(url)
    try:
        async with db.make_sessionmaker(engine)() as session:
            stmt = (
                select(func.count())
                .select_from(InboundUpdate)
                .where(col(InboundUpdate.processed_at).is_(None))
            )
            return int((await session.exec(stmt)).one())
    finally:
        await engine.dispose()


async def _outbox_busy(url: str) -> int:
    engine = db.make_engine(url)
    try:
        async with db.make_sessionmaker(engine)() as session:
            stmt = (
                select(func.count())
                .select_from(Outbox)
                .where(col(Outbox.status).in_(["pending", "sending"]))
            )
            return int((await session.exec(stmt)).one())
    finally:
        await engine.dispose()


async def _leader(workers: list[Worker], within: float) -> tuple[Worker, float]:
    started = time.monotonic()
    while time.monotonic() - started < within:
        for worker in workers:
            if worker.alive() and await worker.leads():
                return worker, time.monotonic() - started
        await asyncio.sleep(0.05)
    raise RuntimeError("no worker became the sender")


async def run_size(url: str, n: int, args: argparse.Namespace, base_id: int) -> dict[str, float]:
    await _reset(url)
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeBotAPI() as api:
            api.enforce_rate_limits(
                per_chat_interval=1.0, per_group_per_window=(20, 60.0), global_per_second=30
            )
            workers = [Worker(f"w{i + 1}", api, url, Path(tmp)) for i in range(n)]
            try:
                for worker in workers:
                    await worker.start()
                for worker in workers:
                    await worker.wait_up()
                await _leader(workers, 30)
                async with aiohttp.ClientSession() as http:
                    cluster = Cluster(api, workers, http)
                    # 1. intake
                    citizens = [
                        FakeUser(id=base_id + i, first_name=f"Dân {i}")
                        for i in range(args.burst_chats)
                    ]
                    updates = [
                        api.send_text(c, f"Xin chào, tin số {k + 1}")
                        for k in range(args.per_chat)
                        for c in citizens
                    ]
                    started = time.monotonic()
                    sem = asyncio.Semaphore(64)  # concurrent webhook requests (Telegram: 40)

                    async def post(i: int, update: dict[str, object]) -> None:
                        async with sem:
                            await cluster.post(update, i)

                    await asyncio.gather(*(post(i, u) for i, u in enumerate(updates)))
                    stored = time.monotonic() - started
                    while await _pending(url):  # noqa: ASYNC110  (the database, polled)
                        await asyncio.sleep(0.1)
                    drained = time.monotonic() - started
                    figures["updates/s handled"] = len(updates) / drained
                    figures["updates/s stored"] = len(updates) / stored
                    # The answers to the burst go out at Telegram's pace: let them, so
                    # that the conversation's latency is not the burst's backlog.
                    while await _outbox_busy(url):  # noqa: ASYNC110  (the database, polled)
                        await asyncio.sleep(0.2)
                    figures["burst answered s"] = time.monotonic() - started
                    # 2. conversation
                    reporters = [
                        FakeUser(id=base_id + 100_000 + i, first_name=f"Người {i}")
                        for i in range(args.reporters)
                    ]
                    cluster.latencies.clear()
                    await asyncio.gather(
                        *(cluster.file_report(r, i) for i, r in enumerate(reporters))
                    )
                    figures["p95 answer latency s"] = p95(cluster.latencies)
                    figures["429s"] = rate_limited(api)
                    # 4. takeover
                    if n > 1:
                        leader, _ = await _leader(workers, 5)
                        leader.kill()
                        _, took = await _leader([w for w in workers if w is not leader], 60)
                        figures["sender takeover s"] = took
            finally:
                for worker in workers:
                    await worker.stop()
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst-chats", type=int, default=200)
    parser.add_argument("--per-chat", type=int, default=5)
    parser.add_argument("--reporters", type=int, default=20)
    args = parser.parse_args()
    url = os.environ.get("HOTLINE_TEST_POSTGRES_URL")
    if not url:
        raise SystemExit("set HOTLINE_TEST_POSTGRES_URL to an empty PostgreSQL database")
    one = await run_size(url, 1, args, 1_000_000)
    print(f"1 worker: {one}", flush=True)
    two = await run_size(url, 2, args, 2_000_000)
    print(
        f"{args.burst_chats} chats x {args.per_chat} messages, then {args.reporters} reports "
        f"(fake Bot API enforcing Telegram's limits; {os.cpu_count()} CPU cores)"
    )
    print(f"{'figure':<24}{'1 worker':>12}{'2 workers':>12}{'2 / 1':>10}")
    keys = ("updates/s stored", "updates/s handled", "burst answered s")
    for key in (*keys, "p95 answer latency s", "429s"):
        a, b = one[key], two[key]
        ratio = f"{b / a:.2f}" if a else "-"
        print(f"{key:<24}{a:>12.2f}{b:>12.2f}{ratio:>10}")
    print(f"{'sender takeover s':<24}{'-':>12}{two['sender takeover s']:>12.2f}")


if __name__ == "__main__":
    asyncio.run(main())
