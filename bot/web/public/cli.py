"""The commands of the public face: `hotline publish` and `hotline apikey create|revoke|list`.

Registered on the `hotline` command line by bot/cli.py (`register(app)`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from bot.web.public.publish import Published
    from models.tables import ApiKey

apikey_app = typer.Typer(
    help="API keys of the systems that file Open311 requests.", no_args_is_help=True
)


def publish(
    out: Annotated[Path, typer.Option("--out", help="folder to write the pages to")],
) -> None:
    """Write the public pages (home, results, stats) as static files into OUT."""
    from bot import cli
    from bot.geo import get_gazetteer
    from bot.web.public.publish import write_site
    from bot.web.public.site import site_info_of
    from models.types import utcnow

    settings = cli._settings()  # noqa: SLF001
    gaz = get_gazetteer(settings.require_province())
    info = site_info_of(settings, gaz)

    async def _work(session: AsyncSession) -> Published:
        return await write_site(session, gaz, info, out, now=utcnow())

    try:
        done = cli._run_db(settings, _work, read_only=True)  # noqa: SLF001
    except OSError as exc:
        typer.echo(f"error: cannot write to {out}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{done.files} files written to {out} ({done.cases} closed cases)")
    typer.echo(str(out / "index.html"))


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Option("--name", help="who the key is for, e.g. cong-dvc")],
) -> None:
    """Create an API key for Open311 POST requests; the key is the LAST line (shown once)."""
    from bot import cli
    from bot.services import apikeys

    settings = cli._settings()  # noqa: SLF001

    async def _work(session: AsyncSession) -> tuple[ApiKey, str]:
        return await apikeys.create_api_key(session, name)

    try:
        row, key = cli._run_db(settings, _work)  # noqa: SLF001
    except apikeys.ApiKeyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"API key {row.id} '{row.name}' created; only its hash is kept: copy it now.")
    typer.echo(key)


@apikey_app.command("revoke")
def apikey_revoke(
    name_or_id: Annotated[str, typer.Argument(help="the key's name or id (see `apikey list`)")],
) -> None:
    """Revoke an API key: requests made with it are refused (403) from now on."""
    from bot import cli
    from bot.services import apikeys

    settings = cli._settings()  # noqa: SLF001

    async def _work(session: AsyncSession) -> ApiKey:
        return await apikeys.revoke_api_key(session, name_or_id)

    try:
        row = cli._run_db(settings, _work)  # noqa: SLF001
    except apikeys.ApiKeyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"API key {row.id} '{row.name}' revoked")


@apikey_app.command("list")
def apikey_list() -> None:
    """List the API keys (names and dates; the keys themselves are not kept)."""
    from bot import cli
    from bot.services import apikeys

    settings = cli._settings()  # noqa: SLF001
    rows = cli._run_db(settings, apikeys.list_api_keys, read_only=True)  # noqa: SLF001
    if not rows:
        typer.echo("no API keys")
        return
    for row in rows:
        state = f"revoked {cli._when(row.revoked_at)}" if row.revoked_at else "active"  # noqa: SLF001
        typer.echo(f"{row.id}  {row.name}  created {cli._when(row.created_at)}  {state}")  # noqa: SLF001


def register(app: typer.Typer) -> None:
    """Add `publish` and `apikey` to the `hotline` command line."""
    app.command("publish")(publish)
    app.add_typer(apikey_app, name="apikey")
