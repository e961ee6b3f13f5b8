"""A worker killed while it sends leaves its claim on the SMS it took: another worker sends
them once the lease has run out (a minute), not sooner, and not never."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.notifications import service as notifications


class Phone:
    def __init__(self, *, hang: bool = False) -> None:
        self.hang = hang
        self.received: list[str] = []

    async def send(self, *, to: str, text: str) -> None:
        if self.hang:
            await asyncio.Event().wait()  # the carrier never answers: the worker dies here
        self.received.append(text)


async def test_a_dead_workers_sms_goes_out_after_its_lease(db: Database, clock: FixedClock) -> None:
    await db.transaction(
        lambda conn: notifications.queue_sms(
            conn, to="+85291234567", text="code 123456", now=clock.now()
        )
    )
    dying = asyncio.create_task(
        notifications.deliver_due(db, gateway=Phone(hang=True), now=clock.now())
    )
    await asyncio.sleep(0.2)
    dying.cancel()  # killed mid-send, after its claim committed
    phone = Phone()

    clock.advance(timedelta(seconds=30))
    assert await notifications.deliver_due(db, gateway=phone, now=clock.now()) == 0
    clock.advance(timedelta(seconds=30))
    assert await notifications.deliver_due(db, gateway=phone, now=clock.now()) == 1

    assert phone.received == ["code 123456"]
