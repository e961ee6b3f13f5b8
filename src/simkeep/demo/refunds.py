"""The demo's refunds (docs/refunds.md): one paid back by the automatic rule, one waiting for
staff, one refused by the demo operator, and one of a counter top-up waiting at the agent's
counters, each asked, decided and sent by the services a real refund goes through.

Design overview
---------------
Runs once the history and the demo staff exist, on a ``FixedClock`` that starts an hour
before ``now``. The Mainland demo subscriber tops up a stranger's number (demo SIM 9) with
WeChat Pay by mistake, at simulators built for it (``demo.cashier``: unless its records are
kept, a simulator keeps its trades in memory, so the refund is asked of the one that was
paid), and asks for it back as a wrong number ten minutes later: the automatic rule approves
it at once (the demo needs the rule on, with room for ¥100), and
``refunds.sending.send_due``, the worker's job, asks WeChat Pay for it and then about it, a
minute apart, until it is paid. Then the Hong
Kong subscriber asks for their bank-card top-up back and the Mainland one for the top-up of
a relative's SIM, neither of which the rule may approve; at ``now`` (the operator exists from
then) the operator refuses the first with a note (``refunds.service.refuse``, in the audit
log), and the second waits on ``/staff/refunds``. Each request has a fixed
``Idempotency-Key`` and the top-up its fixed key, so a request made by an earlier seed is
found as it is, and only a request still waiting is refused: seeding again changes nothing.

Once the counter's history exists (``demo.counter``), the demo operator asks, for its payer,
for the first cash top-up ``clerk.mk`` made (HK$100 at the Mong Kok shop three days ago)
back, and approves it (``ensure_demo_outlet_refund``): paid to the agent's float, it waits
under "Refunds to pay out" at the agent's counters for a clerk to pay it out. Its fixed key
finds it again on a later seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from simkeep.clock import FixedClock
from simkeep.counter import service as counter
from simkeep.db import Database
from simkeep.demo.cashier import DemoTopup, demo_providers, top_up
from simkeep.demo.counter import CLERK
from simkeep.errors import Refusal
from simkeep.payment_methods import Provider
from simkeep.refunds import sending
from simkeep.refunds import service as refunds
from simkeep.refunds.model import AutoRule, Reason, RefundState
from simkeep.refunds.queries import Refund, get_refund
from simkeep.refunds.service import Asking
from simkeep.settings import Settings
from simkeep.simulators.embedded import EmbeddedProviders
from simkeep.staff import service as staff
from simkeep.staff.audit import CLI, Actor
from simkeep.topups.model import Order

HONG_KONG, MAINLAND = 0, 1  # the demo subscribers, in their order in ``demo.service``
START = timedelta(hours=1)  # before ``now``: the wrong-number top-up
ASK_AFTER = timedelta(minutes=10)  # from that credit, or one request, to the next request
WORKER_EVERY = timedelta(minutes=1)  # between the worker's runs of ``send_refunds``
TRIES = 10  # runs of the worker before the demo gives up on the refund being paid
SENDING = (RefundState.APPROVED, RefundState.PROCESSING)


@dataclass(frozen=True)
class DemoAsk:
    """A refund a demo subscriber asks for."""

    key: str  # the request's Idempotency-Key
    payer: int  # which demo subscriber asks (``HONG_KONG``, ``MAINLAND``)
    reason: Reason
    note: str
    paid_with: Provider | None = None  # their one history top-up paid so; None: WRONG_NUMBER


# ``days_ago`` and ``at`` are not used: it is placed at this module's own time
WRONG_NUMBER = DemoTopup(0, time(0), 9, 100, Provider.WECHATPAY, name="demo-wrong-number")
MISTYPED = DemoAsk(
    "demo-refund-wrong-number", MAINLAND, Reason.WRONG_NUMBER, "号码输错了一位，充到了别人的号码。"
)
REFUSED = DemoAsk(
    "demo-refund-card",
    HONG_KONG,
    Reason.NOT_NEEDED,
    "用錯了信用卡，想退款後用另一張卡再充值。",
    paid_with=Provider.UNIONPAY,
)
REFUSAL = "Paid to the payer's own number and not a wrong number: the credit stays on the SIM."
WAITING = DemoAsk(
    "demo-refund-relative",
    MAINLAND,
    Reason.NOT_NEEDED,
    "亲戚已经换了号码，这笔港币充值用不上了。",
    paid_with=Provider.WECHATPAY_HK,
)


AT_OUTLET_SALE = "demo-counter-3-0"  # the counter demo's first sale: HK$100 in cash
AT_OUTLET_KEY = "demo-refund-outlet"  # the operator's request's Idempotency-Key
AT_OUTLET_NOTE = "客人來電：增值後才知道號碼要停用，想到門市取回現金。"


class DemoRefundFailed(Refusal):
    code = "demo_refused"


@dataclass(frozen=True)
class DemoRefunds:
    paid: Refund  # the wrong-number top-up, paid back through WeChat Pay
    waiting: Refund  # for staff
    refused: Refund  # by the demo operator


async def ensure_demo_refunds(
    db: Database,
    *,
    settings: Settings,
    orders: Sequence[Order],
    payers: Sequence[int],
    operator_id: int,
    now: datetime,
) -> DemoRefunds:
    """The demo's three refunds of the subscribers ``payers`` (in their order), asked for
    the top-ups of ``orders`` (the history) and the wrong-number one; made now if missing."""
    clock = FixedClock(now - START)
    paid = await _paid_back(db, settings, clock, payers[MISTYPED.payer])
    asked = []
    for ask in (REFUSED, WAITING):
        clock.advance(ASK_AFTER)
        payer = payers[ask.payer]
        order = _paid_with(orders, payer, ask.paid_with)
        asked.append(await _ask(db, ask, order.order_no, payer, settings.refund_rule, clock.now()))
    refused, waiting = asked
    if refused.state is RefundState.REQUESTED:  # not when an earlier seed refused it
        refused = await _refuse(db, refused.refund_no, Actor(operator_id, CLI.origin), now)
    return DemoRefunds(paid, waiting, refused)


async def ensure_demo_outlet_refund(
    db: Database, *, settings: Settings, operator_id: int, now: datetime
) -> Refund | None:
    """The refund of the counter demo's first top-up, asked by the demo operator for its
    payer and approved: paid to the agent's float, it waits at the agent's counters. None
    without the counter's history, or with nothing of that top-up left on its SIM."""
    clerk = await db.read(lambda conn: staff.find_member(conn, username=CLERK))
    sale = None if clerk is None else await counter.find_sale(db, clerk=clerk, key=AT_OUTLET_SALE)
    if sale is None or sale.order_no is None:
        return None
    operator = Actor(operator_id, CLI.origin)
    try:
        asked = await db.transaction(
            lambda conn: refunds.request_refund(
                conn,
                order_no=str(sale.order_no),
                asking=Asking(None, staff=operator, idempotency_key=AT_OUTLET_KEY),
                reason=Reason.NOT_NEEDED,
                note=AT_OUTLET_NOTE,
                asked=None,
                rule=settings.refund_rule,
                now=now,
            )
        )
    except Refusal:
        return None
    if asked.state is not RefundState.REQUESTED:  # approved by an earlier seed
        return asked
    return await db.transaction(
        lambda conn: refunds.approve(
            conn, refund_no=asked.refund_no, actor=operator, note="", now=now
        )
    )


