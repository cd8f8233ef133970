"""The `hotline` command line: run the bot, manage the database and links, diagnostics."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import typer

from bot import failpoints
from bot.logs import configure_logging
from bot.settings import Settings
from bot.web.cli import register as _register_serve
from bot.web.public.cli import register as _register_public

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from bot.exports import Document
    from models.tables import GroupLink

T = TypeVar("T")

log = logging.getLogger("bot")
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# Exit code of a command that needs the database when it is missing, unreachable or not
# migrated (README, Commands); 2 is bad input, 1 a failure while working.
EXIT_NO_DATABASE = 3

app = typer.Typer(
    help="Environmental-pollution hotline bot.", no_args_is_help=True, add_completion=False
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _settings() -> Settings:
    return Settings()


@app.command()
def run() -> None:
    """Apply migrations, then run every configured channel (Telegram, Zalo) with polling."""
    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    if settings.telegram_token() is None and settings.zalo_token() is None:
        raise SystemExit(
            "No channel configured: set HOTLINE_BOT_TOKEN (Telegram, from @BotFather), "
            "HOTLINE_ZALO_BOT_TOKEN (Zalo Bot Platform), or both."
        )
    settings.require_province()
    failpoints.configure()  # crash tests only; nothing is armed unless HOTLINE_FAILPOINTS

    async def _main() -> None:
        from bot import db
        from bot.app import Hotline
        from bot.channels import build_channels
        from bot.channels.runner import ChannelRunner

        await db.upgrade_async(settings.database_url)
        hotline = Hotline(settings)
        hotline.media.ensure_dir()
        runner = ChannelRunner(hotline, build_channels(hotline))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Stop taking updates, finish the ones in hand, then exit.
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(runner.stop()))
        log.info("hotline running for province %s", settings.province)
        try:
            await runner.run()
        finally:
            await hotline.close()
        log.info("hotline stopped")

    from bot.channels.telegram.errors import BotTokenRejected

    try:
        asyncio.run(_main())
    except KeyboardInterrupt:
        pass
    except BotTokenRejected as exc:  # nothing would work: say so plainly, exit non-zero
        log.error("%s", exc)
        raise SystemExit(f"error: {exc}") from None


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Apply database migrations (default: to the latest)."""
    from bot import db

    settings = _settings()
    db.upgrade(settings.database_url, revision)
    typer.echo(f"database at {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="target revision")]) -> None:
    """Revert database migrations down to REVISION ('base' for an empty database)."""
    from bot import db

    db.downgrade(_settings().database_url, revision)
    typer.echo(f"database at {revision}")


@db_app.command("backup")
def db_backup(
    path: Annotated[Path, typer.Argument(help="file to write the backup to")],
    force: Annotated[bool, typer.Option("--force", help="overwrite PATH if it exists")] = False,
) -> None:
    """Back up the database to PATH while the bot runs (SQLite; PostgreSQL: use pg_dump)."""
    from bot import db

    url = _settings().database_url
    if db.sqlite_file(url) is not None:
        _require_database(url)
    if db.sqlite_file(url) is None:
        typer.echo(
            "This command backs up SQLite databases. For PostgreSQL use pg_dump, "
            "which also works while the bot runs:\n"
            f"  {db.pg_dump_command(url, str(path))}\n"
            "and restore into an empty database with pg_restore (see README, Backups).",
            err=True,
        )
        raise typer.Exit(2)
    try:
        result = db.backup_sqlite(url, path, force=force)
    except db.BackupError as exc:
        typer.echo(f"backup failed: {exc}", err=True)
        raise typer.Exit(1) from None
    cases = "" if result.cases is None else f", {result.cases} cases"
    typer.echo(f"backup written to {result.path} ({result.size} bytes{cases})")


@app.command("link-code")
def link_code(
    ward: Annotated[str | None, typer.Option(help="5-digit ward code")] = None,
    province: Annotated[bool, typer.Option("--province", help="link the province group")] = False,
) -> None:
    """Print a one-time code that links a group chat to a ward (or to the province)."""
    settings = _settings()
    province_code = settings.require_province()
    if bool(ward) == province:
        raise typer.BadParameter("give exactly one of --ward CODE or --province")
    from bot.geo import get_gazetteer

    gaz = get_gazetteer(province_code)
    label = f"the province group of {gaz.province_name}"
    if ward:
        info = gaz.ward(ward.zfill(5))
        if info is None:
            typer.echo(f"No ward {ward} in {gaz.province_name}.", err=True)
            raise typer.Exit(2)
        ward = info.code
        label = f"{info.name} ({info.code})"

    _require_database(settings.database_url)

    async def _issue() -> str:
        from bot import db, services

        engine = db.make_engine(settings.database_url)
        try:
            async with db.session_scope(db.make_sessionmaker(engine)) as session:
                return await services.create_link_code(session, province_code, ward)
        finally:
            await engine.dispose()

    code = asyncio.run(_issue())
    typer.echo(f"Link code for {label}, valid 24 hours, single use.")
    typer.echo("In the group, send: /link <code>")
    typer.echo(code)


def _require_database(url: str) -> None:
    """End the command (exit code 3) unless the database exists and is migrated.

    Commands other than `run` and `db upgrade` never create or migrate the database: in a
    folder without it they would otherwise report on an empty one.
    """
    from bot import db

    try:
        asyncio.run(db.check_ready(url))
    except db.DatabaseNotReady as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_NO_DATABASE) from None


