"""Delivery benchmark: the outbox sender against a fake Bot API that enforces Telegram's limits.

    python scripts/bench_delivery.py [--chats 60] [--per-chat 10] [--backlog 5000]
                                     [--citizens 100] [--postgres URL] [--skip-backlog]

Two models of Telegram's per-chat limit (its documentation gives no burst size):

- bursty: a message a second per chat, up to 5 back to back;
- strict: a message a second per chat, never two back to back;

both with Telegram's 30 messages a second for the whole bot (any 1 s window). The sender
runs with the hotline's default settings (HOTLINE_SEND_*).

The baseline, computed in the same run: the fastest schedule the fake accepts without a
429 under Telegram's documented limits (the strict model), found by sending each message
at the first moment the fake's own flood control (bot/fakes/telegram/limits.py) would let
it through, on a virtual clock with calls that take no time. The figure is that schedule's
span from the first message to the last, over the span the fake saw (its own clock, first
message to last): 1.00x is the allowed rate, whatever the number of messages (a rate over
the span alone would credit the first second's 30 messages to a sender and read 1.05x for
600 messages sent perfectly). Printed per model, and for two shapes of traffic:

- many chats (`--chats` x `--per-chat`): the bot's 30 a second is the limit;
- few chats (8 x 12): each chat's one a second is; there the bursty model's own fastest
  schedule is shown too (the sender keeps to the documented limits: finding a burst
  means drawing a 429).

Then the same many chats while `--citizens` citizens report at once in the same process
(intake and delivery together: the inbox dispatcher, the core and the sender, strict
model), on SQLite and, with --postgres, on PostgreSQL: every message the fake accepted
during the backlog's delivery (the citizens' replies included) over the allowed rate,
and how long the citizens' replies and the backlog's rows waited from queuing to sent
(median, 95th percentile, longest). And a few citizens (5) reporting at a person's pace
(each step a second after the answer to the last) while a minute's backlog of other chats'
rows goes out: how long each waited from their update to the answer.

Then the cost per message with and without a backlog: the same messages delivered while
`--backlog` rows wait for later (retries not yet due), as a ratio of CPU time per message
(the sender's pass must not scan what is not due).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, update
from sqlmodel import col, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "scripts"))

import bench_intake  # noqa: E402  (scripts/)

from bot import db, services  # noqa: E402
from bot.app import Hotline  # noqa: E402
from bot.channels.telegram.delivery import TelegramTransport  # noqa: E402
from bot.channels.telegram_aiogram.ops import AiogramOps  # noqa: E402
from bot.fakes.telegram import ApiCall, FakeBotAPI, FakeUser  # noqa: E402
from bot.fakes.telegram.limits import _FloodControl  # noqa: E402
from bot.settings import Settings  # noqa: E402
from handlers.events import Outgoing  # noqa: E402
from models.enums import OutboxStatus  # noqa: E402
from models.tables import Outbox  # noqa: E402
from models.types import utcnow  # noqa: E402

GLOBAL_PER_S = 30
INTERVAL_S = 1.0
MODELS = {"bursty": 5, "strict": 1}
FEW_CHATS, FEW_PER_CHAT = 8, 12
# A backlog long enough (a minute at 30 a second) for a few citizens' whole reports.
PACED_CITIZENS, PACED_PER_CHAT = 5, 30


def ideal_span(per_chat: list[int], burst: int = 1) -> float:
    """Seconds from the first message to the last of the fastest schedule the fake accepts
    without a 429: `per_chat[i]` messages to chat i, each sent at the first moment the
    fake's flood control lets it through (the chat with the most left first among those
    that may go), on a virtual clock, with calls that take no time."""
    flood = _FloodControl(INTERVAL_S, burst, None, (GLOBAL_PER_S, 1.0))
    left = dict(enumerate(per_chat))
    now, first = 0.0, None
    while left:
        wait, _, chat = min((flood.wait(c, 1, now), -n, c) for c, n in left.items())
        now += max(0.0, wait) + 1e-7 * (wait > 0)
        flood.count(chat, 1, now)
        first = now if first is None else first
        left[chat] -= 1
        if not left[chat]:
            del left[chat]
    return now - (first or 0.0)


def _messages(api: FakeBotAPI) -> list[ApiCall]:
    """The messages the fake accepted (the calls its flood control counts), in order."""
    return [c for c in api.calls if c.ok and api._is_message_call(c.method)]  # noqa: SLF001


def _span(calls: list[ApiCall]) -> float:
    return calls[-1].time - calls[0].time


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


async def bench_model(name: str, burst: int, chats: int, per_chat: int) -> float:
    """Deliver `chats` x `per_chat` messages under a per-chat model; print and return the
    ratio to the allowed rate."""
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
                await _deliver(hotline, api, total)
                span = _span(_messages(api))
                allowed = ideal_span([per_chat] * chats)
                limiter = hotline.sender.limiter
                line = (
                    f"delivery, {name} model (burst {burst}), {chats} chats x {per_chat}: "
                    f"{(total - 1) / span:5.1f} msg/s = {allowed / span:4.2f}x the allowed rate"
                )
                if burst > 1 and ideal_span([per_chat] * chats, burst) < allowed:
                    most = ideal_span([per_chat] * chats, burst)
                    line += f" ({most / span:4.2f}x what this model would accept)"
                print(
                    f"{line}; {api.rate_limited} x 429; learned: {limiter.learned_no_burst} "
                    f"chats without burst, {limiter.learned_slower} slower intervals"
                )
                return allowed / span
        finally:
            await hotline.close()


def _citizens_and_backlog(
    api: FakeBotAPI, citizens: int, first_citizen: int, chats: int
) -> tuple[list[list[dict[str, object]]], list[int]]:
    """Citizens' reports and the backlog's chats, known to the fake, under the strict
    model of Telegram's limits."""
    reporting = bench_intake._citizens(citizens, first_citizen)  # noqa: SLF001
    backlog = [700_000 + i for i in range(chats)]
    for chat in backlog + [first_citizen + i for i in range(citizens)]:
        api.register_chat(FakeUser(chat, first_name=f"Dân{chat}"))
    api.enforce_rate_limits(
        per_chat_interval=INTERVAL_S, per_chat_burst=1, global_per_second=GLOBAL_PER_S
    )
    return reporting, backlog


