"""Writers for the province's files: XLSX workbooks (one sheet per table) and CSV files.

A `Document` is a title and a list of `Table`s; `bot/reports.py` fills them, this module
only lays them out. Files are written to a temporary name beside the target, made private
(0600: log books hold reports' content and shared phone numbers) and renamed into place.
"""

from __future__ import annotations

import csv
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
Format = Literal["xlsx", "csv"]
FORMATS: tuple[Format, ...] = ("xlsx", "csv")
Cell = str | int | float | datetime | None

# Excel's limit on sheet names, and the characters it refuses in them.
_SHEET_NAME_MAX = 31
_SHEET_NAME_BAD = str.maketrans({c: "-" for c in "[]:*?/\\"})
_DATE_FORMAT = "dd/mm/yyyy hh:mm"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_HEADER_COLOUR = "DDEBF7"
_LINE_COLOUR = "808080"


@dataclass(frozen=True)
class Table:
    """One table: a sheet of the workbook, or one CSV file.

    `groups`, when given, is a first header row over `headers`: (label, span) pairs covering
    every column; a label of None spans one column whose header then fills both rows (the
    two-level header of the seed-001 contact form).
    """

    key: str  # CSV file-name suffix: <stem>_<key>.csv
    title: str  # sheet name
    headers: tuple[str, ...]
    rows: Sequence[Sequence[Cell]]
    widths: tuple[int, ...]
    groups: tuple[tuple[str | None, int], ...] = ()
    wrap: frozenset[int] = frozenset()  # columns whose long text wraps
    bold_last_row: bool = False  # a totals row


@dataclass(frozen=True)
class Document:
    """A titled set of tables; each sheet repeats the title and the note lines."""

    title: str
    notes: tuple[str, ...] = ()
    tables: tuple[Table, ...] = field(default_factory=tuple)


def local_naive(moment: datetime) -> datetime:
    """A UTC moment as the local wall-clock time Excel shows (Excel has no time zones)."""
    return moment.astimezone(LOCAL_TZ).replace(tzinfo=None)


def _csv_value(value: Cell) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, datetime):
        # ISO order: Excel and LibreOffice read it as a date whatever the reader's locale.
        return value.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        # Text people typed must not run as a formula when the file is opened (OWASP).
        return "'" + value
    return value


def _flat_headers(table: Table) -> list[str]:
    """Header names for a one-row header: 'Group - header' under a group label."""
    if not table.groups:
        return list(table.headers)
    names: list[str] = []
    column = 0
    for label, span in table.groups:
        for header in table.headers[column : column + span]:
            names.append(header if label is None else f"{label} - {header}")
        column += span
    return names


def _private_replace(tmp: Path, target: Path) -> None:
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)


def _tmp_beside(target: Path) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")


def sheet_name(title: str) -> str:
    """A name Excel accepts for a sheet."""
    return title.translate(_SHEET_NAME_BAD)[:_SHEET_NAME_MAX]


class _Styles:
    """openpyxl's style objects, made when a workbook is written (openpyxl loads lazily)."""

    def __init__(self) -> None:
        from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

        line = Side(style="thin", color=_LINE_COLOUR)
        self.box = Border(left=line, right=line, top=line, bottom=line)
        self.title = Font(bold=True, size=13)
        self.note = Font(italic=True)
        self.bold = Font(bold=True)
        self.header_fill = PatternFill("solid", fgColor=_HEADER_COLOUR)
        self.header_align = Alignment(horizontal="center", vertical="center", wrap_text=True)
        self.top = Alignment(vertical="top")
        self.top_wrap = Alignment(vertical="top", wrap_text=True)


