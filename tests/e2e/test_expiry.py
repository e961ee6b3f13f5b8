"""An order nobody pays expires after 15 minutes and its trade is closed at the provider, so
the payer can no longer pay it; a close the provider refuses is tried again later."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.payment_methods import Provider
from simkeep.payments import service as payments
from simkeep.payments.model import ProviderError, TradeStatus
from simkeep.topups import tables as topup_tables
from tests.e2e.api_world import Api, cn100

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
