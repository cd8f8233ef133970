"""Writers for the province's files: XLSX workbooks and CSV files, written as rows arrive.

A `Document` is a title and a list of `Table`s; `bot/reports.py` fills them, this module
only lays them out. A table's rows may be a list or an async iterator streaming from the
database: nothing here holds more than one row at a time, so a report of a million cases
takes no more memory than one of ten (openpyxl's write-only mode; CSV row by row).

Files are written to a temporary name beside the target, made private (0600: log books
hold reports' content and shared phone numbers) and renamed into place.

Excel keeps at most 1,048,576 rows in a sheet: a table that would pass it continues on
further sheets ("Quá hạn (2)", …), each with the same title and header rows.

CSV files are for Vietnamese Excel: `;` between fields and a decimal comma (57,1), as
Excel reads them with the Vietnamese regional settings (list separator `;`, decimal
symbol `,`); UTF-8 with a BOM so the accents show; times as YYYY-MM-DD HH:MM.
"""

from __future__ import annotations

import csv
import os
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from openpyxl.workbook import Workbook

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
Format = Literal["xlsx", "csv"]
FORMATS: tuple[Format, ...] = ("xlsx", "csv")
Cell = str | int | float | datetime | None
Rows = Sequence[Sequence[Cell]] | AsyncIterable[Sequence[Cell]]

EXCEL_MAX_ROWS = 1_048_576  # rows in one Excel sheet
CSV_DELIMITER = ";"  # Vietnamese Excel's list separator
CSV_DECIMAL = ","  # ... and its decimal symbol
# Excel's limit on sheet names, and the characters it refuses in them.
_SHEET_NAME_MAX = 31
_SHEET_NAME_BAD = str.maketrans({c: "-" for c in "[]:*?/\\"})
_DATE_FORMAT = "dd/mm/yyyy hh:mm"
_DECIMAL_FORMAT = "0.0"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_HEADER_COLOUR = "DDEBF7"
_LINE_COLOUR = "808080"


@dataclass(frozen=True)
class Chart:
    """A native Excel bar chart of one table: categories from a column, series from others."""

    title: str
    categories: int  # column index of the labels
    series: tuple[int, ...]  # column indexes of the values (their headers name the series)
    horizontal: bool = False  # bars instead of columns (long lists such as the wards)
    y_title: str = ""
    skip_last_row: bool = False  # a totals row is not a category
    height_cm: float = 7.5
    width_cm: float = 16.0


@dataclass(frozen=True)
class Table:
    """One table: a sheet of the workbook (or part of one), and one CSV file.

    `groups`, when given, is a first header row over `headers`: (label, span) pairs covering
    every column; a label of None spans one column whose header then fills both rows (the
    two-level header of the seed-001 contact form). Tables with the same `sheet` share one
    sheet, one under the other, each under its title.
    """

    key: str  # CSV file-name suffix: <stem>_<key>.csv
    title: str  # sheet name, or the table's heading on a shared sheet
    headers: tuple[str, ...]
    rows: Rows
    widths: tuple[int, ...]
    groups: tuple[tuple[str | None, int], ...] = ()
    wrap: frozenset[int] = frozenset()  # columns whose long text wraps
    bold_last_row: bool = False  # a totals row
    decimals: frozenset[int] = frozenset()  # columns shown with one decimal (57,1)
    sheet: str | None = None  # the sheet it is on, when shared; else its title
    chart: Chart | None = None
    # Cell borders; long streamed tables go without (each styled cell costs) and print
    # with gridlines instead.
    borders: bool = True

    @property
    def sheet_title(self) -> str:
        """The name of the sheet the table is on."""
        return self.sheet or self.title


@dataclass(frozen=True)
class OfficialHeader:
    """The heading of an official document: the agency, Quốc hiệu and Tiêu ngữ, place and date."""

    agency: str  # e.g. SỞ NÔNG NGHIỆP VÀ MÔI TRƯỜNG TỈNH LẠNG SƠN
    place_date: str  # e.g. Lạng Sơn, ngày 20 tháng 11 năm 2026
    superior: str = ""  # the line above the agency, e.g. UBND TỈNH LẠNG SƠN


NATIONAL_NAME = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
NATIONAL_MOTTO = "Độc lập - Tự do - Hạnh phúc"
SIGNERS = (("NGƯỜI LẬP BIỂU", "(Ký, ghi rõ họ tên)"), ("THỦ TRƯỞNG ĐƠN VỊ", "(Ký tên, đóng dấu)"))


@dataclass(frozen=True)
class Document:
    """A titled set of tables; each sheet repeats the title and the note lines."""

    title: str
    notes: tuple[str, ...] = ()
    tables: tuple[Table, ...] = field(default_factory=tuple)
    official: OfficialHeader | None = None  # on every sheet when given
    signature_sheet: str | None = None  # the sheet that ends with the signature block


