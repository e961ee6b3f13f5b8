"""Alipay+ (Antom) transaction details report, as AlipayHK payments appear in it: its layout,
shared by the simulator that writes it and the reader that turns it into a ``Bill``
(docs/payments.md, "Bills").

Design overview
---------------
Antom's report is a CSV: a header line of parameter names, one line per transaction, and
``<END>`` as its last line. The columns written here are the report's own names, those a
cashier payment in one currency needs (``COLUMNS``); Antom's report has more (card, store,
settlement and FX columns) that stay empty for these payments and are left out. UTF-8, CRLF
line ends, no quoting needed (no value holds a comma). Amounts are minor units as digits, as
AMS writes every amount, signed as the merchant sees them: a ``PAYMENT`` positive, a
``REFUND`` (or a ``CANCEL`` of a paid payment) negative; the fee is what Alipay+ takes,
positive on a payment, negative when a refund gives it back. ``transactionTime`` is ISO 8601
in Hong Kong time; a report covers one day of it (00:00 to 24:00, UTC+8).

What Antom keeps in a separate settlement summary file, we define inside the report: before
``<END>``, a summary header (``SUMMARY``) and one line of the count, the payments' and the
refunds' counts and sums, the net fee and the currency.

The real report is fetched from Antom's SFTP server; here it comes from a signed AMS call,
``POST /ams/api/v1/reports/download`` with ``{"reportType": "TRANSACTION_DETAILS",
"reportDate": "yyyy-MM-dd"}``, answered (signed, ``result`` ``S``) with ``fileName``,
``fileContent`` (base64) and the file's SHA-256 in ``digest`` (``digestAlgorithm``
``SHA-256``); a day not over is ``F`` ``REPORT_NOT_READY``. ``read_answer`` decodes the file,
refuses it when the digest is not its own, and parses it.

``parse`` refuses (``BillRefused``) text that is not UTF-8, another header, a line of the
wrong shape, a sign against its type, a fee in another currency, a transaction of another
day, a transaction seen twice, a summary that is not what the lines add up to, and a
file without ``<END>``.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import hmac
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from simkeep.clock import in_shanghai
from simkeep.money import InvalidAmount, Money
from simkeep.payment_methods import Provider
from simkeep.payments.providers.alipayplus_signing import ams_time, parse_ams_time
from simkeep.reconciliation.bill import Bill, BillRefused, BillRow, RowKind

REPORTS_PATH = "/reports/download"  # after the API's /ams/api/v1 (sandbox: /ams/sandbox/api/v1)
REPORT_TYPE = "TRANSACTION_DETAILS"
REPORT_NOT_READY = "REPORT_NOT_READY"
DIGEST_ALGORITHM = "SHA-256"
MAX_FILE_BYTES = 64 * 1024 * 1024
PSP = "ANTOM"
PAYMENT_METHOD = "ALIPAY_HK"
PAYMENT, REFUND, CANCEL = "PAYMENT", "REFUND", "CANCEL"
COLUMNS = (
    "customerId",
    "PSP",
    "transactionId",
    "originalTransactionId",
    "transactionRequestId",
    "originalTransactionRequestId",
    "paymentMethodType",
    "transactionType",
    "transactionTime",
    "transactionAmountValue",
    "transactionCurrency",
    "feeAmountValue",
    "feeCurrency",
)
SUMMARY = (
    "transactionCount",
    "paymentCount",
    "paymentAmountValue",
    "refundCount",
    "refundAmountValue",
    "feeAmountValue",
    "transactionCurrency",
)
END = "<END>"
LINE_END = "\r\n"
SIGNED = re.compile(r"^-?(0|[1-9][0-9]{0,17})$")


@dataclass(frozen=True, slots=True)
class ReportItem:
    """One transaction line: a payment, a refund, or the cancel of a paid payment."""

    customer_id: str
    transaction_type: str  # PAYMENT, REFUND, CANCEL
    transaction_id: str  # paymentId, refundId
    request_id: str  # paymentRequestId, refundRequestId (a cancel: its paymentRequestId)
    time: datetime
    amount: int  # signed minor units: a payment positive
    currency: str
    fee: int  # signed: taken on a payment, given back (negative) on a refund
    original_transaction_id: str = ""  # a refund's or cancel's paymentId
    original_request_id: str = ""  # a refund's or cancel's paymentRequestId


@dataclass(frozen=True, slots=True)
class Summary:
    count: int = 0
    payments: int = 0
    paid: int = 0
    refunds: int = 0
    refunded: int = 0
    fee: int = 0


def file_name(currency: str) -> str:
    """The report's name, as Antom names it on its SFTP server."""
    return f"transactionItems_{PSP}_{currency}_001.csv"