def _xlsx_text(value: str) -> str:
    """Text as openpyxl accepts it: without the control characters XML cannot carry."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return str(ILLEGAL_CHARACTERS_RE.sub("", value))


def write_xlsx(document: Document, path: Path) -> Path:
    """Write the document as a workbook with one sheet per table; returns the path.

    Each sheet: the title (bold), the note lines, an empty row, the bold header row(s)
    (frozen, so they stay in view), then the rows; datetimes as local dates.
    """
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    styles = _Styles()
    book = Workbook()
    book.remove(book.active)
    for table in document.tables:
        sheet = book.create_sheet(sheet_name(table.title))
        sheet.cell(row=1, column=1, value=document.title).font = styles.title
        row = 2
        for note in document.notes:
            sheet.cell(row=row, column=1, value=note).font = styles.note
            row += 1
        header_row = row + 1
        if table.groups:
            _write_grouped_header(sheet, table, header_row, styles)
            first_data = header_row + 2
        else:
            for column, header in enumerate(table.headers, start=1):
                _header_cell(sheet, header_row, column, header, styles)
            first_data = header_row + 1
        for offset, values in enumerate(table.rows):
            for column, value in enumerate(values, start=1):
                cell = sheet.cell(row=first_data + offset, column=column)
                if isinstance(value, datetime):
                    cell.value = local_naive(value)
                    cell.number_format = _DATE_FORMAT
                elif isinstance(value, str):
                    cell.value = _xlsx_text(value)
                    # Text people typed is never a formula ("=HYPERLINK(...)" stays text).
                    cell.data_type = "s"
                else:
                    cell.value = value
                cell.border = styles.box
                cell.alignment = styles.top_wrap if column - 1 in table.wrap else styles.top
                if table.bold_last_row and offset == len(table.rows) - 1:
                    cell.font = styles.bold
        for column, width in enumerate(table.widths, start=1):
            sheet.column_dimensions[get_column_letter(column)].width = width
        sheet.freeze_panes = sheet.cell(row=first_data, column=1)
    tmp = _tmp_beside(path)
    try:
        book.save(tmp)
        _private_replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _header_cell(
    sheet: Worksheet, row: int, column: int, text: str | None, styles: _Styles
) -> None:
    cell = sheet.cell(row=row, column=column, value=text)
    cell.font = styles.bold
    cell.fill = styles.header_fill
    cell.border = styles.box
    cell.alignment = styles.header_align


def _write_grouped_header(sheet: Worksheet, table: Table, top: int, styles: _Styles) -> None:
    """Two header rows: group labels merged across their columns, lone headers downwards."""
    column = 1
    for label, span in table.groups:
        if label is None:
            _header_cell(sheet, top, column, table.headers[column - 1], styles)
            _header_cell(sheet, top + 1, column, None, styles)
            sheet.merge_cells(
                start_row=top, start_column=column, end_row=top + 1, end_column=column
            )
        else:
            for inner in range(column, column + span):
                _header_cell(sheet, top, inner, label if inner == column else None, styles)
                _header_cell(sheet, top + 1, inner, table.headers[inner - 1], styles)
            if span > 1:
                sheet.merge_cells(
                    start_row=top, start_column=column, end_row=top, end_column=column + span - 1
                )
        column += span


def csv_paths(document: Document, path: Path) -> list[Path]:
    """Where `write_csv` puts each table: one file per table, <stem>_<key>.csv beside PATH.

    A document of one table is written to PATH itself (with a .csv suffix).
    """
    if len(document.tables) == 1:
        return [path.with_suffix(".csv")]
    return [path.with_name(f"{path.stem}_{table.key}.csv") for table in document.tables]


def write_csv(document: Document, path: Path) -> list[Path]:
    """Write each table as a CSV file (UTF-8 with a BOM, so Excel reads the accents)."""
    targets = csv_paths(document, path)
    for table, target in zip(document.tables, targets, strict=True):
        tmp = _tmp_beside(target)
        try:
            with tmp.open("w", encoding="utf-8-sig", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(_flat_headers(table))
                for values in table.rows:
                    writer.writerow([_csv_value(value) for value in values])
            _private_replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    return targets


def write(document: Document, path: Path, fmt: Format) -> list[Path]:
    """Write the document in `fmt`; returns the files written."""
    if fmt == "xlsx":
        return [write_xlsx(document, path)]
    return write_csv(document, path)
