"""The outlet finder as a person sees it, in headless Chromium, with map tiles switched off:
on a desktop, pick a district and see its outlets in the list and their markers on the map
beside it; on a phone, let the browser tell where you are ("near me") and see the nearest
first, the map above the list. In Traditional Chinese, drawn in a Hong Kong CJK font;
nothing leaves the server, nothing breaks the page's Content-Security-Policy."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from simkeep.clock import SystemClock
from simkeep.db import Database
from simkeep.demo.outlets import ensure_demo_outlets
from simkeep.settings import load_settings
from tests.browser.conftest import _free_port, open_tab, serve
from tests.browser.test_layout import REGIONAL_FONTS, assert_fits_the_screen, fonts_drawing

pytestmark = pytest.mark.browser

WAN_CHAI = {"HK-WC-01", "HK-WC-02", "HK-WC-03"}
MONG_KOK = {"latitude": 22.3193, "longitude": 114.1694}  # Mong Kok MTR station


@pytest.fixture(scope="module")
def finder_server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app on a database holding the demo outlets, its map without tiles."""
    workdir = tmp_path_factory.mktemp("finder_server")
    database = workdir / "simkeep.db"
    shutil.copy(sqlite_template, database)

    async def load() -> None:
        db = Database.from_settings(load_settings(database_url=f"sqlite:///{database}"))
        try:
            await ensure_demo_outlets(db, now=SystemClock().now())
        finally:
            await db.dispose()

    with ThreadPoolExecutor(1) as thread:  # Playwright's loop runs in this one
        thread.submit(asyncio.run, load()).result()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SIMKEEP_MAP_TILES_URL", "")  # the child server reads its environment
        with serve(workdir, database, _free_port()) as base_url:
            yield base_url


def test_filter_by_district_and_see_the_markers(
    browser: Browser, finder_server: str, screenshots: Path
) -> None:
    viewport = {"width": 1280, "height": 900}
    with open_tab(browser, finder_server, viewport, mobile=False, locale="zh-HK") as tab:
        page = tab.page
        answer = page.goto("/outlets")
        assert answer is not None
        assert "img-src 'self';" in answer.headers["content-security-policy"]  # no tile host
        expect(page.get_by_role("heading", level=1)).to_have_text("搜尋增值網點")
        expect(page.locator(".leaflet-marker-icon")).to_have_count(20)  # the first page

        page.get_by_label("地區").select_option(label="灣仔區")
        page.get_by_role("button", name="搜尋網點").click()
        page.wait_for_url("**/outlets?district=wan-chai*")
        items = page.locator("li.outlet")
        expect(items).to_have_count(3)
        assert {item.get_attribute("id") for item in items.all()} == {
            f"outlet-{code}" for code in WAN_CHAI
        }
        markers = page.locator("#outlet-map .leaflet-marker-icon")
        expect(markers).to_have_count(3)
        expect(page.locator("#outlet-map .leaflet-tile")).to_have_count(0)
        for marker in markers.all():
            expect(marker).to_be_visible()
        map_box = page.locator("#outlet-map").bounding_box()
        list_box = page.locator(".finder__list").bounding_box()
        assert map_box is not None
        assert list_box is not None
        assert map_box["x"] + map_box["width"] <= list_box["x"]  # side by side

        markers.first.click()
        popup = page.locator(".leaflet-popup-content a")
        expect(popup).to_be_visible()
        assert popup.inner_text() in {item.locator("h3").inner_text() for item in items.all()}
        fonts = fonts_drawing(page, "li.outlet h3")
        assert {font["familyName"] for font in fonts} <= REGIONAL_FONTS["zh_Hant_HK"], fonts
        page.screenshot(path=screenshots / "outlets-wan-chai-desktop.png", full_page=True)

        assert tab.outside_requests == []
        assert tab.errors == []


def test_near_me_on_a_phone(browser: Browser, finder_server: str, screenshots: Path) -> None:
    viewport = {"width": 390, "height": 844}
    with open_tab(browser, finder_server, viewport, mobile=True, locale="zh-HK") as tab:
        page = tab.page
        page.context.grant_permissions(["geolocation"], origin=finder_server)
        page.context.set_geolocation(MONG_KOK)
        page.goto("/outlets")
        page.get_by_role("button", name="我附近").tap()
        page.wait_for_url("**/outlets?*lat=22.319300*")
        first = page.locator("li.outlet").first
        expect(first).to_have_attribute("id", "outlet-HK-YT-01")  # 彌敦道 688 號, 35 m
        expect(first.locator(".outlet__distance")).to_have_text("相距 35 米")
        expect(page.locator("#outlet-map .leaflet-marker-icon")).to_have_count(20)
        expect(page.locator("#outlet-map path.leaflet-interactive")).to_have_count(1)  # here
        map_box = page.locator("#outlet-map").bounding_box()
        list_box = page.locator(".finder__list").bounding_box()
        assert map_box is not None
        assert list_box is not None
        assert map_box["y"] + map_box["height"] <= list_box["y"]  # the list under the map
        assert_fits_the_screen(page, 390)
        page.screenshot(path=screenshots / "outlets-near-me-phone.png", full_page=True)

        assert tab.outside_requests == []
        assert tab.errors == []
