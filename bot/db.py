"""Database engine, sessions and migrations."""

from __future__ import annotations

import asyncio
import os
import shlex
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def make_engine(url: str) -> AsyncEngine:
    """Create an async engine; SQLite gets WAL, foreign keys and a busy timeout.

    Statement parameters are kept out of exception messages (`hide_parameters`): a failed
    INSERT that gets logged must not carry a reporter's phone number or text into the log.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if parsed.database and parsed.database != ":memory:":
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin_immediate(conn) -> None:  # type: ignore[no-untyped-def]
            # Writers queue up at BEGIN instead of failing on lock upgrade later; a reader
            # (`read_scope`) takes a snapshot without the write lock.
            if conn.get_execution_options().get("hotline_read_only"):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        # pysqlite's own transaction handling must be off for BEGIN IMMEDIATE to work.
        @event.listens_for(engine.sync_engine, "connect", insert=True)
        def _sqlite_autocommit_off(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None

        return engine
    # No pre-ping: it cost a round trip at every checkout, i.e. every transaction. A
    # connection the server dropped fails its first statement instead; SQLAlchemy then
    # discards the pool, and the work is retried as the database being unavailable
    # (`storage_unavailable`): the update stays in the inbox, the row in the outbox.
    return create_async_engine(url, pool_recycle=1800, hide_parameters=True)


# SQLSTATE classes that say the server cannot serve now rather than that a statement is
# wrong: connection exceptions, insufficient resources (disk full), operator intervention
# (shutting down, starting up), system errors (I/O), and a read-only transaction.
_UNAVAILABLE_SQLSTATES = ("08", "53", "57", "58", "25006")


def storage_unavailable(error: BaseException) -> bool:
    """Whether an error means the database cannot be used right now (down, unreachable,
    disk full, read-only or locked file) rather than that the work itself is at fault.

    Such work is retried once the database is back; it is neither apologised for nor
    counted against the update that was being handled.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(
            current,
            sa_exc.OperationalError
            | sa_exc.InterfaceError
            | sa_exc.TimeoutError
            | sqlite3.OperationalError
            | OSError,
        ):
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        state = getattr(current, "sqlstate", None)
        if isinstance(state, str) and state.startswith(_UNAVAILABLE_SQLSTATES):
            return True
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return False


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """A factory of sessions that keep objects usable after commit."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on error."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def alembic_config(url: str) -> Config:
    """Alembic configuration pointing at our migrations, for `url`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["configure_logger"] = False
    return cfg


