"""``GET /api/v1/outlets`` and ``/api/v1/outlets/{code}`` over HTTP on both databases, with the
demo outlets: nearest first from Central with great-circle distances, names in the request's
language, filters, pages, one outlet by code, and bad input refused in the error shape."""

from __future__ import annotations

from pathlib import Path

from simkeep.db import Database
from simkeep.outlets.geo import Point, distance_m
from tests.e2e.outlet_world import CENTRAL, TSIM_SHA_TSUI, WEDNESDAY_NOON, finder

EN, HK, CN = {"Accept-Language": "en"}, {"Accept-Language": "zh-HK"}, {"Accept-Language": "zh-CN"}


async def test_nearest_first_in_the_readers_language(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    async with finder(database_url, db, tmp_path) as http:
        english = await http.get("/api/v1/outlets", params={**CENTRAL, "limit": 5}, headers=EN)
        chinese = await http.get("/api/v1/outlets", params={**CENTRAL, "limit": 5}, headers=HK)
    assert english.status_code == 200
    found = english.json()["outlets"]
    assert [o["code"] for o in found][:2] == ["HK-CW-01", "HK-CW-02"]
    distances = [o["distance_m"] for o in found]
    assert distances == sorted(distances)
    centre = Point(22_281_900, 114_158_100)
    for outlet in found:  # the distance is the great circle's, from the integer coordinates
        assert outlet["distance_m"] == distance_m(centre, Point(outlet["lat_e6"], outlet["lon_e6"]))
        assert outlet["lat"] == f"{outlet['lat_e6'] // 10**6}.{outlet['lat_e6'] % 10**6:06d}"
    first = found[0]
    assert first["name"] == "China-HK SIM Shop Central"
    assert first["address"] == "G/F, 88 Des Voeux Road Central, Central, Hong Kong"
    assert first["kind"] == {"code": "operator_shop", "name": "Operator's shop"}
    assert first["district"] == {"code": "central-and-western", "name": "Central and Western"}
    assert first["currency"] == "HKD"
    assert first["open_now"] is True  # Wednesday noon, open 10:00–20:00
    assert first["today"] == [{"opens": "10:00", "closes": "20:00", "closes_next_day": False}]
    assert first["hours"]["sun"] == [
        {"opens": "11:00", "closes": "19:00", "closes_next_day": False}
    ]
    assert [s["code"] for s in first["services"]] == ["cash", "card", "voucher_sale"]
    assert first["directions_url"].startswith("https://www.google.com/maps/dir/?api=1&destination=")
    in_chinese = chinese.json()["outlets"][0]
    assert in_chinese["name"] == "中港通營業廳（中環）"
    assert in_chinese["address"] == "香港中環德輔道中88號地下"
    assert in_chinese["kind"]["name"] == "營業廳"
    assert in_chinese["district"]["name"] == "中西區"
    assert [s["name"] for s in in_chinese["services"]] == ["現金增值", "銀行卡增值", "出售充值卡"]


async def test_filters_and_pages(database_url: str, db: Database, tmp_path: Path) -> None:
    async with finder(database_url, db, tmp_path) as http:
        futian = await http.get("/api/v1/outlets", params={"district": "futian"}, headers=CN)
        cards = await http.get(
            "/api/v1/outlets",
            params=[
                ("lat", "22.3193"),
                ("lon", "114.1694"),
                ("service", "card"),
                ("service", "voucher_sale"),
                ("limit", "50"),
            ],
        )
        first = await http.get("/api/v1/outlets", params={"limit": 30})
        second = await http.get("/api/v1/outlets", params={"limit": 30, "offset": 30})
    mainland = futian.json()["outlets"]
    assert {o["code"] for o in mainland} == {"SZ-FT-01", "SZ-FT-02"}
    assert all(o["currency"] == "CNY" and o["region"] == "SZ" for o in mainland)
    amap = next(o for o in mainland if o["code"] == "SZ-FT-01")["directions_url"]
    assert amap.startswith("https://uri.amap.com/marker?position=114.058000,22.539000&name=")
    assert next(o for o in mainland if o["code"] == "SZ-FT-01")["name"] == "中港通营业厅（福田）"
    offered = [{s["code"] for s in o["services"]} for o in cards.json()["outlets"]]
    assert offered
    assert all({"card", "voucher_sale"} <= services for services in offered)
    assert first.json()["next_offset"] == 30
    codes = [o["code"] for o in first.json()["outlets"] + second.json()["outlets"]]
    assert len(codes) == len(set(codes)) == 60


async def test_open_now_past_midnight(database_url: str, db: Database, tmp_path: Path) -> None:
    at_one = WEDNESDAY_NOON.replace(hour=1, minute=30)  # Wednesday 01:30 in Hong Kong
    async with finder(database_url, db, tmp_path, at=at_one) as http:
        answer = await http.get(
            "/api/v1/outlets", params={**TSIM_SHA_TSUI, "open_now": "true", "limit": 50}
        )
        one = await http.get("/api/v1/outlets/HK-YT-02")
    found = answer.json()["outlets"]
    assert found
    assert all(o["open_now"] for o in found)
    codes = {o["code"] for o in found}
    assert "HK-YT-02" in codes  # open 18:00–06:00 every night
    assert "HK-YT-01" not in codes  # an operator's shop, 10:00–20:00
    night = one.json()
    assert night["open_now"] is True
    assert night["today"] == [{"opens": "18:00", "closes": "06:00", "closes_next_day": True}]


BAD = [
    ({"lat": "22.28"}, "invalid_outlet"),
    ({"lat": "91", "lon": "114"}, "invalid_request"),
    ({"lat": "22.2819001", "lon": "114.1581"}, "invalid_request"),
    ({"lat": "NaN", "lon": "114"}, "invalid_request"),
    ({"limit": "0"}, "invalid_request"),
    ({"limit": "51"}, "invalid_request"),
    ({"offset": "501"}, "invalid_request"),
    ({"district": "atlantis"}, "invalid_outlet"),
    ({"service": "fax"}, "invalid_request"),
]


async def test_bad_input_is_refused_in_the_error_shape(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    async with finder(database_url, db, tmp_path) as http:
        for params, code in BAD:
            answer = await http.get("/api/v1/outlets", params=params)
            assert answer.status_code == 422, params
            assert answer.json()["error"]["code"] == code, params
            assert answer.json()["error"]["message"]


async def test_one_outlet_by_code(database_url: str, db: Database, tmp_path: Path) -> None:
    async with finder(database_url, db, tmp_path) as http:
        found = await http.get("/api/v1/outlets/GZ-TH-01", headers=CN)
        missing = await http.get("/api/v1/outlets/GZ-XX-99")
        document = await http.get("/api/v1/openapi.json")
    assert found.status_code == 200
    assert found.json()["name"] == "中港通营业厅（天河路）"
    assert found.json()["distance_m"] is None
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    paths = document.json()["paths"]
    assert {"/api/v1/outlets", "/api/v1/outlets/{code}"} <= set(paths)
    schema = document.json()["components"]["schemas"]["OutletOut"]
    assert schema["examples"][0]["code"] == "HK-WC-02"
