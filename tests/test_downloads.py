"""Slow file downloads hold up no reply (issue 8, item 12).

Evidence is downloaded from Telegram before the handling transaction opens. Downloads used
to share the sending connection pool: 120 slow downloads took every connection and every
reply to anyone waited for them. The fetcher now has a connection pool of its own, and
at most `HOTLINE_DOWNLOAD_CONCURRENCY` downloads run at once.

The fake Bot API holds every file download until the test releases it, so "slow" is
exact: nothing is timed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import Hotline
from bot.demo import local_hotline
from bot.fakes.telegram import FakeBotAPI, FakeUser, tiny_png

CITIZENS = [FakeUser(5000 + i, first_name=f"Dân {i}", language_code="vi") for i in range(120)]
OTHER = FakeUser(1001, first_name="Lan", language_code="vi")


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


@pytest.fixture
async def hotline(api: FakeBotAPI, tmp_path: Path) -> AsyncIterator[Hotline]:
    async with local_hotline(api, tmp_path) as running:
        yield running


async def test_replies_go_out_while_120_downloads_are_stuck(
    api: FakeBotAPI, hotline: Hotline
) -> None:
    api.hold_file_downloads()
    try:
        photo = tiny_png(4, 4)
        for citizen in CITIZENS:
            api.send_photo(citizen, photo)
        await api.wait_until(lambda: api.files_in_flight > 0, timeout=60, what="downloads")
        await api.wait_idle(quiet=1.0, timeout=60)  # the bot did all it could; the rest waits
        held = api.files_in_flight
        api.send_command(OTHER, "help")
        # Well within the client's own download timeout (30 s): the reply cannot be waiting
        # for a download to give up.
        reply = await api.wait_for_message(
            OTHER.id, lambda m: "/report" in m.get("text", ""), timeout=25
        )
        assert reply
        assert api.files_in_flight == held  # no download finished or gave up meanwhile
        assert not any(api.chat_messages(c.id) for c in CITIZENS)
        assert api.max_files_in_flight <= hotline.settings.download_concurrency
        api.release_file_downloads()
        await api.wait_until(
            lambda: all(api.chat_messages(c.id) for c in CITIZENS),
            timeout=120,
            what="every citizen answered once the files arrived",
        )
        assert api.max_files_in_flight == hotline.settings.download_concurrency
    finally:
        api.release_file_downloads()  # also when the test fails: the bot can stop
