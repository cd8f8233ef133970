"""The `hotline` command line, run as a newcomer would run it (subprocesses)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def hotline(
    *args: str,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        check=False,
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        input=stdin,
        cwd=cwd or ROOT,
        timeout=120,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "HOTLINE_PROVINCE": "20",
        "HOTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "PYTHONPATH": str(ROOT),
    }


def migrated(env: dict[str, str], revision: str = "head") -> None:
    """Set up the database of `env` in this process (`hotline db upgrade` itself is tested in
    test_db_upgrade; a subprocess more per test costs seconds of imports)."""
    from bot import db

    db.upgrade(env["HOTLINE_DATABASE_URL"], revision)


def test_link_code_prints_a_code_as_the_last_line(env: dict[str, str], tmp_path: Path) -> None:
    migrated(env)
    out = hotline("link-code", "--ward", "06187", env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert "Phường Kỳ Lừa" in lines[0]
    assert re.fullmatch(r"[A-Z2-9]{12}", lines[-1])
    province = hotline("link-code", "--province", env=env, cwd=tmp_path)
    assert province.returncode == 0 and re.fullmatch(
        r"[A-Z2-9]{12}", province.stdout.strip().splitlines()[-1]
    )
    assert lines[-1] != province.stdout.strip().splitlines()[-1]


def test_link_code_rejects_a_ward_of_another_province(env: dict[str, str], tmp_path: Path) -> None:
    out = hotline("link-code", "--ward", "11407", env=env, cwd=tmp_path)
    assert out.returncode == 2 and "No ward 11407" in out.stderr


def test_locate_prints_json_lines_best_first(env: dict[str, str]) -> None:
    out = hotline(
        "locate", "so 5 duong Tran Dang Ninh, phuong Hoang Van Thu, tp Lang Son", env=env
    )
    assert out.returncode == 0, out.stderr
    first = json.loads(out.stdout.splitlines()[0])
    assert first["code"] == "06187" and first["name"] == "Phường Kỳ Lừa"
    gps = hotline("locate", "21.85926,106.75417", env=env)
    assert json.loads(gps.stdout.splitlines()[0])["code"] == "06187"


def test_locate_reads_stdin_one_array_per_line(env: dict[str, str]) -> None:
    out = hotline("locate", env=env, stdin="ky lua\nxa Cao Loc\n")
    arrays = [json.loads(line) for line in out.stdout.splitlines()]
    assert [a[0]["code"] for a in arrays] == ["06187", "06193"]


def test_locate_says_what_it_does_not_recognise_with_the_score(env: dict[str, str]) -> None:
    out = hotline("locate", "thoi khong bao nua", env=env)
    (line,) = out.stdout.splitlines()
    row = json.loads(line)
    assert row["recognised"] is False and 0 <= row["score"] < 0.5
    old = hotline("locate", "xa hoa lac huu lung", env=env).stdout.splitlines()
    first = json.loads(old[0])
    assert first["name"] == "Xã Tân Thành" and first["reason"] == "legacy"
    assert first["score"] >= 0.5


def test_detect_language(env: dict[str, str]) -> None:
    out = hotline("detect-language", "khoi den bay mu mit tu nha may", env=env)
    assert out.stdout.strip() == "vi"
    out = hotline("detect-language", env=env, stdin="black smoke every night\n工厂排放黑烟\n")
    assert out.stdout.split() == ["en", "zh-cn"]


def test_run_without_token_says_what_is_missing(env: dict[str, str], tmp_path: Path) -> None:
    out = hotline("run", env=env, cwd=tmp_path)
    assert out.returncode != 0 and "HOTLINE_BOT_TOKEN" in out.stderr
    assert "HOTLINE_ZALO_BOT_TOKEN" in out.stderr  # either channel will do


def test_province_is_required(tmp_path: Path) -> None:
    out = hotline("locate", "ky lua", env={"PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    assert out.returncode != 0 and "HOTLINE_PROVINCE" in out.stderr


def test_db_upgrade(env: dict[str, str], tmp_path: Path) -> None:
    out = hotline("db", "upgrade", env=env, cwd=tmp_path)
    assert out.returncode == 0 and "head" in out.stdout
    assert (tmp_path / "cli.db").exists()


def test_demo_shows_a_case_whole_life(tmp_path: Path, telegram_library: str) -> None:
    out = hotline(
        "demo", "--library", telegram_library, env={"PYTHONPATH": str(ROOT)}, cwd=tmp_path
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    for expected in ("/start", "PA20-000001", "Tiếp nhận", "Đã xử lý xong", "Kết quả"):
        assert expected in out.stdout
    assert f"Demo finished on {telegram_library}" in out.stdout
    assert list(tmp_path.iterdir()) == []  # nothing left behind in the working directory


def test_db_backup_of_a_missing_database_creates_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    out = hotline("db", "backup", str(tmp_path / "copy.db"), env=env, cwd=tmp_path)
    assert out.returncode == 3 and "no database at" in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # not even an empty cli.db


READING_COMMANDS = [
    ("report", "--from", "2026-11-01", "--to", "2026-11-30"),
    ("logbook", "--from", "2026-11-01", "--to", "2026-11-30"),
    ("contacts", "export"),
    ("contacts", "set", "--ward", "06187", "--receive-phone", "0916588826"),
    ("links",),
    ("unlink", "-1001234"),
    ("link-code", "--ward", "06187"),
    ("db", "backup", "copy.db"),
]


@pytest.mark.parametrize("args", READING_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_commands_refuse_a_missing_database_and_create_none(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    """Run where there is no database (the default ./hotline.db): exit 3, nothing created."""
    out = hotline(*args, env={"HOTLINE_PROVINCE": "20", "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    assert out.returncode == 3, out.stdout + out.stderr
    assert "no database at hotline.db" in out.stderr
    assert "hotline db upgrade" in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", READING_COMMANDS[:6], ids=lambda a: " ".join(a[:2]))
def test_commands_refuse_a_database_that_is_not_migrated(
    env: dict[str, str], tmp_path: Path, args: tuple[str, ...]
) -> None:
    migrated(env, "0002")
    before = (tmp_path / "cli.db").read_bytes()
    out = hotline(*args, env=env, cwd=tmp_path)
    assert out.returncode == 3, out.stdout + out.stderr
    assert "is at revision 0002" in out.stderr and "hotline db upgrade" in out.stderr
    assert (tmp_path / "cli.db").read_bytes() == before  # not migrated behind the user's back
    (tmp_path / "cli.db").unlink()
    (tmp_path / "cli.db").write_bytes(b"")  # an empty file, as an old version left it
    out = hotline(*args, env=env, cwd=tmp_path)
    assert out.returncode == 3 and "no hotline tables (not migrated)" in out.stderr


def test_a_postgres_database_that_is_missing_or_empty_is_refused(tmp_path: Path) -> None:
    from tests.conftest import POSTGRES_URL, _postgres_reason, _reset_postgres

    if _postgres_reason():
        pytest.skip(_postgres_reason() or "")
    _reset_postgres(POSTGRES_URL)
    env = {"HOTLINE_PROVINCE": "20", "HOTLINE_DATABASE_URL": POSTGRES_URL}
    out = hotline("links", env={**env, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    assert out.returncode == 3 and "no hotline tables (not migrated)" in out.stderr, out.stderr
    missing = POSTGRES_URL.rsplit("/", 1)[0] + "/hotline_no_such_database"
    out = hotline(
        "links",
        env={**env, "HOTLINE_DATABASE_URL": missing, "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
    )
    assert out.returncode == 3 and "cannot open the database" in out.stderr, out.stderr
    assert 'database "hotline_no_such_database" does not exist' in out.stderr


def test_new_commands_are_listed_in_help(env: dict[str, str]) -> None:
    out = hotline("--help", env=env)
    assert all(name in out.stdout for name in ("links", "unlink", "link-code"))
    db_help = hotline("db", "--help", env=env)
    assert "backup" in db_help.stdout