def report_file(items: Sequence[ReportItem], *, currency: str, totals_off_by: int = 0) -> bytes:
    """The report's bytes; ``totals_off_by`` misstates the summary's payments."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=LINE_END)
    writer.writerow(COLUMNS)
    writer.writerows(_line(item) for item in items)
    summary = summary_of(items)
    writer.writerow(SUMMARY)
    writer.writerow(
        (
            summary.count,
            summary.payments,
            summary.paid + totals_off_by,
            summary.refunds,
            summary.refunded,
            summary.fee,
            currency,
        )
    )
    writer.writerow((END,))
    return buffer.getvalue().encode("utf-8")


def summary_of(items: Sequence[ReportItem]) -> Summary:
    payments = [item for item in items if item.transaction_type == PAYMENT]
    refunds = [item for item in items if item.transaction_type != PAYMENT]
    return Summary(
        count=len(items),
        payments=len(payments),
        paid=sum(item.amount for item in payments),
        refunds=len(refunds),
        refunded=sum(item.amount for item in refunds),
        fee=sum(item.fee for item in items),
    )


def digest(data: bytes) -> str:
    """The report's digest, as the download's answer states it."""
    return hashlib.sha256(data).hexdigest()


def read_answer(answer: Mapping[str, Any], *, day: date) -> Bill:
    """The report a verified ``S`` answer hands over, once its digest is the file's own."""
    content = answer.get("fileContent")
    if not isinstance(content, str) or len(content) > MAX_FILE_BYTES * 4 // 3 + 4:
        raise BillRefused(f"fileContent is missing or larger than {MAX_FILE_BYTES} bytes")
    try:
        data = base64.b64decode(content, validate=True)
    except binascii.Error as error:
        raise BillRefused(f"fileContent is not base64: {error}") from error
    stated = answer.get("digest")
    if answer.get("digestAlgorithm") != DIGEST_ALGORITHM or not isinstance(stated, str):
        raise BillRefused(f"the answer states no {DIGEST_ALGORITHM} digest of the report")
    if not hmac.compare_digest(digest(data), stated.lower()):
        raise BillRefused("the report's SHA-256 is not the digest Alipay+ vouches for")
    return parse(data, day=day)


