"""Test data of vouchers: the books, an agent with an outlet, a clerk's open shift, the outlet
sales that sell vouchers, and batches whose PINs the tests keep."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.counter import tables as ct
from simkeep.db import Database
from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.money import Money
from simkeep.names import Names
from simkeep.outlets import tables as ot
from simkeep.staff.accounts import ensure_staff
from simkeep.staff.audit import CLI
from simkeep.vouchers import batches
from simkeep.vouchers import service as vouchers
from simkeep.vouchers.model import PrintedVoucher, SoldVoucher, pin_key
from tests.factories import seed_books

KEY = pin_key("test")
EXPIRES = date(2027, 12, 31)


@dataclass(frozen=True, slots=True)
class Shop:
    agent_id: int
    outlet_id: int
    clerk_id: int
    shift_id: int


async def shop(db: Database, *, now: datetime, currency: str = "HKD") -> Shop:
    """The books, an agent with HK$10,000 and ¥10,000 of float, its outlet, a clerk there
    with an open shift."""
    agent_id, outlet_id = await db.transaction(lambda conn: _agent(conn, now, currency))
    clerk_id = await ensure_staff(
        db,
        username="clerk.vouchers",
        display_name="Voucher Clerk",
        role="clerk",
        password="clerk password",
        totp_secret="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
        actor=CLI,
        now=now,
        agent_id=agent_id,
        outlet_id=outlet_id,
    )

    async def open_shift(conn: AsyncConnection) -> int:
        result = await conn.execute(
            ct.shifts.insert()
            .values(
                outlet_id=outlet_id,
                clerk_id=clerk_id,
                currency=currency,
                state="open",
                opening_cash_minor=0,
                opened_at=now,
            )
            .returning(ct.shifts.c.id)
        )
        return int(result.scalar_one())

    return Shop(agent_id, outlet_id, clerk_id, await db.transaction(open_shift))


async def _agent(conn: AsyncConnection, now: datetime, currency: str) -> tuple[int, int]:
    await seed_books(conn, now=now)
    agent = await conn.execute(
        ot.agents.insert()
        .values(
            code="VA", **Names("代理", "代理", "Agent").values(), commission_bp=200, created_at=now
        )
        .returning(ot.agents.c.id)
    )
    agent_id = int(agent.scalar_one())
    outlet = await conn.execute(
        ot.outlets.insert()
        .values(
            code="VA-1",
            agent_id=agent_id,
            kind="convenience_store",
            **Names("店", "店", "Shop").values(),
            **Names("道1號", "道1号", "1 Road").values("address"),
            region="HK",
            district="Wan Chai",
            lat_e6=22_280_000,
            lon_e6=114_170_000,
            hours={"mon": [["08:00", "22:00"]]},
            sells_cash=True,
            sells_card=True,
            sells_vouchers=True,
            currency=currency,
            created_at=now,
        )
        .returning(ot.outlets.c.id)
    )
    for held in ("HKD", "CNY"):
        await _fund(conn, agent_id, Money(1_000_000, held), now)
    return agent_id, int(outlet.scalar_one())


async def _fund(conn: AsyncConnection, agent_id: int, amount: Money, now: datetime) -> None:
    """The agent's float, with ``amount`` deposited from the bank."""
    float_account = await ledger.open_account(
        conn, spec=chart.agent_float(agent_id, amount.currency), now=now
    )
    ids = await ledger.account_ids(conn, codes=[chart.system_code(System.BANK, amount.currency)])
    await ledger.post_journal(
        conn,
        client_id=f"float_deposit:test:{agent_id}:{amount.currency}",
        postings=rules.float_deposit(
            bank=next(iter(ids.values())), agent_float=float_account.id, amount=amount
        ),
        now=now,
    )


async def sale(
    conn: AsyncConnection,
    shop: Shop,
    *,
    key: str,
    amount: Money,
    commission: Money,
    now: datetime,
) -> int:
    """An outlet sale of vouchers, as the counter writes it before it sells them."""
    result = await conn.execute(
        ct.sales.insert()
        .values(
            receipt_no=f"S{key}",
            shift_id=shop.shift_id,
            outlet_id=shop.outlet_id,
            agent_id=shop.agent_id,
            clerk_id=shop.clerk_id,
            kind="voucher",
            idempotency_key=key,
            request_hash="0" * 64,
            amount_minor=amount.minor,
            currency=amount.currency,
            payment="cash",
            commission_minor=commission.minor,
            created_at=now,
        )
        .returning(ct.sales.c.id)
    )
    return int(result.scalar_one())


async def printed(
    db: Database,
    *,
    face: Money,
    count: int,
    now: datetime,
    expires_on: date = EXPIRES,
    key: bytes = KEY,
) -> list[PrintedVoucher]:
    """A new batch made on the command line, its PINs' digests under ``key``; its printer's
    lines."""

    async def make(conn: AsyncConnection) -> list[PrintedVoucher]:
        made = await batches.generate_batch(
            conn,
            face=face,
            count=count,
            expires_on=expires_on,
            created_by=None,
            key=key,
            now=now,
        )
        return made.printed

    return await db.transaction(make)


async def balance(db: Database, code: str) -> int:
    """The posted balance of the account ``code`` (0 if it was never opened)."""

    async def read(conn: AsyncConnection) -> int:
        account = await ledger.get_account_by_code(conn, code=code)
        if account is None:
            return 0
        return (await ledger.get_balance(conn, account_id=account.id)).posted

    return await db.transaction(read)


def outstanding(currency: str) -> str:
    return chart.system_code(System.VOUCHERS_OUTSTANDING, currency)


def breakage(currency: str) -> str:
    return chart.system_code(System.VOUCHER_BREAKAGE, currency)


async def sell_in_sale(
    db: Database, where: Shop, serials: list[str], now: datetime, key: str = "k1"
) -> list[SoldVoucher]:
    """Write an outlet sale and sell the vouchers in it, in one transaction, as the counter
    does (commission 2 %)."""

    async def run(conn: AsyncConnection) -> list[SoldVoucher]:
        total = await vouchers.quote_sale(conn, serials=serials, now=now)
        commission = Money(total.minor * 2 // 100, total.currency)
        sale_id = await sale(conn, where, key=key, amount=total, commission=commission, now=now)
        return await vouchers.sell(
            conn,
            serials=serials,
            sale_id=sale_id,
            agent_id=where.agent_id,
            commission=commission,
            now=now,
        )

    return await db.transaction(run)


async def sold_cards(
    db: Database, where: Shop, *, face: Money, count: int, now: datetime, key: bytes = KEY
) -> list[PrintedVoucher]:
    """A new batch, all of it sold at ``where``: the cards a customer holds."""
    cards = await printed(db, face=face, count=count, now=now, key=key)
    await sell_in_sale(db, where, [card.serial for card in cards], now, key=cards[0].serial)
    return cards
