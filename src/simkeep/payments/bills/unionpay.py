"""UnionPay's merchant flow file read into a ``Bill`` (docs/payments.md, "Bills"); its layout
is ``payments.bills.unionpay_flow``'s.

Design overview
---------------
``read_file_content`` takes the file transfer's ``fileContent`` — base64 of the zip deflated
once more (zlib) — and undoes it, as UnionPay's SDK does in ``deCodeFileContent``, never
inflating more than ``MAX_FILE_BYTES``; ``parse`` reads the zip.

``parse`` refuses (``BillRefused``) a zip without the day's flow file, a file whose CRC-32
or GBK does not read, a line of the wrong length or shape, a settlement that does not equal
the amount less the fee, a line of another day or merchant, a ``queryId`` seen twice, and a
trailer other than what the lines add up to.
"""

from __future__ import annotations

import base64
import binascii
import io
import zipfile
import zlib
from collections.abc import Sequence
from datetime import date, datetime

from simkeep.clock import SHANGHAI
from simkeep.money import Money
from simkeep.payment_methods import Provider
from simkeep.payments.bills.unionpay_flow import (
    CONSUME,
    ENCODING,
    FIELDS,
    KINDS,
    LINE_END,
    LINE_LENGTH,
    MAX_FILE_BYTES,
    REFUND,
    SIGNED,
    TRAILER,
    TRAILER_WIDTHS,
    FlowRecord,
    Totals,
    totals_of,
)
from simkeep.payments.providers.unionpay_signing import CURRENCIES
from simkeep.reconciliation.bill import Bill, BillRefused, BillRow, RowKind


def read_file_content(text: str, *, day: date, mer_id: str | None = None) -> Bill:
    """The ``fileContent`` of a file transfer's answer, read as ``parse`` reads the zip."""
    try:
        deflated = base64.b64decode(text, validate=True)
        inflater = zlib.decompressobj()
        data = inflater.decompress(deflated, MAX_FILE_BYTES)
    except (binascii.Error, zlib.error) as error:
        raise BillRefused(f"fileContent is not base64 of deflated data: {error}") from error
    if inflater.unconsumed_tail or not inflater.eof:
        raise BillRefused(f"fileContent is cut short or inflates past {MAX_FILE_BYTES} bytes")
    return parse(data, day=day, mer_id=mer_id)


def parse(data: bytes, *, day: date, mer_id: str | None = None) -> Bill:
    """The zip of ``day``'s flow file as a ``Bill``; ``BillRefused`` if anything is off."""
    text = _flow_text(data, day)
    if not text.endswith(LINE_END):
        raise BillRefused("the flow file does not end with a line end: it is cut short")
    lines = text[: -len(LINE_END)].split(LINE_END)
    records: list[FlowRecord] = []
    trailer: dict[str, Totals] = {}
    for number, line in enumerate(lines, start=1):
        if line.startswith(TRAILER):
            code, totals = _trailer(line, number)
            if code in trailer:
                raise BillRefused(f"line {number}: a second trailer for currency {code}")
            trailer[code] = totals
        elif trailer:
            raise BillRefused(f"line {number}: a record after the trailer")
        else:
            records.append(_record(line, number, day=day, mer_id=mer_id))
    if not trailer:
        raise BillRefused("the flow file has no trailer (TOT): it may be cut short")
    _check_totals(trailer, totals_of(records))
    return Bill(provider=Provider.UNIONPAY, day=day, rows=_rows(records, day))


def _flow_text(data: bytes, day: date) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [n for n in archive.namelist() if n.startswith(f"INN{day:%y%m%d}88ZM_")]
            if len(names) != 1:
                raise BillRefused(f"the zip holds no single flow file of {day}")
            if archive.getinfo(names[0]).file_size > MAX_FILE_BYTES:
                raise BillRefused(f"the flow file is larger than {MAX_FILE_BYTES} bytes")
            content = archive.read(names[0])
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise BillRefused(f"the zip does not read: {error}") from error
    try:
        return content.decode(ENCODING)
    except UnicodeDecodeError as error:
        raise BillRefused(f"the flow file is not GBK text: {error.reason}") from error


def _record(line: str, number: int, *, day: date, mer_id: str | None) -> FlowRecord:
    values = _fields(line, number)
    where = f"line {number}"
    code = values["txnCode"]
    if code not in KINDS or any(values[name] != want for name, want in KINDS[code].items()):
        raise BillRefused(
            f"{where}: {code!r} with txnType {values['txnType']} is no consume or refund"
        )
    if mer_id is not None and values["merId"] != mer_id:
        raise BillRefused(f"{where}: merId {values['merId']} is not ours")
    if values["reserved"][:3] not in CURRENCIES:
        raise BillRefused(f"{where}: no currency 156 or 344 in the reserved field")
    if values["traceTime"][:4] != f"{day:%m%d}":
        raise BillRefused(f"{where}: booked {values['traceTime'][:4]}, not on {day:%m%d}")
    consume = code == CONSUME
    needed = ("queryId", "orderId", "traceNo") + (() if consume else ("origQryId", "origOrderId"))
    missing = [name for name in needed if not values[name]]
    if missing:
        raise BillRefused(f"{where}: {', '.join(missing)} missing")
    amount, fee = _amounts(values, consume, where)
    return FlowRecord(
        code=code,
        trace_no=values["traceNo"],
        trace_time=values["traceTime"],
        acc_no=values["accNo"],
        amount=amount,
        channel_type=values["termType"],
        query_id=values["queryId"],
        order_id=values["orderId"],
        fee=fee,
        mer_id=values["merId"],
        currency_code=values["reserved"][:3],
        orig_trace_no=values["origTraceNo"],
        orig_trace_time=values["origTraceTime"],
        orig_query_id=values["origQryId"],
        orig_order_id=values["origOrderId"],
    )


