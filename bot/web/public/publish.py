"""`hotline publish --out DIR`: the public pages as static files with relative links.

For a portal that only takes uploads: index.html, results/index.html (and page-N.html),
results/<code>.html for every closed case, stats.html, static/style.css; the English
pages beside them as *.en.html. Search and filters need the server, so the static pages
show the full lists instead.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.geo import Gazetteer
from bot.i18n import SUPPORTED
from bot.services import public as public_service
from bot.web.public import site


@dataclass(frozen=True)
class Published:
    """What was written."""

    files: int
    cases: int


def _write(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")


def _copy_static(out: Path) -> int:
    static = out / "static"
    static.mkdir(parents=True, exist_ok=True)
    copied = 0
    for source in site.STATIC_DIR.iterdir():
        if source.is_file():
            shutil.copyfile(source, static / source.name)
            copied += 1
    return copied


def _suffix(lang: str) -> str:
    return "" if lang == "vi" else f".{lang}"


async def write_site(
    session: AsyncSession,
    gazetteer: Gazetteer,
    info: site.SiteInfo,
    out: Path,
    *,
    now: datetime,
) -> Published:
    """Write every public page of the province under `out` (created if missing)."""
    files = _copy_static(out)
    codes: list[str] = []
    for lang in SUPPORTED:
        sfx = _suffix(lang)
        links = site.Links(lang=lang, static=True, page=("home", {}))
        _write(out / f"index{sfx}.html", await site.home_page(session, gazetteer, info, links))
        links = site.Links(lang=lang, static=True, page=("stats", {}))
        body = await site.stats_page(session, gazetteer, info, links, now=now)
        _write(out / f"stats{sfx}.html", body)
        files += 2
        page, pages = 1, 1
        while page <= pages:
            links = site.Links(lang=lang, static=True, page=("results", {"page": page}), depth=1)
            body, pages = await site.results_page(session, gazetteer, info, links, page=page)
            name = "index" if page == 1 else f"page-{page}"
            _write(out / "results" / f"{name}{sfx}.html", body)
            files += 1
            page += 1
        offset = 0
        while True:
            cases, total = await public_service.closed_results(
                session, gazetteer.province_code, offset=offset, limit=500
            )
            for case in cases:
                links = site.Links(
                    lang=lang, static=True, page=("case", {"code": case.code}), depth=1
                )
                body = site.case_html(case, gazetteer, info, links)
                _write(out / "results" / f"{case.code}{sfx}.html", body)
                files += 1
                if lang == "vi":
                    codes.append(case.code)
            offset += len(cases)
            if not cases or offset >= total:
                break
    return Published(files=files, cases=len(codes))
