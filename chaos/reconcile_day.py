"""One provider's day reconciled for the fault harness, in a process of its own:
``python -m chaos.reconcile_day PROVIDER YYYY-MM-DD``.

Design overview
---------------
``simkeep reconcile`` matches only a day that is over (its bill comes the day after), and
the harness cannot wait for midnight. This runs the very service the command line runs
(``reconciliation.service.reconcile``, the bill fetched by the provider's adapter from the
simulators), on a clock a day ahead — the morning after — while the simulators make their
bills early (``chaos.reconcile_ops``). The adapters keep the real time: the providers
refuse a signed request whose time is not theirs. It is
killed and run again like the command; it exits 0 when the day is matched, 2 when the
bill was refused or not out, 1 on anything else (a provider not answering its questions
yet: the day is still querying).
"""

from __future__ import annotations

import asyncio
import sys
from datetime import date, datetime, timedelta

from simkeep.clock import SystemClock
from simkeep.db import Database
from simkeep.payment_methods import Provider
from simkeep.reconciliation import service as reconciliation
from simkeep.reconciliation.bill import BillNotReady, BillRefused
from simkeep.reconciliation.model import NoBill, RunState
from simkeep.services import outside_gateways
from simkeep.settings import load_settings

AHEAD = timedelta(days=1)


class MorningAfter:
    """The system clock, a day ahead."""

    def now(self) -> datetime:
        return SystemClock().now() + AHEAD


async def main(provider: Provider, day: date) -> int:
    config = load_settings()
    clock = MorningAfter()
    db = Database.from_settings(config)
    gateways = outside_gateways(config, SystemClock())  # signed: the providers' own time
    try:
        adapter = gateways.adapters[provider]
        done = await reconciliation.reconcile(
            db,
            provider=provider,
            day=day,
            source=adapter,
            adapter=adapter,
            by=reconciliation.BY_CLI,
            clock=clock,
            carry=config.reconcile_carry,
        )
    except (BillNotReady, BillRefused, NoBill) as error:
        print(f"{provider.value} {day}: {error}", file=sys.stderr)
        return 2
    finally:
        await gateways.close()
        await db.dispose()
    if done.state is not RunState.DONE:
        print(f"{provider.value} {day}: {done.state.value}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(Provider(sys.argv[1]), date.fromisoformat(sys.argv[2]))))
