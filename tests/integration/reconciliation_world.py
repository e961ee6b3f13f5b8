"""A provider's day to reconcile: AlipayHK top-ups of HK$100.00 to one SIM, paid, credited or
not, some refunded, and the provider's side as a fake at the border — what it answers when
asked about a trade or a refund, and the bills it hands out, built row by row."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import HONG_KONG, FixedClock
from simkeep.db import Database
from simkeep.ledger import chart
from simkeep.ledger import service as ledger
from simkeep.ledger import tables as ledger_tables
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.payments.model import (
    PaymentProviderAdapter,
    ProviderError,
    ProviderRefund,
    ProviderTrade,
    RefundRequest,
    RefundStatus,
    TradeStatus,
)
from simkeep.reconciliation.bill import Bill, BillNotReady, BillRow, RowKind
from simkeep.refunds import sending
from simkeep.refunds import service as refunds
from simkeep.refunds.model import AutoRule, Reason
from simkeep.refunds.queries import Refund, get_refund
from simkeep.refunds.service import Asking
from simkeep.sims.model import Sim
from simkeep.subscribers import service as subscribers
from simkeep.topups import service as topups
from simkeep.topups.model import Order, OrderRequest
from tests.factories import issue_sim, seed_books

DAY = date(2026, 11, 25)
PROVIDER = Provider.ALIPAYHK
HUNDRED = Money(10_000, "HKD")
CARRY = timedelta(minutes=10)
RULE = AutoRule(max_credit=30_000, within=timedelta(hours=24))


def hk(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A Hong Kong wall-clock time of ``day``, as the UTC instant simkeep stores."""
    return datetime.combine(day, time(hour, minute, second), HONG_KONG).astimezone(UTC)


@dataclass
class FakeProvider:
    """AlipayHK's side: the trades it was paid (``paid``), what it says of refunds, its
    bills by day (a day without one is not ready), and every question it was asked."""

    paid: dict[str, Money] = field(default_factory=dict)
    refunds: dict[str, RefundStatus] = field(default_factory=dict)
    bills: dict[date, Bill] = field(default_factory=dict)
    down: bool = False  # answers nothing
    asked: list[str] = field(default_factory=list)
    provider: Provider = PROVIDER
    currencies: frozenset[str] = frozenset({"HKD"})

    async def query(self, out_trade_no: str) -> ProviderTrade:
        self.asked.append(out_trade_no)
        if self.down:
            raise ProviderError("connection reset")
        amount = self.paid.get(out_trade_no)
        if amount is None:
            return ProviderTrade(out_trade_no, TradeStatus.UNPAID)
        return ProviderTrade(
            out_trade_no, TradeStatus.PAID, amount, f"P{out_trade_no}", hk(DAY, 12)
        )

    async def query_refund(self, request: RefundRequest) -> ProviderRefund:
        self.asked.append(request.out_refund_no)
        if self.down:
            raise ProviderError("connection reset")
        status = self.refunds.get(request.out_refund_no, RefundStatus.SUCCEEDED)
        return ProviderRefund(request.out_refund_no, status, request.amount, "RP1")

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        return await self.query_refund(request)

    async def bill(self, day: date) -> Bill:
        if day not in self.bills:
            raise BillNotReady(f"no bill of {day} yet")
        return self.bills[day]

    @property
    def adapter(self) -> PaymentProviderAdapter:
        return self  # type: ignore[return-value]


