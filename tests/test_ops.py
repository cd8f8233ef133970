"""Operations: database backups, the links commands, and structured logs."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import SQLModel, col, select

from bot import db, services
from bot.app import Hotline
from bot.logs import configure_logging
from models.tables import (
    Case,
    CaseEvent,
    Conversation,
    Evidence,
    GroupLink,
    LinkCode,
    MessageRef,
    Outbox,
    Reporter,
)
from tests.conftest import POSTGRES_URL, make_settings
from tests.harness import JPEG, Person, file_report
from tests.test_cli import hotline as hotline_cli
from tests.test_officer import card_sent, link_group, prompt_sent, the_case

TABLES: tuple[type[SQLModel], ...] = (
    Reporter,
    Case,
    Evidence,
    CaseEvent,
    Outbox,
    GroupLink,
    LinkCode,
    MessageRef,
    Conversation,
)


async def snapshot(app: Hotline) -> dict[str, list[dict[str, Any]]]:
    """Every row of the tables that make up the hotline's record, in id order."""
    out: dict[str, list[dict[str, Any]]] = {}
    async with app.sessionmaker() as s:
        for table in TABLES:
            rows = (await s.exec(select(table).order_by(col(table.id)))).all()  # type: ignore[attr-defined]
            out[table.__tablename__] = [r.model_dump() for r in rows]  # type: ignore[attr-defined]
    return out


async def some_reports(app: Hotline) -> None:
    """Three reports through the real handlers; the officer acts on the first."""
    officer = await link_group(app, "-1001")
    await file_report(Person(app, "1001"), photos=2, anonymous=False)
    await file_report(Person(app, "1002"), photos=1)
    citizen = Person(app, "1003")
    await file_report(citizen, photos=0)
    async with app.sessionmaker() as s:
        first = (await s.exec(select(Case).order_by(col(Case.id)))).first()
    assert first is not None
    await card_sent(app, "-1001", first.id or 0)
    await officer.press(f"c1:ack:{first.id}")
    await officer.press(f"c1:cls:{first.id}")
    await prompt_sent(app, officer, 7100)
    await officer.photos(JPEG, caption="Đã kiểm tra, cơ sở đã dừng đốt.", reply_to_message_id=7100)
    await officer.press(f"c1:rok:{first.id}")  # «Gửi» on the preview
    await citizen.command("report")  # a conversation in progress is part of the state too


def cli_env(url: str) -> dict[str, str]:
    return {
        "HOTLINE_PROVINCE": "20",
        "HOTLINE_DATABASE_URL": url,
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }


# ---------------------------------------------------------------- backups


async def test_online_backup_is_consistent_and_restores(
    hotline: Hotline, sqlite_url: str, tmp_path: Path
) -> None:
    await some_reports(hotline)
    before = await snapshot(hotline)
    source = db.sqlite_file(sqlite_url)
    assert source is not None
    # The bot's connections are open and recent commits still sit in the WAL, where a plain
    # copy of the database file would miss them.
    assert os.stat(f"{source}-wal").st_size > 0
    # Another writer is in the middle of a transaction while the backup runs.
    writer = sqlite3.connect(source, isolation_level=None, timeout=30)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE \"case\" SET status = 'rejected', description = 'uncommitted'")
    try:
        result = await asyncio.to_thread(db.backup_sqlite, sqlite_url, tmp_path / "copy.db")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert result.cases == 3 and result.size == os.stat(tmp_path / "copy.db").st_size
    assert oct(os.stat(tmp_path / "copy.db").st_mode & 0o777) == "0o600"
    # One self-contained file: no -wal or -journal beside it, no temporary file left.
    assert sorted(n for n in os.listdir(tmp_path) if "copy" in n) == ["copy.db"]
    with closing(sqlite3.connect(tmp_path / "copy.db")) as check:
        assert check.execute("PRAGMA journal_mode").fetchone()[0] == "delete"

    # Restore: point a fresh hotline at the backup, after `hotline db upgrade` on it.
    restored_url = f"sqlite+aiosqlite:///{tmp_path / 'copy.db'}"
    upgraded = await asyncio.to_thread(hotline_cli, "db", "upgrade", env=cli_env(restored_url))
    assert upgraded.returncode == 0, upgraded.stderr
    fresh = Hotline(make_settings(restored_url, tmp_path / "media"))
    try:
        after = await snapshot(fresh)
    finally:
        await fresh.close()
    assert after == before
    assert len(after["case"]) == 3 and len(after["evidence"]) == 4
    assert [e["action"] for e in after["case_event"]].count("file") == 3
    assert {c["status"] for c in after["case"]} == {"resolved", "new"}  # nothing uncommitted
    assert any("+84912345678" in str(o["payload"]) for o in after["outbox"])


