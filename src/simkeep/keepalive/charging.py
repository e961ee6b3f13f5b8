"""The auto keep-alive job: for each active rule, a notice before the SIM would lapse, then
a top-up charged through the agreement, retried on a schedule, reported when it fails.

Design overview
---------------
``run_due`` is the job body (``jobs.loop``). Each run:

1. **Notices** (the worker looks the rules over every ``SCAN_EVERY``). For each active rule
   whose SIM (still held by the rule's subscriber, still active) lapses within
   ``NOTICE_DAYS``, the attempt for that period — the lapse day — is
   claimed by one ``INSERT … ON CONFLICT DO NOTHING``: only the inserting run texts the
   notice ("we will top up … on … unless you cancel"), in the same transaction, so two
   workers or a repeat never notify or charge a period twice.
2. **Charges.** An attempt whose time has come is claimed by a conditional ``UPDATE``
   (``waiting`` → ``charging``, its try counted; a claim left by a worker that died runs
   out after ``CLAIM`` and is taken again with the same try). The try places a normal
   top-up order through ``topups.service`` (channel ``auto``; quote, FX, crediting,
   receipt and SMS as any top-up) under the idempotency key ``keepalive:<attempt>:<try>``,
   so a repeated try is the same order and the same provider trade, never a second
   charge. The agreement adapter then charges the order's trade; the money is credited
   as any payment's — the trade's notification or the order's poll, through
   ``topups.crediting`` — and the attempt waits (``pending``) until the order is credited.
3. **Failures.** A declined charge (or an order that expired unpaid) is tried again after
   1 h, 6 h, 24 h while the lapse day is ahead; the subscriber is texted at the first
   decline and when it is given up, and the SIM page shows it. A SIM kept longer in the
   meantime (topped up by hand) needs no charge: the attempt is cancelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

from babel.dates import format_skeleton
from sqlalchemy import case, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.errors import Refusal
from simkeep.i18n import sms, translations
from simkeep.keepalive import tables as t
from simkeep.keepalive.model import (
    CHARGE_DAYS,
    PAY_CURRENCY,
    Attempt,
    AttemptState,
    Rule,
    RuleState,
    charge_at,
    next_try,
    notice_due,
    top_up_amount,
)
from simkeep.keepalive.service import KeepAliveUrls, attempt_of, rule_of
from simkeep.money import Money
from simkeep.notifications import service as notifications
from simkeep.payment_methods import Channel, Provider, provider_name
from simkeep.payments.agreements import AgreementAdapter, Deduction, DeductionOutcome
from simkeep.payments.service import TOPUP_SUBJECT
from simkeep.retention.model import day_of, lapses_on, line_of
from simkeep.sims import service as sims
from simkeep.sims.model import SimAccount, SimState
from simkeep.subscribers import service as subscribers
from simkeep.topups import service as topups
from simkeep.topups.model import Order, OrderRequest, OrderState

SCAN_EVERY = timedelta(minutes=1)  # every active rule's SIM is read: not every second
CLAIM = timedelta(minutes=10)  # a charge claimed by a worker that died is retaken after this
DEFAULT_LANGUAGE = "zh_Hant_HK"
NOTICE = (
    "simkeep: we will top up %(number)s with %(amount)s on %(date)s through %(provider)s to "
    "keep the number. Cancel auto keep-alive before then if you do not want it."
)
DECLINED = (
    "simkeep: the automatic top-up of %(number)s with %(amount)s was declined by "
    "%(provider)s. We will try again; you can also top up yourself before %(date)s."
)
GAVE_UP = (
    "simkeep: the automatic top-up of %(number)s could not be charged. Top up yourself "
    "before %(date)s to keep the number."
)


async def run_due(
    db: Database,
    *,
    adapters: Mapping[Provider, AgreementAdapter],
    urls: KeepAliveUrls,
    now: datetime,
    scan: bool = True,
) -> int:
    """Notice (when ``scan``: the rules are looked over every ``SCAN_EVERY`` by the worker),
    charge and follow up what is due; returns how many charges were made."""
    if scan:
        await db.transaction(lambda conn: _notice_all(conn, now))
    await db.transaction(lambda conn: _follow_pending(conn, now))
    charged = 0
    for attempt_id in await db.transaction(lambda conn: _due(conn, now)):
        charged += await _charge(db, adapters, urls, attempt_id, now)
    return charged


async def _active_rules(conn: AsyncConnection) -> list[Rule]:
    rows = await conn.execute(select(t.rules).where(t.rules.c.state == RuleState.ACTIVE.value))
    return [rule_of(row) for row in rows]


async def _live_account(conn: AsyncConnection, rule: Rule) -> SimAccount | None:
    account = await sims.held_sim(conn, subscriber_id=rule.subscriber_id, sim_id=rule.sim_id)
    if account is None or account.sim.state is not SimState.ACTIVE:
        return None
    return account


async def _notice_all(conn: AsyncConnection, now: datetime) -> None:
    today = day_of(now)
    for rule in await _active_rules(conn):
        account = await _live_account(conn, rule)
        lapse = lapses_on(line_of(account)) if account is not None else None
        if account is None or lapse is None or not notice_due(lapse, today):
            continue
        line = line_of(account)
        amount = Money(
            top_up_amount(line, mode=rule.mode, amount_minor=rule.amount_minor),
            account.sim.home_currency,
        )
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        claimed = await conn.execute(
            insert(t.attempts)
            .values(
                rule_id=rule.id,
                period=lapse,
                state=AttemptState.WAITING.value,
                amount_minor=amount.minor,
                currency=amount.currency,
                next_at=max(charge_at(lapse), now),
                noticed_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing()
            .returning(t.attempts.c.id)
        )
        if claimed.first() is not None:
            charge_day = lapse - timedelta(days=CHARGE_DAYS)
            await _text(conn, rule, account, NOTICE, amount, charge_day, now)


async def _due(conn: AsyncConnection, now: datetime) -> list[int]:
    a, r = t.attempts.c, t.rules.c
    rows = await conn.execute(
        select(a.id)
        .select_from(t.attempts.join(t.rules, r.id == a.rule_id))
        .where(
            a.state.in_([AttemptState.WAITING.value, AttemptState.CHARGING.value]),
            a.next_at <= now,
            r.state == RuleState.ACTIVE.value,
        )
        .order_by(a.next_at)
        .limit(100)
    )
    return [row.id for row in rows]


async def _claim(conn: AsyncConnection, attempt_id: int, now: datetime) -> Attempt | None:
    """waiting → charging (a new try) or a lapsed charging claim retaken (the same try)."""
    a = t.attempts.c
    waiting = a.state == AttemptState.WAITING.value
    row = (
        await conn.execute(
            update(t.attempts)
            .where(
                a.id == attempt_id,
                a.state.in_([AttemptState.WAITING.value, AttemptState.CHARGING.value]),
                a.next_at <= now,
            )
            .values(
                state=AttemptState.CHARGING.value,
                tries=case((waiting, a.tries + 1), else_=a.tries),
                next_at=now + CLAIM,
                updated_at=now,
            )
            .returning(*t.attempts.c)
        )
    ).first()
    return attempt_of(row) if row is not None else None


async def _charge(
    db: Database,
    adapters: Mapping[Provider, AgreementAdapter],
    urls: KeepAliveUrls,
    attempt_id: int,
    now: datetime,
) -> int:
    """One try of one attempt: the order placed (or found again), the agreement charged."""
    claimed = await db.transaction(lambda conn: _claimed_order(conn, attempt_id, now))
    if claimed is None:
        return 0
    attempt, rule, order = claimed
    adapter = adapters.get(rule.provider)
    if order is None or adapter is None or rule.provider_agreement_no is None:
        return 0
    if order.state is OrderState.CREATED:
        deduction = Deduction(
            out_trade_no=order.order_no,
            provider_agreement_no=rule.provider_agreement_no,
            amount=order.pay,
            subject=f"{TOPUP_SUBJECT} {order.msisdn} {order.credit}",
            notify_url=urls.payment_notify(rule.provider),
        )
        result = await adapter.deduct(deduction)
        if result.outcome is DeductionOutcome.DECLINED:
            await db.transaction(lambda conn: _declined(conn, attempt, rule, result.reason, now))
            return 0
        await db.transaction(
            lambda conn: topups.record_payment_start(
                conn, order_no=order.order_no, pay_url=None, pay_qr=None
            )
        )
    await db.transaction(lambda conn: _move(conn, attempt.id, AttemptState.PENDING, now))
    return 1


async def _claimed_order(
    conn: AsyncConnection, attempt_id: int, now: datetime
) -> tuple[Attempt, Rule, Order | None] | None:
    attempt = await _claim(conn, attempt_id, now)
    if attempt is None:
        return None
    rule = await _rule(conn, attempt.rule_id)
    account = await _live_account(conn, rule)
    lapse = lapses_on(line_of(account)) if account is not None else None
    if account is None or lapse is None or lapse > attempt.period:
        await _move(conn, attempt.id, AttemptState.CANCELLED, now, error="no_longer_needed")
        return attempt, rule, None
    number = account.sim.hk_number.e164
    request = OrderRequest.of(
        subscriber_id=rule.subscriber_id,
        idempotency_key=f"keepalive:{attempt.id}:{attempt.tries}",
        number=number,
        confirm_number=number,
        credit=attempt.amount,
        pay_currency=PAY_CURRENCY,
        provider=rule.provider,
        channel=Channel.AUTO,
    )
    try:
        prepared = await topups.prepare_order(conn, request=request, now=now)
        if isinstance(prepared, Order):
            order = prepared
        else:
            order = await topups.place_order(conn, draft=prepared, now=now)
    except Refusal as refusal:
        await _declined(conn, attempt, rule, refusal.code, now)
        return attempt, rule, None
    await conn.execute(
        update(t.attempts).where(t.attempts.c.id == attempt.id).values(order_no=order.order_no)
    )
    return attempt, rule, order


async def _rule(conn: AsyncConnection, rule_id: int) -> Rule:
    return rule_of((await conn.execute(select(t.rules).where(t.rules.c.id == rule_id))).one())


async def _follow_pending(conn: AsyncConnection, now: datetime) -> None:
    """Charges taken: credited (paid), or an order that expired unpaid (declined)."""
    a = t.attempts.c
    rows = await conn.execute(select(t.attempts).where(a.state == AttemptState.PENDING.value))
    for attempt in [attempt_of(row) for row in rows]:
        order = await topups.get_order(conn, order_no=attempt.order_no or "")
        if order is None:
            continue
        if order.state is OrderState.CREDITED:
            await _move(conn, attempt.id, AttemptState.PAID, now)
        elif order.state in (OrderState.EXPIRED, OrderState.FAILED):
            await _declined(conn, attempt, await _rule(conn, attempt.rule_id), "unpaid", now)


async def _declined(
    conn: AsyncConnection, attempt: Attempt, rule: Rule, reason: str, now: datetime
) -> None:
    """Tried again later while the lapse day is ahead, else given up; the subscriber is told
    at the first decline and when it is given up."""
    again = next_try(attempt.tries, now=now, lapse=attempt.period)
    state = AttemptState.WAITING if again is not None else AttemptState.FAILED
    await _move(conn, attempt.id, state, now, error=reason[:200], next_at=again)
    account = await sims.held_sim(conn, subscriber_id=rule.subscriber_id, sim_id=rule.sim_id)
    if account is None:
        return
    text = GAVE_UP if again is None else DECLINED
    if again is None or attempt.tries == 1:
        last_day = attempt.period - timedelta(days=1)
        await _text(conn, rule, account, text, attempt.amount, last_day, now)


async def _move(
    conn: AsyncConnection,
    attempt_id: int,
    state: AttemptState,
    now: datetime,
    *,
    error: str | None = None,
    next_at: datetime | None = None,
) -> None:
    values: dict[str, object] = {"state": state.value, "next_at": next_at, "updated_at": now}
    if error is not None:
        values["last_error"] = error
    await conn.execute(update(t.attempts).where(t.attempts.c.id == attempt_id).values(**values))


async def _text(
    conn: AsyncConnection,
    rule: Rule,
    account: SimAccount,
    message: str,
    amount: Money,
    when: date,
    now: datetime,
) -> None:
    """An SMS to the rule's subscriber, in the language they read."""
    phones = await subscribers.phones(conn, subscriber_ids=[rule.subscriber_id])
    phone = phones[rule.subscriber_id]
    language = await subscribers.reader_language(conn, phone=phone, otherwise=DEFAULT_LANGUAGE)
    text = sms(
        language,
        message,
        number=account.sim.hk_number.masked(),
        amount=amount.format(language),
        date=format_skeleton("yMMMd", when, locale=language),
        provider=provider_name(rule.provider, translations(language)),
    )
    await notifications.queue_sms(conn, to=phone, text=text, now=now)
