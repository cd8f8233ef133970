"""The public pages as aiohttp routes: `/`, `/results`, `/results/{code}`, `/stats`, `/static`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from aiohttp import web

from bot.db import read_scope
from bot.web.public import site
from models.types import utcnow

if TYPE_CHECKING:
    from bot.app import Hotline

# Pages change when cases close: a minute in shared caches, then revalidated by ETag.
PAGE_CACHE = "public, max-age=60"
STATIC_CACHE = "public, max-age=86400"
HOTLINE_KEY: web.AppKey[Hotline] = web.AppKey("public_hotline")


def site_info(hotline: Hotline) -> site.SiteInfo:
    """What the pages say about the hotline, from its settings."""
    return site.site_info_of(hotline.settings, hotline.deps.gazetteer)


def html_response(request: web.Request, body: str, *, status: int = 200) -> web.StreamResponse:
    """An HTML page with caching headers; 304 when the client holds the same version."""
    etag = site.etag_of(body)
    headers = {
        "Cache-Control": PAGE_CACHE,
        "ETag": etag,
        "Vary": "Accept-Encoding",
        # The pages load nothing from elsewhere and run no script.
        "Content-Security-Policy": "default-src 'self'; script-src 'none'; "
        "style-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }
    if status == 200 and etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(
        text=body, status=status, content_type="text/html", charset="utf-8", headers=headers
    )


def _links(request: web.Request, name: str, /, **args: object) -> site.Links:
    lang = site.page_language(request.query.get("lang"))
    return site.Links(lang=lang, page=(name, dict(args)))


def _now() -> datetime:
    return utcnow()


async def home(request: web.Request) -> web.StreamResponse:
    """GET /: the hotline, how to report, the wards' contact points (?q= searches)."""
    hotline = request.app[HOTLINE_KEY]
    query = request.query.get("q", "")[:100]
    links = _links(request, "home", q=query)
    async with read_scope(hotline.sessionmaker) as session:
        body = await site.home_page(
            session, hotline.deps.gazetteer, site_info(hotline), links, query=query
        )
    return html_response(request, body)


def _page_number(request: web.Request) -> int:
    try:
        return max(1, min(int(request.query.get("page", "1")), 100_000))
    except ValueError:
        return 1


async def results(request: web.Request) -> web.StreamResponse:
    """GET /results: closed cases, newest first (?ward= ?category= ?month=YYYY-MM ?page=)."""
    hotline = request.app[HOTLINE_KEY]
    filters = {k: request.query.get(k, "")[:16] for k in ("ward", "category", "month")}
    page = _page_number(request)
    links = _links(request, "results", page=page, **filters)
    async with read_scope(hotline.sessionmaker) as session:
        body, _pages = await site.results_page(
            session, hotline.deps.gazetteer, site_info(hotline), links, page=page, **filters
        )
    return html_response(request, body)


async def case(request: web.Request) -> web.StreamResponse:
    """GET /results/{code}: one case's public page."""
    hotline = request.app[HOTLINE_KEY]
    code = request.match_info["code"][:16].upper()
    links = _links(request, "case", code=code)
    async with read_scope(hotline.sessionmaker) as session:
        body = await site.case_page(
            session, hotline.deps.gazetteer, site_info(hotline), links, code
        )
    if body is None:
        info = site_info(hotline)
        body = site.render("not_found.html", links.lang, links, info, code=code)
        return html_response(request, body, status=404)
    return html_response(request, body)


class _StatsCache:
    """The /stats pages of the last minute: the figures read every case of the province,
    so repeated requests (or a flood of them) reuse one rendering per language and month."""

    def __init__(self, ttl_s: float = 60.0, size: int = 64) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self._pages: dict[tuple[str, str], tuple[float, str]] = {}
        self._lock = asyncio.Lock()

    async def get(self, key: tuple[str, str], render: Callable[[], Awaitable[str]]) -> str:
        async with self._lock:  # one rendering at a time; the others wait and reuse it
            now = time.monotonic()
            hit = self._pages.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
            body = await render()
            if len(self._pages) >= self.size:
                self._pages = {k: v for k, v in self._pages.items() if v[0] > now}
                if len(self._pages) >= self.size:
                    self._pages.clear()
            self._pages[key] = (now + self.ttl_s, body)
            return body


STATS_CACHE_KEY: web.AppKey[_StatsCache] = web.AppKey("public_stats_cache")


async def stats(request: web.Request) -> web.StreamResponse:
    """GET /stats: figures per ward and category, SVG charts (?month=YYYY-MM)."""
    hotline = request.app[HOTLINE_KEY]
    month = request.query.get("month", "")[:7]
    if not site.month_bounds(month):
        month = ""
    links = _links(request, "stats", month=month)

    async def render() -> str:
        async with read_scope(hotline.sessionmaker) as session:
            return await site.stats_page(
                session,
                hotline.deps.gazetteer,
                site_info(hotline),
                links,
                now=_now(),
                month=month,
            )

    body = await request.app[STATS_CACHE_KEY].get((links.lang, month), render)
    return html_response(request, body)


async def static_file(request: web.Request) -> web.StreamResponse:
    """GET /static/{name}: the stylesheet (only files shipped in the package)."""
    name = request.match_info["name"]
    path = site.STATIC_DIR / name
    if "/" in name or name.startswith(".") or not path.is_file():
        raise web.HTTPNotFound()
    data = path.read_bytes()
    etag = site.etag_of(data)
    headers = {"Cache-Control": STATIC_CACHE, "ETag": etag}
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    content_type = "text/css" if name.endswith(".css") else "application/octet-stream"
    return web.Response(body=data, content_type=content_type, headers=headers)


def add_page_routes(app: web.Application, hotline: Hotline) -> None:
    """Mount the public pages on `app`."""
    app[HOTLINE_KEY] = hotline
    app[STATS_CACHE_KEY] = _StatsCache()
    app.router.add_get("/", home)
    app.router.add_get("/results", results)
    app.router.add_get("/results/{code}", case)
    app.router.add_get("/stats", stats)
    app.router.add_get("/static/{name}", static_file)
