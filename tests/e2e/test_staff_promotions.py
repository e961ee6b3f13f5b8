"""The promotions' staff pages through HTTP, on SQLite and PostgreSQL: the list and the form
in three languages; a refused form marks its field and changes nothing; an operator creates a
promotion (audited), a subscriber then sees it in the wizard's review, on the status page of
the order placed and in the API, and pausing it (audited) takes it off the offer; an auditor
changes nothing."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.promotions import tables as promotion_tables
from simkeep.staff import tables as staff_tables
from tests.e2e.site_world import Site, csrf_of, order_by_wizard, register, review_query
from tests.e2e.test_staff_pages import LANGUAGE_MARK, audit_count, log_in, staffed

__all__ = ["staffed"]  # the fixture, used by name

FORM = {
    "code": "DOUBLE-DATA",
    "name_zh_hant_hk": "雙倍數據",
    "name_zh_hans_cn": "双倍流量",
    "name_en": "Double data",
    "currency": "HKD",
    "min_credit": "100.00",
    "data": "2048",
    "data_days": "30",
    "data_zone": "mainland",
    "priority": "50",
    "budget": "100",
    "per_sim_cap": "2",
}


async def audit_actions(site: Site) -> list[str]:
    async def read(conn: AsyncConnection) -> list[str]:
        query = select(staff_tables.audit.c.action).order_by(staff_tables.audit.c.id)
        return list((await conn.execute(query)).scalars())

    return await site.db.read(read)


async def promotion_codes(site: Site) -> list[str]:
    async def read(conn: AsyncConnection) -> list[str]:
        query = select(promotion_tables.promotions.c.code)
        return list((await conn.execute(query)).scalars())

    return await site.db.read(read)


async def create(http: httpx.AsyncClient, **changes: str) -> httpx.Response:
    page = await http.get("/staff/promotions/new")
    assert page.status_code == 200
    return await http.post("/staff/promotions", data={"csrf": csrf_of(page), **FORM, **changes})


@pytest.mark.parametrize("language", sorted(LANGUAGE_MARK))
async def test_the_pages_in_three_languages(staffed: Site, language: str) -> None:
    async with staffed.browser() as http:
        await log_in(staffed, http, "olive")
        for path in ("/staff/promotions", "/staff/promotions/new"):
            page = await http.get(path, params={"lang": language})
            assert page.status_code == 200, page.text[:300]
            assert LANGUAGE_MARK[language] in page.text


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"percent": "150", "percent_days": "30"}, "percent"),
        ({"data_days": "0"}, "data_days"),
        ({"data_days": "thirty"}, "data_days"),
        ({"min_credit": "1.234"}, "min_credit"),
        ({"currency": "", "min_credit": "100"}, "currency"),
        ({"starts_on": "2026-12-31", "ends_on": "2026-12-01"}, "ends_on"),
        ({"starts_on": "tomorrow"}, "starts_on"),
        ({"budget": "-1"}, "budget"),
        ({"code": "no spaces allowed"}, "code"),
        ({"data": "", "data_days": ""}, "benefits"),
        ({"data_zone": "moon"}, "data_zone"),
    ],
)
async def test_a_refused_form_marks_its_field_and_changes_nothing(
    staffed: Site, changes: dict[str, str], field: str
) -> None:
    async with staffed.browser() as http:
        await log_in(staffed, http, "olive")
        audited = await audit_count(staffed)
        refused = await create(http, **changes)
        assert refused.status_code == 400, refused.text[:300]
        assert 'class="field__error"' in refused.text
        if field == "benefits":
            assert "至少送出一項" in refused.text  # the default language: zh-Hant
        else:
            assert re.search(rf'id="f-{field}"[^>]*aria-invalid="true"', refused.text), field
        assert await promotion_codes(staffed) == []
        assert await audit_count(staffed) == audited


async def test_created_offered_paused_and_audited(staffed: Site) -> None:
    site = staffed
    number = site.hk_sim.hk_number.e164
    async with site.browser() as staff_http, site.browser() as subscriber:
        await log_in(site, staff_http, "olive")
        created = await create(staff_http)
        assert created.status_code == 303
        assert created.headers["location"] == "/staff/promotions?created=DOUBLE-DATA"
        listed = await staff_http.get("/staff/promotions", params={"lang": "en"})
        assert "Double data" in listed.text
        assert "2,048 MB of data for 30 days (in the Mainland)" in listed.text
        assert "0 / 100" in listed.text

        await register(site, subscriber, "+85261234567")
        review = await subscriber.get(
            "/topup", params={**review_query(number, "10000", "CNY"), "lang": "zh_Hant_HK"}
        )
        assert review.status_code == 200, review.text[:300]
        assert "雙倍數據" in review.text
        assert "2,048 MB 數據，30 日內有效（內地適用）" in review.text
        order_no = await order_by_wizard(site, subscriber, number, "alipay-qr")
        status = await subscriber.get(f"/topups/{order_no}")
        assert "雙倍數據：2,048 MB 數據，30 日內有效（內地適用）" in status.text  # held
        offered = await subscriber.get("/api/v1/promotions", headers={"Accept-Language": "en"})
        assert [p["name"] for p in offered.json()["promotions"]] == ["Double data"]

        (promotion_id,) = [p["id"] for p in offered.json()["promotions"]]
        page = await staff_http.get("/staff/promotions")
        paused = await staff_http.post(
            f"/staff/promotions/{promotion_id}/state",
            data={"csrf": csrf_of(page), "state": "paused"},
        )
        assert paused.status_code == 303
        review = await subscriber.get("/topup", params=review_query(number, "10000", "CNY"))
        assert "雙倍數據" not in review.text
        offered = await subscriber.get("/api/v1/promotions")
        assert offered.json()["promotions"] == []
    assert (await audit_actions(site))[-2:] == ["promotion.create", "promotion.pause"]


async def test_an_auditor_reads_and_changes_nothing(staffed: Site) -> None:
    async with staffed.browser() as http:
        await log_in(staffed, http, "ada")
        listed = await http.get("/staff/promotions")
        assert listed.status_code == 200
        assert "/staff/promotions/new" not in listed.text
        refused = await http.post("/staff/promotions", data={"csrf": csrf_of(listed), **FORM})
        assert refused.status_code == 403
    assert await promotion_codes(staffed) == []