def _run_db(
    settings: Settings, work: Callable[[AsyncSession], Awaitable[T]], *, read_only: bool = False
) -> T:
    """Run `work(session)` in one transaction on the existing, migrated database.

    `read_only`: one consistent snapshot that holds no write lock (reports, lists).
    """
    _require_database(settings.database_url)

    async def _go() -> T:
        from bot import db

        engine = db.make_engine(settings.database_url)
        try:
            maker = db.make_sessionmaker(engine)
            scope = db.read_scope(maker) if read_only else db.session_scope(maker)
            async with scope as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(_go())


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(LOCAL_TZ).isoformat(timespec="minutes")


@app.command("links")
def links_cmd(
    all_: Annotated[bool, typer.Option("--all", help="include past (unlinked) links")] = False,
) -> None:
    """List the group links: active ones, or with --all their whole history."""
    from bot import services
    from bot.geo import get_gazetteer

    settings = _settings()
    gaz = get_gazetteer(settings.require_province())
    rows = _run_db(
        settings,
        lambda session: services.list_links(session, include_inactive=all_),
        read_only=True,
    )
    if not rows:
        typer.echo("no links" if all_ else "no active links (--all shows past ones)")
        return
    table = [("id", "channel", "chat", "ward", "linked at", "linked by", "unlinked at")]
    for link in rows:
        if link.ward_code is None:
            ward = f"province {link.province_code}"
        else:
            info = gaz.ward(link.ward_code)
            ward = f"{link.ward_code} {info.name if info else '?'}"
        table.append(
            (
                str(link.id),
                link.channel,
                link.chat_id,
                ward,
                _when(link.linked_at),
                link.linked_by,
                _when(link.unlinked_at) if not link.active else "-",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        typer.echo("  ".join([*cells, row[-1]]).rstrip())


# Group chat ids are negative: let "-1001234" be the argument, not an unknown option.
@app.command(context_settings={"ignore_unknown_options": True})
def unlink(
    target: Annotated[str, typer.Argument(help="group chat id, or link id (see `links`)")],
    channel: Annotated[str, typer.Option(help="channel of the chat id")] = "telegram",
    notify: Annotated[
        bool, typer.Option(help="tell the group it no longer receives cases")
    ] = True,
) -> None:
    """End a group's link: it stops receiving new cases and may no longer act on any."""
    from bot import services
    from bot.i18n import t
    from handlers.context import OFFICER_LOCALE
    from handlers.events import Outgoing
    from models.tables import GroupLink

    settings = _settings()
    settings.require_province()

    async def _work(session: AsyncSession) -> tuple[str, list[GroupLink]]:
        by_chat = await services.active_links_of_chat(session, channel, target)
        by_id = None
        if target.isdigit():
            by_id = await session.get(GroupLink, int(target))
        if by_chat and by_id is not None and by_id.active and by_id not in by_chat:
            return "ambiguous", [by_id, *by_chat]
        if by_chat:
            ended = by_chat
        elif by_id is not None and by_id.active:
            ended = [by_id]
        elif by_id is not None:
            return "inactive", [by_id]
        else:
            return "missing", []
        for link in ended:
            await services.end_link(session, link)
        if notify:
            for chat_channel, chat_id in sorted({(link.channel, link.chat_id) for link in ended}):
                text = t(OFFICER_LOCALE, "officer.unlinked_notice")
                await services.enqueue(session, chat_channel, Outgoing(chat_id=chat_id, text=text))
        return "ok", ended

    outcome, links = _run_db(settings, _work)
    if outcome == "ambiguous":
        first, *others = links
        typer.echo(
            f"{target} is both the id of link {first.id} (chat {first.chat_id}) and the chat "
            f"id of link(s) {', '.join(str(link.id) for link in others)}: unlink by the "
            "other id instead (see `hotline links`).",
            err=True,
        )
        raise typer.Exit(2)
    if outcome == "missing":
        typer.echo(f"no active link with chat id or link id {target}", err=True)
        raise typer.Exit(1)
    if outcome == "inactive":
        typer.echo(f"link {target} already ended at {_when(links[0].unlinked_at)}", err=True)
        raise typer.Exit(1)
    for link in links:
        typer.echo(f"unlinked: link {link.id}, {link.channel} chat {link.chat_id}")


@app.command()
def locate(
    query: Annotated[str | None, typer.Argument(help="address or 'lat,lon'")] = None,
) -> None:
    """Print the suggested wards of the province for an address or a point, best first.

    Each ward comes with its confidence ("score"); a place not recognised prints one line
    with "recognised": false and the score of the best guess, which the bot does not offer.
    """
    from bot.geo import get_gazetteer

    gaz = get_gazetteer(_settings().require_province())

    def _rows(text: str) -> list[dict[str, object]]:
        result = gaz.locate(text)
        if result.outside:
            return [{"outside": True, "other_province": result.other_province}]
        if not result.suggestions:
            return [{"recognised": False, "score": round(result.score, 3), "outside": False}]
        return [
            {
                "code": s.ward.code,
                "name": s.ward.name,
                "score": round(s.score, 3),
                "reason": s.reason,
                "distance_km": None if s.distance_km is None else round(s.distance_km, 3),
                "outside": result.outside,
            }
            for s in result.suggestions
        ]

    if query is not None:
        for row in _rows(query):
            typer.echo(json.dumps(row, ensure_ascii=False))
        return
    for line in sys.stdin:
        typer.echo(json.dumps(_rows(line.strip()), ensure_ascii=False))


@app.command("detect-language")
def detect_language_cmd(
    text: Annotated[str | None, typer.Argument(help="text to classify")] = None,
) -> None:
    """Print the detected language code of TEXT (or of each stdin line)."""
    from handlers.language import detect_language

    if text is not None:
        typer.echo(detect_language(text))
        return
    for line in sys.stdin:
        typer.echo(detect_language(line.rstrip("\n")))


@app.command()
def demo(
    quiet: Annotated[bool, typer.Option(help="print only the summary")] = False,
    library: Annotated[
        str, typer.Option("--library", help="Telegram runtime: aiogram or ptb")
    ] = "aiogram",
    channel: Annotated[
        str,
        typer.Option(help="the citizen's channel: telegram, or zalo (officers on Telegram)"),
    ] = "telegram",
) -> None:
    """Offline demo: a fake Bot API, the real bot, one report and its handling."""
    from bot.channels import TELEGRAM_LIBRARIES

    if library not in TELEGRAM_LIBRARIES:
        raise _input_error(f"--library must be one of {', '.join(TELEGRAM_LIBRARIES)}")
    if channel == "zalo":
        from bot.demo import run_zalo_demo

        raise typer.Exit(asyncio.run(run_zalo_demo(verbose=not quiet)))
    if channel != "telegram":
        raise _input_error(f"--channel {channel}: choose telegram or zalo")
    from bot.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(verbose=not quiet, library=library)))


