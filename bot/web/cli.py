"""The commands of the served hotline: `hotline serve` and `hotline webhook set|delete|info`.

Registered on the `hotline` command line by bot/cli.py (`register(app)`).
"""

from __future__ import annotations

import asyncio
import json
import signal
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from bot.app import Hotline
    from bot.settings import Settings

webhook_app = typer.Typer(
    help="Register the channels' webhooks (a deploy step, run once).", no_args_is_help=True
)

ChannelOption = Annotated[str, typer.Option("--channel", help="the channel: telegram or zalo")]


def serve(
    migrate: Annotated[
        bool,
        typer.Option(
            "--migrate/--no-migrate",
            help="apply the database migrations first (one worker at a time)",
        ),
    ] = True,
) -> None:
    """Serve webhooks, /healthz, /readyz, /metrics, the public pages and Open311.

    Any number of workers may share one PostgreSQL database; one of them sends.
    """
    from bot import cli, failpoints
    from bot.logs import configure_logging

    settings = cli._settings()  # noqa: SLF001
    configure_logging(settings.log_level, settings.log_format)
    if settings.telegram_token() is None and settings.zalo_token() is None:
        raise SystemExit(
            "No channel configured: set HOTLINE_BOT_TOKEN (Telegram, from @BotFather), "
            "HOTLINE_ZALO_BOT_TOKEN (Zalo Bot Platform), or both."
        )
    settings.require_province()
    failpoints.configure()

    async def _main() -> int:
        from bot.app import Hotline
        from bot.channels import build_channels
        from bot.web.leader import EXIT_LOST_LEADERSHIP, upgrade_once
        from bot.web.server import HotlineServer

        if migrate:
            await upgrade_once(settings.database_url)
        hotline = Hotline(settings)
        hotline.media.ensure_dir()
        server = HotlineServer(
            hotline,
            build_channels(hotline),
            host=settings.serve_host,
            port=settings.serve_port,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.stop)
        cli.log.info("hotline serving for province %s", settings.province)
        try:
            await server.run()
        finally:
            await hotline.close()
        cli.log.info("hotline stopped")
        return EXIT_LOST_LEADERSHIP if server.lost_leadership else 0

    try:
        code = asyncio.run(_main())
    except KeyboardInterrupt:
        code = 0
    if code:
        raise typer.Exit(code)


def _admin(settings: Settings, channel_name: str) -> tuple[Any, Hotline | None]:
    """What registers the configured channel's webhook, and the hotline core it was built
    on (None for Telegram's: raw HTTP, so neither the runtime's client library nor the core
    is imported and this deploy step starts in a second)."""
    if channel_name == "telegram" and settings.telegram_token():
        from bot.channels.telegram.webhook import TelegramWebhookAdmin

        return TelegramWebhookAdmin(settings.telegram_api_url, settings.require_token()), None
    from bot.app import Hotline
    from bot.channels import build_channels, zalo_channel

    hotline = Hotline(settings)
    zalo_token = settings.zalo_token()
    if channel_name == "zalo" and zalo_token:
        return zalo_channel(hotline, zalo_token, settings.zalo_api_url), hotline
    if settings.telegram_token() is None and zalo_token is None:
        build_channels(hotline)  # exits, saying that no channel is configured
    raise typer.BadParameter(f"the channel {channel_name!r} is not configured")


def _secret_of(settings: Settings, channel_name: str) -> str:
    if channel_name == "telegram":
        secret = settings.telegram_webhook_secret
        if secret is None or not secret.get_secret_value():
            typer.echo("HOTLINE_TELEGRAM_WEBHOOK_SECRET is not set.", err=True)
            raise typer.Exit(2)
        return secret.get_secret_value()
    value = getattr(settings, f"{channel_name}_webhook_secret", None)
    if value is None:
        typer.echo(f"HOTLINE_{channel_name.upper()}_WEBHOOK_SECRET is not set.", err=True)
        raise typer.Exit(2)
    return str(value.get_secret_value() if hasattr(value, "get_secret_value") else value)


def _webhook_action(channel_name: str, action: str) -> None:
    from bot import cli

    settings = cli._settings()  # noqa: SLF001
    settings.require_province()

    async def _go() -> str:
        admin, hotline = _admin(settings, channel_name)
        try:
            if action == "set":
                if not settings.public_url:
                    typer.echo("HOTLINE_PUBLIC_URL is not set (the https base URL).", err=True)
                    raise typer.Exit(2)
                if not settings.public_url.startswith("https://"):
                    typer.echo("HOTLINE_PUBLIC_URL must start with https://", err=True)
                    raise typer.Exit(2)
                url = f"{settings.public_url}/webhook/{channel_name}"
                await admin.set_webhook(url, _secret_of(settings, channel_name))
                return f"{channel_name} webhook set to {url}"
            if action == "delete":
                await admin.delete_webhook()
                return f"{channel_name} webhook deleted"
            info = await admin.webhook_info()
            return json.dumps(info, ensure_ascii=False, indent=2)
        finally:
            if hotline is not None:
                await hotline.engine.dispose()

    try:
        typer.echo(asyncio.run(_go()))
    except typer.Exit:
        raise
    except NotImplementedError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    except (RuntimeError, ValueError, OSError) as exc:
        typer.echo(f"{action} failed: {exc}", err=True)
        raise typer.Exit(1) from None


@webhook_app.command("set")
def webhook_set(channel: ChannelOption = "telegram") -> None:
    """Register HOTLINE_PUBLIC_URL/webhook/<channel> with the channel's secret."""
    _webhook_action(channel, "set")


@webhook_app.command("delete")
def webhook_delete(channel: ChannelOption = "telegram") -> None:
    """Remove the channel's webhook (long polling with `hotline run` works again)."""
    _webhook_action(channel, "delete")


@webhook_app.command("info")
def webhook_info(channel: ChannelOption = "telegram") -> None:
    """Show what the channel knows of its webhook (url, pending updates, last error)."""
    _webhook_action(channel, "info")


def register(app: typer.Typer) -> None:
    """Add `serve` and `webhook` to the `hotline` command line."""
    app.command("serve")(serve)
    app.add_typer(webhook_app, name="webhook")


__all__ = ["register"]
