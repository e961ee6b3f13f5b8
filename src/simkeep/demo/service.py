"""``simkeep demo seed``: the chart of accounts plus a small, realistic history, an FX rate,
and demo subscribers with known passwords who hold some of the SIMs.

Every journal has a fixed ``demo:`` client id, so seeding twice changes nothing. The
journals follow the posting rules of docs/ledger.md: online top-ups through each provider,
a cross-currency top-up through the FX position, outlet top-ups drawing an agent's float,
a voucher sold and redeemed, a retention fee, usage, a promotion grant, a refund and a hold.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import Clock
from simkeep.db import Database
from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.ledger.model import AccountSpec, Posting
from simkeep.money import Money
from simkeep.sims import service as sims
from simkeep.sims.model import IdType, SimState, luhn_complete
from simkeep.subscribers import service as subscribers
from simkeep.topups import service as topups

DEMO_SIMS = {1: "HKD", 2: "HKD", 3: "CNY", 4: "HKD", 5: "CNY", 6: "HKD"}
SIM_COUNT = 36
DEMO_STATES = {
    31: SimState.GRACE,
    32: SimState.GRACE,
    33: SimState.SUSPENDED,
    34: SimState.SUSPENDED,
    35: SimState.RECYCLED,
    36: SimState.RECYCLED,
}
HOLDERS = ("陳大明", "李小華", "张伟", "王芳", "Chan Tai Man", "黃美玲", "刘洋", "Wong Siu Ming")
DEMO_AGENTS = (1, 2)
DEMO_FX = Decimal("0.9200")  # 1 HKD in CNY, as the operator would set it


@dataclass(frozen=True)
class DemoSubscriber:
    phone: str
    password: str
    language: str  # the locale this person reads (their SMS)
    sims: tuple[int, ...]  # demo SIM numbers (see _demo_number) this person holds

    @property
    def hk_numbers(self) -> list[str]:
        """The Hong Kong numbers of the SIMs this person holds, as people type them."""
        return [_demo_number(n)[1] for n in self.sims]


DEMO_SUBSCRIBERS = (
    DemoSubscriber("+85261000001", "demo-pass-852", "zh_Hant_HK", (1, 2, 31)),
    DemoSubscriber("+8613800000002", "demo-pass-86", "zh_Hans_CN", (3, 5, 33)),
)


@dataclass(frozen=True)
class SeedSummary:
    sims: int
    accounts: int
    journals: int
    subscribers: tuple[DemoSubscriber, ...] = ()


class _Books:
    """Account ids by code, opened on first use, inside one transaction."""

    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self.conn = conn
        self.now = now
        self.journals = 0
        self.sim_ids: dict[int, int] = {}

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


async def seed_demo(db: Database, clock: Clock, *, hot_slots: int, id_key: bytes) -> SeedSummary:
    """Create (or find) the demo books; safe to run any number of times."""

    async def seed(conn: AsyncConnection) -> SeedSummary:
        now = clock.now()
        await ledger.ensure_chart(conn, now=now, hot_slots=hot_slots)
        books = _Books(conn, now)
        await _sims(books, id_key)
        await _agents(books)
        await _online_topups(books)
        await _outlet_and_vouchers(books)
        await _fees_usage_refund(books)
        if await topups.current_fx(conn, base="HKD", quote_currency="CNY") is None:
            await topups.set_fx_rate(
                conn, base="HKD", quote_currency="CNY", rate=DEMO_FX, source="demo", now=now
            )
        accounts = len(await ledger.list_accounts(conn))
        return SeedSummary(sims=len(books.sim_ids), accounts=accounts, journals=books.journals)

    summary = await db.transaction(seed)
    for person in DEMO_SUBSCRIBERS:
        await _subscriber(db, clock.now(), person)
    return replace(summary, subscribers=DEMO_SUBSCRIBERS)


async def _subscriber(db: Database, now: datetime, person: DemoSubscriber) -> None:
    subscriber_id = await subscribers.enroll(
        db, phone=person.phone, password=person.password, language=person.language, now=now
    )

    async def link(conn: AsyncConnection) -> None:
        for n in person.sims:
            sim = await sims.find_by_number(conn, number=_demo_number(n)[1])
            assert sim is not None
            await sims.assign_sim(conn, subscriber_id=subscriber_id, sim_id=sim.id, now=now)

    await db.transaction(link)


def _demo_number(n: int) -> tuple[str, str, str]:
    """ICCID, HK and Mainland number of demo SIM ``n``."""
    return (
        luhn_complete(f"8985200{n:011d}"),
        f"9{n + 200:03d}{n * 37 % 10000:04d}",
        f"139{n:04d}{n * 53 % 10000:04d}",
    )


async def _sims(books: _Books, id_key: bytes) -> None:
    await sims.ensure_plans(books.conn)
    for n in range(1, SIM_COUNT + 1):
        iccid, hk, cn = _demo_number(n)
        existing = await sims.find_by_number(books.conn, number=hk)
        if existing is None:
            currency = DEMO_SIMS.get(n, "CNY" if n % 3 == 0 else "HKD")
            existing = await sims.issue_sim(
                books.conn,
                iccid=iccid,
                plan_code=("HK" if currency == "HKD" else "CN")
                + ("-VALID" if n % 4 == 0 else "-KEEP"),
                hk_number=hk,
                cn_number=cn,
                holder_name=HOLDERS[n % len(HOLDERS)],
                id_type=IdType.HKID if currency == "HKD" else IdType.HOME_RETURN_PERMIT,
                id_number=f"A{n:06d}(3)" if currency == "HKD" else f"H{n:08d}",
                id_key=id_key,
                now=books.now,
                state=DEMO_STATES.get(n, SimState.ACTIVE),
            )
        books.sim_ids[n] = existing.id


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
        balance = await books.open(chart.sim_balance(books.sim_ids[sim], currency))
        await books.open(chart.sim_bonus(books.sim_ids[sim], currency))
        provider = providers[sim % len(providers)]
        postings = rules.provider_topup(
            clearing=await books.clearing(provider, currency),
            sim_balance=balance,
            amount=Money(10_000 * (1 + sim % 3), currency),
        )
        await books.post(f"topup:{sim}", postings, f"Top-up by {provider}")
    sim_hkd = await books.open(chart.sim_balance(books.sim_ids[1], "HKD"))
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
    sim = await books.open(chart.sim_balance(books.sim_ids[2], "HKD"))
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
        sim_balance=await books.open(chart.sim_balance(books.sim_ids[4], "HKD")),
        face_value=Money(10_000, "HKD"),
    )
    await books.post("voucher:redeem:1", redemption, "Voucher redeemed")


async def _fees_usage_refund(books: _Books) -> None:
    sim = await books.open(chart.sim_balance(books.sim_ids[3], "CNY"))
    bonus = await books.open(chart.sim_bonus(books.sim_ids[3], "CNY"))
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
        sim_balance=await books.open(chart.sim_balance(books.sim_ids[5], "CNY")),
        refunds_payable=await books.system(System.REFUNDS_PAYABLE, "CNY"),
        amount=Money(5_000, "CNY"),
    )
    await books.post("refund:5", refund, "Wrong-number refund approved")
    hold = rules.transfer(
        await books.open(chart.agent_float(2, "HKD", credit_limit=50_000)),
        await books.open(chart.sim_balance(books.sim_ids[6], "HKD")),
        Money(5_000, "HKD"),
    )
    await ledger.hold(
        books.conn,
        client_id="demo:hold:6",
        postings=hold,
        now=books.now,
        description="Outlet top-up awaiting card terminal",
    )
