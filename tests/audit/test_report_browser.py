"""The report opened in a real browser, offline: Debian's headless chromium (installed by `make test` where missing),
driven by Playwright; never a browser Playwright downloads itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from cleanclaim.audit.report import write_report
from tests.audit.dirs import demo_audit_dir

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]

pytestmark = pytest.mark.browser


def test_report_renders_offline_in_chromium(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (`make test` does it on a bare machine)")
    from playwright.sync_api import sync_playwright

    demo_audit_dir(tmp_path)
    page_path = write_report(tmp_path)
    url = page_path.resolve().as_uri()
    requests: list[str] = []
    console_errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            page.on("console", lambda message: console_errors.append(message.text)
                    if message.type == "error" else None)
            page.on("pageerror", lambda error: console_errors.append(str(error)))
            page.goto(url, wait_until="load")
            assert page.title().startswith("cleanclaim audit report")
            assert page.get_by_role("heading", name="cleanclaim audit report", level=1).is_visible()
            for name in ("Totals", "Findings by rule", "Flagged providers", "Top claims to review", "Rejected rows"):
                assert page.get_by_role("heading", name=name, exact=True).count() == 1, name
            charts = page.locator("svg")
            assert charts.count() == 3 + 9  # rule, payer, provider bars; one per flagged metric of the demo
            for i in range(charts.count()):
                box = charts.nth(i).bounding_box()
                assert box is not None and box["width"] > 100 and box["height"] > 50, (i, box)
            # the bars themselves are drawn, not just an empty frame
            bars = page.locator("svg rect.bar-error")
            assert bars.count() > 0
            box = bars.first.bounding_box()
            assert box is not None and box["width"] > 1 and box["height"] > 1
            # every text of a chart is drawn inside its chart: a value label running past the right edge is cut off
            overflowing = page.evaluate("""() => [...document.querySelectorAll('svg')].flatMap(svg => {
                const width = svg.viewBox.baseVal.width || svg.getBBox().width;
                return [...svg.querySelectorAll('text')].filter(t => {
                    const box = t.getBBox();
                    return box.x < 0 || box.x + box.width > width;
                }).map(t => t.textContent);
            })""")
            assert overflowing == []
            screenshot = tmp_path / "report.png"
            page.screenshot(path=str(screenshot), full_page=True)
            assert screenshot.stat().st_size > 50_000  # a full page of text and charts, not a blank
        finally:
            browser.close()
    assert console_errors == []
    assert requests == [url]  # the page itself, nothing else: no font, stylesheet, image or script fetched
