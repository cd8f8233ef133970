"""`hotline serve` in one process: webhooks, health, readiness, metrics, one sender.

The server runs in the test's event loop against the fake Bot API over real HTTP, on a real
database; requests go through aiohttp's client to the server's real socket.
"""

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

from bot import db
from bot.app import Hotline
from bot.channels import build_channels
from bot.channels.telegram.webhook import SECRET_HEADER, TelegramWebhook, valid_secret
from bot.fakes.telegram import FakeBotAPI, FakeChat, FakeUser
from bot.web.leader import Leadership, SingleProcessLock
from bot.web.server import HotlineServer
from models.tables import InboundUpdate
from tests.conftest import POSTGRES_URL, _postgres_reason, make_settings, migrate

ROOT = Path(__file__).resolve().parent.parent
SECRET = "s3cret-Token_for-tests"
CITIZEN = FakeUser(id=1001, first_name="Lan", language_code="vi")
STRANGER_GROUP = FakeChat(id=-1009, type="supergroup", title="not linked")


@dataclass
class Served:
    api: FakeBotAPI
    hotline: Hotline
    server: HotlineServer
    base: str
    http: aiohttp.ClientSession

    async def post_update(self, update: dict[str, Any], secret: str | None = SECRET) -> int:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        async with self.http.post(
            f"{self.base}/webhook/telegram", json=update, headers=headers
        ) as response:
            return response.status

    async def stored(self) -> int:
        async with self.hotline.sessionmaker() as session:
            stmt = select(func.count()).select_from(InboundUpdate)
            return int((await session.exec(stmt)).one())


@contextlib.asynccontextmanager
async def serving(url: str, tmp_path: Path, **settings: Any) -> AsyncIterator[Served]:
    await migrate(url)
    async with FakeBotAPI() as api:
        hotline = Hotline(
            make_settings(
                url,
                tmp_path / "media",
                telegram_api_url=api.base_url,
                telegram_webhook_secret=SECRET,
                **settings,
            )
        )
        hotline.media.ensure_dir()
        server = HotlineServer(hotline, build_channels(hotline), host="127.0.0.1", port=0)
        task = asyncio.create_task(server.run())
        try:
            await asyncio.wait_for(server.started.wait(), 30)
            async with aiohttp.ClientSession() as http:
                yield Served(api, hotline, server, f"http://127.0.0.1:{server.port}", http)
        finally:
            server.stop()
            await asyncio.wait_for(task, 30)
            await hotline.close()


@pytest.fixture
async def served(db_url: str, tmp_path: Path) -> AsyncIterator[Served]:
    async with serving(db_url, tmp_path) as s:
        yield s


async def test_a_wrong_or_missing_secret_gets_401_and_stores_nothing(served: Served) -> None:
    update = served.api.send_command(CITIZEN, "start")
    assert await served.post_update(update, secret=None) == 401
    assert await served.post_update(update, secret="wrong") == 401
    assert await served.post_update(update, secret=SECRET + "x") == 401
    assert await served.post_update(update, secret="") == 401
    assert await served.stored() == 0
    await asyncio.sleep(0.5)
    assert not [c for c in served.api.calls if c.method == "sendMessage"]


async def test_a_good_secret_stores_the_update_before_answering_200(served: Served) -> None:
    update = served.api.send_command(CITIZEN, "start")
    served.server.dispatchers["telegram"].stop()  # nothing handles it: only the storing counts
    assert await served.post_update(update) == 200
    async with served.hotline.sessionmaker() as session:
        row = await session.get(InboundUpdate, ("telegram", update["update_id"]))
    assert row is not None and row.payload == update and row.chat_key == str(CITIZEN.id)
    # A redelivery (Telegram resends what it did not see acknowledged) is stored once.
    assert await served.post_update(update) == 200
    assert await served.stored() == 1


async def test_webhook_updates_are_handled_and_answered(served: Served) -> None:
    update = served.api.send_command(CITIZEN, "start")
    assert await served.post_update(update) == 200
    reply = await served.api.wait_for_message(CITIZEN.id, timeout=20)
    assert reply["chat"]["id"] == CITIZEN.id


async def test_an_unlinked_group_is_refused_before_storing(served: Served) -> None:
    update = served.api.send_text(CITIZEN, "spam spam", chat=STRANGER_GROUP)
    assert await served.post_update(update) == 200  # acknowledged, so it is not resent
    assert await served.stored() == 0


async def test_bad_bodies_and_unknown_channels(served: Served) -> None:
    headers = {SECRET_HEADER: SECRET}
    async with served.http.post(
        f"{served.base}/webhook/telegram", data=b"{not json", headers=headers
    ) as response:
        assert response.status == 400
    async with served.http.post(f"{served.base}/webhook/nosuch", json={}) as response:
        assert response.status == 404
    assert await served.stored() == 0


