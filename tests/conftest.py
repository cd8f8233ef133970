"""Shared fixtures: real databases (SQLite always, PostgreSQL when given), a hotline core."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot import db
from bot.app import Hotline
from bot.channels import TELEGRAM_LIBRARIES
from bot.settings import Settings

PROVINCE = "20"  # Lạng Sơn

# A message rendered without one of its parameters fails the test (bot/i18n.py), in this
# process and in the hotline processes the crash tests start.
os.environ["HOTLINE_I18N_STRICT"] = "1"


def _worker_database(url: str) -> str:
    """The PostgreSQL database of this test process.

    Under pytest-xdist (`-n`, see pyproject.toml) each worker wipes and refills its
    database, so each gets its own, created next to the given one (`<name>_gw0`...).
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    base, _, rest = url.rpartition("/")
    name, sep, query = rest.partition("?")
    own = f"{name}_{worker}"

    async def _create() -> None:
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                found = await conn.scalar(
                    text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": own}
                )
                if not found:
                    await conn.execute(text(f'CREATE DATABASE "{own}"'))
        finally:
            await engine.dispose()

    try:
        asyncio.run(_create())
    except Exception as exc:  # noqa: BLE001  (no server: the tests skip, saying why)
        print(f"could not prepare PostgreSQL database {own}: {exc}")
        return url
    return f"{base}/{own}{sep}{query}"


POSTGRES_URL = _worker_database(os.environ.get("HOTLINE_TEST_POSTGRES_URL", ""))


def _postgres_reason() -> str | None:
    if not POSTGRES_URL:
        return "HOTLINE_TEST_POSTGRES_URL is not set (no PostgreSQL to test against)"
    try:
        import asyncpg  # noqa: F401
    except ImportError:  # pragma: no cover
        return "asyncpg is not installed"
    return None


def _reset_postgres(url: str) -> None:
    """Drop everything in the public schema so each test starts from an empty database."""

    async def _go() -> None:
        engine = db.make_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
        finally:
            await engine.dispose()

    asyncio.run(_go())


_template_lock = threading.Lock()
_templates: list[Path] = []  # the migrated SQLite database of this test process, once made


def _sqlite_template() -> Path:
    """An SQLite database migrated to head, made once per test process."""
    with _template_lock:
        if not _templates:
            folder = Path(tempfile.mkdtemp(prefix="hotline-migrated-"))
            atexit.register(shutil.rmtree, folder, True)
            path = folder / "template.db"
            db.upgrade(f"sqlite+aiosqlite:///{path}")
            # Everything in the one file (WAL mode keeps recent pages in a side file).
            with contextlib.closing(sqlite3.connect(path)) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            _templates.append(path)
        return _templates[0]


async def migrate(url: str) -> None:
    """Bring a test's database to the newest migration, as `db.upgrade_async` does.

    A new SQLite file is a copy of one migrated once per test process: migrating costs about
    a second a database, and several hundred tests start from an empty one. The migrations
    themselves are tested in tests/test_db.py; PostgreSQL and existing files are migrated.
    """
    path = db.sqlite_file(url)
    if path is None or path.exists():
        await db.upgrade_async(url)
        return
    template = await asyncio.to_thread(_sqlite_template)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL: a fresh SQLite file, or the test PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
        return
    reason = _postgres_reason()
    if reason:
        pytest.skip(reason)
    _reset_postgres(POSTGRES_URL)
    yield POSTGRES_URL
    _reset_postgres(POSTGRES_URL)


