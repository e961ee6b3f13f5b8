"""Crediting a paid order, exactly once.

Design overview
---------------
``credit_paid_order`` is the only way an order gets money. In the caller's transaction it
moves the order to ``paid`` with a conditional update that also checks the provider and
the amount (so a second notification or a racing poll finds nothing to move and credits
nothing), posts the ledger journal (client id ``topup:<order_no>``), applies the top-up to
the SIM (validity; a SIM in grace or suspended pays the fees it owes first, and is active
again when the balance covers them all; on a monthly-fee plan the order's validity is the
last day its fees keep the number), moves the order to ``credited`` with its receipt number
(``R`` + the Hong Kong date + the order's id) and queues the SMS — in the language of the
topped-up number's subscriber, else the payer's, with amounts written for that language. An
order that did not move is looked at again to say why: unknown, another amount, or credited
already. The promotions the order holds are granted in the same transaction
(``promotions.granting.grant_order``: buckets, bonus money, extra validity days added to the
top-up's) and told in the same SMS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.i18n import DEFAULT_LOCALE, sms
from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.money import Money
from simkeep.notifications import service as notifications
from simkeep.payment_methods import Provider
from simkeep.phone import Number, Region
from simkeep.promotions import granting, wording
from simkeep.retention import accounts as retention
from simkeep.sims import service as sims
from simkeep.sims.model import Retention, SimState
from simkeep.topups import statements
from simkeep.topups.model import Order, OrderState, TopupError, receipt_number
from simkeep.topups.queries import get_order

CREDIT_TEXT = (  # the SMS of a credit: a message id of sms.po
    "simkeep: %(number)s was topped up with %(amount)s. Balance %(balance)s. Receipt %(receipt_no)s"
)


Funding = Callable[[int], rules.Postings]
"""The journal of money that did not come through a provider's clearing account (an outlet's
float, a voucher's liability): the SIM's balance account → the top-up's postings."""


class UnknownOrder(TopupError):
    code = "unknown_order"


class AmountMismatch(TopupError):
    code = "amount_mismatch"


@dataclass(frozen=True, slots=True)
class CreditResult:
    order: Order
    credited_now: bool  # False: it was credited before (a duplicate or a late poll)


async def credit_paid_order(
    conn: AsyncConnection,
    *,
    order_no: str,
    paid: Money,
    provider_trade_no: str,
    now: datetime,
    provider: Provider | None = None,
    funding: Funding | None = None,
) -> CreditResult:
    """Money for this order was received (through ``provider``, when given): credit it, once.
    ``funding`` books it from elsewhere than the provider's clearing account."""
    paid_order = await statements.mark_paid(
        conn,
        order_no=order_no,
        provider=provider.value if provider else None,
        paid_minor=paid.minor,
        paid_currency=paid.currency,
        trade_no=provider_trade_no,
        now=now,
    )
    if paid_order is None:
        return CreditResult(await _not_payable(conn, order_no, paid, provider), credited_now=False)
    order = paid_order.order
    sim_balance = await _post_topup(conn, order, now, funding)
    granted = await granting.grant_order(
        conn, order_no=order_no, sim_id=order.sim_id, currency=order.credit.currency, now=now
    )
    settled = paid_order.sim_state is SimState.ACTIVE or await retention.settle_arrears(
        conn, sim_id=order.sim_id, balance_account=sim_balance, reference=order_no, now=now
    )
    validity_until = await sims.apply_topup(
        conn,
        sim_id=order.sim_id,
        state=paid_order.sim_state,
        validity_until=paid_order.sim_validity_until,
        retention=paid_order.retention,
        validity_days=order.validity_days + granted.validity_days,
        now=now,
        reactivate=settled,
    )
    balance = await ledger.get_balance(conn, account_id=sim_balance)
    if paid_order.retention is Retention.MONTHLY_FEE:  # kept by its fees: until they run out
        validity_until = await retention.kept_until_instant(
            conn, sim_id=order.sim_id, balance=balance.posted
        )
    receipt_no = receipt_number(paid_order.serial, now)
    await statements.mark_credited(
        conn, order_no=order_no, receipt_no=receipt_no, validity_until=validity_until, now=now
    )
    reader = paid_order.sms_language or DEFAULT_LOCALE
    text = sms(
        reader,
        CREDIT_TEXT,
        number=Number(paid_order.hk_number, Region.HK).masked(),
        amount=order.credit.format(reader),
        balance=balance.money().format(reader),
        receipt_no=receipt_no,
    ) + wording.sms_text(granted.promotions, locale=reader, currency=order.credit.currency)
    await notifications.queue_sms(conn, to=order.msisdn, text=text, now=now)
    credited = replace(
        order,
        state=OrderState.CREDITED,
        credited_at=now,
        receipt_no=receipt_no,
        validity_until=validity_until,
    )
    return CreditResult(credited, credited_now=True)


async def _not_payable(
    conn: AsyncConnection, order_no: str, paid: Money, provider: Provider | None
) -> Order:
    """Why an order did not move to paid: unknown, another amount, or paid already."""
    order = await get_order(conn, order_no=order_no, lock=True)
    if order is None or (provider is not None and order.provider is not provider):
        raise UnknownOrder(f"no order {order_no} of {provider or 'any provider'}")
    if paid != order.pay:
        raise AmountMismatch(f"paid {paid}, the order asks {order.pay}")
    return order


async def _post_topup(
    conn: AsyncConnection, order: Order, now: datetime, funding: Funding | None
) -> int:
    """Post the top-up's journal; returns the SIM's balance account."""
    if funding is not None:
        balance_code = chart.sim_balance(order.sim_id, order.credit.currency).code
        ids = await ledger.account_ids(conn, codes=[balance_code])
        if balance_code not in ids:
            raise TopupError(f"the books have no account {balance_code}")
        await _post(conn, order, funding(ids[balance_code]), now)
        return ids[balance_code]
    clearing_code = chart.provider_clearing_code(order.provider.value, order.pay.currency)
    balance_code = chart.sim_balance(order.sim_id, order.credit.currency).code
    fx_codes = [
        chart.system_code(System.FX_POSITION, currency)
        for currency in (order.pay.currency, order.credit.currency)
    ]
    cross = order.pay.currency != order.credit.currency
    codes = [clearing_code, balance_code, *(fx_codes if cross else [])]
    ids = await ledger.account_ids(conn, codes=codes)
    if missing := [code for code in codes if code not in ids]:
        raise TopupError(f"the books have no account {', '.join(missing)}")
    clearing, sim_balance = ids[clearing_code], ids[balance_code]
    if not cross:
        postings = rules.provider_topup(
            clearing=clearing, sim_balance=sim_balance, amount=order.credit
        )
    else:
        postings = rules.cross_currency_topup(
            clearing=clearing,
            fx_paid=ids[fx_codes[0]],
            fx_credited=ids[fx_codes[1]],
            sim_balance=sim_balance,
            paid=order.pay,
            credited=order.credit,
        )
    await _post(conn, order, postings, now)
    return sim_balance


async def _post(
    conn: AsyncConnection, order: Order, postings: rules.Postings, now: datetime
) -> None:
    await ledger.post_journal(
        conn,
        client_id=f"topup:{order.order_no}",
        postings=postings,
        now=now,
        description=f"Top-up {order.order_no} by {order.provider.value}",
        metadata={"order_no": order.order_no},
    )
