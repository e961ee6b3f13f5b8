"""UnionPay's merchant flow file (全渠道商户对账流水文件, the ZM file): its layout, shared by the
simulator that writes it and the reader that turns it into a ``Bill`` (docs/payments.md,
"Bills").

Design overview
---------------
The file transfer (``txnType`` 76) answers a zip; in it the flow file of the day,
``INN<yyMMdd>88ZM_<merId>``, GBK text of fixed-width lines. A line is the 42 fields of
``FIELDS`` in that order, each exactly its width (text left-aligned and padded with spaces,
numbers zero-padded on the left), one space between two fields: 607 characters, then CRLF.
The widths are those of UnionPay's own SDK reader (``parseZMFile``); the names of the first
40 are those of UnionPay's file interface specification. Amounts are fen (or cents) without
a point; the fee and settlement fields carry a letter first, ``D`` what the merchant is
debited, ``C`` what it is credited.

What UnionPay does not publish, and we define: the 41st field (32) carries a refund's
original ``orderId``, the 42nd (98, reserved) starts with the ISO 4217 numeric currency of
the line (156, 344), and after the lines come trailer lines ``TOT`` — one per currency of
the lines, in code order (a file without lines has one, in 156, of zeros) — with the count,
the consumes' and the refunds' amounts, the net fee and the net settlement.

The answer hands the zip over as ``fileContent``: base64 of the zip deflated once more
(zlib), which UnionPay's SDK undoes in ``deCodeFileContent``; ``read_file_content`` undoes it
too, never inflating more than ``MAX_FILE_BYTES``.

``parse`` refuses (``BillRefused``) a zip without the day's flow file, a file whose CRC-32
or GBK does not read, a line of the wrong length or shape, a settlement that does not equal
the amount less the fee, a line of another day or merchant, a ``queryId`` seen twice, and a
trailer other than what the lines add up to.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from simkeep.clock import SHANGHAI
from simkeep.money import Money
from simkeep.payment_methods import Provider
from simkeep.payments.providers.unionpay_signing import CURRENCIES
from simkeep.reconciliation.bill import Bill, BillRefused, BillRow, RowKind

ENCODING = "gbk"
LINE_END = "\r\n"
CONSUME, REFUND = "S22", "S30"  # 交易代码: 消费, 退货
TRAILER = "TOT"
ACQ_INS_CODE = "48020000"  # the simulated acquirer's institution code
MCC = "4814"  # merchant category: telecommunication services
MAX_FILE_BYTES = 64 * 1024 * 1024  # of the flow file, unzipped


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    width: int
    label: str  # as UnionPay's specification names it


FIELDS: tuple[Field, ...] = (
    Field("txnCode", 3, "交易代码"),
    Field("acqInsCode", 11, "代理机构标识码"),
    Field("sendInsCode", 11, "发送机构标识码"),
    Field("traceNo", 6, "系统跟踪号"),
    Field("traceTime", 10, "交易传输时间"),
    Field("accNo", 19, "帐号"),
    Field("txnAmt", 12, "交易金额"),
    Field("merCatCode", 4, "商户类别"),
    Field("termType", 2, "终端类型"),
    Field("queryId", 21, "查询流水号"),
    Field("oldPayType", 2, "支付方式（旧）"),
    Field("orderId", 32, "商户订单号"),
    Field("payCardType", 2, "支付卡类型"),
    Field("origTraceNo", 6, "原始交易的系统跟踪号"),
    Field("origTraceTime", 10, "原始交易日期时间"),
    Field("merFee", 13, "商户手续费"),
    Field("settleAmt", 13, "结算金额"),
    Field("payType", 4, "支付方式"),
    Field("groupMerId", 15, "集团商户代码"),
    Field("txnType", 2, "交易类型"),
    Field("txnSubType", 2, "交易子类"),
    Field("bizType", 6, "业务类型"),
    Field("accType", 2, "帐号类型"),
    Field("billType", 4, "账单类型"),
    Field("billNo", 32, "账单号码"),
    Field("interactMode", 1, "交互方式"),
    Field("origQryId", 21, "原交易查询流水号"),
    Field("merId", 15, "商户代码"),
    Field("divideType", 1, "分账入账方式"),
    Field("subMerId", 15, "二级商户代码"),
    Field("subMerAbbr", 32, "二级商户简称"),
    Field("subMerAmt", 13, "二级商户分账入账金额"),
    Field("settleNetAmt", 13, "清算净额"),
    Field("termId", 8, "终端号"),
    Field("merReserved", 32, "商户自定义域"),
    Field("discountAmt", 13, "优惠金额"),
    Field("invoiceAmt", 13, "发票金额"),
    Field("insFee", 12, "分期付款附加手续费"),
    Field("insNum", 2, "分期付款期数"),
    Field("txnMedia", 1, "交易介质"),
    Field("origOrderId", 32, "原交易商户订单号 (ours)"),
    Field("reserved", 98, "保留使用 (ours: the currency first)"),
)
LINE_LENGTH = sum(field.width for field in FIELDS) + len(FIELDS) - 1
KINDS = {
    CONSUME: {"txnType": "01", "txnSubType": "01"},
    REFUND: {"txnType": "04", "txnSubType": "00"},
}
TRAILER_WIDTHS = (3, 3, 10, 16, 16, 16, 16)  # TOT, currency, count, consumes, refunds, fee, net
SIGNED = re.compile(r"^[CD][0-9]{12}$")


@dataclass(frozen=True, slots=True)
class FlowRecord:
    """One line of the flow file: a consume, or a refund of one."""

    code: str  # CONSUME or REFUND
    trace_no: str
    trace_time: str  # MMDDhhmmss, Beijing time: when UnionPay booked it
    acc_no: str  # masked card number
    amount: int  # minor units, positive
    channel_type: str
    query_id: str
    order_id: str  # the consume's orderId, or the refund's own
    fee: int  # the fee charged (consume) or given back (refund)
    mer_id: str
    currency_code: str  # 156, 344
    orig_trace_no: str = ""  # a refund's consume
    orig_trace_time: str = ""
    orig_query_id: str = ""
    orig_order_id: str = ""


@dataclass(frozen=True, slots=True)
class Totals:
    """What a trailer line says of one currency."""

    count: int = 0
    consumes: int = 0
    refunds: int = 0
    fee: int = 0  # net fee debited
    net: int = 0  # net settlement credited


def flow_name(mer_id: str, day: date) -> str:
    """The flow file's name in the zip."""
    return f"INN{day:%y%m%d}88ZM_{mer_id}"


