"""The `hotline` command line: run the bot, manage the database and links, diagnostics."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from typing import Annotated

import typer

from bot.logs import configure_logging
from bot.settings import Settings

log = logging.getLogger("bot")

app = typer.Typer(
    help="Environmental-pollution hotline bot.", no_args_is_help=True, add_completion=False
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _settings() -> Settings:
    return Settings()


@app.command()
def run() -> None:
    """Apply migrations, then run the Telegram bot with long polling."""
    settings = _settings()
    configure_logging(settings.log_level)
    token = settings.require_token()
    settings.require_province()

    async def _main() -> None:
        from bot import db
        from bot.app import Hotline
        from bot.telegram.adapter import TelegramPolling

        await db.upgrade_async(settings.database_url)
        hotline = Hotline(settings)
        hotline.media.ensure_dir()
        polling = TelegramPolling(hotline, token, settings.telegram_api_url)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Stop taking updates, finish the ones in hand, then exit.
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(polling.stop()))
        log.info("hotline running for province %s", settings.province)
        try:
            await polling.run()
        finally:
            await hotline.close()
        log.info("hotline stopped")

    try:
        asyncio.run(_main())
    except KeyboardInterrupt:
        pass


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

    async def _issue() -> str:
        from bot import db, services

        await db.upgrade_async(settings.database_url)
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


@app.command()
def locate(
    query: Annotated[str | None, typer.Argument(help="address or 'lat,lon'")] = None,
) -> None:
    """Print the suggested wards of the province for an address or a point, best first."""
    from bot.geo import get_gazetteer

    gaz = get_gazetteer(_settings().require_province())

    def _rows(text: str) -> list[dict[str, object]]:
        result = gaz.locate(text)
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
        ] or (
            [{"outside": True, "other_province": result.other_province}] if result.outside else []
        )

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
) -> None:
    """Offline demo: a fake Bot API, the real bot, one report and its handling."""
    from bot.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(verbose=not quiet)))


def main() -> None:
    """Entry point of the `hotline` console script."""
    app()
