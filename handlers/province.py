"""The province group's /report: last week's or last month's report as an XLSX document.

`/report` or `/report week`: the 7 local days before today (today is not over yet);
`/report month`: the previous calendar month. The workbook is written into a private
`reports/` folder of the media directory under a random name and sent through the outbox
as a document. Ward groups are told the command is the province group's.
"""

from __future__ import annotations

import logging
import os
import secrets
from datetime import date
from pathlib import Path

from bot import reports, services
from bot.exports import write_xlsx
from bot.geo import fold
from handlers.context import LOCAL_TZ, Turn
from handlers.events import Outgoing
from handlers.officer import group_command
from models.tables import GroupLink
from models.types import utcnow

log = logging.getLogger(__name__)

REPORTS_DIR = "reports"  # inside HOTLINE_MEDIA_DIR
_WEEK = frozenset({"", "week", "tuan", "7"})
_MONTH = frozenset({"month", "thang"})


def report_period(argument: str, today: date) -> reports.Period | None:
    """The period a /report argument asks for (Vietnamese words too), None if unknown."""
    words = fold(argument).split()
    word = words[0] if words else ""
    if word in _WEEK:
        return reports.Period.last_week(today)
    if word in _MONTH:
        return reports.Period.previous_month(today)
    return None


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
    """Build the period report and queue it as a document for the province group."""
    if link.ward_code is not None:
        await turn.send("officer.report_province_only")
        return
    now = utcnow()
    period = report_period(turn.event.text or "", now.astimezone(LOCAL_TZ).date())
    if period is None:
        await turn.send("officer.report_usage")
        return
    gazetteer = turn.deps.gazetteer
    figures, document = await reports.build_report(turn.session, gazetteer, period, as_of=now)
    path, relative = private_report_path(turn.deps.media.root, ".xlsx")
    write_xlsx(document, path)
    ack, verify, result = figures.deadlines
    caption = turn.text(
        "officer.report_caption",
        province=reports.province_label(gazetteer),
        period=period.label,
        cases=figures.cases,
        ack=ack.text(),
        verify=verify.text(),
        result=result.text(),
        overdue=len(figures.overdue),
    )
    filename = f"{reports.report_file_stem(gazetteer, period, None)}.xlsx"
    await services.enqueue(
        turn.session,
        turn.event.channel,
        Outgoing(
            chat_id=turn.event.chat_id,
            kind="document",
            media=[{"path": relative, "kind": "document", "filename": filename}],
            text=caption,
        ),
    )
    log.info("report queued", extra={"chat": turn.event.chat_id, "update": turn.event.update_id})