def _ensure_sqlite_dir(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision` (blocking; call from a thread in async code)."""
    _ensure_sqlite_dir(url)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Revert migrations down to `revision`."""
    command.downgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    """Apply migrations from async code without blocking the loop's own engine."""
    await asyncio.to_thread(upgrade, url, revision)


# ---------------------------------------------------------------- is the database there?


class DatabaseNotReady(Exception):
    """The database is missing, unreachable or not migrated; the message tells what to do."""


_UPGRADE_HINT = "run `hotline db upgrade` (or `hotline run`, which migrates it first)"


def head_revisions(url: str) -> set[str]:
    """The revisions `hotline db upgrade` leads to."""
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config(url)).get_heads())


def _describe(url: str) -> str:
    path = sqlite_file(url)
    return str(path) if path is not None else make_url(url).render_as_string(hide_password=True)


async def check_ready(url: str) -> None:
    """Raise DatabaseNotReady unless the database exists and is migrated to the head.

    Reading commands call this instead of migrating: run in a folder without the
    database, they must not create an empty one and report 0 cases. Nothing is created or
    written here (an SQLite file is opened read-only).
    """
    where = _describe(url)
    path = sqlite_file(url)
    if path is not None:
        if not path.is_file():
            raise DatabaseNotReady(
                f"no database at {where} (HOTLINE_DATABASE_URL): {_UPGRADE_HINT} to create "
                "it, or point HOTLINE_DATABASE_URL at the hotline's database"
            )
        revisions = await asyncio.to_thread(_sqlite_revisions, path)
    else:
        revisions = await _server_revisions(url, where)
    heads = head_revisions(url)
    if revisions is None or not revisions:
        raise DatabaseNotReady(
            f"the database at {where} has no hotline tables (not migrated): {_UPGRADE_HINT}"
        )
    if revisions != heads:
        raise DatabaseNotReady(
            f"the database at {where} is at revision {', '.join(sorted(revisions))}, this "
            f"version of the hotline needs {', '.join(sorted(heads))}: {_UPGRADE_HINT}"
        )


def _sqlite_revisions(path: Path) -> set[str] | None:
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        with closing(sqlite3.connect(uri, uri=True, timeout=30)) as conn:
            rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise DatabaseNotReady(f"cannot read the database at {path}: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise DatabaseNotReady(f"{path} is not an SQLite database: {exc}") from None
    return {row[0] for row in rows}


async def _server_revisions(url: str, where: str) -> set[str] | None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            try:
                rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
            except ProgrammingError:  # no such table
                return None
    except (OSError, DBAPIError, OperationalError) as exc:
        reason = getattr(exc, "orig", None) or exc
        raise DatabaseNotReady(f"cannot open the database {where}: {reason}") from None
    finally:
        await engine.dispose()
    return {str(row[0]) for row in rows}


@asynccontextmanager
async def read_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A read-only unit of work over one consistent snapshot, which takes no write lock.

    Reports read for a long time: on SQLite (WAL) the transaction starts with a plain
    BEGIN, so the bot keeps writing meanwhile; on PostgreSQL it is REPEATABLE READ, READ
    ONLY, so every query sees the same moment. Nothing is committed.
    """
    engine = factory.kw["bind"]
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            await conn.execution_options(hotline_read_only=True)
        else:
            await conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        # Closing the session ends its transaction (nothing to commit) and detaches the
        # objects read, whose attributes stay readable (a rollback would expire them).
        async with factory(bind=conn) as session:
            yield session


# ---------------------------------------------------------------- backups


class BackupError(Exception):
    """A backup that cannot be made as asked; the message says why, for the operator."""


@dataclass(frozen=True)
class BackupResult:
    """What a backup wrote."""

    path: Path
    size: int
    cases: int | None  # None when the database has no case table (never migrated)


def sqlite_file(url: str) -> Path | None:
    """The database file of an SQLite URL; None for any other database or an in-memory one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser()


def pg_dump_command(url: str, dest: str) -> str:
    """The pg_dump command that writes the PostgreSQL database of `url` to `dest`.

    No password in it: pg_dump takes that from PGPASSWORD or ~/.pgpass.
    """
    parsed = make_url(url)
    parts = ["pg_dump", "-Fc"]
    if parsed.host:
        parts += ["-h", parsed.host]
    if parsed.port:
        parts += ["-p", str(parsed.port)]
    if parsed.username:
        parts += ["-U", parsed.username]
    parts += ["-d", parsed.database or "", "-f", dest]
    return shlex.join(parts)


def backup_sqlite(url: str, dest: Path, *, force: bool = False) -> BackupResult:
    """Copy the live SQLite database of `url` to `dest`: consistent, atomic, mode 0600.

    SQLite's online backup API copies one snapshot, read in a single read transaction: all
    that was committed before it, including pages still in the -wal file (which a plain file
    copy would miss), and nothing of transactions still open. In WAL mode the running bot
    keeps writing meanwhile. The copy goes to a private temporary file next to `dest`, is
    checked, switched to a self-contained rollback journal and only then renamed into place;
    an existing `dest` is refused unless `force`.
    """
    source = sqlite_file(url)
    if source is None:
        raise BackupError(f"not an SQLite database file: {make_url(url).render_as_string()}")
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    dest = dest.expanduser()
    if dest.is_dir():
        raise BackupError(f"{dest} is a directory; give a file name")
    if dest.exists() and dest.resolve() == source.resolve():
        raise BackupError("the backup would overwrite the database itself")
    if dest.exists() and not force:
        raise BackupError(f"{dest} already exists; give --force to overwrite it")
    if not dest.parent.is_dir():
        raise BackupError(f"no directory {dest.parent}")
    # mkstemp creates the file with mode 0600: the copy is private from its first byte.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        cases = _copy_sqlite(source, tmp)
        os.chmod(tmp, 0o600)
        _fsync(tmp)
        _install(tmp, dest, force=force)
        _fsync(dest.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return BackupResult(dest, dest.stat().st_size, cases)


def _copy_sqlite(source: Path, target: Path) -> int | None:
    source_uri = f"file:{quote(str(source.resolve()))}"
    with (
        closing(sqlite3.connect(source_uri, uri=True, timeout=30)) as src,
        closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)  # pages=-1: the whole database in one step, from one snapshot
        mode = dst.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
        if str(mode).lower() != "delete":
            raise BackupError(f"could not make the copy self-contained (journal mode {mode})")
        check = [row[0] for row in dst.execute("PRAGMA quick_check").fetchall()]
        if check != ["ok"]:
            raise BackupError(f"the copy failed its integrity check: {check[:3]}")
        try:
            return int(dst.execute('SELECT count(*) FROM "case"').fetchone()[0])
        except sqlite3.OperationalError:
            return None


def _install(tmp: Path, dest: Path, *, force: bool) -> None:
    """Rename the finished copy into place; without `force`, never over an existing file."""
    if force:
        os.replace(tmp, dest)
        return
    try:
        os.link(tmp, dest)  # atomic, and fails if dest appeared meanwhile
    except FileExistsError as exc:
        raise BackupError(f"{dest} already exists; give --force to overwrite it") from exc
    except OSError:  # a filesystem without hard links
        if dest.exists():
            raise BackupError(f"{dest} already exists; give --force to overwrite it") from None
        os.replace(tmp, dest)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
