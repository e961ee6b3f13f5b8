"""UnionPay's merchant flow file (全渠道商户对账流水文件, the ZM file): its layout and how it is
written, shared by the simulator that writes it and the reader (``payments.bills.unionpay``)
that turns it into a ``Bill`` (docs/payments.md, "Bills").

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
(zlib), which UnionPay's SDK undoes in ``deCodeFileContent`` (``file_content``).
"""

from __future__ import annotations

import base64
import io
import re
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

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


def _signed(value: int, positive: str, negative: str, *, width: int = 12) -> str:
    letter = positive if value >= 0 else negative
    return f"{letter}{abs(value):0{width}d}"
