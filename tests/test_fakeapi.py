"""End-to-end tests of the fake Telegram Bot API with the real aiogram client."""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    CallbackQuery,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)

from bot.fakes.telegram import ApiError, FakeBotAPI, FakeChat, FakeUser, tiny_png
from bot.fakes.telegram.html import _format

USER = FakeUser(1001, first_name="Lan", username="lan_hn")


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    """A running fake server."""
    fake = FakeBotAPI()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    """A real aiogram Bot pointed at the fake server."""
    client = api.create_bot()
    yield client
    await client.session.close()


async def test_get_me(api: FakeBotAPI, bot: Bot) -> None:
    """getMe returns the bot user derived from the token."""
    me = await bot.get_me()
    assert me.id == 123456
    assert me.is_bot
    assert me.username == "hotline_test_bot"
    assert api.calls[-1].method == "getMe"


async def test_send_message_with_inline_keyboard(api: FakeBotAPI, bot: Bot) -> None:
    """An inline keyboard is echoed back and stored with the message."""
    api.register_chat(USER)
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Khói bụi", callback_data="cat:smoke")]]
    )
    sent = await bot.send_message(
        USER.id, "<b>Chọn</b> loại ô nhiễm", reply_markup=markup, parse_mode="HTML"
    )
    assert sent.message_id == 1
    assert sent.text == "Chọn loại ô nhiễm"
    assert sent.reply_markup is not None
    assert sent.reply_markup.model_dump() == markup.model_dump()
    stored = api.chat_messages(USER.id)
    assert len(stored) == 1
    assert stored[0]["entities"][0]["type"] == "bold"
    assert api.button_data(stored[0], "Khói") == "cat:smoke"
    call = await api.wait_for_call("sendMessage")
    assert call.params["chat_id"] == USER.id
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "cat:smoke"
    second = await bot.send_message(USER.id, "Tiếp")
    assert second.message_id == 2


async def test_reply_keyboard_is_stored_but_not_echoed(api: FakeBotAPI, bot: Bot) -> None:
    """A reply keyboard is kept for the test; a location button can't be pressed by text."""
    api.register_chat(USER)
    keyboard = ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text="📍 Gửi vị trí", request_location=True)]],
        resize_keyboard=True,
    )
    sent = await bot.send_message(USER.id, "Vị trí?", reply_markup=keyboard)
    assert sent.reply_markup is None
    assert api.current_keyboard(USER.id)["keyboard"][0][0]["request_location"] is True
    with pytest.raises(ValueError, match="send_location"):
        api.press_reply_button(USER, "📍 Gửi vị trí")


async def test_user_text_reaches_echo_handler(api: FakeBotAPI, bot: Bot) -> None:
    """A simulated user's text is delivered via long polling and answered."""
    dp = Dispatcher()

    @dp.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"Bạn nói: {message.text}")

    async with api.run_polling(dp, bot):
        api.send_text(USER, "Nước sông đen kịt")
        reply = await api.wait_for_message(USER.id)
        api.send_command(USER, "start", "abc")
        second = await api.wait_for_message(USER.id)
    assert reply["text"] == "Bạn nói: Nước sông đen kịt"
    assert reply["message_id"] == 2  # the user's message took id 1
    assert second["text"] == "Bạn nói: /start abc"
    assert [m["message_id"] for m in api.chat_messages(USER.id)] == [2, 4]


async def test_user_photo_is_downloadable(api: FakeBotAPI, bot: Bot, tmp_path: Path) -> None:
    """The bot downloads a user's photo byte for byte, small and large size."""
    data = tiny_png(40, 30)
    update = api.send_photo(USER, data, caption="Bãi rác")
    sizes = update["message"]["photo"]
    assert [s["file_size"] for s in sizes] == [len(data), len(data)]
    assert (sizes[-1]["width"], sizes[-1]["height"]) == (40, 30)
    buffer = await bot.download(sizes[-1]["file_id"])
    assert isinstance(buffer, io.BytesIO)
    assert buffer.getvalue() == data
    target = tmp_path / "small.png"
    await bot.download(sizes[0]["file_id"], destination=target)
    assert target.read_bytes() == data
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")


async def test_held_downloads_hang_until_released(api: FakeBotAPI, bot: Bot) -> None:
    """A slow file server: downloads wait, counted in flight, until released."""
    data = tiny_png(4, 4)
    file_id = api.send_photo(USER, data)["message"]["photo"][-1]["file_id"]
    api.hold_file_downloads()
    downloads = [asyncio.create_task(bot.download(file_id)) for _ in range(3)]
    await api.wait_until(lambda: api.files_in_flight == 3, what="three downloads held")
    assert not any(d.done() for d in downloads)
    api.release_file_downloads()
    results = await asyncio.gather(*downloads)
    assert [r.getvalue() for r in results if r is not None] == [data] * 3
    assert (api.files_in_flight, api.max_files_in_flight) == (0, 3)


