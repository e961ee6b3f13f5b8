"""An order nobody pays expires after 15 minutes and its trade is closed at the provider, so
the payer can no longer pay it; a close the provider refuses is tried again later. Its
status page then says so, with no way to pay. A payment made in time whose news comes after
the expiry — a late notification, or the poll — is credited, once."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.ledger import chart
from simkeep.ledger import service as ledger
from simkeep.payment_methods import Provider
from simkeep.payments import service as payments
from simkeep.payments import tables as payment_tables
from simkeep.payments.model import ProviderError, TradeStatus
from simkeep.sims.model import Sim
from simkeep.topups import tables as topup_tables
from tests.e2e.api_world import Api, cn100
from tests.e2e.site_world import Site, order_by_wizard, register
from tests.e2e.world import World

PHONE = "+85261239000"


async def cn_order(api: Api, key: str) -> str:
    auth = await api.signup(PHONE)
    number = api.cn_sim.cn_number.e164
    created = await api.order(
        auth,
        key,
        **cn100(number),
    )
    assert created.status_code == 201, created.text
    return str(created.json()["order_no"])


async def closed_at(api: Api, order_no: str) -> datetime | None:
    orders = topup_tables.orders

    async def read(conn: AsyncConnection) -> datetime | None:
        query = select(orders.c.closed_at).where(orders.c.order_no == order_no)
        return (await conn.execute(query)).scalar()

    return await api.db.transaction(read)


async def test_an_unpaid_order_expires_and_is_closed_at_the_provider(api: Api) -> None:
    order_no = await cn_order(api, "key-expiry-0001")
    adapters = api.app.state.payment_adapters
    assert await payments.expire_unpaid(api.db, adapters=adapters, now=api.clock.now()) == 0

    api.clock.advance(timedelta(minutes=15))
    assert await payments.expire_unpaid(api.db, adapters=adapters, now=api.clock.now()) == 1
    assert await closed_at(api, order_no) == api.clock.now()
    trade = await adapters[Provider.WECHATPAY].query(order_no)
    assert trade.status is TradeStatus.CLOSED
    late = await api.http.post(f"/_sim/wechatpay/pay/{order_no}", params={"outcome": "success"})
    assert late.status_code >= 400  # a closed trade cannot be paid
    assert await payments.expire_unpaid(api.db, adapters=adapters, now=api.clock.now()) == 0


async def test_a_refused_close_is_tried_again(api: Api) -> None:
    order_no = await cn_order(api, "key-expiry-0002")
    real = api.app.state.payment_adapters[Provider.WECHATPAY]

    class Down:
        provider = Provider.WECHATPAY

        async def close(self, out_trade_no: str) -> None:
            raise ProviderError("gateway timeout")

    api.clock.advance(timedelta(minutes=15))
    down = {Provider.WECHATPAY: Down()}
    assert await payments.expire_unpaid(api.db, adapters=down, now=api.clock.now()) == 0  # type: ignore[arg-type]
    assert await closed_at(api, order_no) is None
    up = {Provider.WECHATPAY: real}
    assert await payments.expire_unpaid(api.db, adapters=up, now=api.clock.now()) == 0  # not yet
    api.clock.advance(timedelta(minutes=1))
    assert await payments.expire_unpaid(api.db, adapters=up, now=api.clock.now()) == 1
    assert await closed_at(api, order_no) == api.clock.now()
    state = await api.http.get(f"/api/v1/topups/{order_no}", headers=await api.login(PHONE))
    assert state.json()["state"] == "expired"


async def expire(world: World) -> None:
    """What the worker does: expire the orders nobody paid in time, close their trades."""
    adapters = world.app.state.payment_adapters
    await payments.expire_unpaid(world.db, adapters=adapters, now=world.clock.now())


async def test_an_expired_order_says_so_with_no_way_to_pay(site: Site) -> None:
    await register(site, site.http, "+85261239001")
    qr = await order_by_wizard(site, site.http, site.cn_sim.cn_number.e164, "wechatpay-qr")
    redirect = await order_by_wizard(
        site, site.http, site.hk_sim.hk_number.e164, "alipay-wap", amount="5000"
    )
    site.clock.advance(timedelta(minutes=15))
    await expire(site)

    english = {"Accept-Language": "en"}
    for order_no in (qr, redirect):
        page = await site.http.get(f"/topups/{order_no}", headers=english)
        state = (await site.http.get(f"/topups/{order_no}/state", headers=english)).json()
        assert (state["state"], state["waiting"]) == ("expired", False)
        for html in (page.text, state["html"]):
            assert "This order expired unpaid" in html
            assert not re.search(r"<svg[^>]*class=\"qr\"", html)  # no code to scan
            assert "/_sim/wechatpay/cashier/" not in html
            assert "gateway.do" not in html  # no way back to Alipay's cashier
            assert "Continue to" not in html
        assert '<meta http-equiv="refresh"' not in page.text
        assert "order-status.js" not in page.text


async def sim_balance(api: Api, sim: Sim) -> int:
    async def read(conn: AsyncConnection) -> int:
        code = chart.sim_balance(sim.id, sim.home_currency).code
        account = await ledger.get_account_by_code(conn, code=code)
        assert account is not None
        return (await ledger.get_balance(conn, account_id=account.id)).posted

    return await api.db.transaction(read)


async def kept(api: Api, order_no: str) -> list[tuple[str, str]]:
    inbox = payment_tables.inbox.c

    async def read(conn: AsyncConnection) -> list[tuple[str, str]]:
        query = select(inbox.status, inbox.source).where(inbox.order_no == order_no)
        return [(row.status, row.source) for row in await conn.execute(query.order_by(inbox.id))]

    return await api.db.transaction(read)


async def test_a_notification_after_expiry_credits_the_payment_once(api: Api) -> None:
    auth = await api.signup(PHONE)
    number = api.hk_sim.hk_number.e164
    created = await api.order(
        auth,
        "key-expiry-0003",
        number=number,
        confirm_number=number,
        amount={"minor": 5000, "currency": "HKD"},
        pay_currency="CNY",
        provider="alipay",
        channel="qr",
    )
    order_no = created.json()["order_no"]
    api.clock.advance(timedelta(minutes=14))
    paid = await api.http.post(f"/_sim/alipay/pay/{order_no}")  # in time; Alipay notifies later
    assert paid.status_code == 200, paid.text
    api.clock.advance(timedelta(minutes=2))
    await expire(api)  # the close is refused: the trade is paid
    order = await api.http.get(f"/api/v1/topups/{order_no}", headers=auth)
    assert order.json()["state"] == "expired"

    form = api.app.state.providers.alipay.deliveries[-1].form
    for _ in range(2):  # the notification, and a retry of it
        answer = await api.http.post(
            "/api/v1/payments/alipay/notify",
            content=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert answer.text == "success"
    assert await api.poll() == 0

    order = await api.http.get(f"/api/v1/topups/{order_no}", headers=auth)
    assert order.json()["state"] == "credited"
    assert order.json()["receipt_no"] is not None
    assert await sim_balance(api, api.hk_sim) == 5_000
    assert await kept(api, order_no) == [
        ("credited", "notification"),
        ("duplicate", "notification"),
    ]


async def test_a_poll_after_expiry_credits_the_payment_once(api: Api) -> None:
    order_no = await cn_order(api, "key-expiry-0004")
    auth = await api.login(PHONE)
    api.clock.advance(timedelta(minutes=14))
    paid = await api.http.post(f"/_sim/wechatpay/pay/{order_no}")  # its notification is lost
    assert paid.status_code == 200, paid.text
    api.clock.advance(timedelta(minutes=2))
    await expire(api)  # the close is refused: the trade is paid
    order = await api.http.get(f"/api/v1/topups/{order_no}", headers=auth)
    assert order.json()["state"] == "expired"

    assert await api.poll() == 1
    assert await api.poll() == 0

    order = await api.http.get(f"/api/v1/topups/{order_no}", headers=auth)
    assert order.json()["state"] == "credited"
    assert await sim_balance(api, api.cn_sim) == 10_000
    assert await kept(api, order_no) == [("credited", "poll")]
