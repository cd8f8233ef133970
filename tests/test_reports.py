"""Reports for the province: figures on a known data set, the XLSX and CSV files, the log
book's confidentiality, the CLI commands and /report in the province group."""

from __future__ import annotations

import asyncio
import csv
import os
import stat
import statistics
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import db, exports, reports, services
from bot.app import Hotline
from bot.deadlines import DeadlinePolicy
from bot.geo import get_gazetteer
from models.enums import CaseAction, CaseStatus
from models.tables import Case, Outbox, Reporter
from models.types import utcnow
from tests.harness import Person
from tests.test_cli import ROOT
from tests.test_cli import hotline as cli

GAZ = get_gazetteer("20")
KY_LUA, DONG_KINH = "06187", "05977"
OFFICER = "telegram:700100200 Cán bộ Lan"
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # 08:00 on 2 Nov, local time
AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
WEEK = reports.Period(date(2026, 11, 1), date(2026, 11, 7))
H = timedelta(hours=1)
D = timedelta(days=1)


async def _file(
    session: AsyncSession,
    reporter: Reporter,
    ward: str,
    category: str,
    at: datetime,
    *,
    province: str = "20",
    description: str = "Khói đen bốc ra từ nhà máy mỗi tối.",
    shared_phone: str | None = None,
    evidence: int = 0,
) -> Case:
    return await services.create_case(
        session,
        province_code=province,
        reporter=reporter,
        fields={
            "ward_code": ward,
            "category": category,
            "location_source": "address",
            "address": "số 5 Trần Đăng Ninh",
            "nature": "now",
            "description": description,
            "description_language": "vi",
            "channel": "telegram",
            "contact_shared": shared_phone is not None,
            "contact_phone": shared_phone,
        },
        evidence=[
            {"kind": "photo", "path": f"p{i}.jpg", "sha256": "0" * 64, "size": 10}
            for i in range(evidence)
        ],
        verify_hours=24,
        actor="reporter",
        now=at,
    )


async def _act(session: AsyncSession, case: Case, *steps: tuple[CaseAction, timedelta]) -> None:
    for action, after in steps:
        await services.apply_action(
            session, case, action, actor=OFFICER, note="ok", now=case.filed_at + after
        )


async def build_dataset(maker: async_sessionmaker[AsyncSession]) -> dict[str, Case]:
    """The known data set; the expected figures are worked out in the test below.

    A-I are filed in the week 1-7 Nov (local); J (23:50 on 31 Oct) and K (00:00 on 8 Nov)
    fall just outside, L belongs to another province, F is a duplicate merged into A.
    """
    ack, vfy, res, rej = (
        CaseAction.ACKNOWLEDGE,
        CaseAction.VERIFY,
        CaseAction.RESOLVE,
        CaseAction.REJECT,
    )
    async with db.session_scope(maker) as s:
        reporter = await services.get_reporter(s, "telegram", "5550001")
        c: dict[str, Case] = {}
        c["A"] = await _file(s, reporter, KY_LUA, "emissions", T0)
        await _act(s, c["A"], (ack, H), (vfy, 10 * H), (res, 3 * D))
        c["A"].satisfaction = "yes"
        c["B"] = await _file(s, reporter, KY_LUA, "emissions", T0 + H)
        await _act(s, c["B"], (ack, 3 * H), (vfy, 30 * H), (res, 12 * D))
        c["C"] = await _file(s, reporter, KY_LUA, "noise", T0 + 2 * H)
        await _act(s, c["C"], (rej, H))
        c["D"] = await _file(s, reporter, DONG_KINH, "wastewater", T0 + 3 * H)
        await _act(s, c["D"], (ack, timedelta(minutes=108)))  # 1.8 h
        c["E"] = await _file(s, reporter, DONG_KINH, "wastewater", T0 + 4 * H)
        c["F"] = await _file(s, reporter, KY_LUA, "odour", T0 + 5 * H)
        c["F"].merged_into_id = c["A"].id
        c["G"] = await _file(s, reporter, DONG_KINH, "noise", T0 + 6 * H)
        await _act(s, c["G"], (ack, H), (vfy, 2 * H), (res, D))
        # The reporter says "not solved" 3 hours after the result: reopened, deadlines anew.
        reopened = c["G"].filed_at + D + 3 * H
        await services.apply_action(s, c["G"], CaseAction.REOPEN, actor="reporter", now=reopened)
        c["G"].satisfaction, c["G"].reopened_count = "no", 1
        DeadlinePolicy().start(c["G"], reopened)
        # 00:10 on 1 Nov local; filed before deadlines were stored: the default policy applies.
        c["I"] = await _file(
            s, reporter, KY_LUA, "other", datetime(2026, 10, 31, 17, 10, tzinfo=UTC)
        )
        c["I"].ack_due_at = c["I"].result_due_at = None
        await _act(s, c["I"], (ack, 3 * H), (res, 5 * H))
        c["I"].satisfaction = "yes"
        c["J"] = await _file(
            s, reporter, KY_LUA, "noise", datetime(2026, 10, 31, 16, 50, tzinfo=UTC)
        )
        c["K"] = await _file(
            s, reporter, KY_LUA, "noise", datetime(2026, 11, 7, 17, 0, tzinfo=UTC)
        )
        c["L"] = await _file(s, reporter, "11407", "noise", T0, province="31")
        await s.flush()
    return c