async def test_healthz_readyz_and_metrics(served: Served) -> None:
    async with served.http.get(f"{served.base}/healthz") as response:
        assert response.status == 200
    async with served.http.get(f"{served.base}/readyz") as response:
        assert response.status == 200, await response.text()
    update = served.api.send_command(CITIZEN, "start")
    assert await served.post_update(update) == 200
    await served.api.wait_for_message(CITIZEN.id, timeout=20)
    for _ in range(100):  # the handled counter is bumped right after the handling's commit
        if served.server.metrics.handled.labels("telegram")._value.get() >= 1:
            break
        await asyncio.sleep(0.05)
    async with served.http.get(f"{served.base}/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    for name in (
        'hotline_updates_received_total{channel="telegram"} 1.0',
        'hotline_updates_handled_total{channel="telegram"} 1.0',
        'hotline_handling_latency_seconds_count{channel="telegram"} 1.0',
        'hotline_inbox_lag_seconds{channel="telegram"}',
        'hotline_inbox_pending{channel="telegram"}',
        'hotline_outbox_rows{status="sent"}',
        'hotline_sends_total{channel="telegram"}',
        'hotline_send_failures_total{channel="telegram"}',
        'hotline_rate_limited_total{channel="telegram"} 0.0',
        "hotline_cases_filed_total 0.0",
        "hotline_cases_overdue 0.0",
        "hotline_leader 1.0",
    ):
        assert name in text, name
    # The public site and Open311 are mounted in the same application.
    async with served.http.get(f"{served.base}/open311/v2/services.json") as response:
        assert response.status == 200


async def test_readyz_is_503_when_migrations_are_behind(db_url: str, tmp_path: Path) -> None:
    await db.upgrade_async(db_url)
    await asyncio.to_thread(db.downgrade, db_url, "0009_outbox_chat_heads")
    hotline = Hotline(make_settings(db_url, tmp_path / "media"))
    server = HotlineServer(hotline, [], host="127.0.0.1", port=0)
    runner = await _run_app(server)
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{_port(runner)}/readyz") as response,
        ):
            assert response.status == 503
            assert "0009_outbox_chat_heads" in await response.text()
            async with http.get(f"http://127.0.0.1:{_port(runner)}/healthz") as alive:
                assert alive.status == 200
    finally:
        await runner.cleanup()
        await hotline.close()


async def test_readyz_is_503_when_the_database_is_down(tmp_path: Path) -> None:
    # Nothing listens on port 1: the database is unreachable.
    url = "postgresql+asyncpg://postgres@127.0.0.1:1/hotline"
    hotline = Hotline(make_settings(url, tmp_path / "media"))
    server = HotlineServer(hotline, [], host="127.0.0.1", port=0)
    runner = await _run_app(server)
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{_port(runner)}/readyz") as response,
        ):
            assert response.status == 503
            assert "cannot open the database" in await response.text()
    finally:
        await runner.cleanup()
        await hotline.close()


async def _run_app(server: HotlineServer) -> Any:
    from aiohttp import web

    runner = web.AppRunner(server.app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


def _port(runner: Any) -> int:
    return int(runner.addresses[0][1])


def test_the_secret_check_and_telegram_s_alphabet() -> None:
    hook = TelegramWebhook(SECRET)
    assert hook.authentic({SECRET_HEADER: SECRET})
    assert not hook.authentic({SECRET_HEADER: SECRET[:-1]})
    assert not hook.authentic({})
    assert hook.updates({"update_id": 1}) == [{"update_id": 1}]
    assert hook.updates([1, 2]) == []
    assert valid_secret(SECRET) and not valid_secret("with space") and not valid_secret("")


def test_on_sqlite_a_second_serve_of_one_database_is_refused(tmp_path: Path) -> None:
    first, second = SingleProcessLock(tmp_path / "h.db"), SingleProcessLock(tmp_path / "h.db")
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


async def test_one_leader_at_a_time_and_a_quick_takeover() -> None:
    reason = _postgres_reason()
    if reason:
        pytest.skip(reason)
    leading: list[str] = []

    def leader(name: str) -> Any:
        async def lead() -> Any:
            leading.append(name)

            async def stop() -> None:
                leading.remove(name)

            return stop

        return lead

    a = Leadership(POSTGRES_URL, leader("a"), retry_s=0.2, check_s=0.2)
    b = Leadership(POSTGRES_URL, leader("b"), retry_s=0.2, check_s=0.2)
    task_a = asyncio.create_task(a.run())
    await asyncio.wait_for(a.leading.wait(), 10)
    task_b = asyncio.create_task(b.run())
    await asyncio.sleep(1.0)
    assert leading == ["a"] and not b.leading.is_set()
    loop = asyncio.get_running_loop()
    a.stop()
    await task_a
    stopped = loop.time()
    await asyncio.wait_for(b.leading.wait(), 10)
    assert loop.time() - stopped < 2.0
    assert leading == ["b"]
    b.stop()
    await task_b
    assert leading == []


async def test_a_leader_that_loses_its_lock_connection_stops_sending() -> None:
    reason = _postgres_reason()
    if reason:
        pytest.skip(reason)
    import asyncpg

    from bot.web.leader import LOCK_KEY, asyncpg_dsn

    stopped: list[str] = []

    async def lead() -> Any:
        async def stop() -> None:
            stopped.append("a")

        return stop

    a = Leadership(POSTGRES_URL, lead, retry_s=0.2, check_s=0.2)
    task = asyncio.create_task(a.run())
    await asyncio.wait_for(a.leading.wait(), 10)
    admin = await asyncpg.connect(asyncpg_dsn(POSTGRES_URL))
    try:
        # The lock's key is split into two 32-bit halves in pg_locks.
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory'"
            " AND classid = $1 AND objid = $2",
            (LOCK_KEY >> 32) & 0xFFFFFFFF,
            LOCK_KEY & 0xFFFFFFFF,
        )
    finally:
        await admin.close()
    assert killed == 1
    await asyncio.wait_for(
        task, 10
    )  # run() returns: the process exits, its supervisor restarts it
    assert a.lost.is_set() and not a.leading.is_set()
    assert stopped == ["a"]


