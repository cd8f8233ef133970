"""`hotline run` as a newcomer starts it: a real process, configured only by environment,
on each Telegram runtime (HOTLINE_TELEGRAM_LIBRARY: aiogram, ptb)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from bot.fakes.telegram import FakeBotAPI, FakeUser

ROOT = Path(__file__).resolve().parent.parent


async def test_hotline_run_serves_citizens_and_stops_cleanly_on_sigterm(
    tmp_path: Path, telegram_library: str
) -> None:
    async with FakeBotAPI() as api:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
        env.update(
            HOTLINE_BOT_TOKEN=api.token,
            HOTLINE_TELEGRAM_API_URL=api.base_url,
            HOTLINE_TELEGRAM_LIBRARY=telegram_library,
            HOTLINE_PROVINCE="20",
            HOTLINE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}",
            HOTLINE_MEDIA_DIR=str(tmp_path / "media"),
            PYTHONPATH=str(ROOT),
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await api.wait_for_call("getUpdates", timeout=60)
            citizen = FakeUser(id=1001, language_code="en")
            api.send_command(citizen, "start")
            first = await api.wait_for_message(
                citizen.id, lambda m: "Step 1/7" in m.get("text", ""), timeout=20
            )
            assert "c1:cat:noise" in str(first)
            menus = {key: [c["command"] for c in cmds] for key, cmds in api.commands.items()}
            assert any("report" in cmds for cmds in menus.values())
            assert any("link" in cmds for cmds in menus.values())
            groups = [cmds for key, cmds in menus.items() if "all_group_chats" in key]
            assert groups and all(
                {"khongcongkhai", "congkhai"} <= set(cmds) for cmds in groups
            )  # the publication commands are in the officers' menu, in both languages
            proc.send_signal(signal.SIGTERM)
            returncode = await asyncio.wait_for(proc.wait(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        stderr = (await proc.stderr.read()).decode() if proc.stderr else ""
    assert returncode == 0, stderr
    assert "hotline stopped" in stderr
    assert (tmp_path / "hotline.db").exists()  # migrations applied on start
    assert oct((tmp_path / "media").stat().st_mode & 0o777) == "0o700"


async def test_hotline_run_stops_at_once_on_a_rejected_token(
    tmp_path: Path, telegram_library: str
) -> None:
    """A token Telegram refuses: `hotline run` exits non-zero at start, naming the setting
    to fix and never the token."""
    secret = "999999:WRONG-secret-token"
    async with FakeBotAPI() as api:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
        env.update(
            HOTLINE_BOT_TOKEN=secret,
            HOTLINE_TELEGRAM_API_URL=api.base_url,
            HOTLINE_TELEGRAM_LIBRARY=telegram_library,
            HOTLINE_PROVINCE="20",
            HOTLINE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}",
            HOTLINE_MEDIA_DIR=str(tmp_path / "media"),
            PYTHONPATH=str(ROOT),
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, err = await asyncio.wait_for(proc.communicate(), 60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert not any(c.method == "getUpdates" for c in api.calls)
    stderr = err.decode()
    assert proc.returncode == 1, stderr
    assert "error: Telegram rejected the bot token (401)" in stderr
    assert "HOTLINE_BOT_TOKEN" in stderr and "Traceback" not in stderr
    assert secret not in stderr and "WRONG-secret" not in stderr