def _z(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


EXPECTED_OVERDUE = [
    # (case, deadline, due at, done at or None, hours late)
    ("I", "ack", _z(31, 19, 10, month=10), _z(31, 20, 10, month=10), 1.0),
    ("B", "ack", _z(2, 4), _z(2, 5), 1.0),
    ("E", "ack", _z(2, 7), None, 425.0),
    ("B", "verify", _z(3, 2), _z(3, 8), 6.0),
    ("D", "verify", _z(3, 4), None, 404.0),
    ("E", "verify", _z(3, 5), None, 403.0),
    ("G", "verify", _z(4, 10), None, 374.0),
    ("B", "result", _z(12, 2), _z(14, 2), 48.0),
    ("D", "result", _z(12, 4), None, 188.0),
    ("E", "result", _z(12, 5), None, 187.0),
    ("G", "result", _z(13, 10), None, 158.0),
]


async def test_report_figures_on_a_known_data_set(any_hotline: Hotline) -> None:
    cases = await build_dataset(any_hotline.sessionmaker)
    async with db.read_scope(any_hotline.sessionmaker) as s:
        figures = await reports.report_figures(s, "20", WEEK, as_of=AS_OF)
        overdue = [o async for o in reports.overdue_rows(s, "20", WEEK, as_of=AS_OF)]
    assert (figures.cases, figures.merged) == (7, 1)  # A B C D E G I; F merged
    assert figures.counts == {
        (KY_LUA, "emissions", "resolved"): 2,
        (KY_LUA, "noise", "rejected"): 1,
        (KY_LUA, "other", "resolved"): 1,
        (DONG_KINH, "wastewater", "acknowledged"): 1,
        (DONG_KINH, "wastewater", "new"): 1,
        (DONG_KINH, "noise", "acknowledged"): 1,
    }
    ack, verify, result = figures.deadlines
    # ack: A C D G on time, B and I late, E never; medians over A B C D G I = 1 3 1 1.8 1 3.
    assert (ack.due, ack.met, ack.missed, ack.done, ack.share_met) == (7, 4, 3, 6, 57.1)
    assert ack.median_hours == 1.4
    # verify: A C I on time (C and I by closing), B late, D E never, G owes it again.
    assert (verify.due, verify.met, verify.done, verify.share_met) == (7, 3, 4, 42.9)
    assert verify.median_hours == 7.5  # 1 5 10 30
    assert (result.due, result.met, result.done, result.share_met) == (7, 3, 4, 42.9)
    assert result.median_hours == 38.5  # 1 5 72 288
    assert ack.text() == "4/7 (57.1%)"
    # Of the cases that got a result: A and I yes, G no (reopened), B no answer.
    assert (figures.satisfied, figures.unsatisfied, figures.unanswered) == (2, 1, 1)
    assert figures.overdue == len(EXPECTED_OVERDUE)
    got = [(o.code, o.deadline, o.due_at, o.done_at, o.late_hours) for o in overdue]
    assert got == [
        (cases[name].code, deadline, due, done, late)
        for name, deadline, due, done, late in EXPECTED_OVERDUE
    ]


async def test_report_of_one_ward(hotline: Hotline) -> None:
    await build_dataset(hotline.sessionmaker)
    async with db.read_scope(hotline.sessionmaker) as s:
        figures, document = await reports.build_report(
            s, GAZ, WEEK, ward_code=DONG_KINH, as_of=AS_OF
        )
    assert (figures.cases, figures.merged) == (3, 0)  # D E G
    assert [f.met for f in figures.deadlines] == [2, 0, 0]
    assert "(Phường Đông Kinh)" in document.notes[0]
    summary_wards = next(t for t in document.tables if t.key == "summary_wards")
    assert [row[0] for row in summary_wards.rows] == [DONG_KINH, ""]  # the one ward, total


def _case(filed: datetime, **values: Any) -> Case:
    return Case(
        code=values.pop("code", "PA20-000001"),
        province_code="20",
        seq=values.pop("seq", 1),
        ward_code=KY_LUA,
        category="noise",
        status=values.pop("status", CaseStatus.NEW.value),
        location_source="address",
        nature="now",
        description="Tiếng ồn",
        description_language="vi",
        reporter_id=values.pop("reporter_id", 1),
        channel="telegram",
        filed_at=filed,
        updated_at=filed,
        verify_due_at=values.pop("verify_due_at", filed + 24 * H),
        **values,
    )


async def _figures_of(hotline: Hotline, cases: list[Case], as_of: datetime) -> reports.Figures:
    async with db.session_scope(hotline.sessionmaker) as s:
        reporter = await services.get_reporter(s, "telegram", "5550009")
        for case in cases:
            case.reporter_id = reporter.id or 0
            s.add(case)
    async with db.read_scope(hotline.sessionmaker) as s:
        return await reports.report_figures(s, "20", WEEK, as_of=as_of)


async def test_a_deadline_counts_once_passed_or_met(hotline: Hotline) -> None:
    """Not yet due and not done: not counted; done early: counted, met."""
    now = T0 + 30 * timedelta(minutes=1)
    waiting = _case(T0, ack_due_at=T0 + 2 * H)
    early = _case(
        T0,
        code="PA20-000002",
        seq=2,
        status=CaseStatus.ACKNOWLEDGED.value,
        acknowledged_at=T0 + 10 * timedelta(minutes=1),
        ack_due_at=T0 + 2 * H,
    )
    figures = await _figures_of(hotline, [waiting, early], now)
    ack = figures.deadlines[0]
    assert (ack.due, ack.met, ack.done, ack.share_met) == (1, 1, 1, 100.0)
    assert figures.overdue == 0


async def test_nothing_due_reads_zero_percent(hotline: Hotline) -> None:
    waiting = _case(T0, ack_due_at=T0 + 2 * H)
    nothing_due = (await _figures_of(hotline, [waiting], T0 + H)).deadlines[0]
    assert (nothing_due.due, nothing_due.share_met, nothing_due.text()) == (0, 0.0, "0/0 (0%)")


async def test_missing_deadlines_follow_the_default_policy(any_hotline: Hotline) -> None:
    """Filed before deadlines were stored: 2 h, 24 h (4 h if urgent) and 10 days from filing."""
    late = T0 + 2 * H + timedelta(microseconds=1)
    cases = [
        _case(T0, code="PA20-000002", seq=2, status="acknowledged", acknowledged_at=T0 + 2 * H),
        _case(T0, code="PA20-000003", seq=3, status="acknowledged", acknowledged_at=late),
        _case(T0, code="PA20-000004", seq=4, status="verifying", verified_at=T0 + 4 * H,
              acknowledged_at=T0 + H, urgent=True, verify_due_at=T0 + 4 * H),
        _case(T0, code="PA20-000005", seq=5, status="resolved", closed_at=T0 + 10 * D,
              acknowledged_at=T0 + H, verified_at=T0 + 2 * H),
    ]  # fmt: skip
    for case in cases:
        case.ack_due_at = case.result_due_at = None
    figures = await _figures_of(any_hotline, cases, T0 + 20 * D)
    ack, verify, result = figures.deadlines
    assert (ack.due, ack.met) == (4, 3)  # exactly at 2 h is on time; a microsecond late is not
    assert (verify.due, verify.met) == (4, 2)  # 4 h urgent and 24 h: the closed one in time
    assert (result.due, result.met) == (4, 1)  # exactly 10 days


def test_periods_are_local_days() -> None:
    start, end = WEEK.bounds()
    assert start == datetime(2026, 10, 31, 17, tzinfo=UTC)
    assert end == datetime(2026, 11, 7, 17, tzinfo=UTC)
    assert reports.Period.last_week(date(2026, 11, 23)) == reports.Period(
        date(2026, 11, 16), date(2026, 11, 22)
    )
    assert reports.Period.previous_month(date(2026, 3, 1)) == reports.Period(
        date(2026, 2, 1), date(2026, 2, 28)
    )
    assert reports.Period.previous_month(date(2026, 1, 15)).first == date(2025, 12, 1)
    with pytest.raises(reports.ReportInputError, match="after --to"):
        reports.parse_period("2026-11-08", "2026-11-07")
    with pytest.raises(reports.ReportInputError, match="--to: '2026-02-30' is not a date"):
        reports.parse_period("2026-02-01", "2026-02-30")


def _sheet_rows(sheet: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in sheet.iter_rows(values_only=True)]


HEADER_ROW = 12  # 3 rows of official header, 1 empty, the title, 5 notes, 1 empty
SHEETS = ["Tổng hợp", "Số phản ánh", "Thời hạn", "Ý kiến người phản ánh", "Quá hạn"]


async def _write_report(hotline: Hotline, path: Path, fmt: str = "xlsx") -> list[Path]:
    async with db.read_scope(hotline.sessionmaker) as s:
        _, document = await reports.build_report(s, GAZ, WEEK, as_of=AS_OF)
        return await exports.write(document, path, fmt)  # type: ignore[arg-type]


async def test_report_xlsx_has_one_readable_sheet_per_table(
    hotline: Hotline, tmp_path: Path
) -> None:
    cases = await build_dataset(hotline.sessionmaker)
    (path,) = await _write_report(hotline, tmp_path / "r.xlsx")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == SHEETS
    counts = book["Số phản ánh"]
    assert counts["A5"].value == ("Báo cáo đường dây nóng về ô nhiễm môi trường - tỉnh Lạng Sơn")
    assert counts["A5"].font.b
    assert counts["A6"].value == (
        "Kỳ báo cáo: phản ánh gửi từ 01/11/2026 đến 07/11/2026 (giờ Việt Nam)."
    )
    assert "không tính 1 phản ánh trùng" in counts["A7"].value
    assert (
        counts["A8"].value == "Kỳ trước (để so sánh): phản ánh gửi từ 25/10/2026 đến 31/10/2026."
    )
    header = [cell.value for cell in counts[HEADER_ROW]]
    assert header == [
        "Mã phường/xã",
        "Phường/xã",
        "Lĩnh vực",
        "Mới",
        "Đã tiếp nhận",
        "Đang xác minh",
        "Đã xử lý xong",
        "Không xử lý",
        "Tổng số phản ánh",
    ]
    assert all(cell.font.b for cell in counts[HEADER_ROW])
    assert counts.freeze_panes == f"A{HEADER_ROW + 1}"
    assert counts.column_dimensions["B"].width == 28
    assert _sheet_rows(counts)[HEADER_ROW:] == [
        (DONG_KINH, "Phường Đông Kinh", "Nước thải", 1, 1, 0, 0, 0, 2),
        (DONG_KINH, "Phường Đông Kinh", "Tiếng ồn", 0, 1, 0, 0, 0, 1),
        (KY_LUA, "Phường Kỳ Lừa", "Khói, bụi, khí thải", 0, 0, 0, 2, 0, 2),
        (KY_LUA, "Phường Kỳ Lừa", "Tiếng ồn", 0, 0, 0, 0, 1, 1),
        (KY_LUA, "Phường Kỳ Lừa", "Khác", 0, 0, 0, 1, 0, 1),
        (None, "Tổng cộng", None, 1, 2, 0, 3, 1, 7),
    ]
    assert counts.cell(row=HEADER_ROW + 6, column=9).font.b  # the totals row
    assert _sheet_rows(book["Thời hạn"])[HEADER_ROW:] == [
        ("Tiếp nhận", 7, 4, 3, 57.1, 6, 1.4),
        ("Xác minh", 7, 3, 4, 42.9, 4, 7.5),
        ("Trả kết quả", 7, 3, 4, 42.9, 4, 38.5),
    ]
    assert _sheet_rows(book["Ý kiến người phản ánh"])[HEADER_ROW:] == [
        ("Đã giải quyết (hài lòng)", 2, 50.0),
        ("Chưa giải quyết (không hài lòng)", 1, 25.0),
        ("Chưa trả lời", 1, 25.0),
        ("Tổng số phản ánh đã xử lý xong", 4, 100.0),
    ]
    overdue = _sheet_rows(book["Quá hạn"])
    assert overdue[HEADER_ROW - 1] == (
        "Mã phản ánh",
        "Mã phường/xã",
        "Phường/xã",
        "Lĩnh vực",
        "Thời hạn",
        "Hạn",
        "Hoàn thành lúc",
        "Số giờ trễ",
    )
    # Local wall-clock times: B's acknowledgement was due 11:00 and done 12:00 on 2 Nov.
    assert overdue[HEADER_ROW + 1] == (
        cases["B"].code,
        KY_LUA,
        "Phường Kỳ Lừa",
        "Khói, bụi, khí thải",
        "Tiếp nhận",
        datetime(2026, 11, 2, 11, 0),  # noqa: DTZ001  (Excel holds local wall-clock times)
        datetime(2026, 11, 2, 12, 0),  # noqa: DTZ001
        1.0,
    )
    assert overdue[HEADER_ROW + 2][:2] == (cases["E"].code, DONG_KINH)
    assert overdue[HEADER_ROW + 2][6:] == ("Chưa thực hiện", 425.0)
    assert len(overdue) == HEADER_ROW + len(EXPECTED_OVERDUE)


async def test_report_summary_sheet_header_charts_and_print_setup(
    hotline: Hotline, tmp_path: Path
) -> None:
    """The sheet the Sở sends up: every figure of the known data set, this week beside the
    week before (J, filed 23:50 on 31 Oct, is the one case of that week)."""
    await build_dataset(hotline.sessionmaker)
    (path,) = await _write_report(hotline, tmp_path / "r.xlsx")
    book = openpyxl.load_workbook(path)
    sheet = book["Tổng hợp"]
    rows = _sheet_rows(sheet)
    assert rows[0][0] is None and rows[0][3] == "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
    assert rows[1][0] == "SỞ NÔNG NGHIỆP VÀ MÔI TRƯỜNG TỈNH LẠNG SƠN"
    assert rows[1][3] == "Độc lập - Tự do - Hạnh phúc"
    assert rows[2][3] == "Lạng Sơn, ngày 20 tháng 11 năm 2026"
    assert {"A2:C2", "D1:F1", "D2:F2"} <= {str(r) for r in sheet.merged_cells.ranges}
    values = [[v for v in row if v is not None] for row in rows]
    start = values.index(["Số phản ánh theo lĩnh vực"])
    assert values[start + 1] == ["Lĩnh vực", "Kỳ này", "Kỳ trước", "Tăng (+) / giảm (-)"]
    assert values[start + 2 : start + 9] == [
        ["Nước thải", 2, 0, 2],
        ["Khói, bụi, khí thải", 2, 0, 2],
        ["Chất thải rắn, rác", 0, 0, 0],
        ["Tiếng ồn", 2, 1, 1],
        ["Mùi hôi", 0, 0, 0],
        ["Khác", 1, 0, 1],
        ["Tổng cộng", 7, 1, 6],
    ]
    start = values.index(["Số phản ánh theo phường/xã"])
    ward_rows = values[start + 2 : start + 2 + 66]
    assert [row[0] for row in ward_rows[:-1]] == [ward.code for ward in GAZ.wards()]  # all 65
    by_code = {row[0]: row[1:] for row in ward_rows[:-1]}
    assert by_code[KY_LUA] == ["Phường Kỳ Lừa", 4, 1, 3]
    assert by_code[DONG_KINH] == ["Phường Đông Kinh", 3, 0, 3]
    assert by_code["06193"] == ["Xã Cao Lộc", 0, 0, 0]  # listed with no case
    assert ward_rows[-1] == ["Tổng cộng", 7, 1, 6]
    start = values.index(["Tình hình xử lý"])
    assert values[start + 2 : start + 8] == [
        ["Tổng số phản ánh", 7, 1],
        ["Chuyển lên Sở", 0, 0],
        ["Chuyển cơ quan khác (Công an, Thanh tra…)", 0, 0],
        ["Chuyển phường/xã khác", 0, 0],
        ["Mở lại (người phản ánh báo chưa giải quyết)", 1, 0],  # G
        ["Phản ánh trùng đã gộp (không tính ở trên)", 1, 0],  # F
    ]
    start = values.index(["Thời hạn (kỳ này; tỉ lệ kỳ trước để so sánh)"])
    # J (last week) never acknowledged: all three due and missed, so 0 % rather than blank.
    assert values[start + 2 : start + 5] == [
        ["Tiếp nhận", 7, 4, 3, 57.1, 0],
        ["Xác minh", 7, 3, 4, 42.9, 0],
        ["Trả kết quả", 7, 3, 4, 42.9, 0],
    ]
    assert ["NGƯỜI LẬP BIỂU", "THỦ TRƯỞNG ĐƠN VỊ"] in values
    assert ["(Ký, ghi rõ họ tên)", "(Ký tên, đóng dấu)"] in values
    charts = sheet._charts
    assert [c.title.tx.rich.p[0].r[0].t for c in charts] == [
        "Số phản ánh theo lĩnh vực",
        "Số phản ánh theo phường/xã (kỳ này)",
        "Thời hạn: đúng hạn và trễ hạn (kỳ này)",
    ]
    assert [len(c.series) for c in charts] == [2, 1, 2]
    assert charts[1].type == "bar" and charts[0].type == "col"
    for name in SHEETS:
        setup = book[name].page_setup
        assert (setup.orientation, setup.fitToWidth, setup.fitToHeight) == ("landscape", 1, 0)
        assert book[name].sheet_properties.pageSetUpPr.fitToPage
    assert book["Quá hạn"].print_title_rows == f"${HEADER_ROW}:${HEADER_ROW}"


async def test_agency_name_comes_from_the_setting(hotline: Hotline, tmp_path: Path) -> None:
    async with db.read_scope(hotline.sessionmaker) as s:
        _, document = await reports.build_report(
            s, GAZ, WEEK, as_of=AS_OF, agency="UBND PHƯỜNG KỲ LỪA"
        )
        path = await exports.write_xlsx(document, tmp_path / "r.xlsx")
    assert openpyxl.load_workbook(path)["Quá hạn"]["A2"].value == "UBND PHƯỜNG KỲ LỪA"


async def test_a_sheet_past_excel_row_limit_continues_on_another(tmp_path: Path) -> None:
    async def rows() -> Any:
        for n in range(25):
            yield [f"PA20-{n:06d}", n]

    document = exports.Document(
        title="t",
        notes=("n",),
        tables=(exports.Table("x", "Quá hạn", ("a", "b"), rows(), (5, 5)),),
    )
    path = await exports.write_xlsx(document, tmp_path / "a.xlsx", max_rows=14)
    book = openpyxl.load_workbook(path)
    # 14 rows a sheet: title, note, empty row and header, then 10 rows (9 when continued)
    assert book.sheetnames == ["Quá hạn", "Quá hạn (2)", "Quá hạn (3)"]
    first, second = _sheet_rows(book["Quá hạn"]), _sheet_rows(book["Quá hạn (2)"])
    assert len(first) == 14 and first[3] == ("a", "b") and first[4][0] == "PA20-000000"
    assert len(second) == 14 and second[2][0] == "(tiếp theo)" and second[4] == ("a", "b")
    assert second[5][0] == "PA20-000010"
    assert book["Quá hạn (2)"].freeze_panes == "A6"
    listed = [
        row[0]
        for name in book.sheetnames
        for row in _sheet_rows(book[name])
        if str(row[0]).startswith("PA20-")
    ]
    assert listed == [f"PA20-{n:06d}" for n in range(25)]  # each row once, in order


async def test_report_csv_is_one_file_per_table(hotline: Hotline, tmp_path: Path) -> None:
    await build_dataset(hotline.sessionmaker)
    files = await _write_report(hotline, tmp_path / "r.csv", "csv")
    assert [f.name for f in files] == [
        "r_summary_categories.csv",
        "r_summary_wards.csv",
        "r_summary_handling.csv",
        "r_summary_deadlines.csv",
        "r_counts.csv",
        "r_deadlines.csv",
        "r_satisfaction.csv",
        "r_overdue.csv",
    ]
    assert files[0].read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 with a BOM

    def read(path: Path) -> list[list[str]]:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return list(csv.reader(fh, delimiter=";"))  # Vietnamese Excel's list separator

    rows = read(files[5])
    assert rows[0][0] == "Thời hạn"
    assert rows[1] == ["Tiếp nhận", "7", "4", "3", "57,1", "6", "1,4"]  # decimal comma
    assert read(files[3])[1] == ["Tiếp nhận", "7", "4", "3", "57,1", "0,0"]
    assert read(files[0])[-1] == ["Tổng cộng", "7", "1", "6"]
    assert len(read(files[1])) == 1 + 65 + 1
    overdue = read(files[7])
    assert overdue[2][5:] == ["2026-11-02 11:00", "2026-11-02 12:00", "1,0"]
    assert len(overdue) == 1 + len(EXPECTED_OVERDUE)


# ---------------------------------------------------------------- the log book


async def test_logbook_shows_shared_phones_only_and_no_user_ids(
    hotline: Hotline, tmp_path: Path
) -> None:
    secret = "0987654321"
    async with db.session_scope(hotline.sessionmaker) as s:
        anonymous = await services.get_reporter(s, "telegram", "424242424")
        anonymous.phone = secret  # known from an earlier report where it was shared
        hidden = await _file(
            s,
            anonymous,
            KY_LUA,
            "noise",
            T0,
            description=f"Karaoke đến 2 giờ sáng, gọi tôi {secret[:4]} {secret[4:7]} {secret[7:]}",
            evidence=2,
        )
        await services.add_evidence(
            s,
            hidden.id or 0,
            {"kind": "photo", "path": "r.jpg", "sha256": "1" * 64, "size": 5},
            from_officer=True,
        )
        await _act(s, hidden, (CaseAction.ACKNOWLEDGE, H))
        await services.note_event(
            s,
            hidden,
            CaseAction.NOTE,
            actor=OFFICER,
            note=f"Người dân nói số +84{secret[1:]}",
            now=T0 + 2 * H,
        )
        await services.apply_action(
            s, hidden, CaseAction.RESOLVE, actor=OFFICER, note="=1+1 đã nhắc nhở", now=T0 + D
        )
        sharing = await services.get_reporter(s, "telegram", "434343434")
        shared = await _file(
            s, sharing, DONG_KINH, "emissions", T0 + H, shared_phone="+84912345678"
        )
    async with db.read_scope(hotline.sessionmaker) as s:
        count, document = await reports.build_logbook(s, GAZ, WEEK, as_of=AS_OF)
        xlsx = await exports.write_xlsx(document, tmp_path / "log.xlsx")
        count, document = await reports.build_logbook(s, GAZ, WEEK, as_of=AS_OF)
        csv_files = await exports.write_csv(document, tmp_path / "log.csv")
    assert count == 2
    book = openpyxl.load_workbook(xlsx)
    assert book.sheetnames == ["Sổ nhật ký", "Diễn biến xử lý"]
    rows = _sheet_rows(book["Sổ nhật ký"])
    assert rows[7][:9] == (
        1,
        datetime(2026, 11, 2, 8, 0),  # noqa: DTZ001  (local time of receipt)
        hidden.code,
        "Phường Kỳ Lừa",
        "Tiếng ồn",
        "Karaoke đến 2 giờ sáng, gọi tôi [số điện thoại đã ẩn]",
        "Ẩn danh",
        2,  # the reporter's files; the officer's result photo is not evidence
        "Đã xử lý xong",
    )
    assert rows[7][9].splitlines() == [
        "02/11/2026 08:00 - Gửi phản ánh - Người phản ánh",
        "02/11/2026 09:00 - Tiếp nhận - Cán bộ Lan",
        "02/11/2026 10:00 - Ghi chú nội bộ - Cán bộ Lan",
        "03/11/2026 08:00 - Đóng với kết quả - Cán bộ Lan",
    ]
    assert rows[8][2] == shared.code and rows[8][6] == "+84912345678"
    events = _sheet_rows(book["Diễn biến xử lý"])
    assert events[8][2:] == (
        "Tiếp nhận",
        "Cán bộ Lan",
        "Mới",
        "Đã tiếp nhận",
        "ok",
    )
    assert events[9][6] == "Người dân nói số [số điện thoại đã ẩn]"
    resolve_cell = book["Diễn biến xử lý"].cell(row=11, column=7)
    # What people write is text, never a formula, in both formats.
    assert resolve_cell.value == "=1+1 đã nhắc nhở" and resolve_cell.data_type == "s"
    texts = [f.read_text(encoding="utf-8-sig") for f in csv_files]
    assert ";'=1+1 đã nhắc nhở" in texts[1]
    cells = [str(v) for sheet in book for row in sheet.iter_rows(values_only=True) for v in row]
    for needle in (secret, secret[1:], "424242424", "434343434", "700100200"):
        assert not any(needle in cell for cell in cells), needle
        assert not any(needle in text for text in texts), needle
    assert "+84912345678" in texts[0]


def test_actor_names_never_carry_ids() -> None:
    assert reports.actor_name("telegram:700100200 Cán bộ Lan") == "Cán bộ Lan"
    assert reports.actor_name("reporter") == "Người phản ánh"
    assert reports.actor_name("zalo:99887766 ?") == "?"
    assert reports.actor_name("telegram:700100200") == "?"
    assert reports.actor_name("telegram:1 Lan 0912345678") == "Lan [số điện thoại đã ẩn]"
    assert reports.actor_name("telegram:1 Bot 1234567") == "Bot …"


# ---------------------------------------------------------------- the CLI


def seed_database(
    url: str, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[object]]
) -> None:
    """Migrate the database at `url` and run `work` on it (for the CLI's subprocess to read)."""

    async def _go() -> None:
        await db.upgrade_async(url)
        engine = db.make_engine(url)
        try:
            await work(db.make_sessionmaker(engine))
        finally:
            await engine.dispose()

    asyncio.run(_go())