# ---------------------------------------------------------------- reports for the province

contacts_app = typer.Typer(
    help="The wards' hotline contact points (the seed-001 table).", no_args_is_help=True
)
app.add_typer(contacts_app, name="contacts")

FormatOption = Annotated[
    str | None, typer.Option("--format", help="xlsx or csv (default: from -o, else xlsx)")
]
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "-o",
        "--output",
        help="file to write (CSV: one FILE_<table>.csv per table; default: a name with the "
        "period in the current directory)",
    ),
]


def _input_error(message: object) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _output_path(output: Path | None, fmt: str | None, stem: str) -> tuple[Path, str]:
    """Where to write and in which format; a ReportInputError for a contradiction."""
    from bot.exports import FORMATS
    from bot.reports import ReportInputError

    suffix = output.suffix.lower().lstrip(".") if output else ""
    chosen = (fmt or (suffix if suffix in FORMATS else "xlsx")).lower()
    if chosen not in FORMATS:
        raise ReportInputError(f"--format {fmt}: choose xlsx or csv")
    if output is None:
        return Path(f"{stem}.{chosen}"), chosen
    if suffix in FORMATS and suffix != chosen:
        raise ReportInputError(f"-o {output} does not match --format {chosen}")
    if not output.parent.is_dir():
        raise ReportInputError(f"-o {output}: the folder {output.parent} does not exist")
    return output, chosen


