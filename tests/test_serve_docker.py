"""The Docker image builds and its container answers /healthz (skipped without a daemon)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from pathlib import Path

import aiohttp
import pytest

from bot.fakes.telegram import FakeBotAPI
from tests.serve_cluster import free_port

ROOT = Path(__file__).resolve().parent.parent


def _docker_reason() -> str | None:
    if shutil.which("docker") is None:
        return "no docker command on this machine"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if info.returncode != 0:
        first = (info.stderr or info.stdout).strip().splitlines()
        return f"no Docker daemon answers `docker info`: {first[-1] if first else '?'}"
    return None


async def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, ["docker", *args], capture_output=True, text=True, check=False
    )


@pytest.mark.skipif(_docker_reason() is not None, reason=str(_docker_reason()))
async def test_the_image_builds_and_its_container_answers_healthz() -> None:
    tag = f"pollution-hotline-test:{uuid.uuid4().hex[:8]}"
    build = await _docker("build", "-t", tag, str(ROOT))
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    port = free_port()
    name = f"hotline-test-{uuid.uuid4().hex[:8]}"
    async with FakeBotAPI() as api:
        run = await _docker(
            "run",
            "-d",
            "--rm",
            "--name",
            name,
            "--network",
            "host",
            "-e",
            f"HOTLINE_BOT_TOKEN={api.token}",
            "-e",
            f"HOTLINE_TELEGRAM_API_URL={api.base_url}",
            "-e",
            "HOTLINE_PROVINCE=20",
            "-e",
            "HOTLINE_SERVE_HOST=127.0.0.1",
            "-e",
            f"HOTLINE_SERVE_PORT={port}",
            "-e",
            "HOTLINE_DATABASE_URL=sqlite+aiosqlite:////srv/hotline/hotline.db",
            tag,
        )
        assert run.returncode == 0, run.stderr
        try:
            status = None
            async with aiohttp.ClientSession() as http:
                for _ in range(300):
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                            status = response.status
                            if status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.2)
            user = (await _docker("exec", name, "id", "-u")).stdout.strip()
            logs = await _docker("logs", name)
            assert status == 200, logs.stdout[-2000:] + logs.stderr[-2000:]
            assert user not in ("", "0"), "the container runs as a non-root user"
        finally:
            await _docker("rm", "-f", name)
            await _docker("rmi", "-f", tag)
