"""A wrong-number top-up refunded through every online provider's simulator, as the worker
and the providers' notifications do it (docs/refunds.md), on SQLite and PostgreSQL.

For each provider: HK$100 (or ¥100) is ordered, paid at the simulator and credited by its
notification; the payer asks for it back; the rule approves it; the worker's job asks the
provider, which pays it back (at once, or later: then its notification — UnionPay's refund
back-notification, WeChat Pay's REFUND.SUCCESS — or the job's next query says so). The
simulator has paid that refund number once, the order is refunded, the provider's clearing
account is back where it was, and the books check."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.ledger import chart
from simkeep.ledger import service as ledger
from simkeep.money import Money
from simkeep.payment_methods import PROVIDERS, Provider
from simkeep.payments import methods
from simkeep.payments import service as payments
from simkeep.payments import tables as pt
from simkeep.payments.model import Acknowledgement, PaymentProviderAdapter, RawNotification
from simkeep.refunds import sending
from simkeep.refunds import service as refunds
from simkeep.refunds.model import AutoRule, Reason, RefundState
from simkeep.refunds.queries import get_refund
from simkeep.settings import Settings, load_settings
from simkeep.sims.model import Sim
from simkeep.simulators.embedded import EmbeddedProviders
from simkeep.subscribers import service as subscribers
from simkeep.topups import service as topups
from simkeep.topups.model import Order, OrderRequest, OrderState
from tests.factories import issue_sim, seed_books

RULE = AutoRule(max_credit=30_000, within=timedelta(hours=24))
ONLINE = [provider for provider, spec in PROVIDERS.items() if spec.online]
NOTIFIES_REFUNDS = {Provider.UNIONPAY, Provider.WECHATPAY, Provider.WECHATPAY_HK}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        database_url=database_url,
        keys_dir=str(tmp_path / "keys"),
        public_url="http://127.0.0.1:8000",
        environment="test",
    )


@pytest.fixture
async def providers(
    db: Database, clock: FixedClock, settings: Settings
) -> AsyncIterator[EmbeddedProviders]:
    async def receive(adapter: PaymentProviderAdapter, raw: RawNotification) -> Acknowledgement:
        return await payments.receive_notification(db, adapter=adapter, raw=raw, now=clock.now())

    built = EmbeddedProviders.build(settings, clock, notify=receive)
    yield built
    await built.close()


async def credited_order(
    db: Database,
    clock: FixedClock,
    providers: EmbeddedProviders,
    settings: Settings,
    provider: Provider,
) -> tuple[Order, int, Sim]:
    """A wrong number topped up by a new subscriber, paid at the simulator, credited."""

    async def setup(conn: AsyncConnection) -> Sim:
        await seed_books(conn, now=clock.now())
        currency = "HKD" if "HKD" in PROVIDERS[provider].currencies else "CNY"
        plan = "HK-KEEP" if currency == "HKD" else "CN-KEEP"
        return await issue_sim(conn, n=1, plan=plan, now=clock.now())

    sim = await db.transaction(setup)
    payer = await subscribers.enroll(
        db, phone="+85261234567", password="correct horse", language="en", now=clock.now()
    )
    number = sim.hk_number.e164 if sim.home_currency == "HKD" else sim.cn_number.e164
    order = await payments.checkout(
        db,
        adapter=providers.adapters[provider],
        request=OrderRequest.of(
            subscriber_id=payer,
            idempotency_key="wrong-number-1",
            number=number,
            confirm_number=number,
            credit=Money(10_000, sim.home_currency),
            pay_currency=sim.home_currency,
            provider=provider,
            channel=methods.channels_for(PROVIDERS[provider], phone=False)[0],
        ),
        urls=payments.CheckoutUrls(settings.public_url),
        payer_ip="127.0.0.1",
        now=clock.now(),
    )
    if order.pay_url and order.pay_form:  # the payer's browser posts the gateway's form
        await providers.http.post(order.pay_url, data=dict(order.pay_form))
    paid = await providers.http.post(
        f"{settings.public_url}/_sim/{provider.value}/pay/{order.order_no}",
        params={"outcome": "success", "amount_minor": str(order.pay.minor)},
    )
    paid.raise_for_status()
    clock.advance(timedelta(seconds=5))
    await providers.tick(clock.now())
    found = await db.read(lambda conn: topups.get_order(conn, order_no=order.order_no))
    assert found is not None
    assert found.state is OrderState.CREDITED, found
    return found, payer, sim


async def clearing(db: Database, order: Order) -> Money:
    code = chart.provider_clearing_code(order.provider.value, order.pay.currency)

    async def read(conn: AsyncConnection) -> Money:
        account = await ledger.get_account_by_code(conn, code=code)
        assert account is not None
        return (await ledger.get_balance(conn, account_id=account.id)).money()

    return await db.read(read)


@pytest.mark.parametrize("provider", ONLINE, ids=[p.value for p in ONLINE])
async def test_a_wrong_number_top_up_comes_back_through_its_provider(
    db: Database,
    clock: FixedClock,
    providers: EmbeddedProviders,
    settings: Settings,
    provider: Provider,
) -> None:
    order, payer, _ = await credited_order(db, clock, providers, settings, provider)
    assert await clearing(db, order) == order.pay
    refund = await db.transaction(
        lambda conn: refunds.request_refund(
            conn,
            order_no=order.order_no,
            asking=refunds.Asking(payer),
            reason=Reason.WRONG_NUMBER,
            note="",
            asked=None,
            rule=RULE,
            now=clock.now(),
        )
    )
    assert refund.state is RefundState.APPROVED
    notify = payments.CheckoutUrls(settings.public_url).notify
    for _ in range(6):  # the job's rounds, the providers' time passing between them
        await sending.send_due(db, adapters=providers.adapters, now=clock.now(), notify=notify)
        clock.advance(timedelta(minutes=5))
        await providers.tick(clock.now())
    done = await db.read(lambda conn: get_refund(conn, refund_no=refund.refund_no))
    assert done is not None
    assert done.state is RefundState.PAID, done
    after = await db.read(lambda conn: topups.get_order(conn, order_no=order.order_no))
    assert after is not None
    assert after.state is OrderState.REFUNDED
    assert await clearing(db, order) == Money(0, order.pay.currency)
    if provider in NOTIFIES_REFUNDS:
        statuses = await db.read(
            lambda conn: conn.execute(
                select(pt.inbox.c.status, pt.inbox.c.error).where(
                    pt.inbox.c.provider == provider.value
                )
            )
        )
        kept = [(row.status, row.error) for row in statuses]
        assert ("refund_succeeded", None) in kept, kept
    report = await db.transaction(ledger.check_books)
    assert report.ok, report
