"""Intake through the whole inbound path, against a minimal aiogram bot, in one run.

    python scripts/bench_intake.py [--citizens N] [--postgres URL]

Both sides get the same raw Telegram updates (N citizens walking a whole report by
buttons, a pin and typed text: 11 updates each), fed in process with no network for the
updates themselves:

- baseline: a minimal aiogram bot. `Dispatcher.feed_raw_update` per update, one handler
  per update type doing one read and one write on the same kind of database through the
  bare driver (aiosqlite or asyncpg) and committing; no reply;
- the hotline: the receiver's part (the batch stored in the inbox, 100 updates per
  statement, as `getUpdates` answers) and the inbox dispatcher handing each chat's
  updates in order to the real channel (aiogram's dispatcher, the translation, the core,
  the outbox rows written). Buttons are answered (answerCallbackQuery) to a sink Bot API in
  another process, so the sink's own work is not counted.

Figures (each side the least of 3 runs): CPU seconds of this process per update (the ratio
is the goal: at most 2x), wall time for all of them, statements per update (counted on the
engine), and how the cost moves with how many citizens report at once (1 vs N chats in
flight).
The machine is shared and noisy: read the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, func, select  # noqa: E402

from bot import db, services  # noqa: E402
from bot.app import Hotline  # noqa: E402
from bot.channels import telegram_channel  # noqa: E402
from bot.inbox import InboxDispatcher  # noqa: E402
from bot.services.inbox import Arrival  # noqa: E402
from bot.settings import Settings  # noqa: E402
from models.tables import Case, InboundUpdate  # noqa: E402

KY_LUA = (21.85926, 106.75417)
TOKEN = "123456:bench-token"
ROUNDS = 3
_BASELINE_FILES = itertools.count(1)  # a file of its own for each baseline run
SINK = r"""
import sys
from aiohttp import web
ME = {"id": 1, "is_bot": True, "first_name": "Hotline", "username": "hotline_bench_bot"}
async def method(request):
    name = request.match_info["method"]
    return web.json_response({"ok": True, "result": ME if name == "getMe" else True})
app = web.Application()
app.router.add_post("/bot{token}/{method}", method)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Updates:
    """Raw Telegram updates of citizens walking a report."""

    def __init__(self, first_id: int) -> None:
        self.next_id = first_id
        self.next_message = 1

    def _message(self, user: int, **content: Any) -> dict[str, Any]:
        self.next_message += 1
        person = {"id": user, "is_bot": False, "first_name": "Dân", "language_code": "vi"}
        message = {
            "message_id": self.next_message,
            "date": int(time.time()),
            "chat": {"id": user, "type": "private", "first_name": "Dân"},
            "from": person,
            **content,
        }
        return self._update(message=message)

    def _update(self, **body: Any) -> dict[str, Any]:
        self.next_id += 1
        return {"update_id": self.next_id, **body}

    def text(self, user: int, text: str) -> dict[str, Any]:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
        return self._message(user, **content)

    def press(self, user: int, data: str) -> dict[str, Any]:
        self.next_message += 1
        person = {"id": user, "is_bot": False, "first_name": "Dân", "language_code": "vi"}
        bot_message = {
            "message_id": self.next_message,
            "date": int(time.time()),
            "chat": {"id": user, "type": "private", "first_name": "Dân"},
            "from": {"id": 1, "is_bot": True, "first_name": "Hotline"},
            "text": "…",
        }
        query = {
            "id": str(10**12 + self.next_id),
            "from": person,
            "message": bot_message,
            "chat_instance": str(user),
            "data": data,
        }
        return self._update(callback_query=query)

    def report(self, user: int) -> list[dict[str, Any]]:
        lat, lon = KY_LUA
        return [
            self.text(user, "/report"),
            self.press(user, "c1:cat:emissions"),
            self._message(user, location={"latitude": lat, "longitude": lon}),
            self.press(user, "c1:ward:06187"),
            self.press(user, "c1:ev:done"),
            self.text(user, "Khói đen bốc ra từ nhà máy gạch mỗi tối, cả khu phố ngạt thở."),
            self.press(user, "c1:nat:recurring"),
            self.press(user, "c1:src:skip"),
            self.text(user, "🙈 Ẩn danh"),
            self.press(user, "c1:sum:ok"),
            # A nearby open case of the same kind is offered first: file it separately
            # (when none was offered, this is an old button, answered politely).
            self.press(user, "c1:dup:new"),
        ]


def _citizens(count: int, first_user: int) -> list[list[dict[str, Any]]]:
    updates = Updates(first_user * 100)  # ids unique across the runs on one database
    return [updates.report(first_user + i) for i in range(count)]


