"""Several `hotline serve` workers as real subprocesses on one PostgreSQL database, behind
the fake Bot API (which enforces Telegram's limits), and citizens who file reports through
their webhooks. Used by tests/test_serve_workers.py and scripts/bench_serve.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bot.channels.telegram.webhook import SECRET_HEADER
from bot.fakes.telegram import FakeBotAPI, FakeUser, tiny_png

ROOT = Path(__file__).resolve().parent.parent
SECRET = "cluster-secret_0123456789"
KY_LUA = (21.85926, 106.75417)
CODE = re.compile(r"PA20-\d{6}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def has(text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: text in (m.get("text") or m.get("caption") or "")


@dataclass
class Worker:
    """`python -m bot serve` in a subprocess."""

    name: str
    api: FakeBotAPI
    url: str
    workdir: Path
    settings: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: asyncio.subprocess.Process | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
        env.update(
            HOTLINE_BOT_TOKEN=self.api.token,
            HOTLINE_TELEGRAM_API_URL=self.api.base_url,
            HOTLINE_PROVINCE="20",
            HOTLINE_DATABASE_URL=self.url,
            HOTLINE_MEDIA_DIR=str(self.workdir / "media"),
            HOTLINE_SERVE_PORT=str(self.port),
            HOTLINE_TELEGRAM_WEBHOOK_SECRET=SECRET,
            HOTLINE_DUPLICATE_HOURS="0",  # 50 reports at one spot are not duplicates here
            PYTHONPATH=str(ROOT),
        )
        env.update(self.settings)
        return env

    async def start(self) -> None:
        self.port = self.port or free_port()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "serve",
            "--no-migrate",
            env=self.env(),
            cwd=self.workdir,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=self.log_path.open("ab"),
        )

    async def wait_up(self, within: float = 180.0) -> None:
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.returncode is not None:
                    raise AssertionError(f"{self.name} exited:\n{self.log()}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{self.base}/healthz") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} did not come up:\n{self.log()}")

    async def metrics(self) -> dict[str, float]:
        """The worker's /metrics as name{labels} -> value."""
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.base}/metrics") as response,
        ):
            text = await response.text()
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                values[key] = float(value)
        return values

    async def leads(self) -> bool:
        try:
            return (await self.metrics()).get("hotline_leader") == 1.0
        except aiohttp.ClientError:
            return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 40)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


@dataclass
class Cluster:
    """N workers, the fake Bot API, and how citizens reach the workers' webhooks."""

    api: FakeBotAPI
    workers: list[Worker]
    http: aiohttp.ClientSession
    posted: int = 0
    refused: int = 0  # posts a dead worker did not take (then sent to another)
    latencies: list[float] = field(default_factory=list)

    async def post(self, update: dict[str, Any], turn: int) -> None:
        """POST an update to worker `turn` (mod N); a worker that does not answer 200 is
        skipped, as Telegram's retry behind a load balancer would reach another."""
        n = len(self.workers)
        for attempt in range(4 * n):
            worker = self.workers[(turn + attempt) % n]
            if not worker.alive():
                continue
            try:
                async with self.http.post(
                    f"{worker.base}/webhook/telegram",
                    json=update,
                    headers={SECRET_HEADER: SECRET},
                ) as response:
                    if response.status == 200:
                        self.posted += 1
                        return
            except aiohttp.ClientError:
                pass
            self.refused += 1
            await asyncio.sleep(0.2)
        raise AssertionError(f"no worker took update {update.get('update_id')}")

    async def step(
        self,
        citizen: FakeUser,
        update: dict[str, Any],
        turn: int,
        expect: Callable[[dict[str, Any]], bool],
        within: float = 120.0,
    ) -> dict[str, Any]:
        """Send an update through a webhook and wait for the bot's answer to it."""
        started = time.monotonic()
        await self.post(update, turn)
        message = await self.api.wait_for_message(citizen.id, expect, timeout=within)
        self.latencies.append(time.monotonic() - started)
        return message

    def press_update(self, citizen: FakeUser, data: str) -> dict[str, Any]:
        message = next(
            m
            for m in reversed(self.api.chat_messages(citizen.id))
            if any(b.get("callback_data") == data for b in self.api.inline_buttons(m))
        )
        return self.api.press_button(citizen, message, data)

    async def file_report(self, citizen: FakeUser, turn: int, *, album: int = 0) -> str:
        """A citizen's whole report, each update to the next worker in turn; with `album`,
        an album of that many photos, each item POSTed to the next worker."""
        api = self.api
        await self.step(citizen, api.send_command(citizen, "report"), turn, has("Bước 1/7"))
        await self.step(
            citizen, self.press_update(citizen, "c1:cat:wastewater"), turn + 1, has("Bước 2/7")
        )
        await self.step(
            citizen,
            api.send_location(citizen, *KY_LUA),
            turn + 2,
            lambda m: "c1:ward:06187" in str(m),
        )
        await self.step(
            citizen, self.press_update(citizen, "c1:ward:06187"), turn + 3, has("Bước 3/7")
        )
        if album:
            started = time.monotonic()
            items = [
                api.send_photo(
                    citizen, tiny_png(4, 4, (k * 40, 10, 10)), media_group_id=f"a{citizen.id}"
                )
                for k in range(album)
            ]
            await asyncio.gather(*(self.post(item, turn + 4 + k) for k, item in enumerate(items)))
            # Handled whole: one answer counting every photo (never 1/5, then 2/5...).
            received = await api.wait_for_message(citizen.id, has("Đã nhận"), timeout=120)
            self.latencies.append(time.monotonic() - started)
            assert f"{album}/5" in received["text"], received["text"]
        await self.step(
            citizen, self.press_update(citizen, "c1:ev:done"), turn + 4, has("Bước 4/7")
        )
        await self.step(
            citizen,
            api.send_text(citizen, "Nước thải đen ngòm từ xưởng nhuộm chảy thẳng ra suối."),
            turn + 5,
            has("Bước 5/7"),
        )
        await self.step(
            citizen, self.press_update(citizen, "c1:nat:now"), turn + 6, has("Bước 6/7")
        )
        await self.step(
            citizen, self.press_update(citizen, "c1:src:skip"), turn + 7, has("Bước 7/7")
        )
        await self.step(
            citizen,
            api.press_reply_button(citizen, "🙈 Ẩn danh"),
            turn + 8,
            lambda m: "c1:sum:ok" in str(m),
        )
        filed = await self.step(
            citizen, self.press_update(citizen, "c1:sum:ok"), turn + 9, has("Mã phản ánh")
        )
        match = CODE.search(filed.get("text") or "")
        assert match, filed
        return match.group(0)


def copies(api: FakeBotAPI, chat_id: int) -> Counter[str]:
    """How many times each bot message (its text and buttons) reached a chat."""
    return Counter(
        repr((m.get("text") or m.get("caption"), m.get("reply_markup")))
        for m in api.chat_messages(chat_id)
    )


def duplicates(api: FakeBotAPI, chat_id: int) -> list[str]:
    """Bot messages that reached a chat more than once (same text and buttons)."""
    return [text for text, count in copies(api, chat_id).items() if count > 1]


def rate_limited(api: FakeBotAPI) -> int:
    return int(getattr(api, "rate_limited", 0))


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(round(0.95 * len(ordered))) - 1)] if ordered else 0.0