def parse(data: bytes, *, day: date) -> Bill:
    """The report of ``day`` as a ``Bill``; ``BillRefused`` if anything is off."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BillRefused(f"the report is not UTF-8: {error.reason}") from error
    if not text.endswith(END + LINE_END):
        raise BillRefused(f"the report does not end with {END}: it is cut short")
    lines = list(csv.reader(io.StringIO(text[: -len(END + LINE_END)], newline="")))
    if not lines or tuple(lines[0]) != COLUMNS:
        raise BillRefused("the first line is not the transaction details header")
    if len(lines) < 3 or tuple(lines[-2]) != SUMMARY:
        raise BillRefused("the summary header and line are not right before <END>")
    items = [_item(line, number, day) for number, line in enumerate(lines[1:-2], start=2)]
    currency = _check_summary(lines[-1], items)
    return Bill(provider=Provider.ALIPAYHK, day=day, rows=_rows(items, currency))


def _line(item: ReportItem) -> tuple[str, ...]:
    return (
        item.customer_id,
        PSP,
        item.transaction_id,
        item.original_transaction_id,
        item.request_id,
        item.original_request_id,
        PAYMENT_METHOD,
        item.transaction_type,
        ams_time(item.time),
        str(item.amount),
        item.currency,
        str(item.fee),
        item.currency,
    )


def _item(line: list[str], number: int, day: date) -> ReportItem:
    where = f"line {number}"
    if len(line) != len(COLUMNS):
        raise BillRefused(f"{where}: {len(line)} values, not {len(COLUMNS)}")
    values = dict(zip(COLUMNS, line, strict=True))
    kind = values["transactionType"]
    if kind not in (PAYMENT, REFUND, CANCEL):
        raise BillRefused(f"{where}: transactionType {kind[:20]!r} is no payment or refund")
    needed = ["transactionId", "transactionRequestId", "customerId"]
    needed += [] if kind == PAYMENT else ["originalTransactionId", "originalTransactionRequestId"]
    missing = [name for name in needed if not values[name]]
    if missing:
        raise BillRefused(f"{where}: {', '.join(missing)} missing")
    amount, fee = _signed(values, "transactionAmountValue"), _signed(values, "feeAmountValue")
    payment = kind == PAYMENT
    if amount == 0 or (amount > 0) != payment:
        raise BillRefused(f"{where}: the amount {amount} has the wrong sign for a {kind}")
    if fee != 0 and (fee > 0) != payment:
        raise BillRefused(f"{where}: the fee {fee} has the wrong sign for a {kind}")
    if values["feeCurrency"] != values["transactionCurrency"]:
        raise BillRefused(f"{where}: the fee is in another currency than the transaction")
    return ReportItem(
        customer_id=values["customerId"],
        transaction_type=kind,
        transaction_id=values["transactionId"],
        request_id=values["transactionRequestId"],
        time=_time(values["transactionTime"], where, day),
        amount=amount,
        currency=values["transactionCurrency"],
        fee=fee,
        original_transaction_id=values["originalTransactionId"],
        original_request_id=values["originalTransactionRequestId"],
    )


def _signed(values: dict[str, str], name: str) -> int:
    if not SIGNED.fullmatch(values[name]):
        raise BillRefused(f"{name} {values[name][:24]!r} is not whole minor units")
    return int(values[name])


def _time(text: str, where: str, day: date) -> datetime:
    try:
        instant = parse_ams_time(text)
    except ValueError as error:
        raise BillRefused(f"{where}: transactionTime {text[:40]!r} is no time") from error
    if in_shanghai(instant).date() != day:
        raise BillRefused(f"{where}: transactionTime {text} is not on {day}")
    return instant


def _check_summary(line: list[str], items: Sequence[ReportItem]) -> str:
    if len(line) != len(SUMMARY):
        raise BillRefused(f"the summary line has {len(line)} values, not {len(SUMMARY)}")
    currency = line[-1]
    if any(item.currency != currency for item in items):
        raise BillRefused(f"a transaction is in another currency than the summary's {currency}")
    said = dict(zip(SUMMARY, line, strict=True))
    counted = summary_of(items)
    actual = dict(zip(SUMMARY, (*_figures(counted), currency), strict=True))
    for name in SUMMARY[:-1]:
        if not SIGNED.fullmatch(said[name]) or int(said[name]) != int(actual[name]):
            raise BillRefused(
                f"the summary says {name} {said[name][:24]}, the lines add up to {actual[name]}"
            )
    return currency


def _figures(summary: Summary) -> tuple[str, ...]:
    figures = (summary.count, summary.payments, summary.paid, summary.refunds)
    return tuple(str(figure) for figure in (*figures, summary.refunded, summary.fee))


def _rows(items: Sequence[ReportItem], currency: str) -> tuple[BillRow, ...]:
    seen: set[tuple[str, str]] = set()
    rows = []
    for item in items:
        key = (item.transaction_type, item.transaction_id)
        if key in seen:
            raise BillRefused(f"{item.transaction_type} {item.transaction_id} appears twice")
        seen.add(key)
        payment = item.transaction_type == PAYMENT
        try:
            amount, fee = Money(abs(item.amount), currency), Money(abs(item.fee), currency)
        except InvalidAmount as error:
            raise BillRefused(f"currency {currency[:8]!r} is not one: {error}") from error
        rows.append(
            BillRow(
                kind=RowKind.PAY if payment else RowKind.REFUND,
                order_no=item.request_id if payment else item.original_request_id,
                refund_no=item.request_id if item.transaction_type == REFUND else "",
                trade_no=item.transaction_id,
                amount=amount,
                fee=fee,
                at=item.time,
            )
        )
    return tuple(rows)