def _amounts(values: dict[str, str], consume: bool, where: str) -> tuple[int, int]:
    """The line's amount and fee, once the settlement and the net agree with them."""
    amount = _digits(values["txnAmt"], where, "txnAmt")
    fee = _unsigned(values["merFee"], ("D", "C") if consume else ("C", "D"), where, "merFee")
    if amount <= 0 or fee < 0:
        raise BillRefused(f"{where}: the amount {amount} or the fee {fee} is not positive")
    letters = ("C", "D") if consume else ("D", "C")
    if _unsigned(values["settleAmt"], letters, where, "settleAmt") != amount:
        raise BillRefused(f"{where}: settleAmt is not the amount {amount}")
    if _unsigned(values["settleNetAmt"], letters, where, "settleNetAmt") != amount - fee:
        raise BillRefused(f"{where}: settleNetAmt is not the amount {amount} less the fee {fee}")
    return amount, fee


def _fields(line: str, number: int) -> dict[str, str]:
    if len(line) != LINE_LENGTH:
        raise BillRefused(f"line {number}: {len(line)} characters, not {LINE_LENGTH}")
    values, start = {}, 0
    for field in FIELDS:
        end = start + field.width
        if end < len(line) and line[end] != " ":
            raise BillRefused(f"line {number}: no space after {field.name}")
        values[field.name] = line[start:end].strip()
        start = end + 1
    return values


def _trailer(line: str, number: int) -> tuple[str, Totals]:
    parts = line.split(" ")
    if [len(part) for part in parts] != list(TRAILER_WIDTHS):
        raise BillRefused(f"line {number}: the trailer is not TOT, currency and five totals")
    where = f"line {number} (trailer)"
    code = parts[1]
    if code not in CURRENCIES:
        raise BillRefused(f"{where}: currency {code!r} is not 156 or 344")
    if parts[5][0] not in "CD" or parts[6][0] not in "CD":
        raise BillRefused(f"{where}: a total without its C or D")
    fee = _digits(parts[5][1:], where, "fee") * (1 if parts[5][0] == "D" else -1)
    net = _digits(parts[6][1:], where, "net") * (1 if parts[6][0] == "C" else -1)
    count, consumes, refunds = (_digits(part, where, "total") for part in parts[2:5])
    return code, Totals(count, consumes, refunds, fee, net)


def _check_totals(said: dict[str, Totals], counted: dict[str, Totals]) -> None:
    for code in sorted(set(said) | set(counted)):
        stated, actual = said.get(code), counted.get(code)
        if stated is None or actual is None:
            raise BillRefused(f"the trailer and the lines disagree on which currencies: {code}")
        for name in ("count", "consumes", "refunds", "fee", "net"):
            if getattr(stated, name) != getattr(actual, name):
                raise BillRefused(
                    f"the trailer says {name} {getattr(stated, name)} in {code}, "
                    f"the lines add up to {getattr(actual, name)}"
                )


def _rows(records: Sequence[FlowRecord], day: date) -> tuple[BillRow, ...]:
    seen: set[str] = set()
    rows = []
    for record in records:
        if record.query_id in seen:
            raise BillRefused(f"queryId {record.query_id} appears twice")
        seen.add(record.query_id)
        currency = CURRENCIES[record.currency_code]
        refund = record.code == REFUND
        rows.append(
            BillRow(
                kind=RowKind.REFUND if refund else RowKind.PAY,
                order_no=record.orig_order_id if refund else record.order_id,
                refund_no=record.order_id if refund else "",
                trade_no=record.query_id,
                amount=Money(record.amount, currency),
                fee=Money(record.fee, currency),
                at=_booked_at(record.trace_time, day),
            )
        )
    return tuple(rows)


def _booked_at(trace_time: str, day: date) -> datetime:
    try:
        return datetime.strptime(f"{day.year}{trace_time}", "%Y%m%d%H%M%S").replace(tzinfo=SHANGHAI)
    except ValueError as error:
        raise BillRefused(f"traceTime {trace_time!r} is not a time of {day}") from error


def _unsigned(text: str, letters: tuple[str, str], where: str, name: str) -> int:
    """A lettered amount in the direction ``letters[0]`` (the other letter: negative)."""
    if not SIGNED.fullmatch(text):
        raise BillRefused(f"{where}: {name} {text!r} is not C or D and 12 digits")
    value = int(text[1:])
    return value if text[0] == letters[0] else -value


def _digits(text: str, where: str, name: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise BillRefused(f"{where}: {name} {text!r} is not digits")
    return int(text)
