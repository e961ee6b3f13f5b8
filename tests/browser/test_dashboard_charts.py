"""The operator's dashboard on the demo data, in headless Chromium on a desktop: in each of
the three languages, every chart that has figures is drawn (a canvas with something on it),
its words are the page's, nothing is asked of another host and nothing goes wrong in the
console — a refusal by the Content-Security-Policy included. The tables beneath the charts
open and hold the same days. Screenshots go to ``$SIMKEEP_SCREENSHOTS`` or
``var/screenshots``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from simkeep.demo.service import DEMO_STAFF
from tests.browser.conftest import Tab, open_tab
from tests.browser.test_staff_console import log_in

pytestmark = pytest.mark.browser

TITLES = {"en": "Dashboard", "zh_Hant_HK": "儀表板", "zh_Hans_CN": "仪表板"}
# How many pixels of each chart's canvas are painted: the axes alone are some, so a chart
# counts as drawn when its canvas has far more than a blank one.
PAINTED = """
() => Array.from(document.querySelectorAll(".chart")).map((chart) => {
  const canvas = chart.querySelector("canvas");
  if (!canvas) return 0;
  const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted += 1;
  return painted;
})
"""


@pytest.fixture
def desk(browser: Browser, demo_server: str) -> Iterator[Tab]:
    with open_tab(
        browser, demo_server, {"width": 1280, "height": 900}, mobile=False, locale="en-GB"
    ) as tab:
        yield tab


def test_the_charts_are_drawn_in_every_language(desk: Tab, screenshots: Path) -> None:
    page = desk.page
    log_in(page, next(member for member in DEMO_STAFF if member.role == "operator"))

    for language, title in TITLES.items():
        page.goto(f"/staff/dashboard?lang={language}")

        expect(page.locator("h1")).to_have_text(title)
        charts = page.locator(".chart")
        count = charts.count()
        assert count >= 6  # the demo has top-ups, amounts, SIMs, lapsing lines, promotions
        expect(page.locator(".chart canvas")).to_have_count(count)
        painted = page.evaluate(PAINTED)
        assert all(pixels > 2_000 for pixels in painted), (language, painted)
        first = json.loads(charts.first.get_attribute("data-chart") or "{}")
        assert first["categories"]  # days, in the page's words
        page.screenshot(path=str(screenshots / f"staff_dashboard_{language}.png"), full_page=True)

        page.locator(".dashboard-figure__table summary").first.click()
        rows = page.locator(".dashboard-figure__table").first.locator("tbody tr")
        expect(rows).to_have_count(len(first["categories"]))
    assert desk.outside_requests == []
    assert desk.errors == []


def test_the_auditor_reads_the_charts_and_a_tooltip_tells_a_day(
    desk: Tab, screenshots: Path
) -> None:
    page = desk.page
    log_in(page, next(member for member in DEMO_STAFF if member.role == "auditor"))
    page.goto("/staff/dashboard?lang=en")

    chart = page.locator("#topups-by-method .chart")
    chart.scroll_into_view_if_needed()
    box = chart.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] * 0.6)
    page.wait_for_timeout(300)  # the tooltip is drawn on the next frame
    chart.screenshot(path=str(screenshots / "staff_dashboard_tooltip_en.png"))
    assert desk.errors == []
