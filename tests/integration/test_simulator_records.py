"""A top-up paid at simulators that keep their records (``SIMKEEP_SIMULATOR_RECORDS``) is
refunded through simkeep's refund path at the simulators of the next start, as at a real
provider, on SQLite and PostgreSQL.

An Alipay top-up of a wrong number is paid and credited, and the simulators are closed; the
payer asks for it back, the rule approves it and the worker's job sends it to the simulators
built again on the same records, which pay it back: the order is refunded, and the day's bill
lists the payment and the refund. And after ``simkeep demo seed`` with the records kept,
the demo refund that waits for staff, once approved, is paid back by the server's
simulators — which would refuse it as a trade they never saw without the records."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simkeep.cli.main import app
from simkeep.clock import FixedClock, in_hong_kong
from simkeep.db import Database
from simkeep.payment_methods import Provider
from simkeep.payments import service as payments
from simkeep.payments.model import Acknowledgement, PaymentProviderAdapter, RawNotification
from simkeep.reconciliation.bill import RowKind
from simkeep.refunds import sending
from simkeep.refunds import service as refunds
from simkeep.refunds.model import Reason, RefundState
from simkeep.refunds.queries import Refund, get_refund, refunds_in
from simkeep.settings import Settings, load_settings
from simkeep.simulators.embedded import EmbeddedProviders
from simkeep.staff.audit import CLI
from simkeep.topups import service as topups
from simkeep.topups.model import OrderState
from tests.e2e.test_refund_every_provider import RULE, credited_order

runner = CliRunner()
PUBLIC_URL = "http://127.0.0.1:8000"  # also the demo's, unset


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        database_url=database_url,
        keys_dir=str(tmp_path / "keys"),
        public_url=PUBLIC_URL,
        environment="test",
        simulator_records=str(tmp_path / "simulators"),
    )


@pytest.fixture
async def built() -> AsyncIterator[list[EmbeddedProviders]]:
    """Every build of the simulators a test makes, closed at its end."""
    made: list[EmbeddedProviders] = []
    yield made
    for providers in made:
        await providers.close()


def build(
    db: Database, settings: Settings, clock: FixedClock, built: list[EmbeddedProviders]
) -> EmbeddedProviders:
    """The embedded providers of one start, their notifications received at ``clock``'s time."""

    async def receive(adapter: PaymentProviderAdapter, raw: RawNotification) -> Acknowledgement:
        return await payments.receive_notification(db, adapter=adapter, raw=raw, now=clock.now())

    providers = EmbeddedProviders.build(settings, clock, notify=receive)
    built.append(providers)
    return providers


async def paid_back(
    db: Database, providers: EmbeddedProviders, clock: FixedClock, refund_no: str
) -> Refund:
    """The worker's refund job a few rounds, the providers' time passing between them."""
    notify = payments.CheckoutUrls(PUBLIC_URL).notify
    for _ in range(6):
        await sending.send_due(db, adapters=providers.adapters, now=clock.now(), notify=notify)
        clock.advance(timedelta(minutes=5))
        await providers.tick(clock.now())
    refund = await db.read(lambda conn: get_refund(conn, refund_no=refund_no))
    assert refund is not None
    return refund


async def test_a_top_up_paid_before_a_restart_is_refunded_after_it(
    db: Database,
    clock: FixedClock,
    settings: Settings,
    built: list[EmbeddedProviders],
) -> None:
    before = build(db, settings, clock, built)
    order, payer, _ = await credited_order(db, clock, before, settings, Provider.ALIPAY)
    await before.close()
    built.remove(before)

    after = build(db, settings, clock, built)  # the next start, on the same records
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
    done = await paid_back(db, after, clock, refund.refund_no)

    assert done.state is RefundState.PAID, done
    refunded = await db.read(lambda conn: topups.get_order(conn, order_no=order.order_no))
    assert refunded is not None
    assert refunded.state is OrderState.REFUNDED
    day = in_hong_kong(clock.now()).date()
    clock.advance(timedelta(days=1))
    bill = await after.adapters[Provider.ALIPAY].bill(day)
    assert {(row.kind, row.order_no, row.refund_no, row.amount) for row in bill.rows} == {
        (RowKind.PAY, order.order_no, "", order.pay),
        (RowKind.REFUND, order.order_no, refund.refund_no, order.pay),
    }


async def test_the_server_pays_back_a_demo_top_up_after_the_seed(
    database_url: str, db: Database, settings: Settings, built: list[EmbeddedProviders]
) -> None:
    env = {
        "SIMKEEP_DATABASE_URL": database_url,
        "SIMKEEP_KEYS_DIR": settings.keys_dir,
        "SIMKEEP_SIMULATOR_RECORDS": settings.simulator_records,
    }
    seeded = await asyncio.to_thread(runner.invoke, app, ["demo", "seed"], env=env)
    assert seeded.exit_code == 0, seeded.output
    clock = FixedClock(datetime.now(UTC))
    [waiting] = await db.read(lambda conn: refunds_in(conn, states=[RefundState.REQUESTED]))
    assert waiting.provider is Provider.WECHATPAY_HK  # paid during the seed's history

    server = build(db, settings, clock, built)  # `simkeep serve` after `demo seed`
    await db.transaction(
        lambda conn: refunds.approve(
            conn, refund_no=waiting.refund_no, actor=CLI, note="", now=clock.now()
        )
    )
    done = await paid_back(db, server, clock, waiting.refund_no)

    assert done.state is RefundState.PAID, done
    refunded = await db.read(lambda conn: topups.get_order(conn, order_no=waiting.order_no))
    assert refunded is not None
    assert refunded.state is OrderState.REFUNDED