@dataclass
class World:
    db: Database
    clock: FixedClock
    sim: Sim
    payer: int
    provider: FakeProvider = field(default_factory=FakeProvider)
    keys: int = 0

    async def order(
        self, at: datetime, *, credit: bool = True, provider: Provider = PROVIDER
    ) -> Order:
        """A HK$100.00 top-up placed at ``at``: paid and credited then, or left unpaid."""
        self.clock.set(at)
        self.keys += 1
        number = self.sim.hk_number.e164
        request = OrderRequest.of(
            subscriber_id=self.payer,
            idempotency_key=f"k{self.keys}",
            number=number,
            confirm_number=number,
            credit=HUNDRED,
            pay_currency="HKD",
            provider=provider,
            channel=Channel.QR,
        )

        async def run(conn: AsyncConnection) -> Order:
            order = await topups.create_order(conn, request=request, now=at)
            if not credit:
                return order
            result = await topups.credit_paid_order(
                conn,
                order_no=order.order_no,
                paid=order.pay,
                provider_trade_no=f"P{order.order_no}",
                now=at,
                provider=provider,
            )
            return result.order

        made = await self.db.transaction(run)
        if credit:
            self.provider.paid[made.order_no] = made.pay
        return made

    async def refund(self, order: Order, at: datetime, *, answer: RefundStatus) -> Refund:
        """The whole of ``order`` refunded at ``at`` (the rule approves it), sent to the
        provider, which answers ``answer``: paid, or still on its way."""
        self.clock.set(at)

        async def ask(conn: AsyncConnection) -> Refund:
            return await refunds.request_refund(
                conn,
                order_no=order.order_no,
                asking=Asking(self.payer),
                reason=Reason.WRONG_NUMBER,
                note="",
                asked=None,
                rule=RULE,
                now=at,
            )

        refund = await self.db.transaction(ask)
        self.provider.refunds[refund.refund_no] = answer
        adapters = {PROVIDER: self.provider.adapter}
        await sending.send_due(self.db, adapters=adapters, now=at)
        self.provider.refunds[refund.refund_no] = RefundStatus.SUCCEEDED  # paid out since
        found = await self.db.read(lambda conn: get_refund(conn, refund_no=refund.refund_no))
        assert found is not None
        return found

    def bill(self, day: date, *rows: BillRow) -> Bill:
        """The provider's bill of ``day``, kept for its ``bill``."""
        made = Bill(PROVIDER, day, rows)
        self.provider.bills[day] = made
        return made

    async def balance(self, code: str) -> Money:
        async def read(conn: AsyncConnection) -> Money:
            account = await ledger.get_account_by_code(conn, code=code)
            assert account is not None
            return (await ledger.get_balance(conn, account_id=account.id)).money()

        return await self.db.read(read)

    async def sim_balance(self) -> Money:
        return await self.balance(chart.sim_balance(self.sim.id, "HKD").code)

    async def journals(self, prefix: str) -> int:
        async def read(conn: AsyncConnection) -> int:
            j = ledger_tables.journals.c
            found = await conn.execute(
                select(func.count()).where(j.client_id.startswith(prefix, autoescape=True))
            )
            return int(found.scalar_one())

        return await self.db.read(read)

    async def books_ok(self) -> None:
        report = await self.db.transaction(ledger.check_books)
        assert report.ok, report


def paid(order: Order, *, at: datetime, fee: int = 0, amount: Money | None = None) -> BillRow:
    """The bill's row of a payment of ``order``."""
    return BillRow(
        RowKind.PAY,
        order.order_no,
        "",
        f"P{order.order_no}",
        amount or order.pay,
        Money(fee, order.pay.currency),
        at,
    )


def paid_back(refund: Refund, *, at: datetime, fee_back: int = 0) -> BillRow:
    """The bill's row of a refund."""
    return BillRow(
        RowKind.REFUND,
        refund.order_no,
        refund.refund_no,
        f"R{refund.refund_no}",
        refund.pay,
        Money(fee_back, refund.pay.currency),
        at,
    )


def stranger(order_no: str, *, at: datetime, amount: Money = HUNDRED) -> BillRow:
    """A payment the provider has for an order simkeep never placed."""
    return BillRow(RowKind.PAY, order_no, "", f"P{order_no}", amount, Money(0, "HKD"), at)


async def make_world(db: Database, clock: FixedClock) -> World:
    async def make(conn: AsyncConnection) -> Sim:
        await seed_books(conn, now=clock.now())
        return await issue_sim(conn, n=1, plan="HK-KEEP", now=clock.now())

    sim = await db.transaction(make)
    payer = await subscribers.enroll(
        db, phone="+85291234567", password="correct horse", language="en", now=clock.now()
    )
    return World(db, clock, sim, payer)
