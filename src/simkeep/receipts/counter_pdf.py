"""The counter's papers on the 80 mm roll: the receipt of vouchers sold, and a shift's
Z-report.

Design overview
---------------
Both are ``pdf.Sheet`` sections printed by ``pdf.render_sheet``, the receipts' own
machinery (the CJK font embedded, Hong Kong times, amounts in the reader's language). A
voucher receipt ends with the QR code of its verification link, as a top-up's does; it
lists each voucher's serial, value and last day of use — never a PIN, which is printed on
the card itself. A Z-report is for the counter and the agent: no QR code; it prints the
totals by kind of sale and payment type and the refunds paid out by payment type, the
close's figures (expected cash and card, the cash counted, the difference, the commission
given back) and every sale and refund paid out. Labels are the catalog's, context
``receipt`` (``receipts.po``).
"""

from __future__ import annotations

from gettext import NullTranslations

from simkeep.clock import in_hong_kong
from simkeep.counter.service import Sale, ShiftReport, TotalLine
from simkeep.receipts.model import VoucherReceiptView
from simkeep.receipts.pdf import Row, Sheet, counter_rows, payment_name, qr_sheet, render_sheet


def render_voucher_pdf(
    view: VoucherReceiptView, *, language: str, verify_url: str, translations: NullTranslations
) -> bytes:
    """The receipt of a voucher sale as a one-page PDF, labelled in ``language``."""
    pgettext = translations.pgettext
    head = [
        Row(pgettext("receipt", "Receipt no."), view.receipt_no),
        Row(
            pgettext("receipt", "Time (Hong Kong)"),
            f"{in_hong_kong(view.sold_at):%Y-%m-%d %H:%M:%S}",
        ),
    ]
    cards = [
        [
            Row(pgettext("receipt", "Voucher serial"), line.serial),
            Row(pgettext("receipt", "Value"), line.face.format(language)),
            Row(pgettext("receipt", "Use by"), f"{in_hong_kong(line.expires_at):%Y-%m-%d}"),
        ]
        for line in view.vouchers
    ]
    total = [
        Row(pgettext("receipt", "Total paid"), view.total.format(language), 12),
        Row("", pgettext("receipt", "Each PIN is printed on its card. Keep it secret.")),
    ]
    counter = counter_rows(view.counter, language=language, translations=translations)
    sheet = qr_sheet(
        pgettext("receipt", "Voucher receipt"),
        [head, counter, *cards, total],
        verify_url=verify_url,
        translations=translations,
    )
    name = f"{sheet.title} {view.receipt_no}"
    return render_sheet(sheet, language=language, name=name, created=view.sold_at)


def render_z_report_pdf(
    report: ShiftReport, *, language: str, translations: NullTranslations
) -> bytes:
    """A shift's Z-report (its figures so far, while it is open) as a one-page PDF."""
    pgettext = translations.pgettext
    shift = report.shift
    title = (
        pgettext("receipt", "Z-report") if report.figures else pgettext("receipt", "Shift so far")
    )
    head = [
        Row(pgettext("receipt", "Outlet"), report.outlet.names.pick(language)),
        Row(pgettext("receipt", "Clerk"), report.clerk_name),
        Row(pgettext("receipt", "Shift no."), str(shift.id)),
        Row(pgettext("receipt", "Opened"), f"{in_hong_kong(shift.opened_at):%Y-%m-%d %H:%M}"),
    ]
    if shift.closed_at is not None:
        head.append(
            Row(pgettext("receipt", "Closed"), f"{in_hong_kong(shift.closed_at):%Y-%m-%d %H:%M}")
        )
    lines = [_total_row(line, language, translations) for line in report.lines]
    lines += [
        Row(
            f"{pgettext('receipt', 'Refunds')} · {payment_name(line.payment, translations)}"
            f" ({line.count})",
            f"-{line.total.format(language)}",  # ASCII: the roll's font has no U+2212
        )
        for line in report.refund_lines
    ]
    cash = [
        Row(pgettext("receipt", "Opening cash"), shift.opening_cash.format(language)),
        Row(pgettext("receipt", "Expected cash"), report.expected_cash.format(language), 12),
        Row(pgettext("receipt", "Expected card"), report.card.format(language)),
        Row(pgettext("receipt", "Commission earned"), report.commission.format(language)),
    ]
    if report.refunds:
        cash.append(
            Row(
                pgettext("receipt", "Commission given back on refunds"),
                report.commission_back.format(language),
            )
        )
    if report.figures is not None:
        cash += [
            Row(pgettext("receipt", "Counted cash"), report.figures.counted_cash.format(language)),
            Row(pgettext("receipt", "Difference"), report.figures.difference.format(language), 12),
        ]
    sales = [_sale_row(sale, language, translations) for sale in report.sales]
    sales += [
        Row(
            f"{in_hong_kong(refund.paid_out_at or refund.requested_at):%H:%M}"
            f" {payment_name(refund.payout or 'cash', translations)}",
            f"{refund.refund_no} -{refund.pay.format(language)}",
        )
        for refund in report.refunds
    ]
    sheet = Sheet(title=title, sections=[head, lines, cash, sales or [Row("", "—")]])
    created = shift.closed_at or shift.opened_at
    return render_sheet(sheet, language=language, name=f"{title} {shift.id}", created=created)


def _total_row(line: TotalLine, language: str, translations: NullTranslations) -> Row:
    pgettext = translations.pgettext
    kind = (
        pgettext("receipt", "Top-ups") if line.kind == "topup" else pgettext("receipt", "Vouchers")
    )
    label = f"{kind} · {payment_name(line.payment, translations)} ({line.count})"
    return Row(label, line.total.format(language))


def _sale_row(sale: Sale, language: str, translations: NullTranslations) -> Row:
    paid = payment_name(sale.payer.payment, translations)
    return Row(
        f"{in_hong_kong(sale.created_at):%H:%M} {paid}",
        f"{sale.receipt_no} {sale.amount.format(language)}",
    )