class _WriteFailed(Exception):
    """A report file could not be written (the message says which and why)."""


async def _write_document(document: Document, path: Path, fmt: str) -> list[Path]:
    """Write the document (its rows may stream from the open session); the files written."""
    from bot import exports

    try:
        return await exports.write(document, path, "csv" if fmt == "csv" else "xlsx")
    except OSError as exc:
        raise _WriteFailed(f"could not write {path}: {exc.strerror or exc}") from None


def _echo_written(files: list[Path]) -> None:
    for file in files:
        typer.echo(f"written: {file}")


def _period_request(
    from_: str, to: str, ward: str | None, fmt: str | None, output: Path | None, kind: str
) -> tuple[Settings, Any, Any, str | None, Path, str]:
    """Settings, gazetteer, period, ward and output file of a report or log-book command;
    bad input ends the command with a clear message and exit code 2."""
    from bot import reports
    from bot.geo import get_gazetteer

    settings = _settings()
    gaz = get_gazetteer(settings.require_province())
    stem_of = reports.report_file_stem if kind == "report" else reports.logbook_file_stem
    try:
        period = reports.parse_period(from_, to)
        ward_code = reports.resolve_ward(gaz, ward).code if ward is not None else None
        path, chosen = _output_path(output, fmt, stem_of(gaz, period, ward_code))
    except reports.ReportInputError as exc:
        raise _input_error(exc) from None
    return settings, gaz, period, ward_code, path, chosen


