"""Checkout offers what fits and what is on, and pays a bank card through a gateway that
takes a form: the API lists the ways to pay a SIM's currency first and the other currency's
after (only with a rate set), methods switched off are neither listed nor taken, and a card
payment goes from the review to UnionPay's cashier by a signed form the browser posts, is
declined once, paid, notified, and brings the payer back by a POST the status page takes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from html import unescape
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.payment_methods import Provider
from simkeep.simulators.delivery import Reply
from simkeep.topups import service as topups
from simkeep.topups.model import OrderState
from tests.e2e.site_world import Site, newest_order_no, register, review_fields, review_query
from tests.e2e.world import running_world

HIDDEN = re.compile(r'<input type="hidden" name="([A-Za-z]+)" value="([^"]*)">')


async def listed(http: httpx.AsyncClient, currency: str, device: str) -> list[str]:
    answer = await http.get(
        "/api/v1/payment-methods",
        params={"home_currency": currency, "device": device},
        headers={"Accept-Language": "zh-Hant-HK"},
    )
    assert answer.status_code == 200, answer.text
    return [
        f"{m['provider']['code']}-{m['channel']}:{m['pay_currency']}:{m['cross_currency']}"
        for m in answer.json()["methods"]
    ]


async def test_the_api_lists_the_sims_currency_first(site: Site) -> None:
    hkd = await listed(site.http, "HKD", "phone")
    assert hkd[:4] == [
        "alipayhk-wap:HKD:False",
        "wechatpay_hk-wap:HKD:False",
        "unionpay-wap:HKD:False",
        "fps-qr:HKD:False",
    ]
    assert hkd[-1].endswith(":CNY:True")  # after every HKD one, at the operator's rate
    assert [m for m in hkd if m.endswith("True")] == hkd[6:]
    answer = await site.http.get("/api/v1/payment-methods?home_currency=HKD")
    assert answer.json()["methods"][0]["provider"]["name"] == "轉數快"  # desktop, by default
    bad = await site.http.get("/api/v1/payment-methods?home_currency=USD")
    assert bad.status_code == 422


@pytest.fixture
async def fps_off(
    database_url: str, db: Database, clock: FixedClock, tmp_path: Path
) -> AsyncIterator[Site]:
    async with running_world(
        Site,
        database_url=database_url,
        db=db,
        clock=clock,
        tmp_path=tmp_path,
        payment_methods_off="fps,unionpay",
    ) as world:
        yield world


async def test_a_method_switched_off_is_neither_offered_nor_taken(fps_off: Site) -> None:
    site = fps_off
    assert not [m for m in await listed(site.http, "HKD", "desktop") if "fps" in m]
    await register(site, site.http, "+85261234567")
    number = site.hk_sim.hk_number.e164
    review = await site.http.get("/topup", params=review_query(number, "10000", "HKD"))
    assert 'value="fps-qr"' not in review.text
    assert 'value="unionpay-page"' not in review.text
    forced = await site.http.post("/topup", data=review_fields(review, method="fps-qr"))
    assert forced.status_code == 400  # not a way to pay here
    body = {
        "number": number,
        "confirm_number": number,
        "amount": {"minor": 10_000, "currency": "HKD"},
        "pay_currency": "HKD",
        "provider": "fps",
        "channel": "qr",
    }
    login = await site.http.post(
        "/api/v1/auth/login", json={"phone": "+85261234567", "password": "correct horse 42"}
    )
    token = login.json()["token"]
    refused = await site.http.post(
        "/api/v1/topups",
        json=body,
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "fps-off-0001"},
    )
    assert refused.status_code == 404
    assert "switched off" in refused.text


def gateway_delivers_to(site: Site) -> None:
    async def deliver(url: str, headers: Mapping[str, str], body: bytes) -> Reply:
        answer = await site.http.post(
            "/api/v1/payments/unionpay/notify", content=body, headers=dict(headers)
        )
        return Reply(answer.status_code, answer.content)

    site.app.state.providers.others[Provider.UNIONPAY]._deliver = deliver


async def test_a_card_is_paid_through_the_gateways_form(site: Site) -> None:
    await register(site, site.http, "+85261234567")
    number = site.hk_sim.hk_number.e164
    review = await site.http.get("/topup", params=review_query(number, "5000", "HKD"))
    go = await site.http.post("/topup", data=review_fields(review, method="unionpay-page"))
    assert go.status_code == 200, go.text[:500]
    order_no = await newest_order_no(site)
    action = re.search(
        r'<form method="post" action="([^"]+)" class="pay-form" data-autosubmit', go.text
    )
    assert action is not None, go.text
    pay_form = go.text[action.start() : go.text.index("</form>", action.start())]
    fields = {name: unescape(value) for name, value in HIDDEN.findall(pay_form)}
    assert fields["orderId"] == order_no
    assert (fields["txnAmt"], fields["currencyCode"], fields["channelType"]) == (
        "5000",
        "344",
        "07",
    )
    assert fields["signature"]
    assert "autosubmit.js" in go.text

    gateway = action.group(1).replace("http://127.0.0.1:9", "")
    tampered = await site.http.post(gateway, data={**fields, "txnAmt": "1"})
    assert tampered.status_code == 400  # the gateway checks our signature
    cashier = await site.http.post(gateway, data=fields)
    assert cashier.status_code == 303, cashier.text
    cashier_url = cashier.headers["location"].replace("http://127.0.0.1:9", "")
    gateway_delivers_to(site)
    declined = await site.http.post(
        cashier_url, data={"card_no": "6216610000000000024", "password": "123456"}
    )
    assert declined.status_code in (200, 400)
    assert await state_of(site, order_no) is OrderState.AWAITING_PAYMENT
    paid = await site.http.post(
        cashier_url, data={"card_no": "6216610000000000016", "password": "123456"}
    )
    assert paid.status_code == 200, paid.text[:500]
    await site.app.state.providers.others[Provider.UNIONPAY].deliver_due(now=site.clock.now())
    assert await state_of(site, order_no) is OrderState.CREDITED

    back = await site.http.post(f"/topups/{order_no}", data={"respCode": "00"})
    assert back.status_code == 303
    assert back.headers["location"] == f"/topups/{order_no}"
    assert (await site.http.post("/topups/..%2Fstaff", data={})).status_code == 404


async def state_of(site: Site, order_no: str) -> OrderState:
    async def read(conn: AsyncConnection) -> OrderState:
        order = await topups.get_order(conn, order_no=order_no)
        assert order is not None
        return order.state

    return await site.db.read(read)