@pytest.fixture(params=TELEGRAM_LIBRARIES)
def telegram_library(request: pytest.FixtureRequest) -> str:
    """Each Telegram runtime (HOTLINE_TELEGRAM_LIBRARY): the tests that take it run on
    aiogram and on python-telegram-bot, against the same fake Bot API."""
    return str(request.param)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database URL (for tests that need only the embedded default)."""
    return f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"


def make_settings(url: str, media_dir: Path, **overrides: Any) -> Settings:
    """Settings for tests, independent of the developer's environment and .env."""
    values: dict[str, Any] = {
        "database_url": url,
        "province": PROVINCE,
        "media_dir": media_dir,
        "bot_token": "123456:TEST-TOKEN",
        # Bursts keep the suite fast; the default (strict spacing) and what the limiter
        # learns from 429s are tested in test_ratelimit.py and measured by
        # scripts/bench_delivery.py.
        "send_chat_burst": 10,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def hotline(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Hotline]:
    """A hotline core over a migrated SQLite database."""
    await migrate(sqlite_url)
    app = Hotline(make_settings(sqlite_url, tmp_path / "media"))
    yield app
    await app.close()


@pytest.fixture
async def any_hotline(db_url: str, tmp_path: Path) -> AsyncIterator[Hotline]:
    """A hotline core over each database (PostgreSQL skipped when absent)."""
    await migrate(db_url)
    app = Hotline(make_settings(db_url, tmp_path / "media"))
    yield app
    await app.close()


@pytest.fixture(autouse=True)
def _no_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep a developer's HOTLINE_* variables and .env out of the tests."""
    for key in list(os.environ):
        if key.startswith("HOTLINE_") and key not in (
            "HOTLINE_TEST_POSTGRES_URL",
            "HOTLINE_I18N_STRICT",
        ):
            monkeypatch.delenv(key, raising=False)


# The tests that take longest (seconds on the busy 2-core machine, from `--durations`), matched
# by the start of their node id. They run first; with `--maxschedchunk=1` (pyproject.toml)
# pytest-xdist hands each worker its next test only when it is nearly done with the last, so
# the long tests are dealt out by turns and the short ones fill the end: both workers finish
# together, instead of one of them starting a 60-second test while the other idles (xdist's
# default sends each worker a quarter of its share at once, consecutive tests: the long
# ones of a module on one worker). Only the order changes; a test missing here runs after
# these, in collection order.
LONG_TESTS: dict[str, float] = {
    "tests/test_crash.py::test_a_crash_loop_counts_only_against_the_update_in_hand[postgres": 80,
    "tests/test_serve_workers.py::": 80,
    "tests/test_crash.py::test_sigkill_between_the_calls_of_an_album_repeats_no_call[aiogram": 60,
    "tests/test_crash.py::test_a_crash_loop_counts_only_against_the_update_in_hand[sqlite": 50,
    "tests/test_crash.py::test_sigkill_loses_nothing_and_duplicates_nothing[aiogram": 45,
    "tests/test_run.py::test_hotline_run_serves_citizens_and_stops_cleanly_on_sigterm": 40,
    "tests/test_cli.py::test_demo": 35,
    "tests/test_zalo_e2e.py::test_demo_on_zalo": 35,
    "tests/test_crash.py::": 30,
    "tests/test_faults.py::": 30,
    "tests/test_cli.py::test_commands_refuse_a_database_that_is_not_migrated": 25,
    "tests/test_webhook.py::test_hotline_webhook_set_info_delete": 25,
    "tests/test_contacts.py::test_contacts_set": 25,
    "tests/test_geo.py::test_the_gps_index_gives_what_the_full_scan_gives": 25,
    "tests/test_run.py::": 20,
    "tests/test_zalo.py::test_crash_while_polling": 20,
    "tests/test_inbox.py::test_a_flood_waits_in_the_table_not_in_memory": 20,
    "tests/test_cli.py::": 15,
    "tests/test_ops.py::": 15,
    "tests/test_browser.py::": 15,
    "tests/test_zalo_e2e.py::": 10,
    "tests/test_serve_docker.py::": 10,
    "tests/test_e2e.py::": 5,
}


def expected_seconds(nodeid: str) -> float:
    """How long a test is expected to take (0 unless it is one of the long ones)."""
    return max((s for start, s in LONG_TESTS.items() if nodeid.startswith(start)), default=0.0)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest first (a stable sort: every xdist worker collects the same order)."""
    items.sort(key=lambda item: -expected_seconds(item.nodeid))


def copy_fixture_image(dest: Path) -> None:
    """Helper for tests that need a real file on disk."""
    shutil.copy(Path(__file__).parent / "data" / "tiny.jpg", dest)
