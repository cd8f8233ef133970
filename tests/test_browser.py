"""The public pages in a real headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright): phone (360 px) and desktop widths, screenshots kept, no console errors, no
sideways scrolling on a phone, WCAG AA contrast of every text, nothing loaded from outside."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import Hotline
from tests.conftest import make_settings, migrate
from tests.public_data import SECRETS, Seeded, seed, serve

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="no Chromium: install Debian's package (apt-get install -y chromium), see .ci/run",
)
WIDTHS = {"phone": (360, 740), "desktop": (1280, 900)}

# The contrast of every element that holds text against the first opaque background
# behind it (WCAG 2 relative luminance); large text (≥ 24 px, or ≥ 18.66 px bold) needs 3.
CONTRAST_JS = """
() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const bad = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || el.closest('svg')) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || el.getClientRects().length === 0) continue;
    const rect = el.getBoundingClientRect();
    if (rect.right < 0 || rect.bottom < 0) continue;  // the skip link, off screen
    const a = lum(rgb(style.color).slice(0, 3)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    const label = el.textContent.trim().slice(0, 30);
    if (ratio < need) bad.push(`${el.tagName} "${label}" ${ratio.toFixed(2)}`);
  }
  return bad;
}
"""


@pytest.fixture
async def served(sqlite_url: str, tmp_path: Path) -> AsyncIterator[tuple[str, Seeded]]:
    await migrate(sqlite_url)
    hotline = Hotline(
        make_settings(sqlite_url, tmp_path / "media", public_bot_username="langson_hotline_bot")
    )
    codes = await seed(hotline)
    async with serve(hotline) as base:
        yield base, codes
    await hotline.close()


async def test_pages_render_in_chromium_at_phone_and_desktop_widths(
    served: tuple[str, Seeded], tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    base, codes = served
    pages = {
        "home": "/",
        "search": "/?q=ky+lua",
        "results": "/results",
        "case": f"/results/{codes.public}",
        "stats": "/stats",
        "stats-en": "/stats?lang=en",
    }
    shots = tmp_path / "screenshots"
    shots.mkdir()
    problems: list[str] = []
    outside: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            for width_name, (width, height) in WIDTHS.items():
                context = await browser.new_context(viewport={"width": width, "height": height})
                page = await context.new_page()
                page.on(
                    "console",
                    lambda m: (
                        problems.append(f"{m.type}: {m.text}")
                        if m.type in ("error", "warning")
                        else None
                    ),
                )
                page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
                page.on(
                    "request",
                    lambda r: None if r.url.startswith(base) else outside.append(r.url),
                )
                for name, path in pages.items():
                    response = await page.goto(base + path, wait_until="load")
                    assert response is not None and response.status == 200, path
                    file = shots / f"{name}-{width_name}.png"
                    await page.screenshot(path=str(file), full_page=True)
                    assert file.stat().st_size > 5000
                    scroll = await page.evaluate("document.scrollingElement.scrollWidth")
                    assert scroll <= width, f"{path} scrolls sideways at {width} px: {scroll}"
                    low = await page.evaluate(CONTRAST_JS)
                    assert not low, f"{path} at {width} px: contrast below AA: {low}"
                    text = await page.inner_text("body")
                    for secret in SECRETS.values():
                        assert secret not in text, path
                    # The stylesheet applied (system fonts, the dark header band).
                    band = await page.evaluate(
                        "getComputedStyle(document.querySelector('header.site')).backgroundColor"
                    )
                    assert band == "rgb(11, 61, 110)", path
                # The search form works without JavaScript: typed, submitted, one ward.
                await page.goto(base + "/")
                await page.fill("#q", "dong kinh")
                await page.click("form.search button")
                await page.wait_for_load_state("load")
                assert "q=dong+kinh" in page.url
                assert "Hiển thị 1/65" in await page.inner_text("body")
                await context.close()
        finally:
            await browser.close()
    print(f"\nscreenshots: {shots}")
    assert not problems, problems
    assert not outside, outside  # no external fonts, scripts or images
    assert len(list(shots.glob("*.png"))) == 2 * len(pages)