async def test_big_document_hits_download_limit(api: FakeBotAPI, bot: Bot) -> None:
    """A declared 25 MB document can't be fetched with getFile, like on Telegram."""
    update = api.send_document(
        USER,
        b"%PDF-1.4",
        file_name="bao_cao.pdf",
        mime_type="application/pdf",
        file_size=25 * 1024 * 1024,
    )
    assert update["message"]["document"]["file_size"] == 25 * 1024 * 1024
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await bot.get_file(update["message"]["document"]["file_id"])


async def test_send_media_group_records_files(api: FakeBotAPI, bot: Bot, tmp_path: Path) -> None:
    """Three local photos become three messages sharing a media_group_id."""
    api.register_chat(USER)
    paths = []
    for index in range(3):
        path = tmp_path / f"anh{index}.png"
        path.write_bytes(tiny_png(2 + index, 2, (index * 60, 100, 50)))
        paths.append(path)
    media = [
        InputMediaPhoto(media=FSInputFile(path), caption="Ảnh hiện trường" if i == 0 else None)
        for i, path in enumerate(paths)
    ]
    messages = await bot.send_media_group(USER.id, media=media)
    assert len(messages) == 3
    assert len({m.media_group_id for m in messages}) == 1
    assert messages[0].caption == "Ảnh hiện trường"
    call = await api.wait_for_call("sendMediaGroup")
    sent = [call.file(item["media"]) for item in call.params["media"]]
    assert sent == [path.read_bytes() for path in paths]
    assert sorted(call.filenames.values()) == ["anh0.png", "anh1.png", "anh2.png"]
    stored = api.chat_messages(USER.id)
    assert api.file_data(stored[2]["photo"][-1]["file_id"]) == paths[2].read_bytes()


async def test_edit_message_text_updates_store(api: FakeBotAPI, bot: Bot) -> None:
    """editMessageText changes the stored message; an identical edit is rejected."""
    api.register_chat(USER)
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="OK", callback_data="ok")]]
    )
    sent = await bot.send_message(USER.id, "Đang xử lý", reply_markup=markup)
    edited = await bot.edit_message_text(
        "Đã tiếp nhận", chat_id=USER.id, message_id=sent.message_id
    )
    assert isinstance(edited, Message)
    assert edited.edit_date is not None
    [stored] = api.chat_messages(USER.id)
    assert stored["text"] == "Đã tiếp nhận"
    assert "reply_markup" not in stored  # Telegram drops the keyboard if none is passed
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Đã tiếp nhận", chat_id=USER.id, message_id=1)


async def test_callback_press_is_answered(api: FakeBotAPI, bot: Bot) -> None:
    """Pressing an inline button reaches the handler; answerCallbackQuery is recorded."""
    dp = Dispatcher()

    @dp.message(F.text == "/start")
    async def start(message: Message) -> None:
        markup = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="Nước", callback_data="cat:water")]]
        )
        await message.answer("Loại ô nhiễm?", reply_markup=markup)

    @dp.callback_query(F.data.startswith("cat:"))
    async def chosen(query: CallbackQuery) -> None:
        await query.answer("Đã chọn")
        assert isinstance(query.message, Message)
        await query.message.edit_text(f"Bạn chọn: {query.data}")

    async with api.run_polling(dp, bot):
        api.send_command(USER, "start")
        question = await api.wait_for_message(USER.id)
        with pytest.raises(ValueError, match="no inline button"):
            api.press_button(USER, question, "cat:air")
        update = api.press_button(USER, question, "cat:water")
        answer = await api.wait_for_call("answerCallbackQuery")
        await api.wait_for_call("editMessageText")
    assert answer.params["callback_query_id"] == update["callback_query"]["id"]
    assert answer.params["text"] == "Đã chọn"
    assert api.chat_messages(USER.id)[0]["text"] == "Bạn chọn: cat:water"


async def test_fail_next_retry_after(api: FakeBotAPI, bot: Bot) -> None:
    """A queued 429 surfaces as TelegramRetryAfter, then calls succeed again."""
    api.register_chat(USER)
    api.fail_next(
        "sendMessage", status=429, description="Too Many Requests: retry after 7", retry_after=7
    )
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(USER.id, "x")
    assert info.value.retry_after == 7
    assert api.chat_messages(USER.id) == []
    await bot.send_message(USER.id, "y")
    assert [m["text"] for m in api.chat_messages(USER.id)] == ["y"]


