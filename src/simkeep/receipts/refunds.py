"""The receipt of a paid refund: a page, the 80 mm PDF, and its public check.

Design overview
---------------
A refund has a receipt once it is paid back. Everything printed comes from the refund (its
number, what left the SIM, the used bonus kept, what went back in the currency paid, how,
when; paid out at a counter, the outlet, the clerk, cash or the card and its terminal's
reference) and from the top-up it refunds (its order and receipt numbers, the number
topped up).
The payer reads it by refund number (``refund_receipt``: only for their own order); its QR
code carries a link signed like a top-up receipt's (``/r/{refund_no}/{signature}``), which
anyone may open for a masked summary (``verify_refund_receipt``). The PDF is a ``Sheet`` on
the roll like the other papers, labelled from the ``receipt`` context of the catalogs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from gettext import NullTranslations

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.concurrency import run_in_threadpool

from simkeep.clock import in_hong_kong
from simkeep.counter.service import clerk_name
from simkeep.db import Database
from simkeep.i18n import translations
from simkeep.money import Money
from simkeep.outlets import service as outlets
from simkeep.payment_methods import Provider, provider_name
from simkeep.phone import parse_number
from simkeep.receipts.model import CounterSale, signature_matches
from simkeep.receipts.pdf import Row, counter_rows, qr_sheet, render_sheet
from simkeep.receipts.service import ReceiptSigning
from simkeep.refunds import queries as refunds
from simkeep.refunds.model import RefundState
from simkeep.refunds.queries import Refund
from simkeep.topups import service as topups
from simkeep.topups.model import Order


@dataclass(frozen=True, slots=True)
class RefundReceipt:
    refund_no: str
    order_no: str
    topup_receipt_no: str
    paid_at: datetime
    msisdn: str
    masked_number: str  # for the public check
    taken: Money  # off the SIM
    deducted: Money  # of it, bonus money used, kept
    pay: Money  # back to the payer
    provider: Provider
    provider_refund_no: str
    verify_url: str  # absolute: printed as a QR code
    counter: CounterSale | None = None  # paid out at a counter: where, by whom, how


async def refund_receipt(
    db: Database, *, refund_no: str, subscriber_id: int, signing: ReceiptSigning
) -> RefundReceipt | None:
    """The receipt of a paid refund of one of the subscriber's orders; None otherwise."""

    async def read(conn: AsyncConnection) -> RefundReceipt | None:
        refund = await refunds.get_refund(conn, refund_no=refund_no)
        if refund is None:
            return None
        order = await topups.get_order(conn, order_no=refund.order_no, subscriber_id=subscriber_id)
        return _receipt(refund, order, signing, await _counter(conn, refund))

    return await db.read(read)


async def verify_refund_receipt(
    db: Database, *, refund_no: str, signature: str, signing: ReceiptSigning
) -> RefundReceipt | None:
    """The refund a signed link points to; None when the link is not genuine."""
    if not signature_matches(signing.key, refund_no, signature):
        return None

    async def read(conn: AsyncConnection) -> RefundReceipt | None:
        refund = await refunds.get_refund(conn, refund_no=refund_no)
        if refund is None:
            return None
        order = await topups.get_order(conn, order_no=refund.order_no)
        return _receipt(refund, order, signing, await _counter(conn, refund))

    return await db.read(read)


async def _counter(conn: AsyncConnection, refund: Refund) -> CounterSale | None:
    """Where a refund was paid out at a counter, by whom and how; None for any other."""
    if refund.outlet_id is None or refund.clerk_id is None or refund.payout is None:
        return None
    outlet = await outlets.get_outlet(conn, outlet_id=refund.outlet_id)
    if outlet is None:
        return None
    clerk = await clerk_name(conn, refund.clerk_id)
    return CounterSale(outlet.names, clerk, refund.payout.value, refund.terminal_ref)


def _receipt(
    refund: Refund, order: Order | None, signing: ReceiptSigning, counter: CounterSale | None
) -> RefundReceipt | None:
    if order is None or refund.state is not RefundState.PAID or refund.paid_at is None:
        return None
    return RefundReceipt(
        refund_no=refund.refund_no,
        order_no=order.order_no,
        topup_receipt_no=order.receipt_no or "",
        paid_at=refund.paid_at,
        msisdn=order.msisdn,
        masked_number=parse_number(order.msisdn).masked(),
        taken=refund.taken,
        deducted=refund.deducted,
        pay=refund.pay,
        provider=refund.provider,
        provider_refund_no=refund.provider_refund_no or "",
        verify_url=signing.verify_url(refund.refund_no),
        counter=counter,
    )


async def refund_receipt_pdf(receipt: RefundReceipt, *, language: str) -> bytes:
    """The refund's receipt as a PDF in ``language``."""
    return await run_in_threadpool(_render, receipt, language, translations(language))


def _render(receipt: RefundReceipt, language: str, catalog: NullTranslations) -> bytes:
    pgettext = catalog.pgettext
    sections = [
        [
            Row(pgettext("receipt", "Refund no."), receipt.refund_no),
            Row(
                pgettext("receipt", "Time (Hong Kong)"),
                f"{in_hong_kong(receipt.paid_at):%Y-%m-%d %H:%M:%S}",
            ),
            Row(pgettext("receipt", "Top-up receipt no."), receipt.topup_receipt_no),
            Row(pgettext("receipt", "Order no."), receipt.order_no),
            Row(pgettext("receipt", "Number"), receipt.masked_number),
        ],
        _money_rows(receipt, language, catalog),
    ]
    title = pgettext("receipt", "Refund receipt")
    sheet = qr_sheet(title, sections, verify_url=receipt.verify_url, translations=catalog)
    name = f"{title} {receipt.refund_no}"
    return render_sheet(sheet, language=language, name=name, created=receipt.paid_at)


def _money_rows(receipt: RefundReceipt, language: str, catalog: NullTranslations) -> list[Row]:
    pgettext = catalog.pgettext
    rows = [Row(pgettext("receipt", "Taken off the SIM"), receipt.taken.format(language))]
    if receipt.deducted.minor:
        rows.append(
            Row(pgettext("receipt", "Bonus money used, kept"), receipt.deducted.format(language))
        )
    rows += [
        Row(pgettext("receipt", "Paid back"), receipt.pay.format(language), 12),
        Row(pgettext("receipt", "Paid back to"), provider_name(receipt.provider, catalog)),
    ]
    if receipt.provider_refund_no:
        rows.append(Row(pgettext("receipt", "Refund transaction no."), receipt.provider_refund_no))
    if receipt.counter is not None:
        rows += counter_rows(receipt.counter, language=language, translations=catalog)
    return rows
