"""`hotline demo`: the whole life of a case, offline, with the real bot and a fake Bot API."""

from __future__ import annotations

import asyncio
import html
import re
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot import db, services
from bot.app import Hotline
from bot.channels import Receiver, telegram_channel
from bot.channels.runner import ChannelRunner
from bot.fakes.telegram import ApiCall, FakeBotAPI, FakeChat, FakeUser, tiny_png
from bot.i18n import t
from bot.settings import Settings

DEMO_PROVINCE = "20"  # Lạng Sơn
KY_LUA = (21.85926, 106.75417)

# The demo's officer acts at machine speed: the reporter's progress notice is still held
# for the next one (bot/services/notices.py), for a second instead of five.
DEMO_SETTINGS: dict[str, Any] = {"notice_hold_s": 1.0}


@asynccontextmanager
async def local_polling(
    api: FakeBotAPI, workdir: Path, **overrides: Any
) -> AsyncIterator[tuple[Hotline, Receiver]]:
    """The real bot (migrations, polling into the inbox, the inbox dispatcher, outbox
    sender) against a fake Bot API; yields the hotline and its Telegram receiver."""
    url = overrides.pop("database_url", f"sqlite+aiosqlite:///{workdir / 'hotline.db'}")
    # Simulated people answer instantly; Telegram's 1 message/s per chat would only make
    # them wait. The limiter itself is tested against the fake server's flood control.
    overrides.setdefault("send_chat_interval_s", 0.05)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        province=overrides.pop("province", DEMO_PROVINCE),
        media_dir=workdir / "media",
        bot_token=SecretStr(api.token),
        telegram_api_url=api.base_url,
        **{**DEMO_SETTINGS, **overrides},
    )
    await db.upgrade_async(url)
    hotline = Hotline(settings)
    channel = telegram_channel(hotline, api.token, api.base_url, settings.telegram_library)
    runner = ChannelRunner(hotline, [channel])
    task = asyncio.create_task(runner.run(), name="hotline")
    started = asyncio.create_task(runner.started.wait())
    await asyncio.wait({task, started}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        started.cancel()
        await hotline.close()
        task.result()  # raises what went wrong
        raise RuntimeError("the bot stopped during start-up")
    try:
        yield hotline, runner.receivers[channel.name]
    finally:
        await runner.stop()
        await asyncio.wait_for(task, 15)
        await hotline.close()


@asynccontextmanager
async def local_hotline(
    api: FakeBotAPI, workdir: Path, **overrides: Any
) -> AsyncIterator[Hotline]:
    """The real bot (migrations, aiogram polling, outbox sender) against a fake Bot API."""
    async with local_polling(api, workdir, **overrides) as (hotline, _polling):
        yield hotline


async def issue_link_code(hotline: Hotline, ward_code: str | None) -> str:
    """A link code, as `hotline link-code` prints it."""
    async with db.session_scope(hotline.sessionmaker) as session:
        return await services.create_link_code(session, hotline.deps.province_code, ward_code)


def _printer(api: FakeBotAPI, names: dict[int, str]) -> Callable[[ApiCall], None]:
    """Print what the bot sends, as a chat transcript."""

    def show(call: ApiCall) -> None:
        if not call.ok or not call.method.startswith(("send", "edit")):
            return
        chat = names.get(int(call.params.get("chat_id", 0) or 0), "?")
        verb = "edits a message in" if call.method.startswith("edit") else "→"
        if call.method == "sendMediaGroup":
            body = f"[album of {len(call.params.get('media', []))} photos]"
        elif call.method == "sendPhoto":
            body = f"[photo] {call.params.get('caption') or ''}"
        elif call.method == "sendLocation":
            body = f"[map pin {call.params.get('latitude')}, {call.params.get('longitude')}]"
        else:
            body = str(call.params.get("text") or call.params.get("caption") or "")
            if call.params.get("parse_mode") == "HTML":  # as the person reads it
                body = html.unescape(re.sub(r"<[^>]+>", "", body))
        markup = call.params.get("reply_markup") or {}
        buttons = [b.get("text") for row in markup.get("inline_keyboard", []) for b in row]
        keys = [k.get("text") for row in markup.get("keyboard", []) for k in row]
        lines = body.strip().splitlines() or [""]
        print(f"  🤖 {verb} {chat}: {lines[0]}")
        for line in lines[1:]:
            print(f"      {line}")
        if buttons:
            print(f"      buttons: {' | '.join(buttons)}")
        if keys:
            print(f"      keyboard: {' | '.join(keys)}")

    return show


def _button_data(api: FakeBotAPI, message: dict[str, Any], prefix: str) -> str:
    """The callback data of the message's button whose data starts with `prefix`."""
    return next(
        b["callback_data"]
        for b in api.inline_buttons(message)
        if b["callback_data"].startswith(prefix)
    )


RESULT = "Đã kiểm tra, lập biên bản và yêu cầu lò gạch dừng đốt; sẽ giám sát tiếp."


async def _officer_handles(
    api: FakeBotAPI,
    officer: FakeUser,
    group: FakeChat,
    card: dict[str, Any],
    say: Callable[[str], None],
    reporter_hears: Callable[[str], Awaitable[object]],
) -> None:
    """In the ward group: acknowledge the card (the reporter hears it), close it with RESULT
    as a reply to the prompt, and send the result from its preview."""
    say(f"[presses] {t('vi', 'btn.ack')}")
    api.press_button(officer, card, _button_data(api, card, "c1:ack:"), chat=group)
    await reporter_hears("đã được cán bộ tiếp nhận")
    await api.wait_idle()
    card = next(m for m in api.chat_messages(group.id) if m["message_id"] == card["message_id"])
    say(f"[presses] {t('vi', 'btn.close')}")
    api.press_button(officer, card, _button_data(api, card, "c1:cls:"), chat=group)
    prompt = await api.wait_for_message(group.id, lambda m: "TRẢ LỜI" in m.get("text", ""))
    # A person reads the prompt before replying; the bot has recorded it by then.
    await api.wait_idle()
    say(f"[replies] {RESULT}")
    api.send_text(officer, RESULT, chat=group, reply_to_message_id=prompt["message_id"])
    # The officer sees exactly what the reporter will read, then sends it.
    preview = await api.wait_for_message(
        group.id, lambda m: "Xem lại trước khi gửi" in m.get("text", "")
    )
    await api.wait_idle()
    say(f"[presses] {t('vi', 'btn.result_send')}")
    api.press_button(officer, preview, _button_data(api, preview, "c1:rok:"), chat=group)


async def run_demo(verbose: bool = True, library: str = "aiogram") -> int:
    """Play one report and its handling on a Telegram runtime (aiogram or ptb); 0 when the
    reporter heard the result."""
    citizen = FakeUser(id=1001, first_name="Lan", language_code="vi")
    officer = FakeUser(id=2001, first_name="Cán bộ", last_name="Minh", language_code="vi")
    group = FakeChat(id=-100200300, type="supergroup", title="Tổ môi trường phường Kỳ Lừa")
    names = {citizen.id: "Lan (citizen)", group.id: "officer group"}

    def say(who: str, what: str) -> None:
        if verbose:
            print(f"{who}: {what}")

    with tempfile.TemporaryDirectory(prefix="hotline-demo-") as tmp:
        async with FakeBotAPI() as api:
            if verbose:
                api.on_call = _printer(api, names)
            async with local_hotline(api, Path(tmp), telegram_library=library) as hotline:
                api.bot_added_to_group(officer, group)
                code = await issue_link_code(hotline, "06187")
                say("👮 Officer (group)", f"/link {code}")
                api.send_command(officer, "link", code, chat=group)
                await api.wait_for_message(group.id, lambda m: "Kỳ Lừa" in m.get("text", ""))

                say("🙋 Lan", "/start")
                api.send_command(citizen, "start")
                ask = await api.wait_for_message(citizen.id, lambda m: "Bước 1/7" in m["text"])
                say("🙋 Lan", "[presses] Khói, bụi, khí thải")
                api.press_button(citizen, ask, "c1:cat:emissions")
                await api.wait_for_message(citizen.id, lambda m: "Bước 2/7" in m["text"])
                say("🙋 Lan", f"[shares GPS pin] {KY_LUA[0]}, {KY_LUA[1]}")
                api.send_location(citizen, *KY_LUA)
                ask = await api.wait_for_message(citizen.id, lambda m: "c1:ward" in str(m))
                say("🙋 Lan", "[confirms] Phường Kỳ Lừa")
                api.press_button(citizen, ask, "c1:ward:06187")
                await api.wait_for_message(citizen.id, lambda m: "Bước 3/7" in m["text"])
                say("🙋 Lan", "[sends a photo]")
                api.send_photo(citizen, tiny_png(32, 24, (60, 60, 60)))
                ask = await api.wait_for_message(citizen.id, lambda m: "Đã nhận" in m["text"])
                say("🙋 Lan", "[presses] Xong")
                api.press_button(citizen, ask, "c1:ev:done")
                await api.wait_for_message(citizen.id, lambda m: "Bước 4/7" in m["text"])
                description = "Lò gạch thả khói đen mù mịt mỗi tối, cả khu phố ho và ngạt thở."
                say("🙋 Lan", description)
                api.send_text(citizen, description)
                ask = await api.wait_for_message(citizen.id, lambda m: "Bước 5/7" in m["text"])
                say("🙋 Lan", "[presses] Lặp lại, kéo dài")
                api.press_button(citizen, ask, "c1:nat:recurring")
                ask = await api.wait_for_message(citizen.id, lambda m: "Bước 6/7" in m["text"])
                say("🙋 Lan", "[presses] Bỏ qua")
                api.press_button(citizen, ask, "c1:src:skip")
                await api.wait_for_message(citizen.id, lambda m: "Bước 7/7" in m["text"])
                say("🙋 Lan", "[presses] 🙈 Ẩn danh")
                api.press_reply_button(citizen, "🙈 Ẩn danh")
                ask = await api.wait_for_message(citizen.id, lambda m: "c1:sum:ok" in str(m))
                say("🙋 Lan", "[presses] Xác nhận gửi")
                api.press_button(citizen, ask, "c1:sum:ok")
                filed = await api.wait_for_message(citizen.id, lambda m: "PA20-" in m["text"])
                case_code = re.search(r"PA\d\d-\d{6}", filed["text"]).group(0)  # type: ignore[union-attr]

                card = await api.wait_for_message(
                    group.id, lambda m: case_code in m.get("text", "")
                )
                await api.wait_for_message(group.id, lambda m: "location" in m)
                await _officer_handles(
                    api,
                    officer,
                    group,
                    card,
                    lambda what: say("👮 Officer (group)", what),
                    lambda text: api.wait_for_message(citizen.id, lambda m: text in m["text"]),
                )
                done = await api.wait_for_message(citizen.id, lambda m: "Kết quả" in m["text"])
                await api.wait_idle()
    ok = RESULT in done["text"]
    print(
        f"\nDemo {'finished' if ok else 'FAILED'} on {library}: case {case_code} filed, "
        f"acknowledged and closed; the reporter {'was' if ok else 'was NOT'} told the result."
    )
    return 0 if ok else 1


# ---------------------------------------------------------------- Zalo: `demo --channel zalo`


@asynccontextmanager
async def local_zalo_hotline(
    telegram: FakeBotAPI, zalo: Any, workdir: Path, **overrides: Any
) -> AsyncIterator[tuple[Hotline, ChannelRunner]]:
    """The real bot on both channels (citizens on Zalo, officers on Telegram) against the
    fake Telegram Bot API and the fake Zalo Bot API (bot/fakes/zalo/); built by
    build_channels() from the settings, as `hotline run` builds them."""
    from bot.channels import build_channels

    url = overrides.pop("database_url", f"sqlite+aiosqlite:///{workdir / 'hotline.db'}")
    overrides.setdefault("send_chat_interval_s", 0.05)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        province=overrides.pop("province", DEMO_PROVINCE),
        media_dir=workdir / "media",
        bot_token=SecretStr(telegram.token),
        telegram_api_url=telegram.base_url,
        zalo_bot_token=SecretStr(zalo.token),
        zalo_api_url=zalo.base_url,
        **{**DEMO_SETTINGS, **overrides},
    )
    await db.upgrade_async(url)
    hotline = Hotline(settings)
    runner = ChannelRunner(hotline, build_channels(hotline))
    task = asyncio.create_task(runner.run(), name="hotline")
    started = asyncio.create_task(runner.started.wait())
    await asyncio.wait({task, started}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        started.cancel()
        await hotline.close()
        task.result()
        raise RuntimeError("the bot stopped during start-up")
    try:
        yield hotline, runner
    finally:
        await runner.stop()
        await asyncio.wait_for(task, 15)
        await hotline.close()


async def run_zalo_demo(verbose: bool = True) -> int:
    """A citizen reports on Zalo (typed address, numbered menus), officers handle it on
    Telegram, the result reaches the citizen on Zalo; 0 when it did."""
    from bot.fakes.zalo import FakeZaloAPI

    officer = FakeUser(id=2001, first_name="Cán bộ", last_name="Minh", language_code="vi")
    group = FakeChat(id=-100200300, type="supergroup", title="Tổ môi trường phường Kỳ Lừa")
    citizen = "8421675390125"

    def say(who: str, what: str) -> None:
        if verbose:
            print(f"{who}: {what}")

    shown = 0

    async def bot_says(predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        nonlocal shown
        message = await zalo.wait_for_message(citizen, predicate, timeout=15, after=shown)
        sent = zalo.messages(citizen)
        upto = next(i for i, m in enumerate(sent) if m["message_id"] == message["message_id"])
        if verbose:
            for item in sent[shown : upto + 1]:
                lines = item["text"].strip().splitlines() or [""]
                print(f"  🤖 → Lan (Zalo): {lines[0]}")
                for line in lines[1:]:
                    print(f"      {line}")
        shown = upto + 1
        return message

    async def lan(text: str, expect: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        say("🙋 Lan (Zalo)", text)
        zalo.send_text(citizen, text)
        return await bot_says(expect)

    def has(*words: str) -> Callable[[dict[str, Any]], bool]:
        return lambda m: all(w in m["text"] for w in words)

    with tempfile.TemporaryDirectory(prefix="hotline-zalo-demo-") as tmp:
        async with FakeBotAPI() as api, FakeZaloAPI() as zalo:
            zalo.names[citizen] = "Lan"
            async with local_zalo_hotline(api, zalo, Path(tmp)) as (hotline, _runner):
                api.bot_added_to_group(officer, group)
                code = await issue_link_code(hotline, "06187")
                say("👮 Officer (Telegram group)", f"/link {code}")
                api.send_command(officer, "link", code, chat=group)
                await api.wait_for_message(group.id, lambda m: "Kỳ Lừa" in m.get("text", ""))
                await lan("bao cao", has("Bước 1/7"))
                await lan("2", has("Bước 2/7"))
                await lan("Phường Kỳ Lừa", has("Kỳ Lừa"))
                await lan("1", has("Bước 3/7"))
                say("🙋 Lan (Zalo)", "[sends a photo]")
                zalo.send_image(citizen)
                await bot_says(has("Đã nhận"))
                await lan("xong", has("Bước 4/7"))
                await lan(
                    "Lò gạch thả khói đen mù mịt mỗi tối, cả khu phố ho và ngạt thở.",
                    has("Bước 5/7"),
                )
                await lan("2", has("Bước 6/7"))
                await lan("bo qua", has("Bước 7/7"))
                await lan("1", has("Xác nhận"))
                filed = await lan("xac nhan gui", has("PA20-"))
                found = re.search(r"PA\d\d-\d{6}", filed["text"])
                case_code = found.group(0) if found else "?"
                card = await api.wait_for_message(
                    group.id, lambda m: case_code in m.get("text", "")
                )
                say("👮 Officer (Telegram group)", "[sees the card: 📱 Gửi qua Zalo]")
                await _officer_handles(
                    api,
                    officer,
                    group,
                    card,
                    lambda what: say("👮 Officer (Telegram group)", what),
                    lambda text: bot_says(has(text)),
                )
                done = await bot_says(has("Kết quả"))
                await bot_says(has("đã được giải quyết chưa"))
                thanks = await lan("1", has("Cảm ơn bạn đã xác nhận"))
                await api.wait_idle()
    ok = RESULT in done["text"] and case_code in thanks["text"]
    print(
        f"\nZalo demo {'finished' if ok else 'FAILED'}: case {case_code} filed on Zalo, "
        f"handled on Telegram; the reporter {'was' if ok else 'was NOT'} told the result on Zalo."
    )
    return 0 if ok else 1
