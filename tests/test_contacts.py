"""The wards' contact points (seed 001): validation, `hotline contacts set` and `export`."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import db, reports, services
from bot.app import Hotline
from bot.geo import get_gazetteer
from tests.test_cli import ROOT, migrated
from tests.test_cli import hotline as cli
from tests.test_reports import seed_database

GAZ = get_gazetteer("20")


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("0916588826", "0916588826"),  # seed 001's receiving number
        ("+84 916 588 826", "0916588826"),
        ("84916588826", "0916588826"),
        ("0084916588826", "0916588826"),
        ("091.658.8826", "0916588826"),
        ("0389-123-456", "0389123456"),
        ("(0205) 3812 345", "02053812345"),  # Lạng Sơn landline
        ("+84 205 3812 345", "02053812345"),
        ("024 3825 1234", "02438251234"),  # Hà Nội: 2-digit area code, 8 digits
    ],
)
def test_vietnamese_phone_numbers_are_normalised(raw: str, normalised: str) -> None:
    assert reports.normalize_phone(raw) == normalised


@pytest.mark.parametrize(
    "raw",
    [
        "12345",
        "091658882",  # 9 digits
        "09165888261",  # a mobile with 11 digits
        "0116588826",  # 01x: not a mobile prefix since 2018
        "0205381234",  # a landline with 10 digits
        "+1 202 555 0100",
        "0916588826 ext 2",
        "",
    ],
)
def test_wrong_phone_numbers_are_refused(raw: str) -> None:
    with pytest.raises(reports.ContactError):
        reports.normalize_phone(raw)


def test_emails_are_checked_and_personal_domains_warned() -> None:
    assert reports.check_email("ubndpanbien@haiphong.gov.vn") == (
        "ubndpanbien@haiphong.gov.vn",
        None,
    )
    assert reports.check_email(" UBND.KyLua@LangSon.GOV.VN ")[0] == "UBND.KyLua@langson.gov.vn"
    value, warning = reports.check_email("canbo.kylua@gmail.com")
    assert value == "canbo.kylua@gmail.com" and warning and "personal" in warning
    assert reports.check_email("vp@sonnmt.com.vn")[1] is None  # not .gov.vn, not personal
    for bad in (
        "no-at-sign",
        "a@b",
        "a@@b.vn",
        "a b@x.vn",
        "a@x..vn",
        ".a@x.vn",
        "a.@x.vn",
        "a@-x.vn",
        "a@x.v",
        "a@x.12",
        "a@" + "x" * 250 + ".vn",
    ):
        with pytest.raises(reports.ContactError):
            reports.check_email(bad)


def test_validate_contact_reports_every_error_and_clears_with_empty_text() -> None:
    with pytest.raises(reports.ContactError) as caught:
        reports.validate_contact(receive_phone="123", handle_email="x@", note="n")
    assert str(caught.value).splitlines() == [
        "--receive-phone: '123' is not a Vietnamese phone number (mobile: 10 digits such as "
        "0916588826; landline: 11 digits such as 0205 3812 345; +84 allowed)",
        "--handle-email: 'x@' is not an email address",
    ]
    changes = reports.validate_contact(receive_email="", note="  ")
    assert changes.values == {"receive_email": None, "note": None} and changes.warnings == []


async def test_save_ward_contact_refuses_unknown_fields(hotline: Hotline) -> None:
    with pytest.raises(ValueError, match="ward_code"):
        async with db.session_scope(hotline.sessionmaker) as s:
            await services.save_ward_contact(s, "06187", {"ward_code": "11407"})


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "HOTLINE_PROVINCE": "20",
        "HOTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "PYTHONPATH": str(ROOT),
    }


def test_contacts_set_validates_and_updates_only_what_is_given(tmp_path: Path) -> None:
    env = _env(tmp_path)
    migrated(env)
    out = cli(
        "contacts", "set", "--ward", "6187",
        "--receive-phone", "+84 916 588 826", "--receive-email", "UBND.KyLua@LangSon.gov.vn",
        "--handle-phone", "(0205) 3812 345", "--handle-email", "kt.kylua@gmail.com",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "Phường Kỳ Lừa (06187)",
        "  receiving: 0916588826  UBND.KyLua@langson.gov.vn",
        "  handling:  02053812345  kt.kylua@gmail.com",
    ]
    assert "warning: kt.kylua@gmail.com: gmail.com is a personal mail service" in out.stderr
    out = cli(
        "contacts", "set", "--ward", "06187", "--handle-email", "", "--note", "Trực 24/7",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1:] == [
        "  receiving: 0916588826  UBND.KyLua@langson.gov.vn",  # kept
        "  handling:  02053812345  -",  # cleared
        "  note: Trực 24/7",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--ward", "06187", "--receive-phone", "0916", "--handle-email", "ubnd@"),
            "--receive-phone: '0916' is not a Vietnamese phone number (mobile: 10 digits such "
            "as 0916588826; landline: 11 digits such as 0205 3812 345; +84 allowed)\n"
            "--handle-email: 'ubnd@' is not an email address",
        ),
        (
            ("--ward", "11407", "--receive-phone", "0916588826"),
            "ward 11407 is Phường An Biên (Thành phố Hải Phòng), not in Lạng Sơn",
        ),
        (("--ward", "06187"), "give at least one of"),
    ],
)
def test_contacts_set_refuses_bad_input(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    out = cli("contacts", "set", *args, env=_env(tmp_path), cwd=tmp_path)
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert not (tmp_path / "cli.db").exists()  # refused before touching the database


async def _two_contacts(maker: async_sessionmaker[AsyncSession]) -> None:
    async with db.session_scope(maker) as s:
        await services.save_ward_contact(
            s,
            "06187",
            {
                "receive_phone": "0916588826",
                "receive_email": "ubndkylua@langson.gov.vn",
                "handle_phone": "0989135250",
                "handle_email": "ubndkylua@langson.gov.vn",
            },
        )
        await services.save_ward_contact(
            s, "05977", {"receive_phone": "02053812345", "note": "Đang kiện toàn"}
        )


def test_contacts_export_lists_every_ward_in_the_seed_form(
    sqlite_url: str, tmp_path: Path
) -> None:
    seed_database(sqlite_url, _two_contacts)
    env = {"HOTLINE_PROVINCE": "20", "HOTLINE_DATABASE_URL": sqlite_url, "PYTHONPATH": str(ROOT)}
    out = cli("contacts", "export", "-o", str(tmp_path / "dm.xlsx"), env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "65 wards: 63 without a contact point, 1 incomplete"
    sheet = openpyxl.load_workbook(tmp_path / "dm.xlsx")["Đầu mối"]
    assert sheet["A2"].value == "65 phường/xã/đặc khu; 63 chưa có đầu mối; 1 chưa đủ thông tin."
    assert {str(r) for r in sheet.merged_cells.ranges} == {
        "A5:A6",  # TT
        "B5:B6",  # Đơn vị
        "C5:C6",  # Mã đơn vị
        "D5:E5",  # Đầu mối tiếp nhận: Số điện thoại, Email
        "F5:G5",  # Đầu mối xử lý: Số điện thoại, Email
        "H5:H6",  # Ghi chú
    }
    header = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=5, max_row=6)]
    assert header == [
        ["TT", "Đơn vị", "Mã đơn vị", "Đầu mối tiếp nhận", None, "Đầu mối xử lý", None, "Ghi chú"],
        [None, None, None, "Số điện thoại", "Email", "Số điện thoại", "Email", None],
    ]
    labels = [cell for row in (sheet[5], sheet[6]) for cell in row if cell.value]
    assert len(labels) == 10 and all(cell.font.b for cell in labels)
    assert sheet.freeze_panes == "A7"
    rows = [tuple(row) for row in sheet.iter_rows(min_row=7, values_only=True)]
    assert [row[2] for row in rows] == [ward.code for ward in GAZ.wards()]
    assert [row[0] for row in rows] == list(range(1, 66))
    by_code = {row[2]: row for row in rows}
    assert by_code["06187"] == (
        2,
        "Ủy ban nhân dân phường Kỳ Lừa",
        "06187",
        "0916588826",
        "ubndkylua@langson.gov.vn",
        "0989135250",
        "ubndkylua@langson.gov.vn",
        None,
    )
    assert by_code["05977"][7] == (
        "Thiếu email tiếp nhận, số điện thoại xử lý, email xử lý; Đang kiện toàn"
    )
    missing = [row for row in rows if row[7] == reports.NO_CONTACT]
    assert len(missing) == 63
    assert by_code["06193"][1] == "Ủy ban nhân dân xã Cao Lộc"
    out = cli("contacts", "export", "--format", "csv", env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (written,) = tmp_path.glob("dau-moi-20-*.csv")
    with written.open(encoding="utf-8-sig", newline="") as fh:
        table = list(csv.reader(fh, delimiter=";"))
    assert table[0][3:5] == ["Đầu mối tiếp nhận - Số điện thoại", "Đầu mối tiếp nhận - Email"]
    assert len(table) == 66 and table[2][2:4] == ["06187", "0916588826"]