async def bench_under_intake(
    url: str, label: str, chats: int, per_chat: int, citizens: int, media: Path
) -> None:
    """The many chats' backlog delivered while `citizens` report at once, in one process."""
    async with (
        FakeBotAPI(token=bench_intake.TOKEN) as api,
        bench_intake.hotline_channel(url, api.base_url, media) as (
            hotline,
            channel,
        ),
    ):
        reporting, backlog = _citizens_and_backlog(api, citizens, 400_000, chats)
        hotline.add_transport(channel)
        filed_before = await bench_intake.filed_cases(hotline)
        await _queue(hotline, backlog, per_chat)
        arrivals = bench_intake.arrival_order(reporting)
        for start in range(0, len(arrivals), 100):
            await bench_intake.store_batch(hotline, channel, arrivals[start : start + 100])
        dispatcher = bench_intake.dispatcher_of(hotline, channel)
        sender = hotline.sender
        cpu, started = time.process_time(), time.perf_counter()
        tasks = [asyncio.create_task(dispatcher.run()), asyncio.create_task(sender.run())]
        targets = {str(chat) for chat in backlog}
        ours = lambda: [c for c in _messages(api) if str(c.chat_id) in targets]  # noqa: E731
        try:
            await api.wait_until(
                lambda: len(ours()) >= chats * per_chat, timeout=900, what="the backlog"
            )
            while dispatcher.handled < len(arrivals) or dispatcher.in_hand:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - started
            # The citizens' last replies may still wait: each of their waits is wanted.
            waited = 0.0
            while await _undelivered(hotline):
                await asyncio.sleep(0.2)
                waited += 0.2
                if waited > 600:
                    raise SystemExit("the outbox did not drain in 600 s")
        finally:
            dispatcher.stop()
            sender.stop()
            await asyncio.gather(*tasks)
        await bench_intake.check_all_filed(hotline, filed_before, citizens)
        replies, others = await _waits(hotline, {str(400_000 + i) for i in range(citizens)})
        mine = ours()
        during = [c for c in _messages(api) if mine[0].time <= c.time <= mine[-1].time]
        span = _span(during)
        # Spread over the backlog's chats, whose one a second never binds: the bot's 30 does.
        m = len(during)
        allowed = ideal_span([m // chats + (i < m % chats) for i in range(chats)])
        print(
            f"delivery while {citizens} citizens report at once ({label}): "
            f"{len(during)} messages ({len(during) - len(mine)} of them replies to the "
            f"citizens) at {(len(during) - 1) / span:5.1f} msg/s = "
            f"{allowed / span:4.2f}x the allowed rate; {api.rate_limited} x 429; this process "
            f"used {cpu:.0f} s CPU in {wall:.0f} s (intake and delivery)"
        )
        print(
            f"  waits from queuing to sent: the citizens' {len(replies)} replies "
            f"{_quantiles(replies)}; the backlog's {len(others)} rows {_quantiles(others)}"
        )


async def bench_paced_replies(
    url: str, label: str, chats: int, per_chat: int, citizens: int, media: Path
) -> None:
    """A few citizens reporting at a person's pace while a backlog of other chats' rows
    goes out: how long each waits for the answer to a message or a press."""
    async with (
        FakeBotAPI(token=bench_intake.TOKEN) as api,
        bench_intake.hotline_channel(url, api.base_url, media) as (hotline, channel),
    ):
        reporting, backlog = _citizens_and_backlog(api, citizens, 500_000, chats)
        hotline.add_transport(channel)
        await _queue(hotline, backlog, per_chat)
        dispatcher = bench_intake.dispatcher_of(hotline, channel)
        sender = hotline.sender
        tasks = [asyncio.create_task(dispatcher.run()), asyncio.create_task(sender.run())]
        latencies: list[float] = []

        def answered(chat: int, since: float) -> bool:
            return any(
                c.ok and c.time >= since and str(c.params.get("chat_id")) == str(chat)
                for c in reversed(api.calls)
            )

        async def citizen(n: int, updates: list[dict[str, object]]) -> None:
            chat = 500_000 + n
            await asyncio.sleep(2 + n * 0.7)  # the backlog is under way; not all at once
            for raw in updates:
                since = time.time()
                await bench_intake.store_batch(hotline, channel, [raw])
                dispatcher.wake()
                if raw is updates[-1]:
                    break  # "file it separately" may be an old button: no message to wait for
                await api.wait_until(
                    functools.partial(answered, chat, since), timeout=300, what="a reply"
                )
                latencies.append(time.time() - since)
                await asyncio.sleep(1.0)  # reading, then tapping

        try:
            started = time.time()
            await asyncio.gather(*(citizen(n, u) for n, u in enumerate(reporting)))
            during = time.time() - started
            targets = {str(chat) for chat in backlog}
            left = chats * per_chat - sum(1 for c in _messages(api) if str(c.chat_id) in targets)
        finally:
            dispatcher.stop()
            sender.stop()
            await asyncio.gather(*tasks)
        print(
            f"replies while a backlog of {chats * per_chat} rows to {chats} other chats goes "
            f"out ({label}): {citizens} citizens reporting at a person's pace, "
            f"{len(latencies)} answers, each from the update stored to its first message: "
            f"{_quantiles(latencies)} ({left} backlog rows still waiting after {during:.0f} s)"
        )


async def _undelivered(hotline: Hotline) -> int:
    async with db.read_scope(hotline.sessionmaker) as session:
        waiting = await session.scalar(
            select(func.count())
            .select_from(Outbox)
            .where(col(Outbox.status).in_([OutboxStatus.PENDING, OutboxStatus.SENDING]))
        )
    return int(waiting or 0)


async def _waits(hotline: Hotline, citizens: set[str]) -> tuple[list[float], list[float]]:
    """Seconds from each sent row's queuing to its sending: the citizens' chats, the rest."""
    async with db.read_scope(hotline.sessionmaker) as session:
        sent = (
            await session.exec(
                select(Outbox.chat_id, Outbox.created_at, Outbox.sent_at).where(
                    col(Outbox.sent_at).is_not(None)
                )
            )
        ).all()
    replies: list[float] = []
    others: list[float] = []
    for chat_id, created, sent_at in sent:
        if sent_at is None:  # not sent (the query asks for sent rows only)
            continue
        wait = (sent_at - created).total_seconds()
        (replies if chat_id in citizens else others).append(wait)
    return replies, others


def _quantiles(waits: list[float]) -> str:
    if not waits:
        return "(none)"
    ordered = sorted(waits)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return f"median {at(0.5):.1f} s, p95 {at(0.95):.1f} s, max {ordered[-1]:.1f} s"


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


async def under_intake(chats: int, per_chat: int, citizens: int, postgres: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        targets = [(f"sqlite+aiosqlite:///{Path(tmp) / 'load.db'}", "SQLite")]
        if postgres:
            targets.append((postgres, "PostgreSQL"))
        for url, label in targets:
            await db.upgrade_async(url)
            try:
                await bench_under_intake(url, label, chats, per_chat, citizens, Path(tmp) / label)
                await bench_paced_replies(
                    url, label, chats, PACED_PER_CHAT, PACED_CITIZENS, Path(tmp) / f"{label}-p"
                )
            finally:
                if url.startswith("postgresql"):
                    await asyncio.to_thread(db.downgrade, url, "base")


def run_all(chats: int, per_chat: int, citizens: int, postgres: str, backlog: int | None) -> None:
    for name, burst in MODELS.items():
        asyncio.run(bench_model(name, burst, chats, per_chat))
    for name, burst in MODELS.items():
        asyncio.run(bench_model(name, burst, FEW_CHATS, FEW_PER_CHAT))
    if citizens:
        asyncio.run(under_intake(chats, per_chat, citizens, postgres))
    if backlog:
        asyncio.run(bench_backlog(chats, per_chat // 2 or 1, backlog))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=60)
    parser.add_argument("--per-chat", type=int, default=10)
    parser.add_argument("--backlog", type=int, default=5000)
    parser.add_argument("--skip-backlog", action="store_true")
    parser.add_argument("--citizens", type=int, default=100, help="0: no intake at once")
    parser.add_argument("--postgres", default="", help="postgresql+asyncpg URL (wiped!)")
    args = parser.parse_args()
    backlog = None if args.skip_backlog else args.backlog
    run_all(args.chats, args.per_chat, args.citizens, args.postgres, backlog)


if __name__ == "__main__":
    main()
