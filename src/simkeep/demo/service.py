"""``simkeep demo seed``: the chart of accounts plus a small, realistic history.

Every journal has a fixed ``demo:`` client id, so seeding twice changes nothing. The
journals follow the posting rules of docs/ledger.md: online top-ups through each provider,
a cross-currency top-up through the FX position, outlet top-ups drawing an agent's float,
a voucher sold and redeemed, a retention fee, usage, a promotion grant, a refund and a hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import Clock
from simkeep.db import Database
from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.ledger.model import AccountSpec, Posting
from simkeep.money import Money

DEMO_SIMS = {1: "HKD", 2: "HKD", 3: "CNY", 4: "HKD", 5: "CNY", 6: "HKD"}
DEMO_AGENTS = (1, 2)


@dataclass(frozen=True)
class SeedSummary:
    accounts: int
    journals: int


class _Books:
    """Account ids by code, opened on first use, inside one transaction."""

    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self.conn = conn
        self.now = now
        self.journals = 0

    async def system(self, purpose: System, currency: str) -> int:
        return await self._id(chart.system_code(purpose, currency))

    async def clearing(self, provider: str, currency: str) -> int:
        return await self._id(chart.provider_clearing_code(provider, currency))

    async def _id(self, code: str) -> int:
        account = await ledger.get_account_by_code(self.conn, code=code)
        assert account is not None, code
        return account.id

    async def open(self, spec: AccountSpec) -> int:
        return (await ledger.open_account(self.conn, spec=spec, now=self.now)).id

    async def post(self, client_id: str, postings: tuple[Posting, ...], description: str) -> None:
        await ledger.post_journal(
            self.conn,
            client_id=f"demo:{client_id}",
            postings=postings,
            now=self.now,
            description=description,
        )
        self.journals += 1


async def seed_demo(db: Database, clock: Clock, *, hot_slots: int) -> SeedSummary:
    """Create (or find) the demo books; safe to run any number of times."""

    async def seed(conn: AsyncConnection) -> SeedSummary:
        now = clock.now()
        await ledger.ensure_chart(conn, now=now, hot_slots=hot_slots)
        books = _Books(conn, now)
        await _agents(books)
        await _online_topups(books)
        await _outlet_and_vouchers(books)
        await _fees_usage_refund(books)
        accounts = len(await ledger.list_accounts(conn))
        return SeedSummary(accounts=accounts, journals=books.journals)

    return await db.transaction(seed)


async def _agents(books: _Books) -> None:
    for agent in DEMO_AGENTS:
        for currency in chart.CURRENCIES:
            float_id = await books.open(chart.agent_float(agent, currency, credit_limit=50_000))
            await books.open(chart.agent_commission(agent, currency))
            postings = rules.float_deposit(
                bank=await books.system(System.BANK, currency),
                agent_float=float_id,
                amount=Money(2_000_000, currency),
            )
            await books.post(f"float:{agent}:{currency}", postings, "Agent float deposit")


async def _online_topups(books: _Books) -> None:
    providers = ("alipay", "wechatpay", "unionpay", "fps")
    for sim, currency in DEMO_SIMS.items():
        balance = await books.open(chart.sim_balance(sim, currency))
        await books.open(chart.sim_bonus(sim, currency))
        provider = providers[sim % len(providers)]
        postings = rules.provider_topup(
            clearing=await books.clearing(provider, currency),
            sim_balance=balance,
            amount=Money(10_000 * (1 + sim % 3), currency),
        )
        await books.post(f"topup:{sim}", postings, f"Top-up by {provider}")
    sim_hkd = await books.open(chart.sim_balance(1, "HKD"))
    postings = rules.cross_currency_topup(
        clearing=await books.clearing("wechatpay", "CNY"),
        fx_paid=await books.system(System.FX_POSITION, "CNY"),
        fx_credited=await books.system(System.FX_POSITION, "HKD"),
        sim_balance=sim_hkd,
        paid=Money(9_200, "CNY"),
        credited=Money(10_000, "HKD"),
    )
    await books.post("topup:1:fx", postings, "HK$100 paid with ¥92.00 by WeChat Pay")


async def _outlet_and_vouchers(books: _Books) -> None:
    sim = await books.open(chart.sim_balance(2, "HKD"))
    float_id = await books.open(chart.agent_float(1, "HKD", credit_limit=50_000))
    payable = await books.open(chart.agent_commission(1, "HKD"))
    expense = await books.system(System.COMMISSION_EXPENSE, "HKD")
    postings = rules.outlet_topup(
        agent_float=float_id,
        sim_balance=sim,
        commission_expense=expense,
        commission_payable=payable,
        amount=Money(20_000, "HKD"),
        commission=Money(600, "HKD"),
    )
    await books.post("outlet:2", postings, "Cash top-up at outlet")
    outstanding = await books.system(System.VOUCHERS_OUTSTANDING, "HKD")
    sale = rules.voucher_sale(
        agent_float=float_id,
        vouchers_outstanding=outstanding,
        commission_expense=expense,
        commission_payable=payable,
        face_value=Money(10_000, "HKD"),
        commission=Money(300, "HKD"),
    )
    await books.post("voucher:sale:1", sale, "Voucher sold")
    redemption = rules.voucher_redemption(
        vouchers_outstanding=outstanding,
        sim_balance=await books.open(chart.sim_balance(4, "HKD")),
        face_value=Money(10_000, "HKD"),
    )
    await books.post("voucher:redeem:1", redemption, "Voucher redeemed")


async def _fees_usage_refund(books: _Books) -> None:
    sim = await books.open(chart.sim_balance(3, "CNY"))
    bonus = await books.open(chart.sim_bonus(3, "CNY"))
    grant = rules.promotion_grant(
        promotion_expense=await books.system(System.PROMOTION_EXPENSE, "CNY"),
        sim_bonus=bonus,
        bonus=Money(1_000, "CNY"),
    )
    await books.post("promo:3", grant, "First top-up +10% bonus")
    fee = rules.retention_fee(
        sim_balance=sim,
        revenue=await books.system(System.RETENTION_FEE_REVENUE, "CNY"),
        fee=Money(800, "CNY"),
    )
    await books.post("fee:3:2026-11", fee, "Monthly number-keeping fee")
    used = rules.usage(
        sim_bonus=bonus,
        sim_balance=sim,
        revenue=await books.system(System.USAGE_REVENUE, "CNY"),
        from_bonus=Money(500, "CNY"),
        from_balance=Money(250, "CNY"),
    )
    await books.post("usage:3:1", used, "Calls and data")
    refund = rules.refund_approved(
        sim_balance=await books.open(chart.sim_balance(5, "CNY")),
        refunds_payable=await books.system(System.REFUNDS_PAYABLE, "CNY"),
        amount=Money(5_000, "CNY"),
    )
    await books.post("refund:5", refund, "Wrong-number refund approved")
    hold = rules.transfer(
        await books.open(chart.agent_float(2, "HKD", credit_limit=50_000)),
        await books.open(chart.sim_balance(6, "HKD")),
        Money(5_000, "HKD"),
    )
    await ledger.hold(
        books.conn,
        client_id="demo:hold:6",
        postings=hold,
        now=books.now,
        description="Outlet top-up awaiting card terminal",
    )
