"""The public pages over real HTTP: contact points, results, one case, statistics, caching,
and the static copy written by `hotline publish`."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urljoin

import aiohttp
import pytest
from multidict import CIMultiDict

from bot import db, services
from bot.app import Hotline
from bot.i18n import t
from bot.services.public import public_stats
from bot.web.public.site import case_url, month_bounds
from models.enums import CaseAction
from tests.conftest import make_settings, migrate
from tests.public_data import (
    DONG_KINH,
    KY_LUA,
    PUBLIC_RESULT,
    SECRETS,
    T0,
    Seeded,
    seed,
    serve,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def site(sqlite_url: str, tmp_path: Path) -> AsyncIterator[tuple[str, Seeded, Hotline]]:
    """The known data set served on 127.0.0.1: base URL, case codes, the hotline."""
    await migrate(sqlite_url)
    hotline = Hotline(
        make_settings(sqlite_url, tmp_path / "media", public_bot_username="@langson_hotline_bot")
    )
    codes = await seed(hotline)
    async with serve(hotline) as base:
        yield base, codes, hotline
    await hotline.close()


async def get(base: str, path: str, **headers: str) -> tuple[int, str, CIMultiDict[str]]:
    async with aiohttp.ClientSession() as http, http.get(base + path, headers=headers) as r:
        return r.status, await r.text(), CIMultiDict(r.headers)


def text_of(html: str) -> str:
    """The page's visible text, roughly (tags dropped, spaces collapsed)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