def test_report_cli_writes_the_period_file(sqlite_url: str, tmp_path: Path) -> None:
    seed_database(sqlite_url, build_dataset)
    env = {"HOTLINE_PROVINCE": "20", "HOTLINE_DATABASE_URL": sqlite_url, "PYTHONPATH": str(ROOT)}
    out = cli("report", "--from", "2026-11-01", "--to", "2026-11-07", env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "7 cases (1 merged duplicates not counted)" in out.stdout
    written = tmp_path / "bao-cao-20-2026-11-01_2026-11-07.xlsx"
    assert out.stdout.strip().splitlines()[-1] == f"written: {written.name}"
    rows = _sheet_rows(openpyxl.load_workbook(written)["Số phản ánh"])
    assert "missed deadlines: 11" in out.stdout
    assert rows[-1][1:] == ("Tổng cộng", None, 1, 2, 0, 3, 1, 7)
    csv_out = cli(
        "logbook", "--from", "2026-11-01", "--to", "2026-11-01", "--ward", "6187",
        "-o", str(tmp_path / "so.csv"), env=env, cwd=tmp_path,
    )  # fmt: skip
    assert csv_out.returncode == 0, csv_out.stderr
    assert "1 cases filed" in csv_out.stdout  # I only: 00:10 on 1 Nov, Kỳ Lừa
    assert sorted(p.name for p in tmp_path.glob("so_*.csv")) == ["so_cases.csv", "so_events.csv"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2026-13-01", "--to", "2026-12-31"), "--from: '2026-13-01' is not a date"),
        (("--from", "2026-11-08", "--to", "2026-11-01"), "is after --to 2026-11-01"),
        (
            ("--from", "2026-11-01", "--to", "2026-11-30", "--ward", "11407"),
            "ward 11407 is Phường An Biên (Thành phố Hải Phòng), not in Lạng Sơn",
        ),
        (
            ("--from", "2026-11-01", "--to", "2026-11-30", "--format", "csv", "-o", "r.xlsx"),
            "does not match --format csv",
        ),
    ],
)
def test_report_cli_refuses_bad_input(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    env = {
        "HOTLINE_PROVINCE": "20",
        "HOTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "PYTHONPATH": str(ROOT),
    }
    out = cli("report", *args, env=env, cwd=tmp_path)
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written, no database


def test_output_path_and_format_choice(tmp_path: Path) -> None:
    from bot.cli import _output_path

    assert _output_path(None, None, "bao-cao") == (Path("bao-cao.xlsx"), "xlsx")
    assert _output_path(None, "csv", "bao-cao") == (Path("bao-cao.csv"), "csv")
    assert _output_path(tmp_path / "r.csv", None, "x") == (tmp_path / "r.csv", "csv")
    assert _output_path(tmp_path / "r", "CSV", "x") == (tmp_path / "r", "csv")
    with pytest.raises(reports.ReportInputError, match="choose xlsx or csv"):
        _output_path(None, "pdf", "x")
    with pytest.raises(reports.ReportInputError, match="does not exist"):
        _output_path(tmp_path / "missing" / "r.xlsx", None, "x")
    with pytest.raises(reports.ReportInputError, match="no ward 99999 in Lạng Sơn"):
        reports.resolve_ward(GAZ, "99999")
    assert reports.resolve_ward(GAZ, "6187").code == KY_LUA


# ---------------------------------------------------------------- /report in the groups


async def _link(hotline: Hotline, chat_id: str, ward: str | None) -> Person:
    async with db.session_scope(hotline.sessionmaker) as s:
        code = await services.create_link_code(s, "20", ward)
    officer = Person(hotline, "8" + chat_id[1:], chat_id=chat_id, chat_type="group", name="Sở")
    await officer.command("link", code)
    await officer.new_messages()
    return officer


async def test_report_command_sends_the_week_as_a_document(hotline: Hotline) -> None:
    province = await _link(hotline, "-1009", None)
    async with db.session_scope(hotline.sessionmaker) as s:
        reporter = await services.get_reporter(s, "telegram", "5550002")
        case = await _file(s, reporter, KY_LUA, "noise", utcnow() - D)
        await _act(s, case, (CaseAction.ACKNOWLEDGE, H / 2))
        # Filed a moment ago: a new deployment's first case is in the default report.
        await _file(s, reporter, DONG_KINH, "wastewater", utcnow() - timedelta(minutes=1))
        await _file(s, reporter, DONG_KINH, "odour", utcnow() - 10 * D)  # not in the week
    await province.command("report")
    rows = await province.new_messages()
    assert [row.kind for row in rows] == ["message", "document"]
    today = utcnow().astimezone(reports.LOCAL_TZ).date()
    week = reports.Period(today - 6 * D, today)
    assert rows[0].payload["text"].startswith(f"⏳ Đang lập báo cáo phản ánh gửi {week.label}")
    media = rows[1].payload["media"]
    assert media[0]["kind"] == "document"
    assert media[0]["filename"] == f"bao-cao-20-{week.slug}.xlsx"
    assert media[0]["path"].startswith("reports/")
    path = hotline.media.absolute(media[0]["path"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert week.slug not in path.name  # a random name on disk
    book = openpyxl.load_workbook(path)
    assert _sheet_rows(book["Số phản ánh"])[-1][1:] == ("Tổng cộng", None, 1, 1, 0, 0, 0, 2)
    caption = rows[1].payload["text"]
    assert f"tỉnh Lạng Sơn, phản ánh gửi {week.label}: 2 phản ánh" in caption
    assert "tiếp nhận 1/1 (100%)" in caption
    await province.command("report", "tháng")
    month = reports.Period.previous_month(today)
    row = (await province.new_messages())[1]
    assert row.payload["media"][0]["filename"] == f"bao-cao-20-{month.slug}.xlsx"
    await province.command("report", "2026-11-01 2026-11-07")
    row = (await province.new_messages())[1]
    assert row.payload["media"][0]["filename"] == "bao-cao-20-2026-11-01_2026-11-07.xlsx"
    for argument, expected in [
        ("year", "/report 01/11/2026 30/11/2026"),
        ("31/02/2026", "Ngày «31/02/2026» không có trên lịch"),
        ("thang 13", "Không có tháng 13"),
        ("30/11/2026 01/11/2026", "Ngày bắt đầu phải trước ngày kết thúc"),
    ]:
        await province.command("report", argument)
        texts = await province.texts()
        assert len(texts) == 1 and expected in texts[0], (argument, texts)


@pytest.mark.parametrize(
    ("argument", "first", "last"),
    [
        ("", date(2026, 11, 17), date(2026, 11, 23)),
        ("week", date(2026, 11, 17), date(2026, 11, 23)),
        ("Tuần", date(2026, 11, 17), date(2026, 11, 23)),
        ("today", date(2026, 11, 23), date(2026, 11, 23)),
        ("hôm nay", date(2026, 11, 23), date(2026, 11, 23)),
        ("month", date(2026, 10, 1), date(2026, 10, 31)),
        ("thang 11", date(2026, 11, 1), date(2026, 11, 30)),
        ("tháng 12", date(2025, 12, 1), date(2025, 12, 31)),  # the last December
        ("thang 2/2024", date(2024, 2, 1), date(2024, 2, 29)),
        ("month 12 2026", date(2026, 12, 1), date(2026, 12, 31)),
        ("2026-11-01 2026-11-30", date(2026, 11, 1), date(2026, 11, 30)),
        ("01/11/2026 30/11/2026", date(2026, 11, 1), date(2026, 11, 30)),
        ("từ 1/11/2026 đến 15.11.2026", date(2026, 11, 1), date(2026, 11, 15)),
        ("05/11/2026", date(2026, 11, 5), date(2026, 11, 5)),
    ],
)
def test_report_periods_people_type(argument: str, first: date, last: date) -> None:
    from handlers.province import report_period

    assert report_period(argument, date(2026, 11, 23)) == reports.Period(first, last)


@pytest.mark.parametrize(
    ("argument", "key"),
    [
        ("year", "officer.report_usage"),
        ("2026-11-01 abc 2026-11-30", "officer.report_usage"),
        ("1/1/2026 2/1/2026 3/1/2026", "officer.report_usage"),
        ("2026-02-30", "officer.report_bad_date"),
        ("01/13/2026", "officer.report_bad_date"),
        ("thang 0", "officer.report_bad_month"),
        ("thang x", "officer.report_usage"),
        ("2026-11-30 2026-11-01", "officer.report_order"),
    ],
)
def test_report_periods_that_are_refused(argument: str, key: str) -> None:
    from handlers.province import PeriodError, report_period

    with pytest.raises(PeriodError) as caught:
        report_period(argument, date(2026, 11, 23))
    assert caught.value.key == key


async def test_report_is_built_outside_the_updates_write_transaction(
    hotline: Hotline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the report is read and written, the bot goes on: it can write (SQLite's write
    lock is free) and its event loop is not held by the report."""
    province = await _link(hotline, "-1011", None)
    build = reports.build_report
    wrote: list[bool] = []
    bot_loop = asyncio.get_running_loop()

    async def write() -> None:
        async with db.session_scope(hotline.sessionmaker) as s:
            await services.get_reporter(s, "telegram", "5550077")

    async def build_while_writing(*args: Any, **kwargs: Any) -> Any:
        # The bot's loop, while the report is being built, files something.
        done = asyncio.run_coroutine_threadsafe(write(), bot_loop)
        await asyncio.wait_for(asyncio.wrap_future(done), timeout=10)
        wrote.append(True)
        return await build(*args, **kwargs)

    import threading

    from handlers import province as province_handlers

    write_xlsx = province_handlers.write_xlsx
    loop_was_free: list[bool] = []

    async def write_blocking(*args: Any, **kwargs: Any) -> Any:
        # Writing a workbook is CPU work that does not yield: stand for it with a blocking
        # wait for something only the bot's loop can do.
        freed = threading.Event()
        bot_loop.call_soon_threadsafe(freed.set)
        loop_was_free.append(freed.wait(timeout=10))
        return await write_xlsx(*args, **kwargs)

    monkeypatch.setattr(reports, "build_report", build_while_writing)
    monkeypatch.setattr(province_handlers, "write_xlsx", write_blocking)
    await province.command("report", "today")
    assert wrote == [True]
    assert loop_was_free == [True]
    assert [row.kind for row in await province.new_messages()] == ["message", "document"]


async def test_report_command_is_refused_in_a_ward_group(hotline: Hotline) -> None:
    ward = await _link(hotline, "-1010", KY_LUA)
    await ward.command("report", "week")
    rows = await ward.new_messages()
    assert [row.kind for row in rows] == ["message"]
    assert "dành cho nhóm của Sở" in rows[0].payload["text"]
    async with hotline.sessionmaker() as s:
        documents = (await s.exec(select(Outbox).where(col(Outbox.kind) == "document"))).all()
    assert documents == []
    assert not (hotline.media.root / "reports").exists()


def test_report_files_are_private_even_with_a_loose_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        document = exports.Document(
            title="t", tables=(exports.Table("x", "x", ("a",), [["b"]], (5,)),)
        )
        xlsx = asyncio.run(exports.write_xlsx(document, tmp_path / "a.xlsx"))
        (csv_file,) = asyncio.run(exports.write_csv(document, tmp_path / "a.csv"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(xlsx.stat().st_mode) == 0o600
    assert stat.S_IMODE(csv_file.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "a.xlsx"]  # no temp files


# ---------------------------------------------------------------- the SQL figures vs Python


@pytest.mark.parametrize(("seed", "microseconds"), [(1, False), (2, True), (3, True), (4, False)])
async def test_sql_figures_equal_the_case_by_case_ones_on_random_data(
    any_hotline: Hotline, seed: int, microseconds: bool
) -> None:
    """The database's aggregates give exactly the figures of the first implementation
    (`tests/report_oracle.py`, case by case over ORM objects), overdue list included."""
    from tests import report_data, report_oracle

    wards = (KY_LUA, DONG_KINH, "06193", "99999")  # one code the gazetteer does not know
    spec = report_data.Spec(
        cases=300,
        start=datetime(2026, 10, 25, tzinfo=UTC),
        end=datetime(2026, 11, 12, tzinfo=UTC),
        wards=wards,
        microseconds=microseconds,
    )
    await report_data.seed(any_hotline.engine, spec, seed)
    as_of = datetime(2026, 11, 9, 5, 30, tzinfo=UTC)  # some deadlines still to come
    for ward in (None, KY_LUA):
        start, end = WEEK.bounds()
        async with db.read_scope(any_hotline.sessionmaker) as s:
            cases = await services.cases_filed_between(s, "20", start, end, ward_code=ward)
            want = report_oracle.compute_figures(cases, period=WEEK, as_of=as_of, ward_code=ward)
            got = await reports.report_figures(s, "20", WEEK, ward_code=ward, as_of=as_of)
            overdue = [
                o async for o in reports.overdue_rows(s, "20", WEEK, ward_code=ward, as_of=as_of)
            ]
        assert want.cases > (50 if ward is None else 10)
        assert (got.cases, got.merged, got.counts) == (want.cases, want.merged, want.counts)
        assert [(f.deadline, f.due, f.met, f.done, f.median_hours) for f in got.deadlines] == [
            (f.deadline, f.due, f.met, f.done, f.median_hours) for f in want.deadlines
        ]
        assert (got.satisfied, got.unsatisfied, got.unanswered) == (
            want.satisfied,
            want.unsatisfied,
            want.unanswered,
        )
        assert [(o.code, o.deadline, o.due_at, o.done_at, o.late_hours) for o in overdue] == [
            (o.code, o.deadline, o.due_at, o.done_at, o.late_hours) for o in want.overdue
        ]
        assert got.overdue == len(want.overdue) > 0


async def test_medians_are_exact_among_durations_microseconds_apart(any_hotline: Hotline) -> None:
    """The database orders the durations exactly (microseconds on SQLite, intervals on
    PostgreSQL): cases a microsecond apart around 0.25 h, filed in a shuffled order, give
    the median `statistics.median` gives, on the right side of the rounding."""
    us = timedelta(microseconds=1)
    quarter = timedelta(minutes=15)  # 0.25 h: one microsecond decides 0.2 or 0.3
    shifts = [2, -1, 5, 1, -3]  # microseconds after the quarter, as filed

    def acknowledged(number: int, shift: int) -> Case:
        filed = T0 + number * H + (number * 7919 % 1_000_000) * us
        return _case(
            filed,
            code=f"PA20-{number + 1:06d}",
            seq=number + 1,
            status=CaseStatus.ACKNOWLEDGED.value,
            acknowledged_at=filed + quarter + shift * us,
            ack_due_at=filed + 2 * H,
        )

    # Five cases: the middle one is the quarter and a microsecond, 0.3 h once rounded; the
    # next one below it (a microsecond under the quarter) would give 0.2.
    cases = [acknowledged(n, shift) for n, shift in enumerate(shifts)]
    figures = await _figures_of(any_hotline, cases, T0 + 20 * H)
    ack = figures.deadlines[0]
    assert (ack.done, ack.median_hours) == (5, 0.3)
    # A sixth case: the median is the mean of the two middle ones, as Python computes it.
    sixth = acknowledged(5, -2)
    figures = await _figures_of(any_hotline, [sixth], T0 + 20 * H)
    exact = sorted((quarter + shift * us).total_seconds() / 3600 for shift in [*shifts, -2])
    assert figures.deadlines[0].done == 6
    assert figures.deadlines[0].median_hours == round(statistics.median(exact), 1)


def test_a_median_window_decides_only_when_nothing_outside_can_be_nearer() -> None:
    """The database orders by a key good to a millisecond: rows tied there may be out of
    order, so a window decides the median only when its edges are clear of the middle."""
    from bot.reports import _exact_middle

    us = timedelta(microseconds=1)
    exact = [H + n * 100 * us for n in range(5)]  # within a millisecond of each other
    keys = [3_600_000.0] * 5  # all the same key
    # 11 cases, this window holds ranks 3..7: the middle (rank 5) is among tied rows whose
    # order outside the window is unknown, so the window cannot decide.
    assert _exact_middle(keys, exact, done=11, first=3) is None
    # The same rows when the window reaches both ends of the data: it decides.
    assert _exact_middle(keys, exact, done=5, first=0) == round((H + 200 * us) / H, 1)
    # Edges clear of the middle by more than the keys' error: decided, exactly.
    spread = [H - 10 * us * 1000, *exact, H + 10 * us * 1000]
    spread_keys = [value.total_seconds() * 1000 for value in spread]
    assert _exact_middle(spread_keys, spread, done=11, first=2) == 1.0
    # A window that does not hold the middle ranks asks for a wider one.
    assert _exact_middle(spread_keys, spread, done=30, first=0) is None


async def test_a_median_read_again_while_the_overdue_list_streams(
    any_hotline: Hotline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forty durations within a millisecond: the rows read around the middle cannot order
    them, so the median is read again (another statement) while the report's statement
    still streams the overdue list; both come out whole and exact."""
    us = timedelta(microseconds=1)
    quarter = timedelta(minutes=15)
    shifts = [(n * 17) % 40 for n in range(40)]  # 0..39 µs, shuffled
    cases = []
    for number, shift in enumerate(shifts):
        filed = T0 + number * timedelta(minutes=1)
        cases.append(
            _case(
                filed,
                code=f"PA20-{number + 1:06d}",
                seq=number + 1,
                status=CaseStatus.ACKNOWLEDGED.value,
                acknowledged_at=filed + quarter + shift * us,
                ack_due_at=filed + timedelta(minutes=10),  # every one acknowledged late
            )
        )
    async with db.session_scope(any_hotline.sessionmaker) as s:
        reporter = await services.get_reporter(s, "telegram", "5550009")
        for case in cases:
            case.reporter_id = reporter.id or 0
            s.add(case)
    read_again: list[str] = []
    median_hours = reports._median_hours

    async def counted(*args: Any) -> float | None:
        read_again.append(args[2])
        return await median_hours(*args)

    monkeypatch.setattr(reports, "_median_hours", counted)
    async with db.read_scope(any_hotline.sessionmaker) as s:
        figures, document = await reports.build_report(s, GAZ, WEEK, as_of=T0 + 20 * H)
        overdue = [row async for row in exports.iterate(document.tables[-1].rows)]
    assert read_again == ["ack"]
    exact = sorted((quarter + shift * us).total_seconds() / 3600 for shift in shifts)
    ack = figures.deadlines[0]
    assert (ack.done, ack.missed) == (40, 40)
    assert ack.median_hours == round(statistics.median(exact), 1)
    assert len(overdue) == figures.overdue == 40
    assert [row[0] for row in overdue] == [case.code for case in cases]  # by due time
