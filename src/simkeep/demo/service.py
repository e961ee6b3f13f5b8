"""``simkeep demo seed``: demo SIMs, an FX rate, and two demo subscribers with known
passwords who hold some of the SIMs and have topped them up over the past weeks.

Design overview
---------------
Everything is made by the services a real top-up goes through, so every figure a demo page
shows has its history: SIMs issued with their accounts (``sims.issue_sim``), subscribers
enrolled and their SIMs linked, and each top-up placed by ``payments.checkout`` against the
provider simulators built in-process (``EmbeddedProviders.build``), paid at the simulator
by its test hook, and credited when the simulator's signed notification is handed to
``payments.receive_notification`` — journal, validity, receipt and SMS as for anyone. One
order is left at the cashier and expires. A ``FixedClock`` starts months back and moves on
day by day: the daily retention run just after midnight (``retention.service.run_until``:
fees, and the SIMs with nothing on them moved to grace, suspended and recycled, each at
the day it happened), then that day's top-ups, so the history has dates (and the
providers sign and check their messages at those times). The three promotions of the
specification (``demo.promotions``) run from the start, so the top-ups they apply to are
granted what they give, and the benefits that expired over those weeks were expired by the
same job as every day (``promotions.granting.expire_buckets``). Each order has a fixed
``Idempotency-Key`` and each day's run is done once: seeding again finds everything as it
is and changes nothing. Four members of staff — an operator, an auditor, support and
finance (``accounts``) — are added through ``staff.service`` with known passwords and fixed
TOTP secrets, printed with the logins, so that a tester can compute their codes; the
agents' people (a second operator, each agent's user and clerks) and approved float
deposits follow (``demo.agents``), then three days of a clerk's shifts at a counter
(``demo.counter``). Demo
SIM 4 has auto keep-alive, signed with Alipay at its simulator (``demo.keepalive``), and
their reminders go by email too, to an address they confirmed with the emailed code
(``demo.emails``). Once the staff exist, the demo's refunds (``demo.refunds``): a
wrong-number top-up paid back through WeChat Pay by the automatic rule, a request waiting
for staff, and one the operator refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import HONG_KONG, Clock, FixedClock, in_hong_kong
from simkeep.db import Database
from simkeep.demo.agents import ensure_demo_agents
from simkeep.demo.cashier import DemoTopup, demo_number, demo_providers, sim_currency, top_up
from simkeep.demo.counter import ensure_demo_counter
from simkeep.demo.emails import ensure_demo_email
from simkeep.demo.keepalive import ensure_demo_keep_alive
from simkeep.demo.outlets import ensure_demo_outlets
from simkeep.demo.promotions import ensure_demo_promotions
from simkeep.demo.refunds import ensure_demo_outlet_refund, ensure_demo_refunds
from simkeep.demo.vouchers import DemoVouchers, ensure_demo_vouchers
from simkeep.errors import Refusal
from simkeep.ledger import service as ledger
from simkeep.payment_methods import Provider
from simkeep.promotions import granting
from simkeep.retention import service as retention
from simkeep.settings import Settings
from simkeep.sims import service as sims
from simkeep.sims.model import IdType, digest_key
from simkeep.staff import service as staff
from simkeep.staff.audit import CLI
from simkeep.subscribers import service as subscribers
from simkeep.topups import service as topups
from simkeep.topups.model import Order, OrderState
from simkeep.usage import rates

SIM_COUNT = 36
COUNTER_SIMS = (7, 8, 10, 11)  # Hong Kong dollar SIMs topped up at the demo counter
# How many days ago each SIM was issued: the held ones with the history; the rest lately, so
# that no fee has fallen due on their empty balance; and six long enough ago, with nothing
# on them, that the daily runs have since moved them on: in grace (a fee unpaid, or the
# validity ended, some ten days ago), suspended, and recycled.
ISSUED_DAYS_AGO = dict.fromkeys((1, 3, 4, 5, 6), 45) | {
    31: 40,
    32: 40,
    33: 80,
    34: 80,
    35: 130,
    36: 130,
}
RECENT_DAYS_AGO = 20
LAPSING_VALIDITY = timedelta(days=30)  # a lapsing SIM on a validity plan came with this
STARTER_VALIDITY = timedelta(days=90)  # the others on a validity plan: this
RUN_AT = time(0, 10)  # the daily retention run, Hong Kong time
HOLDERS = ("陳大明", "李小華", "张伟", "王芳", "Chan Tai Man", "黃美玲", "刘洋", "Wong Siu Ming")
DEMO_FX = Decimal("0.9200")  # 1 HKD in CNY, as the operator would set it
HISTORY_DAYS = 45  # the SIMs, the rate and the logins are this old


class DemoRefused(Refusal):
    code = "demo_refused"


@dataclass(frozen=True)
class DemoSubscriber:
    phone: str
    password: str
    language: str  # the locale this person reads (their SMS)
    sims: tuple[int, ...]  # demo SIM numbers (see demo_number) this person holds
    topups: tuple[DemoTopup, ...] = ()

    @property
    def hk_numbers(self) -> list[str]:
        """The Hong Kong numbers of the SIMs this person holds, as people type them."""
        return [demo_number(n)[1] for n in self.sims]


ALIPAY, WECHATPAY = Provider.ALIPAY, Provider.WECHATPAY
FPS, ALIPAYHK, WECHATPAY_HK, CARD = (
    Provider.FPS,
    Provider.ALIPAYHK,
    Provider.WECHATPAY_HK,
    Provider.UNIONPAY,
)
DEMO_SUBSCRIBERS = (
    DemoSubscriber(
        "+85261000001",
        "demo-pass-852",
        "zh_Hant_HK",
        (1, 4, 31),  # 4 is on a validity plan: its top-ups buy days
        (
            DemoTopup(40, time(9, 12), 1, 100, ALIPAY),
            DemoTopup(33, time(20, 41), 4, 50, WECHATPAY),
            DemoTopup(26, time(12, 5), 1, 200, WECHATPAY),
            DemoTopup(12, time(18, 30), 4, 100, ALIPAY, paid=False),
            DemoTopup(12, time(18, 52), 4, 100, ALIPAY),
            DemoTopup(3, time(8, 47), 1, 50, ALIPAY),
            DemoTopup(19, time(13, 20), 1, 100, FPS),  # in Hong Kong dollars from here on
            DemoTopup(9, time(19, 5), 1, 50, CARD),
            DemoTopup(2, time(21, 14), 4, 100, ALIPAYHK),
        ),
    ),
    DemoSubscriber(
        "+8613800000002",
        "demo-pass-86",
        "zh_Hans_CN",
        (3, 5, 33),
        (
            DemoTopup(38, time(10, 3), 3, 100, WECHATPAY),
            DemoTopup(21, time(15, 20), 5, 300, ALIPAY),
            DemoTopup(14, time(22, 16), 3, 50, WECHATPAY),
            DemoTopup(6, time(11, 38), 6, 100, WECHATPAY),  # a relative's HKD SIM
            DemoTopup(4, time(9, 55), 6, 50, WECHATPAY_HK),
            DemoTopup(17, time(16, 2), 3, 200, CARD),  # a bank card, in renminbi
        ),
    ),
)


@dataclass(frozen=True)
class DemoStaff:
    username: str
    name: str
    role: str
    password: str
    totp_secret: str  # base32; a tester computes codes with it (e.g. oathtool --totp -b)


DEMO_STAFF = (
    DemoStaff(
        "operator", "Demo Operator", "operator", "demo-staff-op", "DEMOOPERATORTOTPSECRET2345672345"
    ),
    DemoStaff(
        "auditor", "Demo Auditor", "auditor", "demo-staff-au", "DEMOAUDITORTOTPSECRET23456723456"
    ),
    DemoStaff(
        "support", "Demo Support", "support", "demo-staff-su", "DEMOSUPPORTTOTPSECRET234567ABCDE"
    ),
    DemoStaff(
        "accounts", "Demo Accounts", "finance", "demo-staff-ac", "DEMOACCOUNTSTOTPSECRET234567ABCD"
    ),
)


@dataclass(frozen=True)
class SeedSummary:
    sims: int
    orders: int
    credited: int
    subscribers: tuple[DemoSubscriber, ...] = ()
    staff: tuple[DemoStaff, ...] = ()
    vouchers: DemoVouchers | None = None


async def seed_demo(db: Database, *, settings: Settings, clock: Clock) -> SeedSummary:
    """Create (or find) the demo data; safe to run any number of times."""
    if not settings.simulators:
        raise DemoRefused("the demo pays at the simulators: set SIMKEEP_SIMULATORS=true")
    now = clock.now()
    demo = FixedClock(now - timedelta(days=HISTORY_DAYS))
    id_key = digest_key(settings.secret_key)

    opened = now - timedelta(days=max(ISSUED_DAYS_AGO.values()) + 1)

    async def books(conn: AsyncConnection) -> int:
        await ledger.ensure_chart(conn, now=opened, hot_slots=settings.ledger_hot_slots)
        if await topups.current_fx(conn, base="HKD", quote_currency="CNY") is None:
            await topups.set_fx_rate(
                conn, base="HKD", quote_currency="CNY", rate=DEMO_FX, source="demo", now=demo.now()
            )
        await ensure_demo_promotions(conn, created=opened, now=now)
        return await _sims(conn, id_key, now)

    sim_count = await db.transaction(books)
    holders: dict[str, int] = {}  # subscriber ids by phone
    for person in DEMO_SUBSCRIBERS:
        holders[person.phone] = await _subscriber(db, demo.now(), person)
    orders = await _history(db, settings, demo, now, holders)
    kept = await db.transaction(lambda conn: sims.find_by_number(conn, number=demo_number(4)[1]))
    assert kept is not None
    await ensure_demo_keep_alive(  # demo SIM 4 tops itself up before it lapses
        db,
        settings=settings,
        clock=clock,
        subscriber_id=holders[DEMO_SUBSCRIBERS[0].phone],
        sim_id=kept.id,
    )
    await ensure_demo_email(  # their reminders go by email too
        db,
        secret_key=settings.secret_key,
        subscriber_id=holders[DEMO_SUBSCRIBERS[0].phone],
        now=clock.now(),
    )
    await ensure_demo_outlets(db, now=now)  # the outlets people top up at
    credited = sum(order.state is OrderState.CREDITED for order in orders)
    members: dict[str, int] = {}  # staff ids by username
    for member in DEMO_STAFF:
        members[member.username] = await staff.ensure_staff(
            db,
            username=member.username,
            display_name=member.name,
            role=member.role,
            password=member.password,
            totp_secret=member.totp_secret,
            actor=CLI,
            now=now,
        )
    await ensure_demo_refunds(  # one paid back by the rule, one waiting for staff, one refused
        db,
        settings=settings,
        orders=orders,
        payers=[holders[person.phone] for person in DEMO_SUBSCRIBERS],
        operator_id=members["operator"],
        now=now,
    )
    agents_staff = await ensure_demo_agents(db, now=now)  # their people, floats and deposits
    counter_numbers = [demo_number(n)[1] for n in COUNTER_SIMS]
    await ensure_demo_counter(  # three days of a clerk's shifts and sales
        db, numbers=counter_numbers, now=now, secret_key=settings.secret_key
    )
    await ensure_demo_outlet_refund(  # one of those top-ups, waiting at the agent's counters
        db, settings=settings, operator_id=members["operator"], now=now
    )
    printed = DEMO_STAFF + tuple(DemoStaff(*member.printed()) for member in agents_staff)
    cards = await ensure_demo_vouchers(  # PINs a tester redeems
        db, secret_key=settings.secret_key, keys_dir=settings.keys_dir, now=now
    )
    return SeedSummary(sim_count, len(orders), credited, DEMO_SUBSCRIBERS, printed, vouchers=cards)


async def _history(
    db: Database, settings: Settings, demo: FixedClock, now: datetime, holders: dict[str, int]
) -> list[Order]:
    """Every demo top-up, oldest first, each at its own time."""
    plan = sorted(
        ((person, topup) for person in DEMO_SUBSCRIBERS for topup in person.topups),
        key=lambda planned: (-planned[1].days_ago, planned[1].at),
    )

    providers = demo_providers(db, settings, demo)
    orders = []
    today = in_hong_kong(now).date()
    day = today - timedelta(days=max(ISSUED_DAYS_AGO.values()))
    try:
        while day <= today:  # each day: the retention run just after midnight, then top-ups
            demo.set(datetime.combine(day, RUN_AT, tzinfo=HONG_KONG))
            if demo.now() <= now:
                await retention.run_until(db, day=day, clock=demo)
                await granting.expire_buckets(db, now=demo.now())
            for person, topup in plan:
                if _instant(now, topup).date() == day:
                    demo.set(_instant(now, topup))
                    subscriber_id = holders[person.phone]
                    orders.append(await top_up(db, providers, settings, demo, subscriber_id, topup))
            day += timedelta(days=1)
    finally:
        await providers.close()
    return orders


def _instant(now: datetime, topup: DemoTopup) -> datetime:
    day = in_hong_kong(now).date() - timedelta(days=topup.days_ago)
    return datetime.combine(day, topup.at, tzinfo=HONG_KONG)


async def _subscriber(db: Database, now: datetime, person: DemoSubscriber) -> int:
    subscriber_id = await subscribers.enroll(
        db, phone=person.phone, password=person.password, language=person.language, now=now
    )

    async def link(conn: AsyncConnection) -> None:
        for n in person.sims:
            sim = await sims.find_by_number(conn, number=demo_number(n)[1])
            assert sim is not None
            linked = max(now, sim.created_at + timedelta(hours=1))  # once it was issued
            await sims.assign_sim(conn, subscriber_id=subscriber_id, sim_id=sim.id, now=linked)

    await db.transaction(link)
    return subscriber_id


def demo_id(n: int) -> tuple[IdType, str]:
    """The document of demo SIM ``n``'s holder, as a clerk types it for the ID check."""
    if sim_currency(n) == "HKD":
        return IdType.HKID, f"A{n:06d}(3)"
    return IdType.HOME_RETURN_PERMIT, f"H{n:08d}"


