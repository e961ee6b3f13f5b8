"""The console's search through the real app, on SQLite and PostgreSQL (docs/staff.md).

The world's HKD SIM (+852 9201 0037, +86 139 0001 0053) is held by 陳's account
(+852 6123 4567), which also holds the CNY SIM; it has a credited top-up with its receipt and
a refund asked of it. A support person searches: either of the SIM's numbers in every usual
spelling goes to the SIM's page, so do the order, receipt and refund numbers; the account's
login lists both SIMs it holds; a number nobody has says nothing was found; text that is no
number of ours, too long or odd, is a 400 page that says what the box takes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.refunds import service as refunds
from simkeep.refunds.model import AutoRule, Reason
from simkeep.refunds.service import Asking
from simkeep.sims import service as sims
from simkeep.staff import search
from simkeep.staff import service as staff
from simkeep.staff.audit import CLI
from simkeep.staff.model import code_at, time_step
from simkeep.staff.search import Kind
from simkeep.subscribers import service as subscribers
from simkeep.topups import service as topups
from simkeep.topups.model import Order, OrderRequest
from tests.e2e.site_world import Site, csrf_of, site

__all__ = ["site"]

PASSWORD = "staff password 1"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
HOLDER = "+85261234567"
NO_RULE = AutoRule(max_credit=0, within=timedelta(0))


@dataclass
class Console:
    site: Site
    http: httpx.AsyncClient
    order: Order
    refund_no: str


@pytest.fixture
async def console(site: Site) -> Console:
    now = site.clock.now()
    holder = await subscribers.enroll(
        site.db, phone=HOLDER, password="correct horse", language="en", now=now
    )

    async def hold(conn: AsyncConnection) -> None:
        for sim in (site.hk_sim, site.cn_sim):
            await sims.assign_sim(conn, subscriber_id=holder, sim_id=sim.id, now=now)

    await site.db.transaction(hold)
    order = await _credited(site, holder)
    refund = await site.db.transaction(
        lambda conn: refunds.request_refund(
            conn,
            order_no=order.order_no,
            asking=Asking(holder),
            reason=Reason.NOT_NEEDED,
            note="",
            asked=Money(1_000, "HKD"),
            rule=NO_RULE,
            now=now,
        )
    )
    await staff.add_staff(
        site.db,
        username="sam",
        display_name="Sam",
        role="support",
        password=PASSWORD,
        actor=CLI,
        now=now,
        totp_secret=SECRET,
        enrolled=True,
    )
    http = site.browser()
    page = await http.get("/staff/login")
    code = code_at(SECRET, time_step(site.clock.now()))
    data = {"csrf": csrf_of(page), "username": "sam", "password": PASSWORD, "code": code}
    assert (await http.post("/staff/login", data=data)).status_code == 303
    return Console(site, http, order, refund.refund_no)


async def _credited(site: Site, holder: int) -> Order:
    number = site.hk_sim.hk_number.e164
    request = OrderRequest.of(
        subscriber_id=holder,
        idempotency_key="search-1",
        number=number,
        confirm_number=number,
        credit=Money(10_000, "HKD"),
        pay_currency="HKD",
        provider=Provider.FPS,
        channel=Channel.QR,
    )

    async def run(conn: AsyncConnection) -> Order:
        now = site.clock.now()
        order = await topups.create_order(conn, request=request, now=now)
        result = await topups.credit_paid_order(
            conn,
            order_no=order.order_no,
            paid=order.pay,
            provider_trade_no="P1",
            now=order.created_at,
        )
        return result.order

    return await site.db.transaction(run)


async def searched(console: Console, text: str) -> httpx.Response:
    return await console.http.get("/staff/search", params={"q": text, "lang": "en"})


SPELLINGS = [
    "+852 9201 0037",
    "852-9201-0037",
    "92010037",
    "(+852) 9201-0037",
    "00852 9201 0037",
    "+86 139 0001 0053",
    "13900010053",
    "86 139-0001-0053",
]


async def test_either_number_in_any_spelling_goes_to_the_sims_page(console: Console) -> None:
    for typed in SPELLINGS:
        found = await searched(console, typed)
        assert found.status_code == 303, (typed, found.text[:300])
        assert found.headers["location"].startswith(f"/staff/sims/{console.site.hk_sim.id}?")
    page = await console.http.get(found.headers["location"])
    assert page.status_code == 200
    assert "+852 9201 0037" in page.text
    assert "+86 139 0001 0053" in page.text


async def test_the_order_receipt_and_refund_numbers_go_to_the_sims_page(console: Console) -> None:
    receipt = console.order.receipt_no
    assert receipt is not None
    for typed in (
        console.order.order_no,
        console.order.order_no.lower(),
        receipt,
        console.refund_no,
    ):
        found = await searched(console, typed)
        assert found.status_code == 303, (typed, found.text[:300])
        assert found.headers["location"].startswith(f"/staff/sims/{console.site.hk_sim.id}?")


async def test_an_accounts_login_lists_every_sim_it_holds(console: Console) -> None:
    listed = await searched(console, "6123 4567")
    assert listed.status_code == 200
    for sim in (console.site.hk_sim, console.site.cn_sim):
        assert f'href="/staff/sims/{sim.id}"' in listed.text
    assert "an account that holds it" in listed.text


async def test_the_search_says_how_each_sim_was_found(console: Console) -> None:
    site = console.site
    hits = await search.find(site.db, text=site.hk_sim.cn_number.e164)
    assert [(hit.sim.id, [how.kind for how in hit.found_by]) for hit in hits] == [
        (site.hk_sim.id, [Kind.CN_NUMBER])
    ]
    by_login = await search.find(site.db, text=HOLDER)
    assert {hit.sim.id for hit in by_login} == {site.hk_sim.id, site.cn_sim.id}
    assert all(hit.found_by[0].kind is Kind.SUBSCRIBER for hit in by_login)


async def test_nothing_found_says_so(console: Console) -> None:
    for typed in ("+852 6999 9999", "T202611250000009999", "R2611250000009999"):
        page = await searched(console, typed)
        assert page.status_code == 200, typed
        assert "Nothing found for" in page.text, typed


BAD = [
    ("9" * 65, "Type at most 64"),
    ("<script>alert(1)</script>", "Type at most 64"),
    ("92010037; DROP TABLE sims", "Type at most 64"),
    ("hello", "This is not a phone or SIM number"),
    ("1234", "This is not a phone or SIM number"),
]


async def test_bad_input_is_a_400_that_says_what_the_box_takes(console: Console) -> None:
    for typed, says in BAD:
        page = await searched(console, typed)
        assert page.status_code == 400, typed
        if len(typed) <= search.MAX_QUERY:  # longer is refused before the route runs
            assert says in page.text, typed
            assert 'aria-invalid="true"' in page.text, typed


async def test_the_search_box_is_on_every_staff_page(console: Console) -> None:
    for path in ("/staff", "/staff/refunds", "/staff/adjustments", "/staff/search"):
        page = await console.http.get(path, params={"lang": "en"})
        assert page.status_code == 200, path
        assert 'action="/staff/search"' in page.text, path
