"""One sender for the whole deployment: a PostgreSQL advisory-lock leader.

Every `hotline serve` process receives webhooks and handles stored updates, but only one at a
time runs the outbox sender and the deadline scheduler, so Telegram's (and Zalo's) limits are
counted once for the whole deployment and the deadline alerts are queued by one process.

- The leader holds a session-level advisory lock (`pg_try_advisory_lock(LOCK_KEY)`) on a
  dedicated connection, apart from the pool, and checks that connection every `check_s`.
- Followers try to take the lock every `retry_s` (1 s by default). When the leader dies its
  connection closes, PostgreSQL releases the lock, and a follower takes over within about
  `retry_s` (plus the server's notice of the dead connection: at once for a killed process,
  TCP keepalive for a lost machine).
- A leader that loses its lock connection stops sending at once (the calls on the wire
  finish) and leaves leadership: its process ends with EXIT_LOST_LEADERSHIP and its
  supervisor (systemd, Docker) starts it again as a follower; meanwhile another process
  leads. Rows a dead or deposed leader had claimed are resent once their claim runs out
  (HOTLINE_OUTBOX_CLAIM_S): the outbox's one documented at-least-once window.
- Wake-ups cross processes with LISTEN/NOTIFY: a follower that queued outbox rows sends
  NOTIFY on `NOTIFY_CHANNEL`; the leader, listening on its lock connection, wakes its sender.

On SQLite there is one process (`hotline serve` takes a file lock beside the database and
refuses to start a second one): it is always the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

LOCK_KEY = 0x686F746C696E65  # "hotline"; the advisory lock of the sending process
NOTIFY_CHANNEL = "hotline_outbox"
RETRY_S = 1.0
CHECK_S = 1.0
CHECK_TIMEOUT_S = 3.0
EXIT_LOST_LEADERSHIP = 75  # EX_TEMPFAIL: the supervisor restarts the process


def is_postgres(url: str) -> bool:
    """Whether the database URL is PostgreSQL's."""
    return make_url(url).get_backend_name() == "postgresql"


def asyncpg_dsn(url: str) -> str:
    """The SQLAlchemy URL as a plain DSN for asyncpg."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


async def _connect(url: str) -> Any:
    import asyncpg

    return await asyncpg.connect(asyncpg_dsn(url), timeout=10)


class SingleProcessLock:
    """On SQLite: one `hotline serve` per database (an exclusive lock on a file beside it)."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".serve.lock")
        self._file: IO[str] | None = None

    def acquire(self) -> bool:
        """Take the lock; False when another process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle
        return True

    def release(self) -> None:
        """Let another process serve this database."""
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class Notifier:
    """Sends NOTIFY `NOTIFY_CHANNEL` (coalesced: one in flight, at most one more queued)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self.sent = 0

    def notify(self) -> None:
        """Tell the leader that outbox rows were queued (never blocks, never raises)."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.ensure_future(self._send())

    async def _send(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await _connect(self.url)
                await self._conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")
                self.sent += 1
            except Exception as exc:  # noqa: BLE001  (the leader polls anyway)
                log.warning("could not wake the sender (%s)", type(exc).__name__)
                self._conn = None
                return

    async def close(self) -> None:
        """Close the connection."""
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None


class Leadership:
    """Runs `lead()` in the one process holding the advisory lock; see the module doc.

    `lead` starts the leader's work and returns a coroutine function that stops it; `wake`
    is called on each NOTIFY while leading.
    """

    def __init__(
        self,
        url: str,
        lead: Callable[[], Awaitable[Callable[[], Awaitable[None]]]],
        *,
        wake: Callable[[], None] = lambda: None,
        retry_s: float = RETRY_S,
        check_s: float = CHECK_S,
    ) -> None:
        self.url = url
        self._lead = lead
        self._wake = wake
        self.retry_s = retry_s
        self.check_s = check_s
        self.leading = asyncio.Event()
        self.lost = asyncio.Event()  # leadership was lost while the process lives
        self._stopping = asyncio.Event()
        self.terms = 0

    def stop(self) -> None:
        """Stop leading (or trying to)."""
        self._stopping.set()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def run(self) -> None:
        """Follow until the lock is ours, then lead until stopped or the lock is lost."""
        if not is_postgres(self.url):
            await self._term(None)
            return
        failures = 0
        while not self._stopping.is_set():
            conn: Any = None
            try:
                conn = await _connect(self.url)
                got = await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY)
                failures = 0
            except Exception as exc:  # noqa: BLE001  (database down: keep trying)
                failures += 1
                log.warning("leader election: database unavailable (%s)", type(exc).__name__)
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
                await self._pause(min(10.0, self.retry_s * failures))
                continue
            if not got:
                with contextlib.suppress(Exception):
                    await conn.close()
                await self._pause(self.retry_s)
                continue
            try:
                await self._term(conn)
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()
            if self.lost.is_set():
                return

    async def _term(self, conn: Any) -> None:
        """Lead: start the work, watch the lock connection, stop the work."""
        self.terms += 1
        log.info("this process now sends (outbox sender and deadline scheduler)")
        if conn is not None:
            await conn.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake())
        stop_work = await self._lead()
        self.leading.set()
        try:
            while not self._stopping.is_set():
                await self._pause(self.check_s)
                if conn is None or self._stopping.is_set():
                    continue
                try:
                    await asyncio.wait_for(conn.fetchval("SELECT 1"), CHECK_TIMEOUT_S)
                except Exception as exc:  # noqa: BLE001
                    log.error(
                        "lost the sender's lock connection (%s): stopping sending",
                        type(exc).__name__,
                    )
                    self.lost.set()
                    break
        finally:
            self.leading.clear()
            await stop_work()
        if conn is not None and not self.lost.is_set():
            with contextlib.suppress(Exception):
                await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)


MIGRATE_KEY = LOCK_KEY + 1  # held while one process applies the migrations


async def upgrade_once(url: str) -> None:
    """Apply the migrations; on PostgreSQL under an advisory lock, so that workers starting
    together migrate one after the other (the later ones find nothing left to do)."""
    from bot import db

    if not is_postgres(url):
        await db.upgrade_async(url)
        return
    conn = await _connect(url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATE_KEY)
        try:
            await db.upgrade_async(url)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATE_KEY)
    finally:
        await conn.close()
