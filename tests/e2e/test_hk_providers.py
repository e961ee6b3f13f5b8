"""Each newer way to pay through the same inbox, polling and expiry as Alipay and WeChat Pay,
on both databases: UnionPay (a bank card, in HKD here), FPS, AlipayHK and WeChat Pay HK.

An order is placed through the API and paid at the provider's simulator (a card's trade is
opened by the payer's browser posting the order's signed form first). Then:
- the provider's one genuine notification, delivered 50 times at once, credits once;
- a notification that never arrives: the poll asks the provider and credits the order;
- an order left unpaid expires, and its trade can no longer be paid where the provider can
  close it (AlipayHK cancels it, WeChat Pay HK closes it, UnionPay's ``payTimeout`` has
  passed); an FPS transfer cannot be stopped, so one arriving late still credits the order.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.ledger import tables as lt
from simkeep.payment_methods import Provider
from simkeep.payments import service as payments
from simkeep.payments import tables as pt
from simkeep.simulators.delivery import Reply
from simkeep.topups import service as topups
from simkeep.topups.model import ORDER_TTL, OrderState
from tests.e2e.api_world import Api

CHANNELS = {
    Provider.UNIONPAY: "page",
    Provider.FPS: "qr",
    Provider.ALIPAYHK: "qr",
    Provider.WECHATPAY_HK: "qr",
}
PROVIDERS = pytest.mark.parametrize("provider", list(CHANNELS), ids=lambda p: p.value)
Captured = list[tuple[dict[str, str], bytes]]


def lose_notifications(api: Api, provider: Provider) -> Captured:
    """The simulator's notifications never reach us: each is kept here instead."""
    captured: Captured = []

    async def deliver(url: str, headers: Mapping[str, str], body: bytes) -> Reply:
        captured.append((dict(headers), body))
        return Reply(0)  # unreachable, as far as the provider can tell

    api.app.state.providers.others[provider]._deliver = deliver
    return captured


async def place(api: Api, provider: Provider, key: str) -> dict[str, Any]:
    auth = await api.signup(f"+8526{zlib.crc32(key.encode()) % 10_000_000:07d}")
    number = api.hk_sim.hk_number.e164
    answer = await api.order(
        auth,
        key,
        number=number,
        confirm_number=number,
        amount={"minor": 5_000, "currency": "HKD"},
        pay_currency="HKD",
        provider=provider.value,
        channel=CHANNELS[provider],
    )
    assert answer.status_code == 201, answer.text
    order: dict[str, Any] = answer.json()
    payment = order["payment"]
    if payment.get("form"):  # the payer's browser posts the card gateway's form
        gateway = payment["pay_url"].replace(str(api.app.state.services.settings.public_url), "")
        opened = await api.http.post(gateway, data=payment["form"])
        assert opened.status_code == 303, opened.text
    return order


async def pay(api: Api, provider: Provider, order_no: str) -> None:
    paid = await api.http.post(
        f"/_sim/{provider.value}/pay/{order_no}",
        params={"outcome": "success", "amount_minor": "5000"},  # FPS: the bank never saw the QR
    )
    assert paid.status_code == 200, paid.text
    await api.app.state.providers.others[provider].deliver_due(now=api.clock.now())


async def state_of(api: Api, order_no: str) -> OrderState:
    async def read(conn: AsyncConnection) -> OrderState:
        order = await topups.get_order(conn, order_no=order_no)
        assert order is not None
        return order.state

    return await api.db.read(read)


async def journals_of(api: Api, order_no: str) -> int:
    async def read(conn: AsyncConnection) -> int:
        query = select(func.count()).where(lt.journals.c.client_id == f"topup:{order_no}")
        return int((await conn.execute(query)).scalar_one())

    return await api.db.read(read)


@PROVIDERS
async def test_fifty_deliveries_of_one_notification_credit_once(
    api: Api, provider: Provider
) -> None:
    order = await place(api, provider, f"fifty-{provider.value}")
    captured = lose_notifications(api, provider)
    await pay(api, provider, order["order_no"])
    headers, body = captured[0]
    notify = f"/api/v1/payments/{provider.value}/notify"
    answers = await asyncio.gather(
        *(api.http.post(notify, content=body, headers=headers) for _ in range(50))
    )
    assert {answer.status_code for answer in answers} <= {200, 204}
    assert await state_of(api, order["order_no"]) is OrderState.CREDITED
    assert await journals_of(api, order["order_no"]) == 1

    async def kept(conn: AsyncConnection) -> Counter[str]:
        query = select(pt.inbox.c.status).where(pt.inbox.c.provider == provider.value)
        return Counter(row.status for row in await conn.execute(query))

    assert await api.db.read(kept) == Counter(credited=1, duplicate=49)


@PROVIDERS
async def test_a_lost_notification_is_credited_by_polling(api: Api, provider: Provider) -> None:
    order = await place(api, provider, f"lost-{provider.value}")
    captured = lose_notifications(api, provider)
    await pay(api, provider, order["order_no"])
    assert captured  # it was sent, and lost
    assert await state_of(api, order["order_no"]) is OrderState.AWAITING_PAYMENT
    await api.poll()
    assert await state_of(api, order["order_no"]) is OrderState.CREDITED
    assert await journals_of(api, order["order_no"]) == 1


@PROVIDERS
async def test_an_expired_order_can_no_longer_be_paid(api: Api, provider: Provider) -> None:
    order = await place(api, provider, f"late-{provider.value}")
    lose_notifications(api, provider)
    api.clock.advance(ORDER_TTL + timedelta(seconds=1))
    adapters = api.app.state.payment_adapters
    assert await payments.expire_unpaid(api.db, adapters=adapters, now=api.clock.now()) == 1
    assert await state_of(api, order["order_no"]) is OrderState.EXPIRED
    late = await api.http.post(
        f"/_sim/{provider.value}/pay/{order['order_no']}",
        params={"outcome": "success", "amount_minor": "5000"},
    )
    if provider is Provider.FPS:  # a push transfer: nothing to close, and it still counts
        assert late.status_code == 200
        await api.app.state.providers.others[provider].deliver_due(now=api.clock.now())
        await api.poll()
        assert await state_of(api, order["order_no"]) is OrderState.CREDITED
    else:
        assert late.status_code >= 400, late.text
        await api.poll()
        assert await state_of(api, order["order_no"]) is OrderState.EXPIRED