def test_backup_cli_is_private_atomic_and_never_overwrites_by_accident(
    sqlite_url: str, tmp_path: Path
) -> None:
    env = cli_env(sqlite_url)

    async def open_bot_with_a_case() -> Hotline:
        await db.upgrade_async(sqlite_url)
        app = Hotline(make_settings(sqlite_url, tmp_path / "media"))
        await file_report(Person(app, "1001"), photos=0)
        return app

    loop = asyncio.new_event_loop()
    app = loop.run_until_complete(open_bot_with_a_case())
    try:  # the bot's engine stays open while the CLI backs up
        target = tmp_path / "backups" / "hotline.db"
        target.parent.mkdir()
        out = hotline_cli("db", "backup", str(target), env=env)
        assert out.returncode == 0, out.stderr
        assert "backup written" in out.stdout and "1 cases" in out.stdout
        assert oct(target.stat().st_mode & 0o777) == "0o600"
        first = target.read_bytes()

        again = hotline_cli("db", "backup", str(target), env=env)
        assert again.returncode == 1 and "--force" in again.stderr
        assert target.read_bytes() == first

        loop.run_until_complete(file_report(Person(app, "1002"), photos=0))
        forced = hotline_cli("db", "backup", str(target), "--force", env=env)
        assert forced.returncode == 0 and "2 cases" in forced.stdout, forced.stderr
        assert oct(target.stat().st_mode & 0o777) == "0o600"
        assert [p.name for p in target.parent.iterdir()] == ["hotline.db"]  # no temp files

        missing = hotline_cli("db", "backup", str(tmp_path / "nowhere" / "x.db"), env=env)
        assert missing.returncode == 1 and "no directory" in missing.stderr
        itself = db.sqlite_file(sqlite_url)
        over_itself = hotline_cli("db", "backup", str(itself), "--force", env=env)
        assert over_itself.returncode == 1 and "database itself" in over_itself.stderr
    finally:
        loop.run_until_complete(app.close())
        loop.close()


