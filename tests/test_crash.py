"""Crash safety: `hotline run` is SIGKILLed at named points and restarted; nothing is lost.

Each test runs on both Telegram runtimes (aiogram and python-telegram-bot: the
`telegram_library` fixture, passed to the child as HOTLINE_TELEGRAM_LIBRARY), the real
bot as a subprocess against the fake Bot API (which lives in the
test process and so outlives the bot), arms one failpoint (bot/failpoints.py), plays a
citizen's whole report and an officer's handling of it, restarts the bot whenever it
dies, and then checks: the conversation resumed, one case was filed, and every message
reached its chat exactly once.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from bot import db, services
from bot.fakes.telegram import FakeBotAPI, FakeChat, FakeUser, tiny_png
from bot.i18n import t
from models.enums import CaseStatus, OutboxStatus
from models.tables import Case, CaseEvent, InboundUpdate, Outbox
from tests.conftest import migrate
from tests.harness import store_and_forget

ROOT = Path(__file__).resolve().parent.parent
CITIZEN = FakeUser(id=1001, first_name="Lan", language_code="vi")
OFFICER = FakeUser(id=2001, first_name="Minh", language_code="vi")
GROUP = FakeChat(id=-1001, type="supergroup", title="Kỳ Lừa officers")
KY_LUA = (21.85926, 106.75417)


def has(text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: text in (m.get("text") or m.get("caption") or "")


class BotProcess:
    """`python -m bot run` as a child process, restarted after each crash."""

    def __init__(
        self,
        api: FakeBotAPI,
        workdir: Path,
        url: str | None = None,
        *,
        library: str = "aiogram",
        **settings: str,
    ) -> None:
        self.api = api
        self.library = library  # HOTLINE_TELEGRAM_LIBRARY of the child
        self.workdir = workdir
        self.url = url or f"sqlite+aiosqlite:///{workdir / 'hotline.db'}"
        self.settings = settings  # more HOTLINE_* variables
        self.proc: asyncio.subprocess.Process | None = None
        self.crashes = 0
        self.starts = 0

    def env(self, failpoints: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
        env.update(
            HOTLINE_BOT_TOKEN=self.api.token,
            HOTLINE_TELEGRAM_API_URL=self.api.base_url,
            HOTLINE_TELEGRAM_LIBRARY=self.library,
            HOTLINE_PROVINCE="20",
            HOTLINE_DATABASE_URL=self.url,
            HOTLINE_MEDIA_DIR=str(self.workdir / "media"),
            HOTLINE_FAILPOINTS=failpoints,
            HOTLINE_OUTBOX_CLAIM_S="1",  # a crashed sender's claim runs out quickly
            HOTLINE_SEND_CHAT_BURST="10",  # simulated people need no spacing
            PYTHONPATH=str(ROOT),
        )
        env.update(self.settings)
        return env

    async def start(self, failpoints: str = "") -> None:
        mark = len(self.api.calls)
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            env=self.env(failpoints),
            cwd=self.workdir,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=(self.workdir / f"bot-{self.starts + 1}.log").open("wb"),
        )
        self.starts += 1
        # Updates stay queued at the fake server until a getUpdates offset confirms them,
        # so it is enough to know the bot is up: it fetches whatever was sent meanwhile.
        await self.api.wait_until(
            lambda: any(c.method == "getMe" for c in self.api.calls[mark:]),
            timeout=60,
            what="the bot starting",
        )

    async def expect(self, waiting: Awaitable[dict[str, Any]]) -> dict[str, Any]:
        """Await a bot message, then a settled outbox; restart the bot whenever it dies.

        Waiting for the outbox to settle keeps the person's next step out of the one
        window where a crash resends a message (sent, not yet recorded): that window has
        its own test below.
        """
        message = await self._unless_crashed(asyncio.ensure_future(waiting))
        await self._unless_crashed(asyncio.ensure_future(self._outbox_settled()))
        return message

    async def _unless_crashed(self, waiter: asyncio.Future[Any]) -> Any:
        while True:
            assert self.proc is not None
            died = asyncio.ensure_future(self.proc.wait())
            done, _ = await asyncio.wait({waiter, died}, return_when=asyncio.FIRST_COMPLETED)
            if waiter in done:
                died.cancel()
                return waiter.result()
            assert self.proc.returncode == -signal.SIGKILL, self.proc.returncode
            self.crashes += 1
            await self.start()

    async def _outbox_settled(self) -> None:
        engine = db.make_engine(self.url)
        try:
            for _ in range(1500):
                async with db.make_sessionmaker(engine)() as session:
                    busy = (
                        await session.exec(
                            select(Outbox.id).where(
                                col(Outbox.status).in_(
                                    [OutboxStatus.PENDING.value, OutboxStatus.SENDING.value]
                                )
                            )
                        )
                    ).first()
                if busy is None:
                    return
                await asyncio.sleep(0.02)
            raise AssertionError("the outbox did not settle")
        finally:
            await engine.dispose()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


async def press(bot: BotProcess, user: FakeUser, data: str, chat: FakeChat | None = None) -> None:
    """Press the button with this data on the latest message that has it."""
    api = bot.api
    chat_id = chat.id if chat else user.id
    message = next(
        m
        for m in reversed(api.chat_messages(chat_id))
        if any(b.get("callback_data") == data for b in api.inline_buttons(m))
    )
    api.press_button(user, message, data, chat=chat)


async def play_report_and_handling(bot: BotProcess) -> str:
    """A citizen files a report with a photo; an officer acknowledges and closes it."""
    api = bot.api
    wait = api.wait_for_message
    api.bot_added_to_group(OFFICER, GROUP)
    engine = db.make_engine(bot.url)
    async with db.session_scope(db.make_sessionmaker(engine)) as session:
        code = await services.create_link_code(session, "20", "06187")
    await engine.dispose()
    api.send_command(OFFICER, "link", code, chat=GROUP)
    await bot.expect(wait(GROUP.id, lambda m: "✅" in m.get("text", ""), timeout=60))

    api.send_command(CITIZEN, "report")
    await bot.expect(wait(CITIZEN.id, has("Bước 1/7"), timeout=60))
    await press(bot, CITIZEN, "c1:cat:wastewater")
    await bot.expect(wait(CITIZEN.id, has("Bước 2/7"), timeout=60))
    api.send_location(CITIZEN, *KY_LUA)
    await bot.expect(wait(CITIZEN.id, lambda m: "c1:ward:06187" in str(m), timeout=60))
    await press(bot, CITIZEN, "c1:ward:06187")
    await bot.expect(wait(CITIZEN.id, has("Bước 3/7"), timeout=60))
    api.send_photo(CITIZEN, tiny_png(8, 8))
    await bot.expect(wait(CITIZEN.id, has("Đã nhận: 1/5"), timeout=60))
    await press(bot, CITIZEN, "c1:ev:done")
    await bot.expect(wait(CITIZEN.id, has("Bước 4/7"), timeout=60))
    api.send_text(CITIZEN, "Nước thải đen ngòm từ xưởng nhuộm chảy thẳng ra suối.")
    await bot.expect(wait(CITIZEN.id, has("Bước 5/7"), timeout=60))
    await press(bot, CITIZEN, "c1:nat:now")
    await bot.expect(wait(CITIZEN.id, has("Bước 6/7"), timeout=60))
    await press(bot, CITIZEN, "c1:src:skip")
    await bot.expect(wait(CITIZEN.id, has("Bước 7/7"), timeout=60))
    api.press_reply_button(CITIZEN, "🙈 Ẩn danh")
    await bot.expect(wait(CITIZEN.id, lambda m: "c1:sum:ok" in str(m), timeout=60))
    await press(bot, CITIZEN, "c1:sum:ok")
    filed = await bot.expect(wait(CITIZEN.id, has("Mã phản ánh"), timeout=60))
    match = re.search(r"PA20-\d{6}", filed["text"])
    assert match
    case_code = match.group(0)
    card = await bot.expect(wait(GROUP.id, has(case_code), timeout=60))
    case_id = int(re.findall(r"c1:ack:(\d+)", str(card))[0])

    await press(bot, OFFICER, f"c1:ack:{case_id}", chat=GROUP)
    await bot.expect(wait(CITIZEN.id, has("đã được cán bộ tiếp nhận"), timeout=60))
    await press(bot, OFFICER, f"c1:cls:{case_id}", chat=GROUP)
    prompt = await bot.expect(wait(GROUP.id, has("TRẢ LỜI"), timeout=60))
    api.send_text(
        OFFICER,
        "Đã xử lý: xưởng dừng xả thải.",
        chat=GROUP,
        reply_to_message_id=prompt["message_id"],
    )
    await bot.expect(wait(GROUP.id, has("Xem lại trước khi gửi"), timeout=60))
    await press(bot, OFFICER, f"c1:rok:{case_id}", chat=GROUP)  # «Gửi»
    await bot.expect(wait(CITIZEN.id, has("Kết quả"), timeout=60))
    await bot.expect(wait(GROUP.id, has("Đã đóng"), timeout=60))
    return case_code


def duplicates(api: FakeBotAPI, chat_id: int) -> list[str]:
    """Bot messages that reached a chat more than once (same text and buttons)."""
    counts = Counter(
        (m.get("text") or m.get("caption") or "", str(m.get("reply_markup")), "photo" in m)
        for m in api.chat_messages(chat_id)
        if m.get("from", {}).get("is_bot")
    )
    return [text for (text, _, _), n in counts.items() if n > 1]


async def check_outcome(bot: BotProcess, code: str) -> None:
    engine = db.make_engine(bot.url)
    try:
        async with db.make_sessionmaker(engine)() as session:
            cases = (await session.exec(select(Case))).all()
            events = (await session.exec(select(CaseEvent))).all()
            unsent = (
                await session.exec(select(Outbox).where(Outbox.status != OutboxStatus.SENT))
            ).all()
            unhandled = (
                await session.exec(
                    select(InboundUpdate).where(InboundUpdate.processed_at == None)  # noqa: E711
                )
            ).all()
    finally:
        await engine.dispose()
    assert [c.code for c in cases] == [code]
    assert cases[0].status == CaseStatus.RESOLVED
    assert [e.action for e in events] == ["file", "acknowledge", "resolve"]
    assert unsent == [] and unhandled == []
    assert len(bot.api.chat_messages(CITIZEN.id)) > 10


# (failpoint spec, what the crash interrupts)
CRASH_POINTS = [
    ("event.received=4", "a batch stored in the inbox, not handled"),
    ("event.before_commit=12", "Confirm handled (the case filed), not committed"),
    ("event.after_commit=13", "the officer's Acknowledge committed, the outbox not woken"),
    ("outbox.before_send=14", "a message claimed, not sent"),
]


@pytest.mark.parametrize(("spec", "moment"), CRASH_POINTS, ids=[s for s, _ in CRASH_POINTS])
async def test_sigkill_loses_nothing_and_duplicates_nothing(
    api: FakeBotAPI, tmp_path: Path, spec: str, moment: str, telegram_library: str
) -> None:
    bot = BotProcess(api, tmp_path, library=telegram_library)
    await migrate(bot.url)
    await bot.start(failpoints=spec)
    try:
        code = await play_report_and_handling(bot)
        await api.wait_idle()
    finally:
        await bot.stop()
    assert bot.crashes == 1, f"the failpoint {spec} ({moment}) was never reached"
    await check_outcome(bot, code)
    assert duplicates(api, CITIZEN.id) == [], api.transcript(CITIZEN.id)
    assert duplicates(api, GROUP.id) == []


async def test_sigkill_after_telegram_accepted_a_message_resends_it_once(
    api: FakeBotAPI, tmp_path: Path, telegram_library: str
) -> None:
    """The one at-least-once window: sent, but the process died before recording it.

    The Bot API has no idempotency key, so the row is sent again after its claim runs
    out: that one message arrives twice, nothing is lost and nothing else repeats.
    """
    bot = BotProcess(api, tmp_path, library=telegram_library)
    await migrate(bot.url)
    await bot.start(failpoints="outbox.after_send=6")
    try:
        code = await play_report_and_handling(bot)
        await api.wait_idle()
    finally:
        await bot.stop()
    assert bot.crashes == 1
    await check_outcome(bot, code)
    repeated = duplicates(api, CITIZEN.id) + duplicates(api, GROUP.id)
    assert len(repeated) == 1, repeated


async def file_report_with_album_and_documents(bot: BotProcess) -> tuple[list[bytes], list[bytes]]:
    """A citizen files a report with an album of 3 photos and 2 documents (no officer)."""
    api = bot.api
    wait = api.wait_for_message
    api.bot_added_to_group(OFFICER, GROUP)
    engine = db.make_engine(bot.url)
    async with db.session_scope(db.make_sessionmaker(engine)) as session:
        code = await services.create_link_code(session, "20", "06187")
    await engine.dispose()
    api.send_command(OFFICER, "link", code, chat=GROUP)
    await bot.expect(wait(GROUP.id, lambda m: "✅" in m.get("text", ""), timeout=60))
    api.send_command(CITIZEN, "report")
    await bot.expect(wait(CITIZEN.id, has("Bước 1/7"), timeout=60))
    await press(bot, CITIZEN, "c1:cat:wastewater")
    await bot.expect(wait(CITIZEN.id, has("Bước 2/7"), timeout=60))
    api.send_location(CITIZEN, *KY_LUA)
    await bot.expect(wait(CITIZEN.id, lambda m: "c1:ward:06187" in str(m), timeout=60))
    await press(bot, CITIZEN, "c1:ward:06187")
    await bot.expect(wait(CITIZEN.id, has("Bước 3/7"), timeout=60))
    photos = [tiny_png(4, 4, (i * 60, 20, 20)) for i in range(1, 4)]
    for photo in photos:
        api.send_photo(CITIZEN, photo, media_group_id="album-1")
    await bot.expect(wait(CITIZEN.id, has("3/5 ảnh, 0 tệp"), timeout=60))
    documents = [f"%PDF-1.4 biên bản {i}".encode() for i in (1, 2)]
    for i, document in enumerate(documents, start=1):
        api.send_document(
            CITIZEN, document, file_name=f"bien-ban-{i}.pdf", mime_type="application/pdf"
        )
        await bot.expect(wait(CITIZEN.id, has(f"3/5 ảnh, {i} tệp"), timeout=60))
    await press(bot, CITIZEN, "c1:ev:done")
    await bot.expect(wait(CITIZEN.id, has("Bước 4/7"), timeout=60))
    api.send_text(CITIZEN, "Nước thải đen ngòm từ xưởng nhuộm chảy thẳng ra suối.")
    await bot.expect(wait(CITIZEN.id, has("Bước 5/7"), timeout=60))
    await press(bot, CITIZEN, "c1:nat:now")
    await bot.expect(wait(CITIZEN.id, has("Bước 6/7"), timeout=60))
    await press(bot, CITIZEN, "c1:src:skip")
    await bot.expect(wait(CITIZEN.id, has("Bước 7/7"), timeout=60))
    api.press_reply_button(CITIZEN, "🙈 Ẩn danh")
    await bot.expect(wait(CITIZEN.id, lambda m: "c1:sum:ok" in str(m), timeout=60))
    await press(bot, CITIZEN, "c1:sum:ok")
    await bot.expect(wait(CITIZEN.id, has("Mã phản ánh"), timeout=60))
    await bot.expect(wait(GROUP.id, lambda m: "location" in m, timeout=60))
    return photos, documents


def uploads(api: FakeBotAPI, chat_id: int) -> Counter[bytes]:
    """Every file the bot delivered to a chat, by content, counted once per delivery."""
    delivered: Counter[bytes] = Counter()
    for call in api.calls:
        if call.ok and call.method.startswith("send") and str(call.chat_id) == str(chat_id):
            delivered.update(call.files.values())
    return delivered


async def test_sigkill_between_the_calls_of_an_album_repeats_no_call(
    api: FakeBotAPI, tmp_path: Path, telegram_library: str
) -> None:
    """A card's evidence takes 3 calls (the photos' album, then each document); killed after
    the second, the restart resumes with the third: no photo or document arrives twice.

    One row in flight at a time (HOTLINE_SEND_CONCURRENCY=1): the kill then falls inside
    the album alone. With several chats served at once, the reporter's receipt could be
    caught between Telegram's answer and its record, and be repeated: that is the one
    documented window, pinned down by the test above, not what this test is about."""
    bot = BotProcess(api, tmp_path, library=telegram_library, HOTLINE_SEND_CONCURRENCY="1")
    await migrate(bot.url)
    await bot.start(failpoints="outbox.between_calls=2")
    try:
        photos, documents = await file_report_with_album_and_documents(bot)
        await api.wait_idle()
    finally:
        await bot.stop()
    assert bot.crashes == 1, "the failpoint outbox.between_calls was never reached"
    delivered = uploads(api, GROUP.id)
    names = {blob: f"photo {i}" for i, blob in enumerate(photos, 1)}
    names.update({blob: f"document {i}" for i, blob in enumerate(documents, 1)})
    assert {name: delivered[blob] for blob, name in names.items()} == dict.fromkeys(
        names.values(), 1
    )
    evidence_calls = [
        c.method for c in api.calls if c.ok and c.method in ("sendMediaGroup", "sendDocument")
    ]
    assert evidence_calls == ["sendMediaGroup", "sendDocument", "sendDocument"]
    assert duplicates(api, CITIZEN.id) == [], api.transcript(CITIZEN.id)


# ---------------------------------------------------------------- crash loops and poison


def bot_log(bot: BotProcess) -> str:
    return "\n".join(
        (bot.workdir / f"bot-{n}.log").read_text(errors="replace")
        for n in range(1, bot.starts + 1)
    )


# Four times the concurrency below: the poison goes in hand with 15 others at the first
# crash, and 48 more only wait at every crash. What is checked does not grow with the number
# (the bug this guards against gave up every waiting update, however many); 200 took
# a quarter of a minute more per run to answer.
CRASH_LOOP_CITIZENS = 64


async def test_a_crash_loop_counts_only_against_the_update_in_hand(
    api: FakeBotAPI, tmp_path: Path, db_url: str, telegram_library: str
) -> None:
    """Three SIGKILLs shortly after restarts, with 64 citizens' /report waiting in the inbox.

    The first update is a true poison: it kills every process that takes it in hand
    (failpoint `update.<id>`). At the first crash 15 other updates were in hand with it;
    at the next two they only waited (it was handled alone). Only the updates in hand at a
    crash count against themselves: the poison is given up at the fourth start and its
    sender hears the apology; every other citizen gets the answer to /report, each
    /report handled once. (Before, every start counted against every waiting update, and
    the fourth start gave up all of them.)
    """
    bot = BotProcess(
        api,
        tmp_path,
        db_url,
        library=telegram_library,
        HOTLINE_SEND_GLOBAL_PER_SECOND="1000",
        HOTLINE_INBOX_CONCURRENCY="16",  # the poison goes in hand with 15 others
    )
    await migrate(db_url)
    citizens = [
        FakeUser(id=30_000 + i, first_name=f"Dân {i}", language_code="vi")
        for i in range(CRASH_LOOP_CITIZENS)
    ]
    for citizen in citizens:
        api.send_command(citizen, "report")
    stored = await store_and_forget(api, db_url)
    poison, victim, others = stored[0]["update_id"], citizens[0], citizens[1:]
    kill = f"update.{poison}=1"

    waiting = {c.id for c in others}  # not answered yet (checked on every fake change)

    def everyone_answered() -> bool:
        for chat_id in list(waiting):
            if not any("Bước 1/7" in m.get("text", "") for m in api.chat_messages(chat_id)):
                return False  # checked again on the next change
            waiting.discard(chat_id)
        return any("Xin lỗi" in m.get("text", "") for m in api.chat_messages(victim.id))

    try:
        for spec in (kill, kill, kill, kill):
            await bot.start(failpoints=spec)
            assert bot.proc is not None
            died = asyncio.ensure_future(bot.proc.wait())
            answered = asyncio.ensure_future(
                api.wait_until(everyone_answered, timeout=120, what="every citizen answered")
            )
            done, _ = await asyncio.wait({died, answered}, return_when=asyncio.FIRST_COMPLETED)
            if answered in done:
                died.cancel()
                answered.result()
                break
            answered.cancel()
            assert bot.proc.returncode == -signal.SIGKILL, bot_log(bot)[-3000:]
            bot.crashes += 1
        await api.wait_idle()
    finally:
        await bot.stop()
    assert bot.crashes == 3
    log_text = bot_log(bot)
    assert log_text.count("given up") == 1, log_text[-3000:]
    for citizen in others:
        steps = [m for m in api.chat_messages(citizen.id) if "Bước 1/7" in m.get("text", "")]
        assert len(steps) >= 1
    assert [
        m["text"] for m in api.chat_messages(victim.id) if m.get("from", {}).get("is_bot")
    ] == [t("vi", "error.generic")]
    engine = db.make_engine(db_url)
    try:
        async with db.make_sessionmaker(engine)() as session:
            unhandled = (
                await session.exec(
                    select(InboundUpdate.update_id).where(
                        col(InboundUpdate.processed_at).is_(None)
                    )
                )
            ).all()
            rows = (await session.exec(select(Outbox))).all()
    finally:
        await engine.dispose()
    assert unhandled == []
    # Each /report was handled once: one answer queued per citizen. A message can reach a
    # chat twice only through the documented window (sent, then killed before recording),
    # which shows as a resent row.
    queued = Counter(row.chat_id for row in rows)
    assert all(queued[str(c.id)] == 1 for c in citizens), queued.most_common(3)
    resent = {row.chat_id for row in rows if row.attempts > 1}
    repeated = {str(c.id) for c in others if duplicates(api, c.id)}
    assert repeated <= resent, (repeated, resent)
