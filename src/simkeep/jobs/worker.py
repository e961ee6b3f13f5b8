"""A worker process: the background jobs without the web app (``simkeep worker``).

Design overview
---------------
``run_worker`` opens the database, builds the payment adapters of a process without the
simulators inside it (``services.outside_gateways``: the simulators' own process, or the real
gateways) and runs the standard jobs (``loop.standard_jobs``) until it is stopped. Any
number of workers may run beside the web processes: every job is safe to run twice, and a
poll or a close is claimed by one worker (``topups.followup``). A worker killed at any point
loses nothing: what it was doing is either committed or done again by the next run of the
job.

Without a queue (the default) each worker runs every job in turn (``loop.run_forever``).
With ``SIMKEEP_QUEUE_URL`` the worker joins the fleet on RabbitMQ (``jobs.queue``): it
consumes the queue's messages, relays the outboxes and publishes the ticks due.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from simkeep.clock import Clock
from simkeep.db import Database
from simkeep.jobs import pieces
from simkeep.jobs.loop import run_forever, standard_jobs
from simkeep.jobs.queue import Fleet, Gateways, rabbitmq, serve
from simkeep.keepalive.service import KeepAliveUrls
from simkeep.payments.service import CheckoutUrls
from simkeep.services import mail_gateway, outside_gateways
from simkeep.settings import Settings
from simkeep.simulators.sms import SimulatedSmsGateway


async def run_worker(settings: Settings, clock: Clock, *, every: float = 1.0) -> None:
    """Run the standard jobs every ``every`` seconds until cancelled."""
    db = Database.from_settings(settings)
    gateways = outside_gateways(settings, clock)
    queued = bool(settings.queue_url)
    try:
        sms = SimulatedSmsGateway(db, clock)
        email = mail_gateway(settings, db, clock)
        jobs = standard_jobs(
            db=db,
            sms=sms,
            email=email,
            adapters=gateways.adapters,
            retention_at=settings.retention_time,
            keepalive_urls=KeepAliveUrls(settings.public_url),
            keepalive_scan=timedelta(seconds=settings.keepalive_scan_seconds),
            notify_urls=CheckoutUrls(settings.public_url),
            reconcile_at=settings.reconcile_time,
            reconcile_carry=settings.reconcile_carry,
            queued=queued,
        )
        if not queued:
            await run_forever(jobs, clock=clock, every=every)
            return
        fleet = Fleet(
            rabbitmq(settings.queue_url),
            prefix=settings.queue_prefix,
            loop=asyncio.get_running_loop(),
            clock=clock,
            context=pieces.Context(db, gateways.adapters, settings.reconcile_carry),
            gateways=Gateways(sms, email),
            jobs=jobs,
        )
        try:
            await serve(fleet, every=every, threads=settings.worker_threads)
        finally:
            await asyncio.to_thread(fleet.close)
    finally:
        await gateways.close()
        await db.dispose()