def local_naive(moment: datetime) -> datetime:
    """A UTC moment as the local wall-clock time Excel shows (Excel has no time zones)."""
    return moment.astimezone(LOCAL_TZ).replace(tzinfo=None)


async def iterate(rows: Rows) -> AsyncIterator[Sequence[Cell]]:
    """The rows of a table, whether a list or a stream."""
    if isinstance(rows, AsyncIterable):
        async for row in rows:
            yield row
    else:
        for row in rows:
            yield row


def _csv_value(value: Cell) -> str | int:
    if value is None:
        return ""
    if isinstance(value, datetime):
        # ISO order: Excel and LibreOffice read it as a date whatever the reader's locale.
        return value.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        return repr(value).replace(".", CSV_DECIMAL)
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


def continued_name(title: str, part: int) -> str:
    """The name of the `part`-th sheet of a table too long for one: 'Quá hạn (2)'."""
    suffix = f" ({part})"
    return sheet_name(title)[: _SHEET_NAME_MAX - len(suffix)] + suffix


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
        self.center = Alignment(horizontal="center", vertical="center")
        self.top = Alignment(vertical="top")
        self.top_wrap = Alignment(vertical="top", wrap_text=True)


def _xlsx_text(value: str) -> str:
    """Text as openpyxl accepts it: without the control characters XML cannot carry."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return str(ILLEGAL_CHARACTERS_RE.sub("", value))


class _SheetWriter:
    """Writes one sheet row by row (openpyxl write-only): the document's top, then tables."""

    def __init__(
        self, book: Workbook, name: str, document: Document, widths: Sequence[int], styles: _Styles
    ) -> None:
        from openpyxl.utils import get_column_letter
        from openpyxl.worksheet.properties import PageSetupProperties

        self.sheet: Any = book.create_sheet(name)
        self.name = name
        self._style_ids: dict[tuple[tuple[str, int], ...], Any] = {}
        self._keep: list[dict[str, Any]] = []
        self.styles = styles
        self.columns = max(len(widths), 1)
        self.row = 0
        for column, width in enumerate(widths, start=1):
            self.sheet.column_dimensions[get_column_letter(column)].width = width
        # Print setup: landscape A4, as wide as the page, as many pages down as needed.
        self.sheet.page_setup.orientation = "landscape"
        self.sheet.page_setup.paperSize = 9
        self.sheet.page_setup.fitToWidth = 1
        self.sheet.page_setup.fitToHeight = 0
        self.sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
        self.document = document

    def cell(self, value: Cell, **style: Any) -> Any:
        """A write-only cell with a style (font, alignment, border, fill, number_format).

        Each distinct style is registered with the workbook once and then copied by its
        ids: registering it again for every cell (hashing the style objects) is what made
        a large sheet slow.
        """
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles.cell_style import StyleArray

        cell = WriteOnlyCell(self.sheet, value=value)
        if style:
            key = tuple(sorted((name, id(given)) for name, given in style.items()))
            ids = self._style_ids.get(key)
            if ids is None:
                for name, given in style.items():
                    setattr(cell, name, given)
                self._style_ids[key] = StyleArray(cell._style)
                self._keep.append(style)  # the ids above stay valid while these live
            else:
                cell._style = StyleArray(ids)
        return cell

    def append(self, values: Sequence[Any]) -> None:
        self.sheet.append(values)
        self.row += 1

    def merge(self, first: int, last: int, row: int | None = None) -> None:
        if last > first:
            row = row or self.row
            self.sheet.merged_cells.add(f"{self._letter(first)}{row}:{self._letter(last)}{row}")

    @staticmethod
    def _letter(column: int) -> str:
        from openpyxl.utils import get_column_letter

        return get_column_letter(column)

    def top(self, continued: bool = False) -> None:
        """The official header (when given), the title, the notes and an empty row."""
        styles, official = self.styles, self.document.official
        if official is not None:
            split = max(1, self.columns // 2)
            right = split + 1 if self.columns > 1 else 1
            lines = [
                (official.superior, NATIONAL_NAME),
                (official.agency, NATIONAL_MOTTO),
                ("", official.place_date),
            ]
            for number, (left, national) in enumerate(lines):
                row: list[Any] = [None] * self.columns
                if left:
                    row[0] = self.cell(left, font=styles.bold, alignment=styles.center)
                font = styles.note if number == 2 else styles.bold
                row[right - 1] = self.cell(national, font=font, alignment=styles.center)
                self.append(row)
                if right > 1:
                    self.merge(1, split)
                self.merge(right, self.columns)
            self.append([])
        self.append([self.cell(self.document.title, font=styles.title)])
        for note in self.document.notes:
            self.append([self.cell(note, font=styles.note)])
        if continued:
            self.append([self.cell("(tiếp theo)", font=styles.note)])
        self.append([])

    def header(self, table: Table) -> tuple[int, int]:
        """The table's header row(s); returns their first and last row numbers."""
        styles = self.styles
        first = self.row + 1

        def head(text: str | None) -> Any:
            return self.cell(
                text,
                font=styles.bold,
                fill=styles.header_fill,
                border=styles.box,
                alignment=styles.header_align,
            )

        if not table.groups:
            self.append([head(h) for h in table.headers])
            return first, first
        top: list[Any] = []
        bottom: list[Any] = []
        merges: list[tuple[int, int, int, int]] = []
        column = 1
        for label, span in table.groups:
            if label is None:
                top.append(head(table.headers[column - 1]))
                bottom.append(head(None))
                merges.append((first, column, first + 1, column))
            else:
                for inner in range(column, column + span):
                    top.append(head(label if inner == column else None))
                    bottom.append(head(table.headers[inner - 1]))
                if span > 1:
                    merges.append((first, column, first, column + span - 1))
            column += span
        self.append(top)
        self.append(bottom)
        for r1, c1, r2, c2 in merges:
            self.sheet.merged_cells.add(f"{self._letter(c1)}{r1}:{self._letter(c2)}{r2}")
        return first, first + 1

    def data_row(self, table: Table, values: Sequence[Cell], *, bold: bool = False) -> None:
        styles = self.styles
        out: list[Any] = []
        for column, value in enumerate(values):
            style: dict[str, Any] = {}
            if table.borders:
                style["border"] = styles.box
            if table.borders or table.wrap:
                style["alignment"] = styles.top_wrap if column in table.wrap else styles.top
            if bold:
                style["font"] = styles.bold
            if isinstance(value, datetime):
                out.append(self.cell(local_naive(value), number_format=_DATE_FORMAT, **style))
            elif isinstance(value, str):
                text = _xlsx_text(value)
                if not style and not text.startswith(_FORMULA_STARTS):
                    out.append(text)  # a plain cell: openpyxl writes it without a style
                    continue
                cell = self.cell(text, **style)
                # Text people typed is never a formula ("=HYPERLINK(...)" stays text).
                cell.data_type = "s"
                out.append(cell)
            elif isinstance(value, float) and column in table.decimals:
                out.append(self.cell(value, number_format=_DECIMAL_FORMAT, **style))
            elif style:
                out.append(self.cell(value, **style))
            else:
                out.append(value)
        self.append(out)

    def signature(self) -> None:
        """Người lập biểu on the left, Thủ trưởng đơn vị on the right, room to sign below."""
        styles = self.styles
        split = max(1, self.columns // 2)
        right = split + 1 if self.columns > 1 else 1
        self.append([])
        for number in range(2):
            row: list[Any] = [None] * max(self.columns, 2)
            font = styles.bold if number == 0 else styles.note
            row[0] = self.cell(SIGNERS[0][number], font=font, alignment=styles.center)
            row[max(right, 2) - 1] = self.cell(
                SIGNERS[1][number], font=font, alignment=styles.center
            )
            self.append(row)
            if right > 1:
                self.merge(1, split)
                self.merge(right, self.columns)


async def write_xlsx(document: Document, path: Path, *, max_rows: int = EXCEL_MAX_ROWS) -> Path:
    """Write the document as a workbook (one sheet per table, or per shared `sheet`).

    Each sheet: the official header (when given), the title (bold), the note lines, an
    empty row, the bold header row(s) (frozen on a sheet of one table, repeated on every
    printed page), then the rows; datetimes as local dates. Landscape, fit to the page's
    width. A table longer than `max_rows` allows continues on further sheets.
    """
    from openpyxl import Workbook

    styles = _Styles()
    book = Workbook(write_only=True)
    sheets: dict[str, list[Table]] = {}
    for table in document.tables:
        sheets.setdefault(table.sheet_title, []).append(table)
    for title, tables in sheets.items():
        widths = [max(w) for w in _zip_longest_widths(t.widths for t in tables)]
        if len(tables) == 1:
            await _write_single(book, document, tables[0], widths, styles, max_rows)
        else:
            await _write_shared(book, document, title, tables, widths, styles)
    tmp = _tmp_beside(path)
    try:
        book.save(tmp)
        _private_replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _zip_longest_widths(widths: Iterable[tuple[int, ...]]) -> list[list[int]]:
    columns: list[list[int]] = []
    for row in widths:
        for index, width in enumerate(row):
            if index == len(columns):
                columns.append([])
            columns[index].append(width)
    return columns


async def _write_single(
    book: Workbook,
    document: Document,
    table: Table,
    widths: Sequence[int],
    styles: _Styles,
    max_rows: int,
) -> None:
    """A sheet of one table, continued on further sheets past `max_rows` rows."""
    part = 1
    writer = _start_single(book, document, table, widths, styles, part)
    pending: Sequence[Cell] | None = None  # one row behind: the last row may be bold
    async for values in iterate(table.rows):
        if pending is not None:
            if writer.row >= max_rows:
                part += 1
                writer = _start_single(book, document, table, widths, styles, part)
            writer.data_row(table, pending)
        pending = values
    if pending is not None:
        if writer.row >= max_rows:
            part += 1
            writer = _start_single(book, document, table, widths, styles, part)
        writer.data_row(table, pending, bold=table.bold_last_row)
    if document.signature_sheet == table.sheet_title:
        writer.signature()


def _start_single(
    book: Workbook,
    document: Document,
    table: Table,
    widths: Sequence[int],
    styles: _Styles,
    part: int,
) -> _SheetWriter:
    name = sheet_name(table.title) if part == 1 else continued_name(table.title, part)
    writer = _SheetWriter(book, name, document, widths, styles)
    header_rows = 2 if table.groups else 1
    top_rows = (4 if document.official else 0) + 2 + len(document.notes) + (part > 1)
    first_data = top_rows + header_rows + 1
    writer.sheet.freeze_panes = f"A{first_data}"  # before the first row is written
    writer.top(continued=part > 1)
    first, last = writer.header(table)
    if first + header_rows != first_data:  # pragma: no cover - the layout above changed
        raise AssertionError("sheet layout out of step with its frozen panes")
    writer.sheet.print_title_rows = f"{first}:{last}"
    writer.sheet.print_options.gridLines = not table.borders
    return writer


async def _write_shared(
    book: Workbook,
    document: Document,
    title: str,
    tables: list[Table],
    widths: Sequence[int],
    styles: _Styles,
) -> None:
    """A sheet of several small tables, one under the other, with their charts beside."""
    from openpyxl.chart import BarChart, Reference

    writer = _SheetWriter(book, sheet_name(title), document, widths, styles)
    writer.top()
    chart_row = writer.row + 1
    for table in tables:
        writer.append([writer.cell(table.title, font=styles.bold)])
        first, last = writer.header(table)
        rows = [list(values) async for values in iterate(table.rows)]
        for index, values in enumerate(rows):
            bold = table.bold_last_row and index == len(rows) - 1
            writer.data_row(table, values, bold=bold)
        if table.chart is not None and rows:
            spec = table.chart
            data_last = writer.row - (1 if spec.skip_last_row else 0)
            chart = BarChart()
            chart.type = "bar" if spec.horizontal else "col"
            chart.title = spec.title
            chart.y_axis.title = spec.y_title or None
            for column in spec.series:
                values_ref = Reference(
                    writer.sheet,
                    min_col=column + 1,
                    max_col=column + 1,
                    min_row=last,
                    max_row=data_last,
                )
                chart.add_data(values_ref, titles_from_data=True)
            labels = Reference(
                writer.sheet,
                min_col=spec.categories + 1,
                min_row=last + 1,
                max_row=data_last,
            )
            chart.set_categories(labels)
            chart.height, chart.width = spec.height_cm, spec.width_cm
            column_letter = writer._letter(len(widths) + 2)
            writer.sheet.add_chart(chart, f"{column_letter}{chart_row}")
            chart_row += int(spec.height_cm * 2) + 2
        writer.append([])
    if document.signature_sheet == title:
        writer.signature()


async def write_csv(document: Document, path: Path) -> list[Path]:
    """Write each table as a CSV file for Vietnamese Excel (see the module docstring)."""
    targets = csv_paths(document, path)
    for table, target in zip(document.tables, targets, strict=True):
        tmp = _tmp_beside(target)
        try:
            with tmp.open("w", encoding="utf-8-sig", newline="") as fh:
                writer = csv.writer(fh, delimiter=CSV_DELIMITER)
                writer.writerow(_flat_headers(table))
                async for values in iterate(table.rows):
                    writer.writerow([_csv_value(value) for value in values])
            _private_replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    return targets


def csv_paths(document: Document, path: Path) -> list[Path]:
    """Where `write_csv` puts each table: one file per table, <stem>_<key>.csv beside PATH.

    A document of one table is written to PATH itself (with a .csv suffix).
    """
    if len(document.tables) == 1:
        return [path.with_suffix(".csv")]
    return [path.with_name(f"{path.stem}_{table.key}.csv") for table in document.tables]


async def write(document: Document, path: Path, fmt: Format) -> list[Path]:
    """Write the document in `fmt`; returns the files written."""
    if fmt == "xlsx":
        return [await write_xlsx(document, path)]
    return await write_csv(document, path)
