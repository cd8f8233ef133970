"""The hotline's public face: pages, static files, Open311 (mounted by `setup_public`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

    from bot.app import Hotline


def setup_public(app: web.Application, hotline: Hotline) -> None:
    """Add GET /, /results, /results/{code}, /stats, /static/… and /open311/v2/… to `app`."""
    from bot.web.open311.api import add_open311_routes
    from bot.web.public.routes import add_page_routes

    add_page_routes(app, hotline)
    add_open311_routes(app, hotline)
