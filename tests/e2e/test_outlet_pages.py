"""The outlet finder's page over HTTP on both databases, with the demo outlets: in three
languages, filtered by district and service, near a typed point, a bad point marked and
answered 422, pages of results, and the page's policy letting the map's tiles in — or no
tiles at all when none are set."""

from __future__ import annotations

import re
from pathlib import Path

from simkeep.db import Database
from tests.e2e.outlet_world import CENTRAL, finder

ITEM = re.compile(
    r'<li class="outlet" id="outlet-([A-Z0-9-]+)" data-lat="([\d.]+)" data-lon="([\d.]+)"'
)


def codes(page: str) -> list[str]:
    return [match[0] for match in ITEM.findall(page)]


async def test_the_page_in_three_languages(database_url: str, db: Database, tmp_path: Path) -> None:
    query = "/outlets?district=central-and-western&lang="
    async with finder(database_url, db, tmp_path) as http:
        pages = {lang: await http.get(query + lang) for lang in ("zh_Hant_HK", "zh_Hans_CN", "en")}
    expected = {
        "zh_Hant_HK": (
            "搜尋增值網點",
            "中港通營業廳（中環）",
            "香港中環德輔道中88號地下",
            "營業廳",
            "現正營業",
            "今日 10:00–20:00",
            "中西區",
            "路線指引",
        ),
        "zh_Hans_CN": (
            "查找充值网点",
            "中港通营业厅（中环）",
            "香港中环德辅道中88号地下",
            "营业厅",
            "正在营业",
            "今日 10:00–20:00",
            "中西区",
            "路线导航",
        ),
        "en": (
            "Find an outlet",
            "China-HK SIM Shop Central",
            "88 Des Voeux Road Central",
            "Operator's shop",
            "Open now",
            "Today 10:00–20:00",
            "Central and Western",
            "Directions",
        ),
    }
    for lang, page in pages.items():
        assert page.status_code == 200
        assert page.headers["content-language"].replace("-", "_") == lang
        for words in expected[lang]:
            assert words in page.text, (lang, words)
        assert sorted(codes(page.text)) == ["HK-CW-01", "HK-CW-02", "HK-CW-03"]
    english = pages["en"].text
    assert "Open 24 hours today" in english  # HK-CW-02, a 24-hour store
    assert "https://www.google.com/maps/dir/?api=1&amp;destination=22.283400,114.156100" in english


async def test_near_a_typed_point_with_a_service(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    async with finder(database_url, db, tmp_path) as http:
        page = await http.get("/outlets", params={**CENTRAL, "service": "card", "lang": "en"})
        more = await http.get("/outlets", params={**CENTRAL, "lang": "en"})
        following = await http.get("/outlets", params={**CENTRAL, "lang": "en", "offset": "20"})
    assert page.status_code == 200
    found = codes(page.text)
    assert found[0] == "HK-CW-01"  # the operator's shop in Central, 265 m away
    assert "265 m away" in page.text
    assert "HK-CW-02" not in found  # takes no cards
    assert 'data-near-lat="22.281900"' in page.text
    assert 'href="/outlets?lat=22.281900&amp;lon=114.158100&amp;offset=20"' in more.text
    assert len(codes(more.text)) == 20
    assert not set(codes(more.text)) & set(codes(following.text))


async def test_a_bad_point_is_marked_and_nothing_is_found(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    async with finder(database_url, db, tmp_path) as http:
        bad = await http.get(
            "/outlets", params={"lat": "22.28", "lon": "east", "lang": "zh_Hant_HK"}
        )
        half = await http.get("/outlets", params={"lat": "22.28", "lang": "en"})
        unknown = await http.get("/outlets", params={"district": "atlantis", "lang": "en"})
        long = await http.get("/outlets", params={"lat": "9" * 500, "lon": "1", "lang": "en"})
    assert bad.status_code == 422
    assert 'id="f-lon" name="lon"' in bad.text
    assert re.search(r'id="f-lon"[^>]*aria-invalid="true"', bad.text)
    assert not re.search(r'id="f-lat"[^>]*aria-invalid="true"', bad.text)
    assert "請以十進制度數輸入經度" in bad.text
    assert codes(bad.text) == []
    assert half.status_code == 422
    assert "Enter the longitude in decimal degrees" in half.text
    assert unknown.status_code == 422
    assert "Choose a district from the list." in unknown.text
    assert long.status_code == 422


async def test_the_map_and_its_tiles(database_url: str, db: Database, tmp_path: Path) -> None:
    tiles = "https://{s}.tiles.example.hk/{z}/{x}/{y}.png"
    async with finder(database_url, db, tmp_path, map_tiles_url=tiles) as http:
        with_tiles = await http.get("/outlets?lang=en")
        elsewhere = await http.get("/?lang=en")
    async with finder(database_url, db, tmp_path, map_tiles_url="") as http:
        without = await http.get("/outlets?lang=en")
    policy = with_tiles.headers["content-security-policy"]
    assert "img-src 'self' https://*.tiles.example.hk;" in policy
    assert "script-src 'self';" in policy  # still no inline script
    assert "tiles.example.hk" not in elsewhere.headers["content-security-policy"]
    assert f'data-tiles="{tiles}"' in with_tiles.text
    assert "/static/leaflet/leaflet.js" in with_tiles.text
    assert "img-src 'self';" in without.headers["content-security-policy"]
    assert 'data-tiles=""' in without.text
    assert "finder__map--plain" in without.text
    assert len(codes(without.text)) == 20  # the markers' data is there all the same