@app.command()
def report(
    from_: Annotated[str, typer.Option("--from", help="first day, YYYY-MM-DD (local time)")],
    to: Annotated[str, typer.Option("--to", help="last day, YYYY-MM-DD (included)")],
    ward: Annotated[str | None, typer.Option(help="only this ward (5-digit code)")] = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """Report on the cases filed in a period: counts, deadlines kept, satisfaction, overdue."""
    from bot import reports

    settings, gaz, period, ward_code, path, chosen = _period_request(
        from_, to, ward, fmt, output, "report"
    )

    async def _work(session: AsyncSession) -> tuple[reports.Figures, list[Path]]:
        figures, document = await reports.build_report(
            session, gaz, period, ward_code=ward_code, agency=settings.agency_name
        )
        return figures, await _write_document(document, path, chosen)

    try:
        figures, files = _run_db(settings, _work, read_only=True)
    except _WriteFailed as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    merged = f" ({figures.merged} merged duplicates not counted)" if figures.merged else ""
    typer.echo(
        f"{reports.province_label(gaz)}, cases filed {period.first} to {period.last}: "
        f"{figures.cases} cases{merged}"
    )
    ack, verify, result = figures.deadlines
    typer.echo(
        f"on time: acknowledge {ack.text()}, verify {verify.text()}, result {result.text()}; "
        f"missed deadlines: {figures.overdue}"
    )
    _echo_written(files)


@app.command()
def logbook(
    from_: Annotated[str, typer.Option("--from", help="first day, YYYY-MM-DD (local time)")],
    to: Annotated[str, typer.Option("--to", help="last day, YYYY-MM-DD (included)")],
    ward: Annotated[str | None, typer.Option(help="only this ward (5-digit code)")] = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """Write the hotline log book (sổ nhật ký) of the cases filed in a period (confidential)."""
    from bot import reports

    settings, gaz, period, ward_code, path, chosen = _period_request(
        from_, to, ward, fmt, output, "logbook"
    )

    async def _work(session: AsyncSession) -> tuple[int, list[Path]]:
        count, document = await reports.build_logbook(session, gaz, period, ward_code=ward_code)
        return count, await _write_document(document, path, chosen)

    try:
        count, files = _run_db(settings, _work, read_only=True)
    except _WriteFailed as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{count} cases filed {period.first} to {period.last}")
    _echo_written(files)


@contacts_app.command("set")
def contacts_set(
    ward: Annotated[str, typer.Option(help="5-digit ward code")],
    receive_phone: Annotated[str | None, typer.Option(help="receiving: phone")] = None,
    receive_email: Annotated[str | None, typer.Option(help="receiving: email")] = None,
    handle_phone: Annotated[str | None, typer.Option(help="handling: phone")] = None,
    handle_email: Annotated[str | None, typer.Option(help="handling: email")] = None,
    note: Annotated[str | None, typer.Option(help="note (ghi chú)")] = None,
) -> None:
    """Set a ward's contact points; only the options given change ("" clears one)."""
    from bot import reports, services
    from bot.geo import get_gazetteer

    settings = _settings()
    gaz = get_gazetteer(settings.require_province())
    try:
        info = reports.resolve_ward(gaz, ward)
        changes = reports.validate_contact(
            receive_phone=receive_phone,
            receive_email=receive_email,
            handle_phone=handle_phone,
            handle_email=handle_email,
            note=note,
        )
    except (reports.ReportInputError, reports.ContactError) as exc:
        raise _input_error(exc) from None
    if not changes.values:
        raise _input_error(
            "give at least one of --receive-phone, --receive-email, --handle-phone, "
            "--handle-email, --note"
        )
    for warning in changes.warnings:
        typer.echo(f"warning: {warning}", err=True)
    row = _run_db(settings, lambda s: services.save_ward_contact(s, info.code, changes.values))
    typer.echo(f"{info.name} ({info.code})")
    typer.echo(f"  receiving: {row.receive_phone or '-'}  {row.receive_email or '-'}")
    typer.echo(f"  handling:  {row.handle_phone or '-'}  {row.handle_email or '-'}")
    if row.note:
        typer.echo(f"  note: {row.note}")


@contacts_app.command("export")
def contacts_export(fmt: FormatOption = None, output: OutputOption = None) -> None:
    """Write the contact-point table of every ward of the province (seed-001 form)."""
    from bot import reports
    from bot.geo import get_gazetteer

    settings = _settings()
    gaz = get_gazetteer(settings.require_province())
    today = datetime.now(LOCAL_TZ).date()
    try:
        path, chosen = _output_path(output, fmt, reports.contacts_file_stem(gaz, today))
    except reports.ReportInputError as exc:
        raise _input_error(exc) from None

    async def _work(session: AsyncSession) -> tuple[reports.ContactsSummary, list[Path]]:
        summary, document = await reports.build_contacts(session, gaz)
        return summary, await _write_document(document, path, chosen)

    try:
        summary, files = _run_db(settings, _work, read_only=True)
    except _WriteFailed as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"{summary.wards} wards: {len(summary.missing)} without a contact point, "
        f"{len(summary.incomplete)} incomplete"
    )
    _echo_written(files)


# The public face's commands: `publish`, `apikey create|revoke|list` (bot/web/public/cli.py).
_register_public(app)
# Webhooks and several workers: `serve`, `webhook set|delete|info` (bot/web/cli.py).
_register_serve(app)


def main() -> None:
    """Entry point of the `hotline` console script."""
    app()
