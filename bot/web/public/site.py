"""The public pages: data read through bot/services/public.py, rendered with Jinja2.

Used by the web routes (routes.py) and by `hotline publish` (publish.py): the same
templates, with links made absolute for the server or relative for static files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.geo import Gazetteer, WardInfo, fold
from bot.i18n import SUPPORTED, t
from bot.services import contacts as contact_service
from bot.services import public as public_service
from bot.services.public import PublicCase, PublicStats, StatRow
from bot.settings import Settings
from bot.web.public.charts import Bar, bar_chart
from models.enums import Category
from models.tables import WardContact

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
PER_PAGE = 20
CATEGORIES = tuple(c.value for c in Category)

_env = Environment(
    loader=FileSystemLoader(str(TEMPLATES_DIR)),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def page_language(value: str | None) -> str:
    """'en' when asked for, Vietnamese otherwise."""
    return value if value in SUPPORTED else "vi"


@dataclass
class Links:
    """Where a page's links point: server paths, or relative files for `hotline publish`.

    `page` is the current page as (name, arguments), so the language switch can point to
    the same page in the other language.
    """

    lang: str
    static: bool = False
    page: tuple[str, dict[str, Any]] = ("home", {})
    depth: int = 0  # static files: folders below the site's root

    def _server(self, path: str, query: dict[str, Any], lang: str) -> str:
        params = {
            k: v
            for k, v in query.items()
            if v not in (None, "") and not (k == "page" and int(v) == 1)
        }
        if lang != "vi":
            params["lang"] = lang
        return path + ("?" + urlencode(params) if params else "")

    def _file(self, path: str, lang: str) -> str:
        if lang != "vi" and path.endswith(".html"):
            path = path[: -len(".html")] + f".{lang}.html"
        return "../" * self.depth + path

    def to(self, name: str, lang: str | None = None, **args: Any) -> str:
        """The link to page `name` (home, results, case, stats, static)."""
        lang = lang or self.lang
        if name == "static":
            return (
                "../" * self.depth + f"static/{args['file']}"
                if self.static
                else f"/static/{args['file']}"
            )
        if self.static:
            if name == "home":
                return self._file("index.html", lang)
            if name == "results":
                number = int(args.get("page") or 1)
                return self._file(
                    "results/index.html" if number == 1 else f"results/page-{number}.html", lang
                )
            if name == "case":
                return self._file(f"results/{args['code']}.html", lang)
            if name == "stats":
                return self._file("stats.html", lang)
            raise KeyError(name)
        if name == "home":
            return self._server("/", args, lang)
        if name == "results":
            return self._server("/results", args, lang)
        if name == "case":
            return self._server(f"/results/{args['code']}", {}, lang)
        if name == "stats":
            return self._server("/stats", args, lang)
        raise KeyError(name)

    def switch(self) -> str:
        """This page in the other language."""
        other = "en" if self.lang == "vi" else "vi"
        name, args = self.page
        return self.to(name, lang=other, **args)


@dataclass
class SiteInfo:
    """What the pages say about the hotline itself (from the settings)."""

    province_name: str
    agency: str
    bot_username: str | None = None
    zalo_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def case_url(settings: Settings, code: str) -> str | None:
    """The public page of a case (for the link sent with its result); None without
    HOTLINE_PUBLIC_URL."""
    return f"{settings.public_url}/results/{code}" if settings.public_url else None


def site_info_of(settings: Settings, gazetteer: Gazetteer) -> SiteInfo:
    """What the pages say about the hotline, from the settings."""
    from bot.reports import default_agency, province_label

    return SiteInfo(
        province_name=province_label(gazetteer),
        agency=settings.agency_name or default_agency(gazetteer),
        bot_username=settings.public_bot_username,
        zalo_url=settings.public_zalo_url,
    )


def local_date(moment: datetime | None) -> str:
    """dd/mm/yyyy in Vietnam's time, '' for none."""
    return moment.astimezone(LOCAL_TZ).strftime("%d/%m/%Y") if moment else ""


def iso_local(moment: datetime | None) -> str:
    """An ISO 8601 datetime in Vietnam's time (+07:00), for <time datetime=...>."""
    return moment.astimezone(LOCAL_TZ).isoformat(timespec="minutes") if moment else ""


def ward_name(gazetteer: Gazetteer, code: str) -> str:
    """The ward's official name (its code when unknown)."""
    info = gazetteer.ward(code)
    return info.name if info else code


def render(template: str, lang: str, links: Links, site: SiteInfo, **context: Any) -> str:
    """A page in `lang`, its texts from the catalogues."""

    def _(key: str, /, **params: Any) -> str:
        return t(lang, key, **params)

    return _env.get_template(template).render(
        lang=lang,
        _=_,
        links=links,
        site=site,
        local_date=local_date,
        iso_local=iso_local,
        **context,
    )


def etag_of(body: str | bytes) -> str:
    """A strong ETag for a response body."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


# ---------------------------------------------------------------- the pages


@dataclass(frozen=True)
class ContactLine:
    """One ward's contact points, as the home page lists them."""

    ward: WardInfo
    contact: WardContact | None


def search_wards(gazetteer: Gazetteer, query: str) -> list[WardInfo]:
    """Wards whose name contains the query, with or without accents ('' gives them all)."""
    wanted = fold(query)
    if not wanted:
        return list(gazetteer.wards())
    return [w for w in gazetteer.wards() if wanted in fold(w.name)]


