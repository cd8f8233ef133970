"""Forum supergroups: each case gets its own topic, closed when the case is."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import Hotline
from bot.demo import issue_link_code, local_hotline
from bot.fakes.telegram import FakeBotAPI, FakeChat, tiny_png
from tests.test_e2e import CITIZEN, KY_LUA, OFFICER, finish_report, has, to_evidence_step

FORUM = FakeChat(id=-1007, type="supergroup", title="Kỳ Lừa officers", is_forum=True)


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


@pytest.fixture
async def hotline(api: FakeBotAPI, tmp_path: Path) -> AsyncIterator[Hotline]:
    async with local_hotline(api, tmp_path) as running:
        yield running


async def test_a_case_lives_in_its_own_topic_until_closed(
    api: FakeBotAPI, hotline: Hotline
) -> None:
    api.bot_added_to_group(OFFICER, FORUM)
    api.send_command(OFFICER, "link", await issue_link_code(hotline, "06187"), chat=FORUM)
    await api.wait_for_message(FORUM.id, lambda m: "✅" in m.get("text", ""))

    await to_evidence_step(api, KY_LUA)
    api.send_photo(CITIZEN, tiny_png(8, 8))
    await api.wait_for_message(CITIZEN.id, has("Đã nhận: 1/5"))
    code = await finish_report(api)

    card = await api.wait_for_message(FORUM.id, has(code))
    [(chat_id, thread)] = list(api.topics)
    assert chat_id == FORUM.id and api.topics[(chat_id, thread)]["name"].startswith(code)
    assert card["message_thread_id"] == thread
    photo = await api.wait_for_message(FORUM.id, lambda m: "photo" in m)
    pin = await api.wait_for_message(FORUM.id, lambda m: "location" in m)
    assert photo["message_thread_id"] == thread and pin["message_thread_id"] == thread

    # The close prompt comes up inside the topic; the officer answers there.
    case_id = re.findall(r"c1:cls:(\d+)", str(card))[0]
    api.press_button(OFFICER, card, f"c1:cls:{case_id}", chat=FORUM)
    prompt = await api.wait_for_message(FORUM.id, has("TRẢ LỜI"))
    assert prompt["message_thread_id"] == thread
    await api.wait_idle()
    api.send_text(
        OFFICER,
        "Đã xử lý xong, xưởng dừng xả.",
        chat=FORUM,
        reply_to_message_id=prompt["message_id"],
    )
    preview = await api.wait_for_message(FORUM.id, has("Xem lại trước khi gửi"))
    assert preview["message_thread_id"] == thread  # the confirm step stays in the topic
    api.press_button(OFFICER, preview, f"c1:rok:{case_id}", chat=FORUM)  # «Gửi»
    await api.wait_for_message(CITIZEN.id, has("Kết quả"))
    await api.wait_until(lambda: api.topics[(chat_id, thread)]["closed"], what="topic closed")


async def test_an_ordinary_group_gets_no_topics(api: FakeBotAPI, hotline: Hotline) -> None:
    group = FakeChat(id=-1008, type="supergroup", title="Kỳ Lừa officers")
    api.bot_added_to_group(OFFICER, group)
    api.send_command(OFFICER, "link", await issue_link_code(hotline, "06187"), chat=group)
    await api.wait_for_message(group.id, lambda m: "✅" in m.get("text", ""))
    await to_evidence_step(api, KY_LUA)
    code = await finish_report(api)
    card = await api.wait_for_message(group.id, has(code))
    await api.wait_idle()
    assert api.topics == {} and "message_thread_id" not in card
    assert not any(c.method == "createForumTopic" for c in api.calls)
    # Things said "under the case" reply to its card in an ordinary group.
    case_id = re.findall(r"c1:ack:(\d+)", str(card))[0]
    # «Ghi chú» is behind «Thêm…», which redraws the card's buttons in place.
    api.press_button(OFFICER, card, f"c1:more:{case_id}", chat=group)

    def current() -> dict[str, Any]:
        return next(
            m for m in api.chat_messages(group.id) if m["message_id"] == card["message_id"]
        )

    await api.wait_until(lambda: f"c1:note:{case_id}" in str(api.inline_buttons(current())))
    api.press_button(OFFICER, card, f"c1:note:{case_id}", chat=group)
    prompt = await api.wait_for_message(group.id, lambda m: "force_reply" in str(m))
    await api.wait_idle()
    api.send_text(
        OFFICER,
        "Đã gọi điện cho tổ dân phố.",
        chat=group,
        reply_to_message_id=prompt["message_id"],
    )
    saved = await api.wait_for_message(group.id, has("ghi chú"))
    assert saved["reply_to_message"]["message_id"] == card["message_id"]
