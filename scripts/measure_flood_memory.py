"""Memory of `hotline run` under a flood: peak and final RSS of the bot process.

A real `python -m bot run` subprocess (SQLite) against the fake Bot API in this process.
Someone adds the bot to their own group, which is not linked, and floods it with
`--group` messages; `--chats` citizens send `--private` messages in their private chats. The
script waits until every update was fetched and nothing waits in the inbox, sampling the
bot's resident memory (VmRSS, VmHWM from /proc) on the way.

    python scripts/measure_flood_memory.py                       # this checkout
    python scripts/measure_flood_memory.py --root /path/to/other  # another checkout's bot

Only absolute figures of one machine: compare two checkouts in the same run of time.
Linux only (/proc).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.fakes.telegram import FakeBotAPI, FakeChat, FakeUser  # noqa: E402


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in kB."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:  # noqa: ASYNC230  (tiny)
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def flood(api: FakeBotAPI, user: FakeUser, chat: dict[str, object], count: int) -> None:
    """Queue `count` text messages at once. (FakeBotAPI.send_text also keeps a transcript
    and re-sorts its queue on every message, which takes minutes at this size.)"""
    first = api._next_update_id  # noqa: SLF001
    now = int(time.time())
    api._updates.extend(  # noqa: SLF001
        {
            "update_id": first + i,
            "message": {
                "message_id": 10_000 + i,
                "date": now,
                "chat": chat,
                "from": user.to_dict(),
                "text": f"message {i}",
            },
        }
        for i in range(count)
    )
    api._next_update_id = first + count  # noqa: SLF001


def waiting_in_inbox(db_file: Path) -> int | None:
    """Stored updates not yet handled (None before the bot created its database)."""
    if not db_file.exists():
        return None
    try:
        with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute(
                "SELECT count(*) FROM inbound_update WHERE processed_at IS NULL"
            ).fetchone()
    except sqlite3.Error:
        return None
    return int(row[0])


async def measure(
    code_root: Path,
    group: int,
    private: int,
    chats: int,
    workdir: Path,
    settings: dict[str, str] | None = None,
) -> dict[str, float]:
    """Run the flood against the bot of `code_root`; returns the figures."""
    db_file = workdir / "hotline.db"
    async with FakeBotAPI() as api:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
        env.update(
            HOTLINE_BOT_TOKEN=api.token,
            HOTLINE_TELEGRAM_API_URL=api.base_url,
            HOTLINE_PROVINCE="20",
            HOTLINE_DATABASE_URL=f"sqlite+aiosqlite:///{db_file}",
            HOTLINE_MEDIA_DIR=str(workdir / "media"),
            HOTLINE_LOG_LEVEL="WARNING",
            PYTHONPATH=str(code_root),
        )
        env.update(settings or {})
        stranger = FakeUser(id=6666, first_name="Spam")
        unlinked = FakeChat(id=-5555, type="supergroup", title="Not linked")
        api.bot_added_to_group(stranger, unlinked)
        flood(api, stranger, unlinked.to_dict(), group)
        for n in range(chats):  # the private messages, spread over this many citizens
            citizen = FakeUser(id=1001 + n, first_name=f"Dân {n}", language_code="vi")
            api.register_chat(citizen)
            flood(api, citizen, citizen.private_chat(), private // chats + (n < private % chats))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            env=env,
            cwd=workdir,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=(workdir / "bot.log").open("wb"),
        )
        started = time.monotonic()
        peak_rss = 0
        try:
            await api.wait_for_call("getUpdates", timeout=120)
            settled = 0
            while settled < 3:  # three quiet looks in a row
                await asyncio.sleep(0.5)
                if proc.returncode is not None:
                    raise RuntimeError(f"the bot exited ({proc.returncode}); see bot.log")
                peak_rss = max(peak_rss, memory_kb(proc.pid)["VmRSS"])
                done = not api.pending_updates and waiting_in_inbox(db_file) == 0
                settled = settled + 1 if done else 0
            elapsed = time.monotonic() - started
            final = memory_kb(proc.pid)
        finally:
            proc.terminate()
            await proc.wait()
    return {
        "seconds": elapsed,
        "peak_rss_mb": max(peak_rss, final["VmHWM"]) / 1024,
        "final_rss_mb": final["VmRSS"] / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose bot to run")
    parser.add_argument("--group", type=int, default=30_000, help="messages to the group")
    parser.add_argument("--private", type=int, default=0, help="messages to private chats")
    parser.add_argument("--chats", type=int, default=1, help="private chats they go to")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="HOTLINE_NAME=VALUE"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hotline-flood-") as tmp:
        figures = asyncio.run(
            measure(
                args.root.resolve(),
                args.group,
                args.private,
                args.chats,
                Path(tmp),
                {f"HOTLINE_{k.upper()}": v for k, _, v in (s.partition("=") for s in args.set)},
            )
        )
    print(
        f"{args.root}: {args.group} group + {args.private} private messages "
        f"in {args.chats} chat(s), "
        f"{figures['seconds']:.0f} s; peak RSS {figures['peak_rss_mb']:.0f} MB, "
        f"after {figures['final_rss_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
