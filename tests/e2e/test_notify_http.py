"""The notify endpoint through real HTTP, per provider, on SQLite and PostgreSQL.

The app from ``create_app`` (embedded simulators included) is served by uvicorn on 127.0.0.1,
so when the payer pays, the simulator's own notifier POSTs its signed notification to
``/api/v1/payments/{provider}/notify`` over a socket, as the provider would, and reads our
answer. The order is credited once however often it is delivered, the provider reads the
answer it expects, and a forged notification is refused and kept in the inbox.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.app import create_app
from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.ledger import chart
from simkeep.ledger import service as ledger
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.payments import service as payments
from simkeep.payments import tables as payment_tables
from simkeep.payments.model import REFUSED_PREFIX_BYTES
from simkeep.payments.providers.wechatpay_signing import new_nonce, platform_headers
from simkeep.payments.signing import KeyPair, load_private_key
from simkeep.settings import load_settings
from simkeep.sims.model import Sim
from simkeep.simulators.alipay_trades import AlipayFault
from simkeep.simulators.embedded import EmbeddedProviders
from simkeep.topups import service as topups
from simkeep.topups.model import Order, OrderRequest, OrderState
from tests.factories import issue_sim, seed_books

HOST = "127.0.0.1"
SUBSCRIBER = 7
STARTUP_TIMEOUT_S = 30


@dataclass
class Live:
    app: FastAPI
    http: httpx.AsyncClient  # to the served app, over the socket
    db: Database
    clock: FixedClock
    hk_sim: Sim  # HKD
    cn_sim: Sim  # CNY

    @property
    def providers(self) -> EmbeddedProviders:
        providers: EmbeddedProviders = self.app.state.providers
        return providers


@pytest.fixture
async def live(
    database_url: str, db: Database, clock: FixedClock, tmp_path: Path
) -> AsyncIterator[Live]:
    async def setup(conn: AsyncConnection) -> tuple[Sim, Sim]:
        await seed_books(conn, now=clock.now())
        return (
            await issue_sim(conn, n=1, plan="HK-VALID", now=clock.now()),
            await issue_sim(conn, n=2, plan="CN-KEEP", now=clock.now()),
        )

    hk_sim, cn_sim = await db.transaction(setup)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))  # the port is known before the app, which needs its public URL
        public_url = f"http://{HOST}:{sock.getsockname()[1]}"
        settings = load_settings(
            database_url=database_url, keys_dir=str(tmp_path / "keys"), public_url=public_url
        )
        app = create_app(settings, db=db, clock=clock)
        server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            await asyncio.wait_for(started(server, serving), STARTUP_TIMEOUT_S)
            async with httpx.AsyncClient(base_url=public_url) as http:
                yield Live(app, http, db, clock, hk_sim, cn_sim)
        finally:
            server.should_exit = True
            await serving


async def started(server: uvicorn.Server, serving: asyncio.Task[None]) -> None:
    while True:  # uvicorn only raises a flag
        if serving.done():
            serving.result()  # a start-up failure, raised here
            pytest.fail("uvicorn stopped before it started")
        if server.started:
            return
        await asyncio.sleep(0.01)


async def checkout(live: Live, sim: Sim, credit: Money, provider: Provider) -> Order:
    """What ``POST /api/v1/topups`` does: the order, and its trade opened at the provider."""
    services = live.app.state.services
    number = sim.hk_number.e164
    return await payments.checkout(
        live.db,
        adapter=services.adapter(provider),
        request=OrderRequest.of(
            subscriber_id=SUBSCRIBER,
            idempotency_key=f"notify-{provider.value}",
            number=number,
            confirm_number=number,
            credit=credit,
            pay_currency="CNY",
            provider=provider,
            channel=Channel.QR,
        ),
        urls=services.urls,
        payer_ip=HOST,
        now=live.clock.now(),
    )


async def pay(live: Live, provider: Provider, order_no: str) -> None:
    """The payer pays at the simulator, whose notifier delivers before this answers."""
    response = await live.http.post(
        f"/_sim/{provider.value}/pay/{order_no}", params={"outcome": "success"}
    )
    assert response.status_code == 200, response.text


async def credited_once(live: Live, order: Order, sim: Sim) -> None:
    """The order is credited, and the SIM holds its credit once, not twice."""

    async def read(conn: AsyncConnection) -> tuple[OrderState | None, int]:
        current = await topups.get_order(conn, order_no=order.order_no)
        account = await ledger.get_account_by_code(
            conn, code=chart.sim_balance(sim.id, order.credit.currency).code
        )
        assert account is not None
        balance = await ledger.get_balance(conn, account_id=account.id)
        return (current.state if current else None), balance.posted

    assert await live.db.transaction(read) == (OrderState.CREDITED, order.credit.minor)


async def inbox(live: Live, provider: Provider) -> list[dict[str, Any]]:
    """The provider's rows in ``payment_notifications``, oldest first."""
    n = payment_tables.inbox

    async def read(conn: AsyncConnection) -> list[dict[str, Any]]:
        rows = await conn.execute(
            select(n.c.status, n.c.order_no, n.c.error, n.c.body, n.c.body_size, n.c.body_sha256)
            .where(n.c.provider == provider.value)
            .order_by(n.c.id)
        )
        return [dict(row._mapping) for row in rows]

    return await live.db.transaction(read)