async def test_blocked_user_and_unknown_chat(api: FakeBotAPI, bot: Bot) -> None:
    """Blocked users give 403; chats nobody opened give 400 chat not found."""
    api.register_chat(USER)
    api.blocked_users.add(USER.id)
    with pytest.raises(TelegramForbiddenError, match="blocked by the user"):
        await bot.send_message(USER.id, "x")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(-100999, "x")
    api.blocked_users.clear()
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(USER.id, "PM2.5 < 50", parse_mode="HTML")


async def test_group_membership(api: FakeBotAPI, bot: Bot) -> None:
    """Being removed from a group makes sends fail with 403."""
    group = FakeChat(-100123, "supergroup", title="Tổ dân phố 5")
    added = api.bot_added_to_group(USER, group)
    assert added["my_chat_member"]["new_chat_member"]["status"] == "member"
    await bot.send_message(group.id, "Xin chào cả tổ")
    api.bot_removed_from_group(USER, group)
    with pytest.raises(TelegramForbiddenError, match="kicked"):
        await bot.send_message(group.id, "Còn ai không?")


async def test_wrong_token(api: FakeBotAPI) -> None:
    """A wrong token gives TelegramUnauthorizedError."""
    intruder = api.create_bot(token="999:WRONG")
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await intruder.get_me()
    finally:
        await intruder.session.close()
    assert api.calls[-1].status == 401


async def test_long_poll_returns_when_update_pushed(api: FakeBotAPI, bot: Bot) -> None:
    """A pending getUpdates returns as soon as an update is queued."""
    poll = asyncio.create_task(bot.get_updates(timeout=20))
    await api.wait_until(lambda: api.long_poll_pending, timeout=2)
    started = time.monotonic()
    api.send_text(USER, "Có mùi hôi")
    updates = await asyncio.wait_for(poll, 2)
    assert time.monotonic() - started < 1
    assert [u.message.text for u in updates if u.message] == ["Có mùi hôi"]
    # confirming with offset drops the update
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == []
    await api.wait_idle(quiet=0.05, timeout=2)


async def test_stop_with_pending_long_poll_does_not_hang() -> None:
    """Stopping the server ends a pending long poll at once."""
    fake = FakeBotAPI()
    await fake.start()
    client = fake.create_bot()
    try:
        poll = asyncio.create_task(client.get_updates(timeout=30))
        await fake.wait_until(lambda: fake.long_poll_pending, timeout=2)
        started = time.monotonic()
        await fake.stop()
        assert await asyncio.wait_for(poll, 2) == []
        assert time.monotonic() - started < 1.5
    finally:
        await client.session.close()


async def test_wait_for_message_timeout_lists_conversation(api: FakeBotAPI, bot: Bot) -> None:
    """A failed wait explains what the bot did send."""
    api.register_chat(USER)
    await bot.send_message(USER.id, "Cảm ơn bạn")
    with pytest.raises(TimeoutError, match="Cảm ơn bạn"):
        await api.wait_for_message(USER.id, lambda m: "mã số" in m.get("text", ""), timeout=0.1)


@pytest.mark.parametrize(
    ("html", "shown", "error"),
    [
        # What a card cut at a fixed length looked like: refused, as Telegram refuses it.
        ("<b>PA20-000001</b>\n<i>Phường chưa có nh", None, 'start tag "i"'),
        ("Mô tả: khói <", None, "Unclosed start tag"),
        ("Mô tả: khói </", None, "Unexpected end tag"),
        ("<b>khói</i>", None, "Unmatched end tag"),
        ("<b x>khói</b>", None, "Expected equal sign"),
        ("<script>x</script>", None, 'Unsupported start tag "script"'),
        ("<span>x</span>", None, 'must have class "tg-spoiler"'),
        # An entity cut short is text, not an error (tdlib reads the ";" as optional).
        ("A &quo B", "A &quo B", None),
        ("A &quot B &amp C &lt;", 'A " B & C <', None),
        ("&#128512; &#x1F600; &#X41; &#1114111; &#0;", "😀 😀 &#X41; &#1114111; &#0;", None),
        ("<blockquote expandable>q</blockquote>", "q", None),
    ],
)
def test_html_is_parsed_as_strictly_as_telegram(
    html: str, shown: str | None, error: str | None
) -> None:
    """The fake's HTML parser follows tdlib's parse_html, errors and all."""
    if error is not None:
        with pytest.raises(ApiError, match=re.escape(error)):
            _format(html, "HTML", None)
    else:
        assert _format(html, "HTML", None)[0] == shown
