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
    from bot.channels.base import Channel

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
    settings.require_token()
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


def _admin(hotline: Hotline, channel_name: str) -> tuple[Channel, Any]:
    """The configured channel, and what registers its webhook."""
    from bot.channels import build_channels
    from bot.channels.telegram.webhook import TelegramWebhookAdmin

    for channel in build_channels(hotline):
        if channel.name == channel_name:
            if channel_name == "telegram":
                settings = hotline.settings
                return channel, TelegramWebhookAdmin(
                    settings.telegram_api_url, settings.require_token()
                )
            return channel, channel
    raise typer.BadParameter(f"the channel {channel_name!r} is not configured")


def _secret_of(hotline: Hotline, channel_name: str) -> str:
    settings = hotline.settings
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
    from bot.app import Hotline

    settings = cli._settings()  # noqa: SLF001
    settings.require_province()

    async def _go() -> str:
        hotline = Hotline(settings)
        try:
            _channel, admin = _admin(hotline, channel_name)
            if action == "set":
                if not settings.public_url:
                    typer.echo("HOTLINE_PUBLIC_URL is not set (the https base URL).", err=True)
                    raise typer.Exit(2)
                if not settings.public_url.startswith("https://"):
                    typer.echo("HOTLINE_PUBLIC_URL must start with https://", err=True)
                    raise typer.Exit(2)
                url = f"{settings.public_url}/webhook/{channel_name}"
                await admin.set_webhook(url, _secret_of(hotline, channel_name))
                return f"{channel_name} webhook set to {url}"
            if action == "delete":
                await admin.delete_webhook()
                return f"{channel_name} webhook deleted"
            info = await admin.webhook_info()
            return json.dumps(info, ensure_ascii=False, indent=2)
        finally:
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