async def _ask(
    db: Database, ask: DemoAsk, order_no: str, payer: int, rule: AutoRule, now: datetime
) -> Refund:
    """Ask as the payer does (the same refund if an earlier seed asked already)."""
    asking = Asking(payer, idempotency_key=ask.key)
    return await db.transaction(
        lambda conn: refunds.request_refund(
            conn,
            order_no=order_no,
            asking=asking,
            reason=ask.reason,
            note=ask.note,
            asked=None,
            rule=rule,
            now=now,
        )
    )


async def _paid_back(db: Database, settings: Settings, clock: FixedClock, payer: int) -> Refund:
    """The wrong-number top-up, paid, asked back, approved by the rule and sent until paid."""
    rule = settings.refund_rule
    if rule.max_credit < WRONG_NUMBER.amount * 100 or rule.within < ASK_AFTER:
        raise DemoRefundFailed(
            "the demo's wrong-number refund is approved by the automatic rule: set"
            f" SIMKEEP_REFUND_AUTO_MAX to {WRONG_NUMBER.amount * 100} or more and"
            " SIMKEEP_REFUND_AUTO_HOURS to 1 or more"
        )
    providers = demo_providers(db, settings, clock)
    try:
        order = await top_up(db, providers, settings, clock, payer, WRONG_NUMBER)
        clock.advance(ASK_AFTER)
        refund = await _ask(db, MISTYPED, order.order_no, payer, rule, clock.now())
        return await _send_until_paid(db, providers, clock, refund)
    finally:
        await providers.close()


async def _send_until_paid(
    db: Database, providers: EmbeddedProviders, clock: FixedClock, refund: Refund
) -> Refund:
    """Run the worker's ``send_refunds`` a minute apart until the provider paid the refund
    (WeChat Pay takes it, then pays it a minute later). On a fresh demo database it is the
    only refund due; one an earlier seed paid is not sent again."""
    for _ in range(TRIES):
        if refund.state not in SENDING:
            break
        await sending.send_due(db, adapters=providers.adapters, now=clock.now())
        refund = await _refund(db, refund.refund_no)
        clock.advance(WORKER_EVERY)
    if refund.state is not RefundState.PAID:
        raise DemoRefundFailed(f"demo refund {refund.refund_no} is {refund.state.value}, not paid")
    return refund


async def _refuse(db: Database, refund_no: str, operator: Actor, now: datetime) -> Refund:
    """The demo operator refuses the request with a note, as on ``/staff/refunds``."""
    return await db.transaction(
        lambda conn: refunds.refuse(
            conn, refund_no=refund_no, actor=operator, note=REFUSAL, now=now
        )
    )


def _paid_with(orders: Sequence[Order], payer: int, provider: Provider | None) -> Order:
    """The payer's credited top-up of the history paid with ``provider``."""
    for order in orders:
        if (order.subscriber_id, order.provider) == (payer, provider) and order.credited_at:
            return order
    raise DemoRefundFailed(f"the demo history has no top-up of {payer} paid with {provider}")


async def _refund(db: Database, refund_no: str) -> Refund:
    refund = await db.transaction(lambda conn: get_refund(conn, refund_no=refund_no))
    assert refund is not None
    return refund