async def _hotline_cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    import os
    import sys

    full = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    full.update(env, PYTHONPATH=str(ROOT))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=full,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return int(proc.returncode or 0), out.decode(), err.decode()


async def test_hotline_webhook_set_info_delete(tmp_path: Path) -> None:
    from aiohttp import web

    calls: list[tuple[str, dict[str, str]]] = []

    async def bot_api(request: web.Request) -> web.Response:
        params = dict(await request.post())
        method = request.match_info["method"]
        calls.append((method, {k: str(v) for k, v in params.items()}))
        result: Any = True
        if method == "getWebhookInfo":
            result = {"url": "https://hotline.example/webhook/telegram", "pending_update_count": 3}
        return web.json_response({"ok": True, "result": result})

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", bot_api)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    env = {
        "HOTLINE_BOT_TOKEN": "123456:TEST",
        "HOTLINE_TELEGRAM_API_URL": f"http://127.0.0.1:{_port(runner)}",
        "HOTLINE_PROVINCE": "20",
        "HOTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'h.db'}",
        "HOTLINE_TELEGRAM_WEBHOOK_SECRET": SECRET,
    }
    try:
        code, _, err = await _hotline_cli(env, "webhook", "set")
        assert code == 2 and "HOTLINE_PUBLIC_URL" in err  # nothing registered without it
        env["HOTLINE_PUBLIC_URL"] = "https://hotline.example/"
        code, out, err = await _hotline_cli(env, "webhook", "set")
        assert code == 0, err
        assert "https://hotline.example/webhook/telegram" in out
        code, out, _ = await _hotline_cli(env, "webhook", "info", "--channel", "telegram")
        assert code == 0 and '"pending_update_count": 3' in out
        code, _, _ = await _hotline_cli(env, "webhook", "delete")
        assert code == 0
    finally:
        await runner.cleanup()
    methods = [method for method, _ in calls]
    assert methods == ["setWebhook", "getWebhookInfo", "deleteWebhook"]
    params = calls[0][1]
    assert params["url"] == "https://hotline.example/webhook/telegram"
    assert params["secret_token"] == SECRET
    assert "callback_query" in params["allowed_updates"]
    assert SECRET not in err  # the secret is never printed


async def test_zalo_s_webhook_is_served_by_the_same_route(sqlite_url: str, tmp_path: Path) -> None:
    from bot.fakes.zalo import FakeZaloAPI

    citizen = "7001234567890"
    async with FakeZaloAPI() as zalo:
        async with serving(
            sqlite_url,
            tmp_path,
            zalo_bot_token=zalo.token,
            zalo_api_url=zalo.base_url,
            zalo_webhook_secret="zalo-Secret_123456",
        ) as served:
            assert served.server.channels["zalo"].webhook is not None
            event = zalo.send_text(citizen, "menu")
            url = f"{served.base}/webhook/zalo"
            for headers in ({}, {"X-Bot-Api-Secret-Token": "wrong"}, {SECRET_HEADER: SECRET}):
                async with served.http.post(url, json=event, headers=headers) as response:
                    assert response.status == 401
            assert await served.stored() == 0
            headers = {"X-Bot-Api-Secret-Token": "zalo-Secret_123456"}
            async with served.http.post(url, json=event, headers=headers) as response:
                assert response.status == 200
            async with served.hotline.sessionmaker() as session:
                stmt = select(func.count()).select_from(InboundUpdate)
                stmt = stmt.where(InboundUpdate.channel == "zalo")
                assert (await session.exec(stmt)).one() == 1
            await zalo.wait_for_message(citizen, timeout=20)
