"""Delivery benchmark: the outbox sender against a fake Bot API that enforces Telegram's limits.

    python scripts/bench_delivery.py [--chats 60] [--per-chat 10] [--backlog 5000]

Two models of Telegram's per-chat limit (its documentation gives no burst size):

- bursty: a message a second per chat, up to 5 back to back;
- strict: a message a second per chat, never two back to back;

both with Telegram's 30 messages a second for the whole bot. The sender runs with the
hotline's default settings (HOTLINE_SEND_*). Printed per model: the delivered rate as a
ratio of the allowed rate (the lower of 30/s and one a second per chat), the 429s the fake
answered, and what the limiter learned from them.

Then the cost per message with and without a backlog: the same messages delivered while
`--backlog` rows wait for later (retries not yet due), as a ratio of CPU time per message
(the sender's pass must not scan what is not due).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import db, services  # noqa: E402
from bot.app import Hotline  # noqa: E402
from bot.channels.telegram.delivery import TelegramTransport  # noqa: E402
from bot.channels.telegram_aiogram.ops import AiogramOps  # noqa: E402
from bot.fakes.telegram import FakeBotAPI, FakeUser  # noqa: E402
from bot.settings import Settings  # noqa: E402
from handlers.events import Outgoing  # noqa: E402
from models.tables import Outbox  # noqa: E402
from models.types import utcnow  # noqa: E402

GLOBAL_PER_S = 30
INTERVAL_S = 1.0
MODELS = {"bursty": 5, "strict": 1}


async def _hotline(tmp: Path, **overrides: object) -> Hotline:
    url = f"sqlite+aiosqlite:///{tmp / 'delivery.db'}"
    await db.upgrade_async(url)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        province="20",
        media_dir=tmp / "media",
        bot_token="123456:BENCH",
        **overrides,
    )
    return Hotline(settings)


async def _queue(hotline: Hotline, chats: list[int], per_chat: int) -> None:
    async with db.session_scope(hotline.sessionmaker) as session:
        for n in range(per_chat):
            for chat in chats:
                await services.enqueue(
                    session, "telegram", Outgoing(chat_id=str(chat), text=f"tin {n} cho {chat}")
                )


async def _backlog(hotline: Hotline, chats: list[int], rows: int) -> None:
    """Rows of other chats that wait for a retry an hour away (not due)."""
    async with db.session_scope(hotline.sessionmaker) as session:
        for n in range(rows):
            chat = chats[n % len(chats)]
            await services.enqueue(
                session, "telegram", Outgoing(chat_id=str(chat), text=f"sau {n}")
            )
        later = utcnow() + timedelta(hours=1)
        await session.exec(  # type: ignore[call-overload]
            update(Outbox)
            .values(next_attempt_at=later)
            .execution_options(synchronize_session=False)
        )


async def _deliver(hotline: Hotline, api: FakeBotAPI, total: int) -> tuple[float, float]:
    """Run the sender until `total` messages arrived; wall seconds from the first message
    to the last, and CPU seconds used."""
    bot = api.create_bot()
    hotline.add_transport(TelegramTransport(AiogramOps(bot), hotline.media))
    sender = hotline.sender
    counted = lambda: sum(  # noqa: E731
        1 for call in api.calls if call.method == "sendMessage" and call.ok
    )
    cpu0 = time.process_time()
    task = asyncio.create_task(sender.run())
    try:
        await api.wait_until(lambda: counted() >= 1, timeout=60, what="a first message")
        start = time.perf_counter()
        await api.wait_until(lambda: counted() >= total, timeout=600, what="every message")
        wall = time.perf_counter() - start
    finally:
        sender.stop()
        await asyncio.wait_for(task, 30)
        await bot.session.close()
    return wall, time.process_time() - cpu0


async def bench_model(name: str, burst: int, chats: int, per_chat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        hotline = await _hotline(Path(tmp))
        try:
            async with FakeBotAPI() as api:
                ids = [700_000 + i for i in range(chats)]
                for chat in ids:
                    api.register_chat(FakeUser(chat, first_name=f"Dân{chat}"))
                api.enforce_rate_limits(
                    per_chat_interval=INTERVAL_S,
                    per_chat_burst=burst,
                    global_per_second=GLOBAL_PER_S,
                )
                await _queue(hotline, ids, per_chat)
                total = chats * per_chat
                wall, _ = await _deliver(hotline, api, total)
                allowed = min(GLOBAL_PER_S, chats / INTERVAL_S)
                rate = (total - 1) / wall
                limiter = hotline.sender.limiter
                print(
                    f"delivery, {name} per-chat model (burst {burst}): {rate:5.1f} msg/s = "
                    f"{rate / allowed:4.2f}x the allowed {allowed:.0f}/s; "
                    f"{api.rate_limited} x 429; learned: {limiter.learned_no_burst} chats "
                    f"without burst, {limiter.learned_slower} slower intervals"
                )
        finally:
            await hotline.close()


async def bench_backlog(chats: int, per_chat: int, backlog: int) -> None:
    costs = []
    for rows in (0, backlog):
        with tempfile.TemporaryDirectory() as tmp:
            hotline = await _hotline(
                Path(tmp), send_chat_interval_s=0.0, send_global_per_second=10_000
            )
            try:
                async with FakeBotAPI() as api:
                    ids = [800_000 + i for i in range(chats)]
                    others = [900_000 + i for i in range(200)]
                    for chat in ids + others:
                        api.register_chat(FakeUser(chat, first_name=f"Dân{chat}"))
                    await _backlog(hotline, others, rows)
                    await _queue(hotline, ids, per_chat)
                    _, cpu = await _deliver(hotline, api, chats * per_chat)
                    costs.append(cpu / (chats * per_chat))
            finally:
                await hotline.close()
    print(
        f"delivery cost per message: {costs[0] * 1000:5.2f} ms CPU without a backlog, "
        f"{costs[1] * 1000:5.2f} ms with {backlog} rows waiting = {costs[1] / costs[0]:4.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=60)
    parser.add_argument("--per-chat", type=int, default=10)
    parser.add_argument("--backlog", type=int, default=5000)
    parser.add_argument("--skip-backlog", action="store_true")
    args = parser.parse_args()
    for name, burst in MODELS.items():
        asyncio.run(bench_model(name, burst, args.chats, args.per_chat))
    if not args.skip_backlog:
        asyncio.run(bench_backlog(args.chats, args.per_chat // 2 or 1, args.backlog))


if __name__ == "__main__":
    main()