# ------------------------------------------------------------------------------ baseline
async def baseline(url: str, chats: list[list[dict[str, Any]]]) -> tuple[float, float]:
    """A minimal aiogram bot: one read and one write per update on the bare driver."""
    from aiogram import Bot, Dispatcher, Router
    from aiogram.types import CallbackQuery, Message

    postgres = url.startswith("postgresql")
    if postgres:
        import asyncpg

        pool = await asyncpg.create_pool(url.replace("postgresql+asyncpg", "postgresql"))
        async with pool.acquire() as conn:
            await conn.execute("DROP TABLE IF EXISTS bench_seen")
            await conn.execute("CREATE TABLE bench_seen (user_id BIGINT, text TEXT)")
            await conn.execute("CREATE INDEX ON bench_seen (user_id)")

        async def one_read_one_write(user_id: int, text: str) -> None:
            async with pool.acquire() as conn, conn.transaction():
                await conn.fetchval("SELECT count(*) FROM bench_seen WHERE user_id = $1", user_id)
                await conn.execute("INSERT INTO bench_seen VALUES ($1, $2)", user_id, text)

    else:
        import aiosqlite

        path = f"{url.split('///', 1)[1]}.baseline{next(_BASELINE_FILES)}"
        conn = await aiosqlite.connect(path)
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("DROP TABLE IF EXISTS bench_seen")
        await conn.execute("CREATE TABLE bench_seen (user_id INTEGER, text TEXT)")
        await conn.execute("CREATE INDEX IF NOT EXISTS ix_seen ON bench_seen (user_id)")
        lock = asyncio.Lock()  # one connection: its transactions one at a time

        async def one_read_one_write(user_id: int, text: str) -> None:
            async with lock:
                async with conn.execute(
                    "SELECT count(*) FROM bench_seen WHERE user_id = ?", (user_id,)
                ) as cursor:
                    await cursor.fetchone()
                await conn.execute("INSERT INTO bench_seen VALUES (?, ?)", (user_id, text))
                await conn.commit()

    router = Router()

    @router.message()
    async def on_message(message: Message) -> None:
        await one_read_one_write(message.chat.id, message.text or "")

    @router.callback_query()
    async def on_button(query: CallbackQuery) -> None:
        await one_read_one_write(query.from_user.id, query.data or "")

    dp = Dispatcher()
    dp.include_router(router)
    bot = Bot(TOKEN)

    async def chat(updates: list[dict[str, Any]]) -> None:
        for raw in updates:
            await dp.feed_raw_update(bot, raw)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(chat(updates) for updates in chats))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await bot.session.close()
    if postgres:
        await pool.close()
    else:
        await conn.close()
    return cpu, wall