async def test_home_shows_how_to_report_and_every_wards_contact_points(site: tuple) -> None:
    base, _codes, _ = site
    status, html, headers = await get(base, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert '<html lang="vi">' in html and 'href="https://t.me/langson_hotline_bot"' in html
    page = text_of(html)
    assert "Hiển thị 65/65 xã, phường" in page  # every ward of Lạng Sơn is listed
    assert "tiepnhan.kylua@langson.gov.vn" in html and 'href="tel:02053812345"' in html
    assert page.count("Chưa cập nhật đầu mối") == 64  # only Kỳ Lừa has sent its table
    # Searchable by ward name, with or without accents.
    for query in ("Kỳ Lừa", "ky lua", "KY LUA"):
        _, found, _ = await get(base, f"/?q={query}")
        assert "Hiển thị 1/65" in text_of(found) and "Phường Kỳ Lừa" in found, query
    _, none, _ = await get(base, "/?q=khong co phuong nay")
    assert "Không tìm thấy xã, phường nào" in none
    _, english, _ = await get(base, "/?lang=en")
    assert '<html lang="en">' in english and "Contact points of the communes" in english
    assert 'href="/?lang=en"' in english or 'href="/results?lang=en"' in english


async def test_results_list_closed_cases_newest_first_with_filters(site: tuple) -> None:
    base, codes, _ = site
    _, html, _ = await get(base, "/results")
    page = text_of(html)
    assert "Có 3 phản ánh" in page
    order = [m for m in re.findall(r"PA20-\d{6}", page)]
    # Closed newest first: the late one (303 h), the published one (10 h), the hidden (6 h).
    assert order[:3] == [codes.late, codes.public, codes.hidden]
    assert codes.open_ not in page  # still open: not a result
    assert PUBLIC_RESULT in page and "không được công khai" in page
    _, ward, _ = await get(base, f"/results?ward={DONG_KINH}")
    assert re.findall(r"PA20-\d{6}", text_of(ward)) == [codes.late]
    _, category, _ = await get(base, "/results?category=wastewater")
    assert re.findall(r"PA20-\d{6}", text_of(category)) == [codes.public]
    _, month, _ = await get(base, "/results?month=2026-11")
    assert "Có 3 phản ánh" in text_of(month)
    _, other, _ = await get(base, "/results?month=2026-10")
    assert "Có 0 phản ánh" in text_of(other)


async def test_results_are_paginated(site: tuple) -> None:
    base, _codes, hotline = site
    async with db.session_scope(hotline.sessionmaker) as s:
        reporter = await services.get_reporter(s, "telegram", "555")
        for i in range(20):
            case = await services.create_case(
                s,
                province_code="20",
                reporter=reporter,
                fields={
                    "ward_code": KY_LUA,
                    "category": "noise",
                    "location_source": "address",
                    "address": "x",
                    "nature": "now",
                    "description": "ồn",
                    "description_language": "vi",
                    "channel": "telegram",
                },
                evidence=[],
                verify_hours=24,
                actor="reporter",
                now=T0 + timedelta(days=1, minutes=i),
            )
            case.result_text = f"Kết quả số {i}"
            await services.apply_action(
                s, case, CaseAction.RESOLVE, actor="x", now=T0 + timedelta(days=2, minutes=i)
            )
    _, first, _ = await get(base, "/results")
    assert "Có 23 phản ánh" in text_of(first) and "Trang 1/2" in text_of(first)
    assert 'rel="next" href="/results?page=2"' in first and "Kết quả số 19" in first
    _, second, _ = await get(base, "/results?page=2")
    assert 'rel="prev" href="/results"' in second and "Trang 2/2" in text_of(second)
    assert len(re.findall(r"<article>", second)) == 3 and "Kết quả số 19" not in second
    _, english, _ = await get(base, "/results?page=2&lang=en&category=noise")
    assert 'rel="prev" href="/results?category=noise&amp;lang=en"' in english


async def test_case_page_shows_public_fields_and_unknown_code_is_404(site: tuple) -> None:
    base, codes, _ = site
    status, html, _ = await get(base, f"/results/{codes.public}")
    page = text_of(html)
    assert status == 200 and f"Phản ánh {codes.public}" in page
    assert "Nước thải" in page and "Phường Kỳ Lừa" in page and PUBLIC_RESULT in page
    assert '<time datetime="2026-11-02T08:00+07:00">02/11/2026</time>' in html
    _, hidden, _ = await get(base, f"/results/{codes.hidden.lower()}")
    assert "không được công khai" in text_of(hidden) and "Không phải ô nhiễm" in text_of(hidden)
    _, pending, _ = await get(base, f"/results/{codes.open_}?lang=en")
    assert "being handled" in text_of(pending) and "New" in text_of(pending)
    status, missing, _ = await get(base, "/results/PA20-999999")
    assert status == 404 and "Không có phản ánh nào mang mã PA20-999999" in text_of(missing)


async def test_stats_on_the_known_data_set(any_hotline: Hotline) -> None:
    """Received, resolved, rejected, deadlines met and median hours, per ward and category."""
    await seed(any_hotline)
    async with db.read_scope(any_hotline.sessionmaker) as s:
        stats = await public_stats(s, "20", T0 + timedelta(days=20))
    total = stats.total
    assert (total.received, total.resolved, total.rejected) == (4, 2, 1)
    # Result deadline 10 days: the 10 h and 5 h cases met it, the 300 h case missed it; the
    # open case's deadline has passed 20 days on, so it counts as due and not met.
    assert (total.due, total.met, total.share_met) == (4, 2, 50.0)
    assert total.median_hours == 10.0  # of 5, 10 and 300 hours
    ky_lua = stats.by_ward[KY_LUA]
    assert (ky_lua.received, ky_lua.resolved, ky_lua.rejected, ky_lua.share_met) == (
        2,
        1,
        1,
        100.0,
    )
    assert stats.cells[(DONG_KINH, "emissions")].median_hours == 300.0
    async with db.read_scope(any_hotline.sessionmaker) as s:
        early = await public_stats(s, "20", T0 + timedelta(days=2))
    # Two days on, only the results given by their deadline count: the others' deadlines
    # have not passed yet (as the province report counts).
    assert (early.total.due, early.total.met) == (2, 2)
    async with serve(any_hotline) as base:
        _, html, _ = await get(base, "/stats")
        _, month, _ = await get(base, "/stats?month=2026-10&lang=en")
    page = text_of(html)
    assert "Tổng cộng: 4 phản ánh tiếp nhận, 2 đã xử lý, 1 không xử lý" in page
    assert html.count("<svg") == 3 and 'role="img"' in html and "<script" not in html
    assert "Phường Đông Kinh" in page and "Khói, bụi, khí thải" in page
    assert "In all: 0 received" in text_of(month)


async def test_pages_send_caching_headers_and_answer_304(site: tuple) -> None:
    base, _codes, _ = site
    for path in ("/", "/results", "/stats", "/static/style.css"):
        status, _, headers = await get(base, path)
        assert status == 200 and headers["Cache-Control"].startswith("public, max-age=")
        etag = headers["ETag"]
        again, body, _ = await get(base, path, **{"If-None-Match": etag})
        assert again == 304 and body == "", path
    _, _, headers = await get(base, "/")
    assert "script-src 'none'" in headers["Content-Security-Policy"]
    status, _, _ = await get(base, "/static/..%2Fsite.py")
    assert status == 404


async def test_no_page_shows_anything_confidential(site: tuple) -> None:
    """Description, source, address, GPS, phone, name, email, a hidden result: nowhere."""
    base, codes, _ = site
    paths = ["/", "/results", "/stats", "/?q=ky", f"/results?ward={KY_LUA}"]
    paths += [f"/results/{c}" for c in (codes.public, codes.hidden, codes.open_, codes.late)]
    for path in list(paths):
        paths.append(path + ("&" if "?" in path else "?") + "lang=en")
    for path in paths:
        status, html, _ = await get(base, path)
        assert status == 200, path
        for name, secret in SECRETS.items():
            assert secret not in html, (path, name)
        assert "MOTA" not in html and "BIMAT" not in html and "5555" not in html, path
        assert "21.853" not in html and "106.761" not in html, path


def test_publish_writes_the_pages_as_static_files(tmp_path: Path) -> None:
    """`hotline publish --out DIR`: every relative link of every page leads to a file."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'pub.db'}"

    async def _prepare() -> Seeded:
        await db.upgrade_async(url)
        hotline = Hotline(make_settings(url, tmp_path / "media"))
        try:
            return await seed(hotline)
        finally:
            await hotline.close()

    codes = asyncio.run(_prepare())
    out = tmp_path / "site"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(HOTLINE_PROVINCE="20", HOTLINE_DATABASE_URL=url, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "publish", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == str(out / "index.html")
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    for expected in (
        "index.html",
        "index.en.html",
        "stats.html",
        "stats.en.html",
        "results/index.html",
        "results/index.en.html",
        f"results/{codes.public}.html",
        f"results/{codes.hidden}.en.html",
        "static/style.css",
    ):
        assert expected in names, expected
    assert f"results/{codes.open_}.html" not in names  # open cases have no result page
    pages = [p for p in out.rglob("*.html")]
    for page in pages:
        html = page.read_text(encoding="utf-8")
        for secret in SECRETS.values():
            assert secret not in html, page
        for href in re.findall(r'(?:href|src)="([^"]+)"', html):
            if href.startswith(("https://", "http://", "mailto:", "tel:", "#", "data:")):
                continue
            assert not href.startswith("/"), (page, href)  # relative links only
            target = urljoin(page.as_uri(), href.split("#")[0])
            assert Path(target.removeprefix("file://")).is_file(), (page, href)


def test_public_settings_are_normalised_and_give_the_case_link(tmp_path: Path) -> None:
    settings = make_settings(
        "sqlite+aiosqlite:///x.db",
        tmp_path,
        public_url=" https://duongdaynong.langson.gov.vn/ ",
        public_bot_username="https://t.me/langson_bot",
        public_zalo_url="  ",
    )
    assert settings.public_url == "https://duongdaynong.langson.gov.vn"
    assert settings.public_bot_username == "langson_bot" and settings.public_zalo_url is None
    url = case_url(settings, "PA20-000001")
    assert url == "https://duongdaynong.langson.gov.vn/results/PA20-000001"
    assert t("vi", "publication.result_link", url=url).endswith(url)
    assert case_url(make_settings("sqlite+aiosqlite:///x.db", tmp_path), "PA20-1") is None


async def test_stats_pages_are_rendered_once_a_minute(site: tuple) -> None:
    """The figures read every case: within a minute /stats is served from one rendering."""
    base, _codes, hotline = site
    _, before, _ = await get(base, "/stats")
    await seed(hotline)  # four more cases
    _, cached, _ = await get(base, "/stats")
    assert cached == before and "Tổng cộng: 4 phản ánh" in text_of(cached)
    _, other, _ = await get(base, "/stats?month=2026-11")  # another key: rendered now
    assert "Tổng cộng: 8 phản ánh" in text_of(other)
    _, bad, _ = await get(base, "/stats?month=garbage")
    assert "garbage" not in bad and bad == before


async def test_public_figures_agree_with_the_province_report(any_hotline: Hotline) -> None:
    """/stats and `hotline report` count the same cases, results and deadlines met."""
    from bot.reports import Period, report_figures
    from tests import report_data

    wards = tuple(w.code for w in any_hotline.deps.gazetteer.wards()[:6])
    spec = report_data.Spec(
        cases=300,
        start=datetime(2026, 10, 31, 17, tzinfo=UTC),
        end=datetime(2026, 11, 30, 12, tzinfo=UTC),
        wards=wards,
    )
    await report_data.seed(any_hotline.engine, spec, 11)
    as_of = datetime(2026, 12, 3, tzinfo=UTC)
    start, end = month_bounds("2026-11") or (as_of, as_of)
    async with db.read_scope(any_hotline.sessionmaker) as s:
        ours = await public_stats(s, "20", as_of, filed_from=start, filed_to=end)
        theirs = await report_figures(
            s, "20", Period(date(2026, 11, 1), date(2026, 11, 30)), as_of=as_of
        )
    result = next(f for f in theirs.deadlines if f.deadline == "result")
    by_status = {
        status: sum(n for (_w, _c, st), n in theirs.counts.items() if st == status)
        for status in ("resolved", "rejected")
    }
    assert ours.total.received == theirs.cases > 250
    assert (ours.total.resolved, ours.total.rejected) == (
        by_status["resolved"],
        by_status["rejected"],
    )
    assert (ours.total.due, ours.total.met) == (result.due, result.met)
    assert ours.total.median_hours == pytest.approx(result.median_hours, abs=0.05)
    for ward, count in theirs.by(0).items():
        assert ours.by_ward[ward].received == count


async def test_a_merged_duplicate_shows_the_case_it_joined_and_is_not_listed(
    site: tuple,
) -> None:
    base, codes, hotline = site
    async with db.session_scope(hotline.sessionmaker) as s:
        joined = await services.case_by_code(s, codes.public)
        duplicate = await services.case_by_code(s, codes.late)
        assert joined is not None and duplicate is not None
        duplicate.merged_into_id = joined.id
    _, html, _ = await get(base, f"/results/{codes.late}")
    assert f"Phản ánh {codes.public}" in text_of(html) and PUBLIC_RESULT in html
    _, listing, _ = await get(base, "/results")
    assert codes.late not in listing and "Có 2 phản ánh" in text_of(listing)
