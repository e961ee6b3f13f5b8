"""The worker loop: every second, run each job once; a job that fails is logged and the
loop goes on (every job is safe to run again).

Jobs: deliver the outbox (SMS, and email when there is a mail gateway), poll providers
about unpaid orders, expire unpaid orders and close their trades at the provider, send
approved refunds through their providers and ask about those in progress, the daily
retention run from its set Hong Kong time (when one is set: ``SIMKEEP_RETENTION_RUN_AT``),
the reconciliation of yesterday's bills from theirs (``SIMKEEP_RECONCILE_AT``),
auto keep-alive's notices, charges and retries, the expiry of promotions' benefit buckets,
the expiry of vouchers past their last day (their breakage), the books' partitions of the
months to come (``ledger.partitions``, hourly), and in the embedded default let the
simulators send their due notification retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, time, timedelta

import structlog

from simkeep.clock import Clock, FixedClock, in_hong_kong
from simkeep.db import Database
from simkeep.jobs import pieces
from simkeep.keepalive import charging
from simkeep.keepalive import service as keepalive
from simkeep.keepalive.service import KeepAliveUrls
from simkeep.ledger import partitions
from simkeep.notifications import service as notifications
from simkeep.notifications.service import EmailGateway, SmsGateway
from simkeep.payment_methods import Provider
from simkeep.payments import service as payments
from simkeep.payments.model import PaymentProviderAdapter
from simkeep.payments.service import CheckoutUrls
from simkeep.promotions import granting
from simkeep.reconciliation import daily as reconciliation
from simkeep.reconciliation import model as reconciling
from simkeep.refunds import sending as refunds
from simkeep.retention import service as retention
from simkeep.vouchers import service as vouchers

log = structlog.get_logger(__name__)

Job = Callable[[datetime], Awaitable[object]]
MONTHS_EVERY = timedelta(hours=1)


def standard_jobs(
    *,
    db: Database,
    sms: SmsGateway,
    email: EmailGateway | None = None,
    adapters: Mapping[Provider, PaymentProviderAdapter],
    retention_at: time | None = None,
    keepalive_urls: KeepAliveUrls | None = None,
    keepalive_scan: timedelta = charging.SCAN_EVERY,
    notify_urls: CheckoutUrls | None = None,
    reconcile_at: time | None = None,
    reconcile_carry: timedelta = reconciling.CARRY,
    queued: bool = False,
) -> dict[str, Job]:
    """The jobs by name. ``queued``: for the ticks of a fleet on a queue, where the relay
    sends the outbox's messages, and the retention run and the reconciliation are cut into
    tasks (``jobs.pieces``) rather than run whole."""
    split = pieces.Context(db, adapters, reconcile_carry)

    async def deliver_sms(now: datetime) -> int:
        return await notifications.deliver_due(db, gateway=sms, email=email, now=now)

    async def poll(now: datetime) -> int:
        return await payments.poll_unpaid(db, adapters=adapters, now=now)

    async def expire(now: datetime) -> int:
        return await payments.expire_unpaid(db, adapters=adapters, now=now)

    async def expire_buckets(now: datetime) -> int:
        return await granting.expire_buckets(db, now=now)

    async def send_refunds(now: datetime) -> int:
        notify = notify_urls.notify if notify_urls else None
        return await refunds.send_due(db, adapters=adapters, now=now, notify=notify)

    async def expire_vouchers(now: datetime) -> int:
        expired = await vouchers.expire_vouchers(db, now=now)
        return expired.sold + expired.unsold

    made: list[datetime] = []  # when the books' months were last looked at

    async def ledger_months(now: datetime) -> int:
        """The books' partitions of this month and the next ones, looked at hourly."""
        if made and now - made[-1] < MONTHS_EVERY:
            return 0
        made[:] = [now]
        created = await db.transaction(lambda conn: partitions.ensure_months(conn, now=now))
        return len(created)

    jobs: dict[str, Job] = {} if queued else {"deliver_sms": deliver_sms}
    jobs |= {
        "poll_unpaid": poll,
        "expire_orders": expire,
        "expire_buckets": expire_buckets,
        "send_refunds": send_refunds,
        "expire_vouchers": expire_vouchers,
        "ledger_months": ledger_months,
    }
    if retention_at is not None:

        async def keep_numbers(now: datetime) -> int:
            """From the set time on, the day's run (and any day missed) once: a day done
            is not run again."""
            local = in_hong_kong(now)
            day = local.date() if local.time() >= retention_at else local.date() - timedelta(1)
            done = await retention.run_until(db, day=day, clock=FixedClock(now))
            return len(done)

        async def plan_retention(now: datetime) -> int:
            return await pieces.plan_retention(split, at=retention_at, now=now)

        jobs["retention_run"] = plan_retention if queued else keep_numbers
    if reconcile_at is not None:
        at = reconcile_at

        async def reconcile(now: datetime) -> int:
            """From the set time, yesterday of every online provider, once its bill is out."""
            clock = FixedClock(now)
            return await reconciliation.reconcile_due(
                db, adapters=adapters, clock=clock, at=at, carry=reconcile_carry
            )

        async def plan_reconciliation(now: datetime) -> int:
            return await pieces.plan_reconciliation(split, at=at, now=now)

        jobs["reconcile"] = plan_reconciliation if queued else reconcile
    if keepalive_urls is not None:
        agreements = keepalive.agreement_adapters(adapters)
        scanned: list[datetime] = []  # when the rules were last looked over for notices

        async def keep_alive(now: datetime) -> int:
            scan = not scanned or now - scanned[-1] >= keepalive_scan
            if scan:
                scanned[:] = [now]
            urls = keepalive_urls
            return await charging.run_due(db, adapters=agreements, urls=urls, now=now, scan=scan)

        jobs["keep_alive"] = keep_alive
    return jobs


async def run_forever(jobs: Mapping[str, Job], *, clock: Clock, every: float = 1.0) -> None:
    """Run the jobs until cancelled."""
    while True:
        for name, job in jobs.items():
            try:
                await job(clock.now())
            except Exception:
                log.exception("job.failed", job=name)
        await asyncio.sleep(every)