async def home_page(
    session: AsyncSession,
    gazetteer: Gazetteer,
    site: SiteInfo,
    links: Links,
    *,
    query: str = "",
) -> str:
    """`/`: what the hotline is, how to report, every ward's contact points (searchable)."""
    contacts = await contact_service.ward_contacts(session)
    wards = search_wards(gazetteer, query)
    lines = [ContactLine(w, contacts.get(w.code)) for w in wards]
    return render(
        "home.html",
        links.lang,
        links,
        site,
        query=query,
        lines=lines,
        total_wards=len(gazetteer.wards()),
    )


def month_bounds(month: str) -> tuple[datetime, datetime] | None:
    """'2026-11' as [start, end) in UTC of that local month; None if not a month."""
    try:
        first = date.fromisoformat(month + "-01")
    except ValueError:
        return None
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    start = datetime.combine(first, time(), LOCAL_TZ)
    end = datetime.combine(following, time(), LOCAL_TZ)
    return start, end


async def results_page(
    session: AsyncSession,
    gazetteer: Gazetteer,
    site: SiteInfo,
    links: Links,
    *,
    ward: str = "",
    category: str = "",
    month: str = "",
    page: int = 1,
) -> tuple[str, int]:
    """`/results`: closed cases newest first, filtered, paginated; and the number of pages."""
    ward = ward if gazetteer.ward(ward) else ""
    category = category if category in CATEGORIES else ""
    bounds = month_bounds(month) if month else None
    month = month if bounds else ""
    page = max(page, 1)
    cases, total = await public_service.closed_results(
        session,
        gazetteer.province_code,
        ward_code=ward or None,
        category=category or None,
        closed_from=bounds[0] if bounds else None,
        closed_to=bounds[1] if bounds else None,
        offset=(page - 1) * PER_PAGE,
        limit=PER_PAGE,
    )
    pages = max(1, -(-total // PER_PAGE))
    filters = {"ward": ward, "category": category, "month": month}
    html = render(
        "results.html",
        links.lang,
        links,
        site,
        cases=cases,
        total=total,
        page=page,
        pages=pages,
        filters=filters,
        wards=gazetteer.wards(),
        categories=CATEGORIES,
        ward_name=lambda code: ward_name(gazetteer, code),
    )
    return html, pages


async def case_page(
    session: AsyncSession, gazetteer: Gazetteer, site: SiteInfo, links: Links, code: str
) -> str | None:
    """`/results/<code>`: one case's public page; None when there is no such case."""
    case = await public_service.public_case(session, gazetteer.province_code, code)
    if case is None:
        return None
    return case_html(case, gazetteer, site, links)


def case_html(case: PublicCase, gazetteer: Gazetteer, site: SiteInfo, links: Links) -> str:
    """The page of one case."""
    return render(
        "case.html",
        links.lang,
        links,
        site,
        case=case,
        ward=ward_name(gazetteer, case.ward_code),
    )


def _stat_bars(rows: list[StatRow], label: Any) -> list[Bar]:
    return [Bar(label(r), (float(r.received), float(r.resolved), float(r.rejected))) for r in rows]


async def stats_page(
    session: AsyncSession,
    gazetteer: Gazetteer,
    site: SiteInfo,
    links: Links,
    *,
    now: datetime,
    month: str = "",
) -> str:
    """`/stats`: figures per ward and per category, with SVG bar charts."""
    bounds = month_bounds(month) if month else None
    month = month if bounds else ""
    stats: PublicStats = await public_service.public_stats(
        session,
        gazetteer.province_code,
        now,
        filed_from=bounds[0] if bounds else None,
        filed_to=bounds[1] if bounds else None,
    )
    lang = links.lang
    series = [
        t(lang, "web.stats_received"),
        t(lang, "web.stats_resolved"),
        t(lang, "web.stats_rejected"),
    ]
    by_category = [stats.by_category[c] for c in CATEGORIES if c in stats.by_category]
    order = {w.code: i for i, w in enumerate(gazetteer.wards())}
    by_ward = sorted(stats.by_ward.values(), key=lambda r: order.get(r.ward_code or "", 10**6))
    cells = sorted(
        stats.cells.values(),
        key=lambda r: (
            order.get(r.ward_code or "", 10**6),
            CATEGORIES.index(r.category or "other") if r.category in CATEGORIES else 99,
        ),
    )

    def category_label(r: StatRow) -> str:
        return t(lang, f"category.{r.category}") if r.category in CATEGORIES else str(r.category)

    def ward_label(r: StatRow) -> str:
        return ward_name(gazetteer, r.ward_code or "")

    charts = [
        Markup(
            bar_chart(
                t(lang, "web.chart_by_category"), _stat_bars(by_category, category_label), series
            )
        ),
        Markup(bar_chart(t(lang, "web.chart_by_ward"), _stat_bars(by_ward, ward_label), series)),
        Markup(
            bar_chart(
                t(lang, "web.chart_deadlines"),
                [Bar(category_label(r), (r.share_met or 0.0,)) for r in by_category],
                [t(lang, "web.stats_share_met")],
                unit=" %",
            )
        ),
    ]
    return render(
        "stats.html",
        lang,
        links,
        site,
        stats=stats,
        by_category=by_category,
        by_ward=by_ward,
        cells=cells,
        charts=charts,
        month=month,
        category_label=category_label,
        ward_label=ward_label,
    )