# ------------------------------------------------------------------------------ hotline
@asynccontextmanager
async def hotline_channel(url: str, sink: str, media: Path) -> AsyncIterator[tuple[Hotline, Any]]:
    """The hotline and its real Telegram channel (started), answering to the sink Bot API."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        province="20",
        media_dir=media,
        bot_token=TOKEN,
        telegram_api_url=sink,
    )
    hotline = Hotline(settings)
    library = getattr(settings, "telegram_library", "aiogram")
    channel = telegram_channel(hotline, TOKEN, sink, library)
    try:
        await channel.start()
        yield hotline, channel
    finally:
        await channel.close()
        await hotline.close()


def dispatcher_of(hotline: Hotline, channel: Any) -> InboxDispatcher:
    """The inbox dispatcher the hotline runs, with its default concurrency."""
    return InboxDispatcher(
        hotline.sessionmaker, channel, concurrency=hotline.settings.inbox_concurrency
    )


def arrival_order(chats: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """As getUpdates answers when these citizens report at once: chats interleaved."""
    return [raw for step in zip(*chats, strict=True) for raw in step]


async def store_batch(hotline: Hotline, channel: Any, batch: list[dict[str, Any]]) -> None:
    """What the receiver does with one getUpdates answer: one transaction for the batch."""
    arrivals = []
    for raw in batch:
        route = channel.route(raw)
        arrivals.append(Arrival(raw["update_id"], raw, route.chat_key, route.group_key, False))
    async with db.session_scope(hotline.sessionmaker) as session:
        await services.store_inbound(session, "telegram", arrivals)


async def filed_cases(hotline: Hotline) -> int:
    async with db.read_scope(hotline.sessionmaker) as session:
        return await session.scalar(select(func.count()).select_from(Case)) or 0


async def check_all_filed(hotline: Hotline, filed_before: int, reports: int) -> None:
    """Every stored update handled and every report filed, else the bench is invalid."""
    filed = await filed_cases(hotline) - filed_before
    async with db.read_scope(hotline.sessionmaker) as session:
        left = await session.scalar(
            select(func.count())
            .select_from(InboundUpdate)
            .where(InboundUpdate.processed_at.is_(None))  # type: ignore[union-attr]
        )
    if left:
        raise SystemExit(f"{left} updates were not handled: bench invalid")
    if filed != reports:
        raise SystemExit(f"only {filed} of {reports} reports were filed: bench invalid")


async def hotline_intake(
    url: str, chats: list[list[dict[str, Any]]], sink: str, media: Path
) -> tuple[float, float, float]:
    """The receiver's store and the dispatcher's handling, through the real channel."""
    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    total = sum(len(c) for c in chats)
    async with hotline_channel(url, sink, media) as (hotline, channel):
        event.listen(hotline.engine.sync_engine, "before_cursor_execute", count)
        filed_before = await filed_cases(hotline)
        dispatcher = dispatcher_of(hotline, channel)
        # As getUpdates answers: batches of 100 updates, in arrival order (chats interleaved).
        arrivals = arrival_order(chats)
        statements = 0
        cpu, wall = time.process_time(), time.perf_counter()
        for start in range(0, total, 100):
            await store_batch(hotline, channel, arrivals[start : start + 100])
        running = asyncio.create_task(dispatcher.run())
        # Done when every update was handed over and no chat is in hand (read in memory:
        # watching the table would add to what is measured); checked in the table after.
        waited = 0.0
        while dispatcher.handled < total or dispatcher.in_hand:
            await asyncio.sleep(0.005)
            waited += 0.005
            if waited > 300:
                raise SystemExit(f"handled {dispatcher.handled} of {total} after 300 s")
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        per_update_statements = statements / total
        dispatcher.stop()
        await running
        await check_all_filed(hotline, filed_before, len(chats))
    return cpu, wall, per_update_statements


async def _one(url: str, citizens: int, first_user: int, sink: str, tmp: Path, label: str) -> None:
    """Each side the least of ROUNDS runs, alternating (a shared machine's noise only adds)."""
    base_cpu = base_wall = ours_cpu = ours_wall = float("inf")
    stmts = 0.0
    for round_ in range(ROUNDS):
        chats = _citizens(citizens, first_user + round_ * 10_000)
        total = sum(len(c) for c in chats)
        cpu, wall = await baseline(url, chats)
        if cpu < base_cpu:
            base_cpu, base_wall = cpu, wall
        media = tmp / f"media-{label}-{round_}"
        cpu, wall, stmts = await hotline_intake(url, chats, sink, media)
        if cpu < ours_cpu:
            ours_cpu, ours_wall = cpu, wall
    print(f"intake on {label}: {citizens} citizens at once, {total} updates")
    print(
        f"  baseline minimal aiogram bot   {base_cpu / total * 1e3:7.2f} ms CPU/update   1.00x"
        f"   (wall {base_wall:.1f} s)"
    )
    print(
        f"  hotline (store + dispatch)     {ours_cpu / total * 1e3:7.2f} ms CPU/update "
        f"{ours_cpu / base_cpu:6.2f}x   (wall {ours_wall:.1f} s, {stmts:.1f} statements/update)"
    )


async def run(citizens: int, postgres: str, sink_url: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        targets = [(f"sqlite+aiosqlite:///{Path(tmp) / 'intake.db'}", "SQLite")]
        if postgres:
            targets.append((postgres, "PostgreSQL"))
        for url, label in targets:
            await db.upgrade_async(url)
            # Warm-up (not printed): the gazetteer's grids, compiled statements, imports.
            await baseline(url, _citizens(3, 310_000))
            await hotline_intake(url, _citizens(3, 300_000), sink_url, Path(tmp) / "w")
            await _one(url, 1, 100_000, sink_url, Path(tmp), f"{label}, one citizen")
            await _one(url, citizens, 200_000, sink_url, Path(tmp), label)
            if url.startswith("postgresql"):
                await asyncio.to_thread(db.downgrade, url, "base")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--citizens", type=int, default=100)
    parser.add_argument("--postgres", default="", help="postgresql+asyncpg URL (wiped!)")
    args = parser.parse_args()
    main_with(args.citizens, args.postgres)


@contextmanager
def sink_bot_api() -> Iterator[str]:
    """A sink Bot API in a process of its own (its work is not counted); yields its URL."""
    port = _free_port()
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(port)])
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        sink.terminate()
        sink.wait()


def main_with(citizens: int, postgres: str) -> None:
    """Start the sink Bot API in a process of its own, then measure."""
    with sink_bot_api() as sink:
        asyncio.run(run(citizens, postgres, sink))


if __name__ == "__main__":
    main()