def zip_name(mer_id: str, day: date) -> str:
    """The zip's name, as the file transfer answers it in ``fileName``."""
    return f"{mer_id}_{day:%Y%m%d}.zip"


def flow_file(records: Sequence[FlowRecord], *, totals_off_by: int = 0) -> bytes:
    """The flow file's bytes; ``totals_off_by`` misstates the first trailer's consumes."""
    lines = [flow_line(record) for record in records]
    for index, (code, sums) in enumerate(sorted(totals_of(records).items())):
        off = totals_off_by if index == 0 else 0
        lines.append(trailer_line(code, replace(sums, consumes=sums.consumes + off)))
    return "".join(line + LINE_END for line in lines).encode(ENCODING)


def flow_line(record: FlowRecord) -> str:
    """One line: the 42 fields at their widths, a space between two."""
    consume = record.code == CONSUME
    fee = _signed(record.fee, "D", "C") if consume else _signed(record.fee, "C", "D")
    settle_letters = ("C", "D") if consume else ("D", "C")
    values = {
        "txnCode": record.code,
        "acqInsCode": ACQ_INS_CODE,
        "sendInsCode": ACQ_INS_CODE,
        "traceNo": record.trace_no,
        "traceTime": record.trace_time,
        "accNo": record.acc_no,
        "txnAmt": f"{record.amount:012d}",
        "merCatCode": MCC,
        "termType": record.channel_type,
        "queryId": record.query_id,
        "orderId": record.order_id,
        "payCardType": "01",
        "origTraceNo": record.orig_trace_no,
        "origTraceTime": record.orig_trace_time,
        "merFee": fee,
        "settleAmt": _signed(record.amount, *settle_letters),
        **KINDS[record.code],
        "bizType": "000201",
        "accType": "01",
        "origQryId": record.orig_query_id,
        "merId": record.mer_id,
        "settleNetAmt": _signed(record.amount - record.fee, *settle_letters),
        "origOrderId": record.orig_order_id,
        "reserved": record.currency_code,
    }
    return " ".join(values.get(field.name, "").ljust(field.width) for field in FIELDS)


def trailer_line(currency_code: str, totals: Totals) -> str:
    return " ".join(
        (
            TRAILER,
            currency_code,
            f"{totals.count:010d}",
            f"{totals.consumes:016d}",
            f"{totals.refunds:016d}",
            _signed(totals.fee, "D", "C", width=15),
            _signed(totals.net, "C", "D", width=15),
        )
    )


def totals_of(records: Iterable[FlowRecord]) -> dict[str, Totals]:
    """The trailer's figures per currency code (156 alone, of zeros, for no lines)."""
    sums: dict[str, Totals] = {}
    for record in records:
        was = sums.get(record.currency_code, Totals())
        consume = record.code == CONSUME
        sign = 1 if consume else -1
        sums[record.currency_code] = Totals(
            count=was.count + 1,
            consumes=was.consumes + (record.amount if consume else 0),
            refunds=was.refunds + (0 if consume else record.amount),
            fee=was.fee + sign * record.fee,
            net=was.net + sign * (record.amount - record.fee),
        )
    return sums or {"156": Totals()}


def zipped(name: str, content: bytes, *, day: date) -> bytes:
    """The zip UnionPay hands over: one member, dated the morning after the day."""
    made = day + timedelta(days=1)
    info = zipfile.ZipInfo(name, date_time=(made.year, made.month, made.day, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(info, content)
    return buffer.getvalue()


def file_content(zip_data: bytes) -> str:
    """The zip as the answer's ``fileContent``."""
    return base64.b64encode(zlib.compress(zip_data)).decode("ascii")


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


def _signed(value: int, positive: str, negative: str, *, width: int = 12) -> str:
    letter = positive if value >= 0 else negative
    return f"{letter}{abs(value):0{width}d}"


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