def assert_bounded(row: dict[str, Any], sent: bytes) -> None:
    """A refused notification is kept as its size, digest and first bytes only."""
    assert len(sent) > REFUSED_PREFIX_BYTES, "the test needs a body longer than the prefix"
    assert row["body"] == sent[:REFUSED_PREFIX_BYTES]
    assert row["body_size"] == len(sent)
    assert row["body_sha256"] == hashlib.sha256(sent).hexdigest()


async def test_alipay_notifies_over_http_and_credits_once(live: Live) -> None:
    alipay = live.providers.alipay
    alipay.faults.add(AlipayFault.DUPLICATE)  # every attempt is sent twice
    order = await checkout(live, live.hk_sim, Money(5_000, "HKD"), Provider.ALIPAY)
    await pay(live, Provider.ALIPAY, order.order_no)

    (delivery,) = alipay.deliveries
    notify_url = live.app.state.services.urls.notify(Provider.ALIPAY)
    assert delivery.url == notify_url
    assert delivery.answers == ["success", "success"]  # what Alipay read back, both times
    assert delivery.next_due is None  # acknowledged: no retry
    await credited_once(live, order, live.hk_sim)

    tampered = urlencode({**delivery.form, "total_amount": "4600.00"}).encode()
    answer = await live.http.post(
        notify_url,
        content=tampered,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (answer.status_code, answer.text) == (200, "fail")
    await credited_once(live, order, live.hk_sim)

    kept = await inbox(live, Provider.ALIPAY)
    assert [row["status"] for row in kept] == ["credited", "duplicate", "rejected"]
    assert len(kept[0]["body"]) == kept[0]["body_size"] > 0  # a verified one is kept whole
    assert_bounded(kept[2], tampered)
    assert kept[2]["error"].startswith("bad_signature")
    assert kept[2]["order_no"] is None  # nothing in it is believed


async def test_wechat_pay_notifies_over_http_and_credits_once(live: Live) -> None:
    wechat = live.providers.wechatpay
    wechat.faults.duplicate = True
    order = await checkout(live, live.cn_sim, Money(10_000, "CNY"), Provider.WECHATPAY)
    await pay(live, Provider.WECHATPAY, order.order_no)

    (delivery,) = wechat.deliveries
    notify_url = live.app.state.services.urls.notify(Provider.WECHATPAY)
    assert delivery.url == notify_url
    assert delivery.statuses == [204, 204]  # what WeChat Pay read back, both times
    assert delivery.done
    await credited_once(live, order, live.cn_sim)

    not_wechat = load_private_key(KeyPair.generate().private_pem)
    forged = platform_headers(
        private_key=not_wechat,
        serial=wechat.public_key_id,
        body=delivery.body,
        timestamp=int(live.clock.now().timestamp()),
        nonce=new_nonce(),
    )
    answer = await live.http.post(
        notify_url,
        content=delivery.body,
        headers={"Content-Type": "application/json", **forged},
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "FAIL"
    await credited_once(live, order, live.cn_sim)

    kept = await inbox(live, Provider.WECHATPAY)
    assert [row["status"] for row in kept] == ["credited", "duplicate", "rejected"]
    assert kept[0]["body"] == delivery.body
    assert_bounded(kept[2], delivery.body)
    assert kept[2]["error"].startswith("bad_signature")


async def fifty_megabytes() -> AsyncIterator[bytes]:
    for _ in range(50 * 1024):
        yield b"x" * 1024


async def test_a_huge_unsigned_notification_is_refused_at_the_cap_and_nothing_is_kept(
    live: Live,
) -> None:
    urls = live.app.state.services.urls
    streamed = await live.http.post(
        urls.notify(Provider.WECHATPAY),
        content=fifty_megabytes(),
        headers={"Content-Type": "application/json"},
    )
    declared = await live.http.post(
        urls.notify(Provider.ALIPAY),
        content=fifty_megabytes(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Content-Length": str(50 * 1024 * 1024),
        },
    )

    assert streamed.status_code == 413
    assert streamed.json()["code"] == "FAIL"
    assert (declared.status_code, declared.text) == (413, "fail")
    assert await inbox(live, Provider.WECHATPAY) == []
    assert await inbox(live, Provider.ALIPAY) == []


async def test_a_refused_notification_under_the_cap_is_kept_as_a_bounded_record(
    live: Live,
) -> None:
    unsigned = urlencode({"out_trade_no": "T" * 20, "padding": "x" * 60_000}).encode()

    answer = await live.http.post(
        live.app.state.services.urls.notify(Provider.ALIPAY),
        content=unsigned,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert (answer.status_code, answer.text) == (200, "fail")
    (kept,) = await inbox(live, Provider.ALIPAY)
    assert kept["status"] == "rejected"
    assert kept["error"].startswith("bad_signature")
    assert_bounded(kept, unsigned)
