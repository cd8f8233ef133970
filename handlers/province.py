"""The province group's /report: the period report as an XLSX document.

Periods: `/report` or `/report week` — the last 7 local days, today included;
`/report today`; `/report month` — the previous calendar month; `/report thang 11`
(`thang 11/2026`) — that month; `/report 2026-11-01 2026-11-30` or
`/report 01/11/2026 30/11/2026` — those days (one date: that day). Anything else is answered
with the accepted forms.

The update's transaction only answers "being prepared" and registers the work: the report is
read after it commits, from one read snapshot that takes no write lock (`db.read_scope`), in
a worker thread, so intake and officers' buttons go on meanwhile; the workbook is written
into a private
`reports/` folder of the media directory under a random name and queued through the outbox
as a document in a short transaction of its own. Ward groups are told the command is the
province group's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import db, reports, services
from bot.exports import write_xlsx
from bot.geo import fold
from bot.i18n import t
from handlers.context import LOCAL_TZ, OFFICER_LOCALE, HotlineDeps, Turn
from handlers.events import Outgoing
from handlers.officer import group_command
from models.tables import GroupLink
from models.types import utcnow

log = logging.getLogger(__name__)

REPORTS_DIR = "reports"  # inside HOTLINE_MEDIA_DIR
_WEEK = frozenset({"", "week", "tuan", "7", "7 ngay", "tuan nay"})
_TODAY = frozenset({"today", "hom nay", "homnay", "ngay"})
_MONTH_WORDS = frozenset({"month", "thang"})
_DATE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")
_FILLERS = frozenset({"tu", "from", "den", "to", "toi", "ngay"})


@dataclass(frozen=True)
class PeriodError(Exception):
    """A /report argument that names no period: the catalogue key and its placeholders."""

    key: str
    value: str = ""


def _parse_date(text: str) -> date:
    """2026-11-01, 01/11/2026, 1-11-2026 or 01.11.2026 (day first, as Vietnamese write)."""
    parts = re.split(r"[-/.]", text)
    try:
        if len(parts[0]) == 4:
            year, month, day = (int(p) for p in parts)
        else:
            day, month, year = (int(p) for p in parts)
        if year < 2000:
            raise ValueError(year)
        return date(year, month, day)
    except ValueError:
        raise PeriodError("officer.report_bad_date", text) from None


def _month(month: int, year: int | None, today: date) -> reports.Period:
    if not 1 <= month <= 12:
        raise PeriodError("officer.report_bad_month", str(month))
    if year is None:  # the last such month: this year's, or last year's if still to come
        year = today.year if month <= today.month else today.year - 1
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return reports.Period(first, following - timedelta(days=1))


def report_period(argument: str, today: date) -> reports.Period:
    """The period a /report argument asks for (Vietnamese words too, accents optional).

    Raises PeriodError for anything else, a date that does not exist or a reversed period.
    """
    dates = _DATE.findall(argument)
    words = fold(_DATE.sub(" ", argument))
    if dates:
        if len(dates) > 2 or any(w not in _FILLERS for w in words.split()):
            raise PeriodError("officer.report_usage")
        first, last = _parse_date(dates[0]), _parse_date(dates[-1])
        if first > last:
            raise PeriodError("officer.report_order", f"{first:%d/%m/%Y} > {last:%d/%m/%Y}")
        return reports.Period(first, last)
    if words in _WEEK:
        return reports.Period(today - timedelta(days=6), today)
    if words in _TODAY:
        return reports.Period(today, today)
    tokens = words.split()
    if tokens and tokens[0] in _MONTH_WORDS:
        numbers = [int(x) for x in tokens[1:] if x.isdigit()]
        if len(numbers) != len(tokens) - 1 or len(numbers) > 2:
            raise PeriodError("officer.report_usage")
        if not numbers:
            return reports.Period.previous_month(today)
        return _month(numbers[0], numbers[1] if len(numbers) == 2 else None, today)
    raise PeriodError("officer.report_usage")


def private_report_path(media_root: Path, suffix: str) -> tuple[Path, str]:
    """A fresh random file in the media directory's private reports folder: (path, relative)."""
    folder = media_root / REPORTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(media_root, 0o700)
    os.chmod(folder, 0o700)
    relative = f"{REPORTS_DIR}/{secrets.token_hex(16)}{suffix}"
    return media_root / relative, relative


@group_command("report")
async def on_report(turn: Turn, link: GroupLink) -> None:
    """Answer at once, and build the report once this update's transaction has committed."""
    if link.ward_code is not None:
        await turn.send("officer.report_province_only")
        return
    now = utcnow()
    try:
        period = report_period(turn.event.text or "", now.astimezone(LOCAL_TZ).date())
    except PeriodError as exc:
        await turn.send(exc.key, value=exc.value)
        return
    await turn.send("officer.report_preparing", period=period.label)
    job = _ReportJob(turn.deps, turn.event.channel, turn.event.chat_id, period, now)
    turn.reply.after_commit.append(job.run)


@dataclass(frozen=True)
class _ReportJob:
    """Build a period report outside the update's transaction and queue it as a document."""

    deps: HotlineDeps
    channel: str
    chat_id: str
    period: reports.Period
    as_of: datetime

    async def run(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        """Read and write the workbook from a snapshot, then queue it (or an apology).

        The reading and writing run in a worker thread with an event loop and a database
        connection of their own: writing a long workbook is CPU work that would otherwise
        hold every other chat's updates.
        """
        path, relative = private_report_path(self.deps.media.root, ".xlsx")
        url = sessionmaker.kw["bind"].url.render_as_string(hide_password=False)
        try:
            figures = await asyncio.to_thread(asyncio.run, self._build(url, path))
        except Exception:
            log.exception("report failed", extra={"chat": self.chat_id})
            path.unlink(missing_ok=True)
            async with db.session_scope(sessionmaker) as session:
                text = t(OFFICER_LOCALE, "officer.report_failed")
                await services.enqueue(
                    session, self.channel, Outgoing(chat_id=self.chat_id, text=text)
                )
            return
        gazetteer = self.deps.gazetteer
        ack, verify, result = figures.deadlines
        caption = t(
            OFFICER_LOCALE,
            "officer.report_caption",
            province=reports.province_label(gazetteer),
            period=self.period.label,
            cases=figures.cases,
            ack=ack.text(),
            verify=verify.text(),
            result=result.text(),
            overdue=figures.overdue,
        )
        filename = f"{reports.report_file_stem(gazetteer, self.period, None)}.xlsx"
        async with db.session_scope(sessionmaker) as session:
            await services.enqueue(
                session,
                self.channel,
                Outgoing(
                    chat_id=self.chat_id,
                    kind="document",
                    media=[{"path": relative, "kind": "document", "filename": filename}],
                    text=caption,
                ),
            )
        log.info("report queued", extra={"chat": self.chat_id})

    async def _build(self, url: str, path: Path) -> reports.Figures:
        """Build and write the report (in the worker thread's own loop); its figures."""
        engine = db.make_engine(url)
        try:
            async with db.read_scope(db.make_sessionmaker(engine)) as session:
                figures, document = await reports.build_report(
                    session,
                    self.deps.gazetteer,
                    self.period,
                    as_of=self.as_of,
                    agency=self.deps.agency_name,
                )
                await write_xlsx(document, path)
            return figures
        finally:
            await engine.dispose()
