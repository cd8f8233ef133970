"""The Zalo channel's parts: the client against the fake Zalo Bot API over HTTP, the
translation of every event form, numbered menus, splitting, commands without the slash,
delivery errors, dedupe, the webhook secret, and the hotline running on Zalo."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, func, select

from bot import db, services
from bot.channels.zalo import ZaloWebhook, menus
from bot.channels.zalo.client import (
    ZaloApiError,
    ZaloBadRequest,
    ZaloClient,
    ZaloForbidden,
    ZaloNetworkError,
    ZaloNotFound,
    ZaloRateLimited,
    ZaloServerError,
    ZaloTimeout,
    ZaloUnauthorized,
)
from bot.channels.zalo.delivery import TEXT_LIMIT, classify, plain, split_text
from bot.channels.zalo.routing import UpdateSequence, dedupe_key, route_update, update_id
from bot.channels.zalo.translate import translate
from bot.demo import local_zalo_hotline
from bot.fakes.telegram import FakeBotAPI
from bot.fakes.zalo import FakeZaloAPI
from bot.i18n import t
from bot.outbox import PermanentFailure, RetryLater
from handlers.events import Outgoing
from models.enums import OutboxStatus
from models.tables import InboundUpdate, Outbox, Reporter

CITIZEN = "7001234567890"


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZaloAPI]:
    async with FakeZaloAPI() as fake:
        yield fake


@pytest.fixture
async def telegram() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


def has(*words: str) -> Any:
    return lambda m: all(w in m["text"] for w in words)


# ---------------------------------------------------------------- the client


async def test_client_envelope_and_errors(zalo: FakeZaloAPI) -> None:
    client = ZaloClient(zalo.token, zalo.base_url)
    try:
        me = await client.get_me()
        assert me["account_name"] == "bot.hotline_test"
        sent = await client.send_message(CITIZEN, "Xin chào")
        assert isinstance(sent["message_id"], str)
        assert zalo.texts(CITIZEN) == ["Xin chào"]
        with pytest.raises(ZaloBadRequest):
            await client.send_message(CITIZEN, "x" * (TEXT_LIMIT + 1))
        with pytest.raises(ZaloBadRequest):
            await client.send_photo(CITIZEN, "not-a-url", None)
        with pytest.raises(ZaloTimeout):  # an empty poll is 408
            await client.get_updates(0)
        for code, cls in [
            (400, ZaloBadRequest),
            (401, ZaloUnauthorized),
            (403, ZaloForbidden),
            (404, ZaloNotFound),
            (429, ZaloRateLimited),
            (500, ZaloServerError),
            (502, ZaloServerError),
        ]:
            zalo.fail_next("sendMessage", code)
            with pytest.raises(cls) as caught:
                await client.send_message(CITIZEN, "x")
            assert caught.value.error_code == code
        assert zalo.texts(CITIZEN) == ["Xin chào"]  # no failed call was applied
        wrong = ZaloClient("1:wrong", zalo.base_url)
        with pytest.raises(ZaloUnauthorized):
            await wrong.get_me()
        await wrong.close()
        with pytest.raises(ZaloBadRequest):  # 8 to 256 characters
            await client.set_webhook("https://example.org/webhook/zalo", "short")
        await client.set_webhook("https://example.org/webhook/zalo", "s3cret-token-123")
        assert (await client.get_webhook_info())["url"] == "https://example.org/webhook/zalo"
        await client.delete_webhook()
        assert (await client.get_webhook_info())["url"] == ""
    finally:
        await client.close()


async def test_client_network_errors() -> None:
    client = ZaloClient("1:x", "http://127.0.0.1:9")  # nothing listens there
    try:
        with pytest.raises(ZaloNetworkError):
            await client.get_me()
    finally:
        await client.close()


def test_classify() -> None:
    rate = classify(ZaloRateLimited("sendMessage", 429, "quota exceeded"), None, 0)
    assert isinstance(rate, RetryLater) and rate.rate_limited and rate.delay == 2.0
    later = classify(ZaloRateLimited("sendMessage", 429, "quota exceeded"), None, 3)
    assert isinstance(later, RetryLater) and later.delay == 16.0  # backs off
    for code, cls in [(403, ZaloForbidden), (404, ZaloNotFound)]:
        gone = classify(cls("sendMessage", code, "x"))
        assert isinstance(gone, PermanentFailure) and gone.unreachable
    assert isinstance(classify(ZaloServerError("sendMessage", 503, "x")), RetryLater)
    net = classify(ZaloNetworkError("sendMessage: timeout"))
    assert isinstance(net, RetryLater) and net.maybe_delivered
    bad = classify(ZaloBadRequest("sendMessage", 400, "x"))
    assert isinstance(bad, PermanentFailure) and not bad.unreachable
    assert isinstance(classify(ZaloUnauthorized("sendMessage", 401, "x")), RetryLater)
    assert classify(ValueError("not ours")) is None
    assert isinstance(classify(ZaloApiError("x", 418, "teapot")), PermanentFailure)


# ---------------------------------------------------------------- translation


def _event(name: str, **message: Any) -> dict[str, Any]:
    base = {
        "message_id": "a1b2c3",
        "from": {"id": CITIZEN, "display_name": "Lan", "is_bot": False},
        "chat": {"id": CITIZEN, "chat_type": "PRIVATE"},
        "date": 1765000000000,
    }
    return {"event_name": name, "message": {**base, **message}}


def test_translate_every_event_form() -> None:
    text = _event("message.text.received", text="Khói đen ở chợ")
    ev = translate(text, 5).event
    assert ev is not None and ev.kind == "text" and ev.text == "Khói đen ở chợ"
    assert (ev.channel, ev.chat_id, ev.user_id, ev.user_name) == ("zalo", CITIZEN, CITIZEN, "Lan")
    assert ev.update_id == 5 and ev.chat_type == "private"
    wrapped = translate({"ok": True, "result": text}, 6).event
    assert wrapped is not None and wrapped.text == "Khói đen ở chợ"  # wrapped or bare
    for field in ("photo_url", "photo"):
        image = _event("message.image.received", caption="Cống xả", **{field: "https://x/1.jpg"})
        ev = translate(image, 7).event
        assert ev is not None and ev.kind == "media" and ev.text == "Cống xả"
        assert ev.files[0].file_id == "https://x/1.jpg" and ev.files[0].kind == "photo"
    no_url = translate(_event("message.image.received"), 8).event
    assert no_url is not None and no_url.kind == "unsupported"
    sticker = translate(_event("message.sticker.received", sticker="abc"), 9).event
    assert sticker is not None and sticker.kind == "unsupported"
    assert sticker.unsupported_kind == "sticker"
    hidden = translate(_event("message.unsupported.received"), 10)
    assert hidden.event is None and hidden.own == "hidden"
    other = translate(_event("message.unsupported.received", text="?"), 11).event
    assert other is not None and other.kind == "unsupported"
    group = _event("message.text.received", text="hi")
    group["message"]["chat"] = {"id": "g1", "chat_type": "GROUP"}
    assert translate(group, 12) == translate({"nothing": 1}, 13)  # not ours: no event
    assert translate(_event("message.reaction.received"), 14).event is None
    assert route_update(group).chat_type == "group"
    route = route_update(_event("message.image.received", photo_url="https://x"))
    assert route.has_files and route.chat_key == CITIZEN
    assert route.dedupe_key == "message.image.received:a1b2c3"
    assert dedupe_key({"ok": True, "result": text}) == "message.text.received:a1b2c3"
    assert dedupe_key(_event("message.text.received", message_id=None)) is None


def test_commands_with_or_without_slash() -> None:
    cases = {
        "/baocao": "report",
        "bao cao": "report",
        "Báo cáo": "report",
        "/report": "report",
        "huy": "cancel",
        "Hủy": "cancel",
        "/cancel": "cancel",
        "cua toi": "mycases",
        "/mycases": "mycases",
        "tro giup": "help",
        "ngon ngu": "lang",
        "/start": "start",
        "/khong-co": "khong-co",  # unknown: the core refuses it politely
    }
    for typed, command in cases.items():
        ev = translate(_event("message.text.received", text=typed), 1).event
        assert ev is not None and ev.kind == "command" and ev.command == command, typed
    assert translate(_event("message.text.received", text="menu"), 1).own == "menu"
    ev = translate(_event("message.text.received", text="huy bo phan anh nay di"), 1).event
    assert ev is not None and ev.kind == "text"  # a sentence is no command


def test_menu_choices() -> None:
    options = [
        menus.Option("💧 Nước thải", "c1:cat:wastewater"),
        menus.Option("🏭 Khói, bụi, khí thải", "c1:cat:emissions"),
        menus.Option("🔊 Tiếng ồn", "c1:cat:noise"),
        menus.Option("🙈 Ẩn danh", None),
    ]
    assert menus.choose(options, "2") == 1
    assert menus.choose(options, " 3. ") == 2
    assert menus.choose(options, "Tiếng ồn") == 2
    assert menus.choose(options, "tieng on") == 2  # unaccented
    assert menus.choose(options, "nuoc") == 0  # the start of a label
    assert menus.choose(options, "nt") == 0  # initials
    assert menus.choose(options, "khoi") == 1
    assert menus.choose(options, "an danh") == 3
    assert menus.choose(options, "7") == menus.OutOfRange(7, 4)
    assert menus.choose(options, "0") == menus.OutOfRange(0, 4)
    assert menus.choose(options, "Nước thải đen chảy ra suối gần chợ") is None
    assert menus.choose(options, "") is None
    assert menus.choose([], "1") is None
    text = menus.render("vi", options[:3], ["zalo.no_location"])
    assert "1. 💧 Nước thải" in text and "3. 🔊 Tiếng ồn" in text
    assert "Trả lời 1, 2 hoặc 3." in text and t("vi", "zalo.no_location") in text
    assert "Reply 1 or 2." in menus.render("en", options[:2], [])
    # Button choices become the button's event; keyboard keys the label as text.
    ev = translate(_event("message.text.received", text="2"), 1, options=options).event
    assert ev is not None and ev.kind == "button" and ev.button_data == "c1:cat:emissions"
    ev = translate(_event("message.text.received", text="4"), 1, options=options).event
    assert ev is not None and ev.kind == "text" and ev.text == "🙈 Ẩn danh"
    out = translate(_event("message.text.received", text="9"), 1, options=options)
    assert out.own == "out_of_range" and out.out_of_range == menus.OutOfRange(9, 4)
    # A pending officer's question: the next text answers it.
    ans = translate(_event("message.text.received", text="Ở cuối ngõ 5"), 1, pending_question=640)
    assert ans.event is not None and ans.event.reply_to_message_id == 640 and ans.answers == 640


def test_split_text_at_sentences() -> None:
    sentence = "Nước thải chảy ra suối gần chợ, mùi hôi rất nặng vào buổi tối. "
    text = sentence * 80  # ~5,000 characters
    pieces = split_text(text)
    assert len(pieces) == 3 and all(0 < len(p) <= TEXT_LIMIT for p in pieces)
    assert all(p.endswith(".") for p in pieces)  # cut at sentence ends
    assert " ".join(pieces) == text.strip()  # nothing lost
    words = split_text("từ " * 1500)
    assert all(len(p) <= TEXT_LIMIT for p in words) and " ".join(words) == ("từ " * 1500).strip()
    assert split_text("x" * 4500) == ["x" * 2000, "x" * 2000, "x" * 500]
    assert split_text("   ") == []
    assert (
        plain("<b>PA20-000001</b> &amp; <i>kết quả</i><br>xong") == "PA20-000001 & kết quả\nxong"
    )


def test_update_ids_are_ours_stable_and_ordered() -> None:
    first = _event("message.text.received", text="a", date=1765000000000, message_id="m1")
    later = _event("message.text.received", text="b", date=1765000000001, message_id="m0")
    assert update_id(first) == update_id(json.loads(json.dumps(first)))  # a redelivery
    assert update_id({"ok": True, "result": first}) == update_id(first)  # wrapped or bare
    assert update_id(first) < update_id(later) < 2**63  # the platform's order
    other = _event("message.image.received", date=1765000000000, message_id="m1")
    assert update_id(other) != update_id(first)
    no_date = _event("message.text.received", text="c", date="yesterday")
    assert update_id(no_date) is not None  # our own clock then
    assert update_id({"junk": True}) is None


def test_update_sequence_increases() -> None:
    seq = UpdateSequence()
    ids = [seq.next() for _ in range(1000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(0 < i < 2**63 for i in ids)


def test_webhook_secret() -> None:
    hook = ZaloWebhook("s3cret-token-123")
    assert hook.authentic({"X-Bot-Api-Secret-Token": "s3cret-token-123"})
    assert hook.authentic({"x-bot-api-secret-token": "s3cret-token-123"})
    assert not hook.authentic({"X-Bot-Api-Secret-Token": "wrong"})
    assert not hook.authentic({})
    assert not ZaloWebhook(None).authentic({"X-Bot-Api-Secret-Token": ""})
    event = _event("message.text.received", text="hi")
    assert hook.updates(event) == [event]
    assert hook.updates({"ok": True, "result": event}) == [{"ok": True, "result": event}]
    assert hook.updates({"junk": 1}) == []


# ---------------------------------------------------------------- the running hotline


async def _count(hotline: Any, stmt: Any) -> int:
    async with hotline.sessionmaker() as session:
        return int((await session.exec(stmt)).one())


async def test_zalo_only_hotline_menu_dedupe_and_hidden_people(
    zalo: FakeZaloAPI, telegram: FakeBotAPI, tmp_path: Path
) -> None:
    async with local_zalo_hotline(
        telegram, zalo, tmp_path, public_url="https://duongdaynong.example.vn"
    ) as (hotline, runner):
        assert sorted(runner.receivers) == ["telegram", "zalo"]
        # "menu": the channel's own help menu, numbered; "1" chooses its first command.
        zalo.send_text(CITIZEN, "menu")
        menu = await zalo.wait_for_message(CITIZEN, has(t("vi", "zalo.help_menu")))
        assert "1. " + t("vi", "cmd.report") in menu["text"]
        zalo.send_text(CITIZEN, "1")
        await zalo.wait_for_message(CITIZEN, has("Bước 1/7"))
        # The same event delivered twice has effect once.
        seen = len(zalo.messages(CITIZEN))
        event = zalo.send_text(CITIZEN, "3")
        zalo.push(event)
        zalo.push({"ok": True, "result": event})
        await zalo.wait_for_message(CITIZEN, has("Bước 2/7"), after=seen)
        await asyncio.sleep(1.0)
        assert len(zalo.messages(CITIZEN)) == seen + 1
        rows = await _count(
            hotline,
            select(func.count())
            .select_from(InboundUpdate)
            .where(
                col(InboundUpdate.dedupe_key)
                == f"message.text.received:{event['message']['message_id']}"
            ),
        )
        assert rows == 1
        # An out-of-range number: said so, and the menu is still there.
        zalo.send_text(CITIZEN, "/huy")
        await zalo.wait_for_message(CITIZEN, has("Đã hủy"))
        # A person the platform hides: answered with where to call, never ignored.
        hidden = "7009999999999"
        zalo.send_unsupported(hidden)
        answer = await zalo.wait_for_message(hidden)
        assert answer["text"] == t(
            "vi", "zalo.hidden_contacts_page", url="https://duongdaynong.example.vn"
        )
        async with db.session_scope(hotline.sessionmaker) as session:
            await services.save_ward_contact(
                session,
                "20",
                {"receive_phone": "0205 3812 345", "receive_email": "tnmt@langson.gov.vn"},
            )
        zalo.send_unsupported(hidden)
        answer = await zalo.wait_for_message(hidden, has("0205 3812 345"), after=1)
        assert "tnmt@langson.gov.vn" in answer["text"]
        # A sticker: the core's polite refusal.
        zalo.send_sticker(hidden)
        await zalo.wait_for_message(hidden, after=2)


async def test_out_of_range_numbers_keep_the_menu(
    zalo: FakeZaloAPI, telegram: FakeBotAPI, tmp_path: Path
) -> None:
    async with local_zalo_hotline(telegram, zalo, tmp_path):
        zalo.send_text(CITIZEN, "bao cao")
        await zalo.wait_for_message(CITIZEN, has("Bước 1/7"))
        zalo.send_text(CITIZEN, "9")
        await zalo.wait_for_message(
            CITIZEN, has(t("vi", "zalo.menu_out_of_range", number=9, count=6).split(".")[0])
        )
        zalo.send_text(CITIZEN, "tieng on")  # still the category menu, by its label
        await zalo.wait_for_message(CITIZEN, has("Bước 2/7"))


async def _queue(hotline: Any, text: str, chat: str = CITIZEN) -> int:
    async with db.session_scope(hotline.sessionmaker) as session:
        reporter = await services.get_reporter(session, "zalo", chat, chat)
        reporter.language = "vi"
        row = await services.enqueue(session, "zalo", Outgoing(chat_id=chat, text=text))
        await session.flush()  # rows are written at commit; its id now
        assert row.id is not None
        row_id = row.id
    hotline.sender.wake()
    return row_id


async def _status(hotline: Any, row_id: int, want: str, wait_s: float = 15.0) -> Outbox:
    for _ in range(int(wait_s / 0.1)):
        async with hotline.sessionmaker() as session:
            row = await session.get(Outbox, row_id)
            assert row is not None
            if row.status == want:
                return row
        await asyncio.sleep(0.1)
    raise AssertionError(f"outbox {row_id} is {row.status}, not {want}")


async def test_delivery_splits_and_sorts_errors(
    zalo: FakeZaloAPI, telegram: FakeBotAPI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with local_zalo_hotline(
        telegram, zalo, tmp_path, send_chat_burst=10, send_chat_interval_s=0.01
    ) as (hotline, runner):
        # Longer than 2,000 characters: several messages, cut at sentences, in order.
        long = "Cán bộ đã kiểm tra hiện trường và lập biên bản vi phạm hành chính. " * 70
        row_id = await _queue(hotline, long)
        await _status(hotline, row_id, OutboxStatus.SENT.value)
        texts = zalo.texts(CITIZEN)
        assert len(texts) == 3 and " ".join(texts) == long.strip()
        # 429 (quota exceeded): retried later, delivered once.
        zalo.fail_next("sendMessage", 429)
        row_id = await _queue(hotline, "Sau khi hết hạn mức")
        row = await _status(hotline, row_id, OutboxStatus.SENT.value)
        assert row.attempts == 2 and zalo.texts(CITIZEN).count("Sau khi hết hạn mức") == 1
        # 5xx: retried.
        zalo.fail_next("sendMessage", 502)
        row_id = await _queue(hotline, "Sau lỗi máy chủ")
        await _status(hotline, row_id, OutboxStatus.SENT.value)
        # 403: the person blocked the bot: given up, reporter unreachable.
        zalo.block("7005555555555")
        row_id = await _queue(hotline, "Không tới được", chat="7005555555555")
        await _status(hotline, row_id, OutboxStatus.FAILED.value)
        async with hotline.sessionmaker() as session:
            blocked = (
                await session.exec(select(Reporter).where(Reporter.chat_id == "7005555555555"))
            ).one()
            assert blocked.unreachable
        # 401: the channel stops, once, with a clear log line; nothing more is called.
        zalo.fail_all(401)
        with caplog.at_level(logging.ERROR, logger="bot.channels.zalo.channel"):
            row_id = await _queue(hotline, "Token bị thu hồi")
            for _ in range(100):
                if runner.receivers["zalo"].stopped.is_set():
                    break
                await asyncio.sleep(0.1)
        assert runner.receivers["zalo"].stopped.is_set()
        assert "the bot token was refused (401)" in caplog.text
        assert "Token bị thu hồi" not in zalo.texts(CITIZEN)
        async with hotline.sessionmaker() as session:
            row = await session.get(Outbox, row_id)
            assert row is not None and row.status == OutboxStatus.PENDING.value
        zalo.heal()


# ---------------------------------------------------------------- the inbox on both databases


async def test_inbox_dedupe_key_is_unique(db_url: str) -> None:
    """A redelivered Zalo event (same event_name:message_id) is stored once, whatever id
    it was given; Telegram rows (no key) never clash."""
    await db.upgrade_async(db_url)
    engine = db.make_engine(db_url)
    try:
        maker = db.make_sessionmaker(engine)
        raw = _event("message.text.received", text="hi")
        key = dedupe_key(raw)
        seq = UpdateSequence()
        for _ in range(3):
            async with db.session_scope(maker) as session:
                await services.store_inbound(
                    session, "zalo", [services.Arrival(seq.next(), raw, CITIZEN, None, False, key)]
                )
        async with db.session_scope(maker) as session:
            await services.store_inbound(
                session,
                "telegram",
                [services.Arrival(i, {"update_id": i}) for i in (1, 2)],
            )
        async with maker() as session:
            zalo_rows = (
                await session.exec(select(InboundUpdate).where(InboundUpdate.channel == "zalo"))
            ).all()
            tg_rows = (
                await session.exec(
                    select(InboundUpdate).where(InboundUpdate.channel == "telegram")
                )
            ).all()
        assert [r.dedupe_key for r in zalo_rows] == [key] and len(tg_rows) == 2
    finally:
        await engine.dispose()


# ---------------------------------------------------------------- crashes while polling

ROOT = Path(__file__).resolve().parent.parent


class ZaloBot:
    """`python -m bot run` with Zalo only, as a child process."""

    def __init__(self, zalo: FakeZaloAPI, workdir: Path) -> None:
        self.zalo = zalo
        self.workdir = workdir
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self, failpoints: str = "") -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
        env.update(
            HOTLINE_ZALO_BOT_TOKEN=self.zalo.token,
            HOTLINE_ZALO_API_URL=self.zalo.base_url,
            HOTLINE_PROVINCE="20",
            HOTLINE_DATABASE_URL=f"sqlite+aiosqlite:///{self.workdir / 'hotline.db'}",
            HOTLINE_MEDIA_DIR=str(self.workdir / "media"),
            HOTLINE_FAILPOINTS=failpoints,
            HOTLINE_OUTBOX_CLAIM_S="1",
            HOTLINE_SEND_CHAT_BURST="10",
            PYTHONPATH=str(ROOT),
        )
        mark = len(self.zalo.calls)
        self.starts += 1
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            env=env,
            cwd=self.workdir,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=(self.workdir / f"bot-{self.starts}.log").open("wb"),
        )
        for _ in range(600):
            if any(m == "getUpdates" for m, _ in self.zalo.calls[mark:]):
                return
            await asyncio.sleep(0.1)
        raise AssertionError("the bot did not start polling")

    async def killed(self) -> None:
        assert self.proc is not None
        code = await asyncio.wait_for(self.proc.wait(), 60)
        assert code == -signal.SIGKILL, code

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.proc.wait(), 60)


@pytest.mark.parametrize(
    "failpoint",
    ["event.received=1", "event.before_commit=1", "event.after_commit=1", "outbox.before_send=1"],
)
async def test_crash_while_polling_loses_nothing_repeats_nothing(
    zalo: FakeZaloAPI, tmp_path: Path, failpoint: str
) -> None:
    bot = ZaloBot(zalo, tmp_path)
    await bot.start(failpoint)
    try:
        zalo.send_text(CITIZEN, "bao cao")
        await bot.killed()  # SIGKILLed at the failpoint
        await bot.start()
        await zalo.wait_for_message(CITIZEN, has("Bước 1/7"), timeout=60)
        zalo.send_text(CITIZEN, "2")
        await zalo.wait_for_message(CITIZEN, has("Bước 2/7"), timeout=60)
        await asyncio.sleep(1.5)
        texts = zalo.texts(CITIZEN)
        assert sum("Bước 1/7" in x for x in texts) == 1, texts  # nothing repeated
        assert sum("Bước 2/7" in x for x in texts) == 1, texts
    finally:
        await bot.stop()


async def test_a_choice_answered_only_with_a_toast_gets_a_message(
    zalo: FakeZaloAPI, telegram: FakeBotAPI, tmp_path: Path
) -> None:
    """A button the core answers with a toast alone (a stale one) is answered in words."""
    async with local_zalo_hotline(telegram, zalo, tmp_path) as (hotline, _):
        async with db.session_scope(hotline.sessionmaker) as session:
            await menus.offer(session, CITIZEN, [menus.Option("▶️ Tiếp tục", "c1:resume:go")])
        zalo.send_text(CITIZEN, "1")
        answer = await zalo.wait_for_message(CITIZEN)
        assert answer["text"] == t("vi", "intake.stale_button")


async def test_webhook_only_with_a_secret_and_its_management(
    hotline: Any, zalo: FakeZaloAPI
) -> None:
    """No secret: no webhook (polling). With one: setWebhook with it, info, delete."""
    from bot.channels.zalo import ZaloChannel

    polling = ZaloChannel(hotline, zalo.token, zalo.base_url)
    assert polling.webhook is None
    channel = ZaloChannel(hotline, zalo.token, zalo.base_url, "s3cret-token-123")
    try:
        assert channel.webhook is not None
        assert not channel.webhook.authentic({"X-Bot-Api-Secret-Token": "s3cret-token-12"})
        await channel.set_webhook("https://hotline.example.vn/webhook/zalo")
        assert zalo.webhook == {
            "url": "https://hotline.example.vn/webhook/zalo",
            "secret_token": "s3cret-token-123",
        }
        assert (await channel.webhook_info())["url"].endswith("/webhook/zalo")
        await channel.delete_webhook()
        assert zalo.webhook["url"] == ""
        with pytest.raises(ValueError):
            await polling.set_webhook("https://hotline.example.vn/webhook/zalo")
    finally:
        await channel.close()
        await polling.close()


async def test_a_rejected_token_stops_the_start_clearly(hotline: Any, zalo: FakeZaloAPI) -> None:
    from bot.channels.zalo import ZaloChannel
    from bot.channels.zalo.client import ZaloTokenRejected

    secret = "99999:not-the-token"
    channel = ZaloChannel(hotline, secret, zalo.base_url)
    try:
        with pytest.raises(ZaloTokenRejected) as caught:
            await channel.start()
    finally:
        await channel.close()
    assert "HOTLINE_ZALO_BOT_TOKEN" in str(caught.value) and secret not in str(caught.value)


async def test_no_answer_and_a_slow_image_server(
    hotline: Any, zalo: FakeZaloAPI, tmp_path: Path
) -> None:
    """A dropped connection may have delivered (retried, marked so); a stuck image
    download does not hold up sending."""
    from bot.channels.zalo import ZaloChannel
    from bot.outbox import no_pace

    channel = ZaloChannel(hotline, zalo.token, zalo.base_url)
    try:
        zalo.fail_next("sendMessage", 0)
        row = Outbox(id=1, channel="zalo", chat_id=CITIZEN, kind="message", payload={"text": "x"})
        with pytest.raises(RetryLater) as caught:
            await channel.deliver(row, [], no_pace)
        assert caught.value.maybe_delivered
        event = zalo.send_image(CITIZEN)
        ref = translate(event, 1).event.files[0]  # type: ignore[union-attr]
        zalo.hold_images(True)
        stuck = asyncio.ensure_future(channel.fetcher.fetch(ref, str(tmp_path / "held")))
        await asyncio.sleep(0.2)
        row = Outbox(id=2, channel="zalo", chat_id=CITIZEN, kind="message", payload={"text": "y"})
        await asyncio.wait_for(channel.deliver(row, [], no_pace), 5)
        assert zalo.texts(CITIZEN) == ["y"] and not stuck.done()
        zalo.hold_images(False)
        await asyncio.wait_for(stuck, 10)
        assert (tmp_path / "held").read_bytes()[:4] == b"\x89PNG"
    finally:
        await channel.close()


async def test_what_zalo_cannot_show_is_said_in_words(hotline: Any, zalo: FakeZaloAPI) -> None:
    """Officers' photos (local files) become a note; photos with a URL go as photos; a map
    pin becomes coordinates and a link; edits and topics are skipped."""
    from bot.channels.zalo import ZaloChannel
    from bot.outbox import no_pace

    channel = ZaloChannel(hotline, zalo.token, zalo.base_url)

    def row(n: int, kind: str, **payload: Any) -> Outbox:
        return Outbox(id=n, channel="zalo", chat_id=CITIZEN, kind=kind, payload=payload)

    try:
        media = [{"path": "a.jpg", "kind": "photo"}, {"path": "b.jpg", "kind": "photo"}]
        sent = await channel.deliver(row(1, "album", media=media), [], no_pace)
        assert zalo.texts(CITIZEN) == [t("vi", "zalo.photos_not_sent", count=2)]
        assert sent.message_ids == [64]
        url = zalo.image_url()
        await channel.deliver(
            row(2, "album", text="PA20-000001", media=[{"url": url, "kind": "photo"}]),
            [],
            no_pace,
        )
        assert zalo.messages(CITIZEN)[-1]["photo"] == url
        await channel.deliver(row(3, "location", latitude=21.85, longitude=106.75), [], no_pace)
        assert zalo.texts(CITIZEN)[-1] == t(
            "vi", "zalo.location", latitude=21.85, longitude=106.75
        )
        count = len(zalo.sent)
        for kind in ("edit", "topic", "topic_close"):
            assert (await channel.deliver(row(4, kind, text="x"), [], no_pace)).message_ids == []
        assert len(zalo.sent) == count
    finally:
        await channel.close()
