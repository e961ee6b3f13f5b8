"""The voucher pages through HTTP, on SQLite and PostgreSQL: anyone redeems a PIN on
``/vouchers/redeem`` in three languages and lands on a page that shows what was credited; a
refused PIN marks its field and is never written back; the operator makes a batch and gets
its printer's file in the same answer, once, looks a voucher up and blocks the unsold ones
(audited); an auditor reads and changes nothing."""

from __future__ import annotations

import csv
import io
import re

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.money import Money
from simkeep.staff import tables as staff_tables
from simkeep.vouchers import tables as voucher_tables
from simkeep.vouchers.model import pin_key
from tests.e2e.site_world import Site, csrf_of, post_form
from tests.e2e.test_staff_pages import LANGUAGE_MARK, log_in, staffed
from tests.integration.voucher_world import shop, sold_cards

__all__ = ["staffed"]  # the fixture, used by name

HK100 = Money(10_000, "HKD")
TITLE = {"zh_Hant_HK": "使用充值卡", "zh_Hans_CN": "使用充值卡", "en": "Redeem a voucher"}
REFUSED = {
    "zh_Hant_HK": "此密碼無法使用",
    "zh_Hans_CN": "此密码无法使用",
    "en": "This PIN cannot be used",
}
DONE = {"zh_Hant_HK": "充值卡已使用", "zh_Hans_CN": "充值卡已使用", "en": "Voucher redeemed"}


def app_key(site: Site) -> bytes:
    """The key the app digests PINs with."""
    return pin_key(site.app.state.settings.secret_key)


def marked(page: httpx.Response, field: str) -> bool:
    return re.search(rf'<input id="f-{field}" [^>]*aria-invalid="true"', page.text) is not None


@pytest.mark.parametrize("language", list(TITLE))
async def test_anyone_redeems_a_voucher_in_their_language(site: Site, language: str) -> None:
    where = await shop(site.db, now=site.clock.now())
    (card,) = await sold_cards(
        site.db, where, face=HK100, count=1, now=site.clock.now(), key=app_key(site)
    )
    number = site.hk_sim.hk_number.e164
    async with site.browser() as http:
        page = await http.get("/vouchers/redeem", params={"lang": language})
        assert page.status_code == 200
        assert TITLE[language] in page.text
        wrong = await post_form(
            http, "/vouchers/redeem", {"pin": "1111 2222 3333 4444", "number": number}
        )
        assert wrong.status_code == 400
        assert marked(wrong, "pin")
        assert REFUSED[language] in wrong.text
        assert "1111 2222 3333 4444" not in wrong.text
        done = await post_form(http, "/vouchers/redeem", {"pin": card.pin, "number": number})
        assert done.status_code == 303, done.text[:300]
        shown = await http.get(done.headers["location"])
    assert shown.status_code == 200
    assert DONE[language] in shown.text
    assert site.hk_sim.hk_number.masked() in shown.text
    assert card.serial in shown.text
    assert card.pin not in shown.text


async def test_a_form_without_its_token_changes_nothing(site: Site) -> None:
    where = await shop(site.db, now=site.clock.now())
    (card,) = await sold_cards(
        site.db, where, face=HK100, count=1, now=site.clock.now(), key=app_key(site)
    )
    async with site.browser() as http:
        answer = await http.post(
            "/vouchers/redeem", data={"pin": card.pin, "number": site.hk_sim.hk_number.e164}
        )
    assert answer.status_code == 403


async def test_a_forged_link_to_a_redemption_is_not_found(site: Site) -> None:
    async with site.browser() as http:
        page = await http.get("/vouchers/redeemed/R2611250000000001/forged")
    assert page.status_code == 404


async def voucher_states(site: Site) -> dict[str, str]:
    async def read(conn: AsyncConnection) -> dict[str, str]:
        rows = await conn.execute(
            select(voucher_tables.vouchers.c.serial, voucher_tables.vouchers.c.state)
        )
        return {str(serial): str(state) for serial, state in rows.all()}

    return await site.db.read(read)


async def audit_actions(site: Site) -> list[str]:
    async def read(conn: AsyncConnection) -> list[str]:
        query = select(staff_tables.audit.c.action).order_by(staff_tables.audit.c.id)
        return list((await conn.execute(query)).scalars())

    return await site.db.read(read)