def test_backup_cli_points_postgres_users_to_pg_dump(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://hotline:s3cret@db.example:6543/hotline"
    out = hotline_cli("db", "backup", str(tmp_path / "x.dump"), env=cli_env(url))
    assert out.returncode == 2
    command = f"pg_dump -Fc -h db.example -p 6543 -U hotline -d hotline -f {tmp_path / 'x.dump'}"
    assert command in out.stderr and "pg_restore" in out.stderr
    assert "s3cret" not in out.stderr + out.stdout
    assert not (tmp_path / "x.dump").exists()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip("HOTLINE_TEST_POSTGRES_URL is not set (no PostgreSQL to test against)")
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump/pg_restore are not installed")
    from tests.conftest import _reset_postgres

    _reset_postgres(POSTGRES_URL)
    yield POSTGRES_URL
    _reset_postgres(POSTGRES_URL)


async def test_postgres_backup_with_the_documented_commands(
    postgres_url: str, tmp_path: Path
) -> None:
    """The pg_dump command `hotline db backup` prints, and the README's pg_restore, work."""
    await db.upgrade_async(postgres_url)
    app = Hotline(make_settings(postgres_url, tmp_path / "media"))
    try:
        await some_reports(app)
        before = await snapshot(app)
        dump = tmp_path / "hotline.dump"
        command = db.pg_dump_command(postgres_url, str(dump))
        out = await asyncio.to_thread(
            subprocess.run, shlex.split(command), capture_output=True, text=True, check=False
        )
        assert out.returncode == 0, out.stderr
    finally:
        await app.close()
    from tests.conftest import _reset_postgres

    await asyncio.to_thread(_reset_postgres, postgres_url)  # an empty database to restore into
    target = command.split(" -f ")[0].removeprefix("pg_dump -Fc ")
    restore = f"pg_restore --no-owner --exit-on-error {target} {shlex.quote(str(dump))}"
    out = await asyncio.to_thread(
        subprocess.run, shlex.split(restore), capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    await db.upgrade_async(postgres_url)
    fresh = Hotline(make_settings(postgres_url, tmp_path / "media"))
    try:
        assert await snapshot(fresh) == before
    finally:
        await fresh.close()


# ---------------------------------------------------------------- links and unlink


async def test_links_lists_and_unlink_ends_a_link(
    hotline: Hotline, sqlite_url: str, tmp_path: Path
) -> None:
    env = cli_env(sqlite_url)

    async def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(hotline_cli, *args, env=env, cwd=tmp_path)

    ward = await link_group(hotline, "-1001")
    province = await link_group(hotline, "-2000", ward=None)
    await link_group(hotline, "-1003", ward="06193")

    listed = await cli("links")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:4] == ["id", "channel", "chat", "ward"]
    rows = {line.split()[2]: line for line in lines[1:]}
    assert set(rows) == {"-1001", "-2000", "-1003"}
    assert "06187 Phường Kỳ Lừa" in rows["-1001"] and "Cán bộ Lan" in rows["-1001"]
    assert "province 20" in rows["-2000"] and "06193 Xã Cao Lộc" in rows["-1003"]
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d\+07:00", rows["-1001"])

    ended = await cli("unlink", "-1001")  # a negative chat id, as Telegram groups have
    assert ended.returncode == 0 and "-1001" in ended.stdout, ended.stderr
    (notice,) = await ward.new_messages()
    assert "hủy liên kết" in notice.payload["text"]

    # The ward's cases now go to the province group, and the old group can no longer act.
    await file_report(Person(hotline, "1001"), photos=0, anonymous=False)
    assert await ward.new_messages() == []
    card, _pin = await province.new_messages()
    case = await the_case(hotline)
    assert case.code in card.payload["text"] and "chưa liên kết nhóm" in card.payload["text"]
    reply = await ward.press(f"c1:ack:{case.id}")
    assert reply is not None and reply.callback_alert
    assert (await the_case(hotline)).status == "new"

    history = (await cli("links", "--all")).stdout.splitlines()
    assert len(history) == 4
    past = next(line for line in history if " -1001 " in line)
    assert len(re.findall(r"T\d\d:\d\d\+07:00", past)) == 2  # linked at and unlinked at

    async with hotline.sessionmaker() as s:
        cao_loc = (await s.exec(select(GroupLink).where(GroupLink.chat_id == "-1003"))).one()
    to_cao_loc = len(await ward.new_messages("-1003"))
    by_id = await cli("unlink", str(cao_loc.id), "--no-notify")
    assert by_id.returncode == 0 and "-1003" in by_id.stdout, by_id.stderr
    assert len(await ward.new_messages("-1003")) == to_cao_loc  # not told
    async with hotline.sessionmaker() as s:
        links = (await s.exec(select(GroupLink).order_by(col(GroupLink.id)))).all()
    assert [(lk.chat_id, lk.active) for lk in links] == [
        ("-1001", False),
        ("-2000", True),
        ("-1003", False),
    ]
    assert all(lk.unlinked_at is not None for lk in links if not lk.active)


def test_links_and_unlink_edge_cases(sqlite_url: str, tmp_path: Path) -> None:
    """In process (fast): what `links` leaves out and what `unlink` refuses."""
    from typer.testing import CliRunner

    from bot.cli import app as cli_app

    async def seed() -> list[int]:
        await db.upgrade_async(sqlite_url)
        app = Hotline(make_settings(sqlite_url, tmp_path / "media"))
        try:
            await link_group(app, "-1001")  # link 1
            await link_group(app, "-1002", ward="06193")  # link 2
            await link_group(app, "-1003", ward="06193")  # link 3
            async with db.session_scope(app.sessionmaker) as s:
                # A channel whose chat ids are positive: chat "1" next to link id 1.
                code = await services.create_link_code(s, "20", "06193")
                await services.redeem_link_code(s, code, channel="zalo", chat_id="1", actor="t")
                link2 = await s.get(GroupLink, 2)
                assert link2 is not None
                await services.end_link(s, link2)
            async with app.sessionmaker() as s:
                return [lk.id or 0 for lk in (await s.exec(select(GroupLink))).all()]
        finally:
            await app.close()

    assert asyncio.run(seed()) == [1, 2, 3, 4]
    env = cli_env(sqlite_url)
    runner = CliRunner()

    active = runner.invoke(cli_app, ["links"], env=env)
    assert active.exit_code == 0 and " -1002 " not in active.output
    assert " -1001 " in active.output and " zalo " in active.output
    history = runner.invoke(cli_app, ["links", "--all"], env=env)
    assert " -1002 " in history.output

    ended = runner.invoke(cli_app, ["unlink", "2"], env=env)
    assert ended.exit_code == 1 and "already ended" in ended.output
    unknown = runner.invoke(cli_app, ["unlink", "-424242"], env=env)
    assert unknown.exit_code == 1 and "no active link" in unknown.output
    ambiguous = runner.invoke(cli_app, ["unlink", "1", "--channel", "zalo"], env=env)
    assert ambiguous.exit_code == 2 and "both the id of link 1" in ambiguous.output
    by_chat = runner.invoke(cli_app, ["unlink", "-1001"], env=env)
    assert by_chat.exit_code == 0, by_chat.output
    now_unique = runner.invoke(cli_app, ["unlink", "1", "--channel", "zalo"], env=env)
    assert now_unique.exit_code == 0 and "link 4, zalo chat 1" in now_unique.output
    left = runner.invoke(cli_app, ["links"], env=env)
    assert [line.split()[2] for line in left.output.splitlines()[1:]] == ["-1003"]


# ---------------------------------------------------------------- structured logs


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root logger and the quieted loggers back as they were."""
    root = logging.getLogger()
    names = ("aiosqlite", "aiogram.event", "sqlalchemy.engine", "asyncpg")
    saved = (root.level, list(root.handlers), {n: logging.getLogger(n).level for n in names})
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("restore_logging")
async def test_json_logs_carry_the_case_code_and_no_personal_data(hotline: Hotline) -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream=stream)
    officer = await link_group(hotline, "-1001")
    citizen = Person(hotline, "1001", name="Đoàn Thị Khuê Diệp")
    code = await file_report(citizen, photos=1, anonymous=False)
    case = await the_case(hotline)
    await card_sent(hotline, "-1001", case.id or 0)
    await officer.press(f"c1:ack:{case.id}")
    await officer.press(f"c1:cls:{case.id}")
    await prompt_sent(hotline, officer, 7200)
    await officer.text("Đã lập biên bản, cơ sở cam kết dừng.", reply_to_message_id=7200)
    await officer.press(f"c1:rok:{case.id}")  # «Gửi» on the preview
    lines = stream.getvalue().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert records
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record)
        moment = datetime.fromisoformat(record["time"].replace("Z", "+00:00"))
        assert moment.utcoffset() is not None and moment.utcoffset().total_seconds() == 0
    about_case = {r["message"] for r in records if r.get("case") == code}
    assert "case filed" in about_case and "card queued for group" in about_case
    assert "case acknowledge: now acknowledged" in about_case
    assert "case resolve: now resolved" in about_case
    assert all(isinstance(r.get("update"), int) for r in records if r.get("case") == code)
    text = stream.getvalue()
    for personal in ("912345678", "Khuê Diệp", "Khu\\u00ea", "nhà máy gạch", "biên bản"):
        assert personal not in text, personal


@pytest.mark.usefixtures("restore_logging")
def test_text_logs_show_the_ids_too() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    logging.getLogger("handlers.test").info(
        "case filed", extra={"case": "PA20-000042", "update": 7}
    )
    logging.getLogger("handlers.test").debug("not at INFO")
    (line,) = stream.getvalue().splitlines()
    assert line.endswith("INFO handlers.test: case filed [case=PA20-000042 update=7]")
    assert not line.startswith("{")