async def _sims(conn: AsyncConnection, id_key: bytes, now: datetime) -> int:
    await sims.ensure_plans(conn)
    await rates.ensure_rates(conn)
    for n in range(1, SIM_COUNT + 1):
        iccid, hk, cn = demo_number(n)
        if await sims.find_by_number(conn, number=hk) is not None:
            continue
        currency = sim_currency(n)
        validity = n % 4 == 0
        issued = _issued_at(n, now)
        lasts = LAPSING_VALIDITY if n in LAPSING else STARTER_VALIDITY
        await sims.issue_sim(
            conn,
            iccid=iccid,
            plan_code=("HK" if currency == "HKD" else "CN") + ("-VALID" if validity else "-KEEP"),
            hk_number=hk,
            cn_number=cn,
            holder_name=HOLDERS[n % len(HOLDERS)],
            id_type=demo_id(n)[0],
            id_number=demo_id(n)[1],
            id_key=id_key,
            now=issued,
            validity_until=issued + lasts if validity else None,
        )
    return SIM_COUNT


LAPSING = frozenset({31, 32, 33, 34, 35, 36})


def _issued_at(n: int, now: datetime) -> datetime:
    """When demo SIM ``n`` was issued: at ten in the morning, so many days before ``now``."""
    day = in_hong_kong(now).date() - timedelta(days=ISSUED_DAYS_AGO.get(n, RECENT_DAYS_AGO))
    return datetime.combine(day, time(10, 0), tzinfo=HONG_KONG)