BATCH = {"face": "100", "currency": "HKD", "count": "3", "expires": "2027-12-31"}


async def test_the_operator_makes_a_batch_and_gets_its_pins_once(staffed: Site) -> None:
    async with staffed.browser() as http:
        await log_in(staffed, http, "olive")
        page = await http.get("/staff/vouchers")
        made = await http.post("/staff/vouchers", data={"csrf": csrf_of(page), **BATCH})
        assert made.status_code == 200, made.text[:300]
        assert made.headers["content-type"].startswith("text/csv")
        assert "attachment" in made.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(made.text)))
        assert rows[0] == ["serial", "pin", "value", "currency", "expires_on"]
        assert [row[2:] for row in rows[1:]] == [["100.00", "HKD", "2027-12-31"]] * 3
        serials = [row[0] for row in rows[1:]]
        listed = await http.get("/staff/vouchers")
        assert "VB" in listed.text
        assert all(row[1] not in listed.text for row in rows[1:])
        found = await http.get("/staff/vouchers", params={"serial": serials[0]})
        assert serials[0] in found.text
        batch_link = re.search(r'href="(/staff/vouchers/batches/\d+)"', listed.text)
        assert batch_link
        batch_page = await http.get(batch_link.group(1))
        blocked = await http.post(
            f"{batch_link.group(1)}/block", data={"csrf": csrf_of(batch_page)}
        )
        assert blocked.status_code == 303
    assert set((await voucher_states(staffed)).values()) == {"blocked"}
    assert (await audit_actions(staffed))[-2:] == ["voucher_batch.create", "voucher_batch.block"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"face": "70"}, "face"),
        ({"currency": "USD"}, "currency"),
        ({"count": "0"}, "count"),
        ({"count": "many"}, "count"),
        ({"expires": "2026-11-25"}, "expires"),
        ({"expires": "next year"}, "expires"),
    ],
)
async def test_a_refused_batch_marks_its_field_and_writes_nothing(
    staffed: Site, changes: dict[str, str], field: str
) -> None:
    async with staffed.browser() as http:
        await log_in(staffed, http, "olive")
        page = await http.get("/staff/vouchers")
        answer = await http.post(
            "/staff/vouchers", data={"csrf": csrf_of(page), **BATCH, **changes}
        )
    assert answer.status_code == 400
    assert 'aria-invalid="true"' in answer.text
    assert f'id="f-{field}-error"' in answer.text
    assert await voucher_states(staffed) == {}


@pytest.mark.parametrize("language", list(LANGUAGE_MARK))
async def test_the_staff_pages_in_three_languages(staffed: Site, language: str) -> None:
    async with staffed.browser() as http:
        await log_in(staffed, http, "ada")
        page = await http.get("/staff/vouchers", params={"lang": language})
        assert page.status_code == 200
        assert LANGUAGE_MARK[language] in page.text
        assert 'action="/staff/vouchers" class="form">' not in page.text  # reads only
        refused = await http.post("/staff/vouchers", data={"csrf": csrf_of(page), **BATCH})
    assert refused.status_code == 403
    assert await voucher_states(staffed) == {}


async def test_the_look_up_tells_where_a_voucher_was_sold_and_for_whom_redeemed(
    staffed: Site,
) -> None:
    where = await shop(staffed.db, now=staffed.clock.now())
    (card,) = await sold_cards(
        staffed.db, where, face=HK100, count=1, now=staffed.clock.now(), key=app_key(staffed)
    )
    number = staffed.hk_sim.hk_number.e164
    async with staffed.browser() as http:
        done = await post_form(http, "/vouchers/redeem", {"pin": card.pin, "number": number})
        assert done.status_code == 303
        await log_in(staffed, http, "ada")
        found = await http.get("/staff/vouchers", params={"serial": card.serial, "lang": "en"})
        missing = await http.get("/staff/vouchers", params={"serial": "123456789012"})
    assert found.status_code == 200
    for shown in ("VA-1", "Voucher Clerk", "Redeemed", staffed.hk_sim.hk_number.masked()):
        assert shown in found.text, shown
    assert card.pin not in found.text
    assert missing.status_code == 400
    assert 'id="f-serial-error"' in missing.text
