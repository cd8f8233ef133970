"""`POST /webhook/zalo` in `hotline serve` (bot/web/server.py): the secret header, the
inbox dedupe on (event_name, message_id), wrapped and bare bodies, handling and answers on
Zalo; on SQLite and PostgreSQL, over real HTTP against the fake Zalo Bot API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.app import Hotline
from bot.channels import build_channels
from bot.fakes.zalo import FakeZaloAPI
from bot.web.server import HotlineServer
from models.tables import InboundUpdate
from tests.conftest import make_settings, migrate

SECRET = "zalo-s3cret-for-tests"
HEADER = "X-Bot-Api-Secret-Token"
CITIZEN = "7001234567890"


@dataclass
class Served:
    zalo: FakeZaloAPI
    hotline: Hotline
    server: HotlineServer
    base: str
    http: aiohttp.ClientSession

    async def post(self, body: Any, secret: str | None = SECRET) -> int:
        headers = {HEADER: secret} if secret is not None else {}
        async with self.http.post(
            f"{self.base}/webhook/zalo", json=body, headers=headers
        ) as response:
            return response.status

    async def stored(self) -> int:
        async with self.hotline.sessionmaker() as session:
            stmt = select(func.count()).select_from(InboundUpdate)
            return int((await session.exec(stmt)).one())


@contextlib.asynccontextmanager
async def serving(url: str, tmp_path: Path) -> AsyncIterator[Served]:
    await migrate(url)
    async with FakeZaloAPI() as zalo:
        hotline = Hotline(
            make_settings(
                url,
                tmp_path / "media",
                bot_token=None,  # Zalo only
                zalo_bot_token=zalo.token,
                zalo_api_url=zalo.base_url,
                zalo_webhook_secret=SECRET,
            )
        )
        hotline.media.ensure_dir()
        server = HotlineServer(hotline, build_channels(hotline), host="127.0.0.1", port=0)
        task = asyncio.create_task(server.run())
        try:
            await asyncio.wait_for(server.started.wait(), 30)
            async with aiohttp.ClientSession() as http:
                yield Served(zalo, hotline, server, f"http://127.0.0.1:{server.port}", http)
        finally:
            server.stop()
            await asyncio.wait_for(task, 30)
            await hotline.close()


@pytest.fixture
async def served(db_url: str, tmp_path: Path) -> AsyncIterator[Served]:
    async with serving(db_url, tmp_path) as s:
        yield s


def _event(zalo: FakeZaloAPI, text: str) -> dict[str, Any]:
    # Made as the platform makes it, but not queued for getUpdates: it comes by webhook.
    event = zalo.send_text(CITIZEN, text)
    zalo.updates.get_nowait()
    return event


async def test_a_wrong_or_missing_secret_stores_nothing(served: Served) -> None:
    event = _event(served.zalo, "bao cao")
    assert await served.post(event, secret=None) == 401
    assert await served.post(event, secret="wrong") == 401
    assert await served.post(event, secret=SECRET + "x") == 401
    assert await served.post(event, secret="") == 401
    assert await served.stored() == 0
    await asyncio.sleep(0.5)
    assert served.zalo.sent == []
    assert not [m for m, _ in served.zalo.calls if m == "getUpdates"]  # no polling either


async def test_stored_once_handled_once_and_answered_on_zalo(served: Served) -> None:
    event = _event(served.zalo, "bao cao")
    assert await served.post(event) == 200
    # Redelivered (a webhook retry after a crash before the answer), wrapped or bare.
    assert await served.post(event) == 200
    assert await served.post({"ok": True, "result": event}) == 200
    assert await served.stored() == 1
    await served.zalo.wait_for_message(CITIZEN, lambda m: "Bước 1/7" in m["text"], timeout=20)
    assert await served.post(_event(served.zalo, "2")) == 200
    await served.zalo.wait_for_message(CITIZEN, lambda m: "Bước 2/7" in m["text"], timeout=20)
    await asyncio.sleep(0.5)
    texts = served.zalo.texts(CITIZEN)
    assert sum("Bước 1/7" in x for x in texts) == 1 and sum("Bước 2/7" in x for x in texts) == 1


async def test_groups_and_junk(served: Served) -> None:
    group = _event(served.zalo, "xin chào")
    group["message"]["chat"] = {"id": "g-1", "chat_type": "GROUP"}
    assert await served.post(group) == 200  # refused before storing
    assert await served.post({"no": "event"}) == 200  # nothing in it
    assert await served.stored() == 0
