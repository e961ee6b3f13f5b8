"""A day's provider fees in the books (docs/ledger.md, "Provider fees").

Design overview
---------------
The fees a provider kept on a day's payments, less those it gave back on the day's
refunds, leave its clearing account for the provider fees expense: one journal per
provider, day and currency, ``reconcile-fees:<provider>:<day>:<currency>``
(``rules.provider_fees``), written in the transaction that matches the bill. Matching the
day again finds the same journal by its id; a day whose fees cancel out books nothing.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.payment_methods import Provider
from simkeep.reconciliation.model import ReconcileError, Totals


def fee_journal_id(provider: Provider, day: date, currency: str) -> str:
    return f"reconcile-fees:{provider.value}:{day.isoformat()}:{currency}"


async def book_fees(
    conn: AsyncConnection, *, provider: Provider, day: date, totals: Totals, now: datetime
) -> str | None:
    """Book the day's net fees in one currency; returns the journal's client id, or None
    when they cancel out."""
    net = totals.net_fee
    if net.is_zero():
        return None
    codes = [
        chart.provider_clearing_code(provider.value, net.currency),
        chart.system_code(System.PROVIDER_FEES, net.currency),
    ]
    found = await ledger.account_ids(conn, codes=codes)
    if missing := [code for code in codes if code not in found]:
        raise ReconcileError(f"the books have no account {', '.join(missing)}")
    client_id = fee_journal_id(provider, day, net.currency)
    await ledger.post_journal(
        conn,
        client_id=client_id,
        postings=rules.provider_fees(clearing=found[codes[0]], fees=found[codes[1]], net=net),
        now=now,
        description=f"Fees of {provider.value} on {day.isoformat()}",
        metadata={"provider": provider.value, "day": day.isoformat()},
    )
    return client_id
