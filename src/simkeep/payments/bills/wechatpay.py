"""WeChat Pay's daily trade bills, read: the Mainland v3 trade bill (``ALL``) and WeChat Pay
HK's global statement — one reader, each format's columns given as data (``Layout``).

Design overview
---------------
Both are UTF-8 CSV text (a byte-order mark may open it; lines end ``\\r\\n`` or ``\\n``): a
header of column names, one row per payment (``交易状态`` ``SUCCESS``, at its paid time) and
per refund (``REFUND``, a row of its own at the time WeChat Pay accepted it, numbered by
WeChat Pay's ``微信退款单号`` and our ``商户退款单号``), then the summary's header
``总交易单数,…,申请退款总金额`` and its one row. Every value of a row is prefixed with a
backtick, which is not part of it. Amounts are yuan (HK: dollars) with two decimals; the fee
``手续费`` has five, its sign the merchant's: positive on a payment, the part given back
negative on a refund. A payment's amount is its order amount, a refund's what the merchant
asked back (``申请退款金额``), in the currency the order was charged in (Mainland ``货币种类``
CNY; HK ``结算币种`` HKD, whatever the payer's wallet paid in).

The file is the provider's word only once it proves itself: its SHA-1 must be the digest
WeChat Pay vouched for (``check_digest``: the Mainland API's ``hash_value``, over the file
unpacked from its gzip — ``gunzip``; the global API's signed ``Wechatpay-Statement-Sha1``),
and the summary must count its rows and add up their amounts, refunds and fees. Times are
Beijing time and must fall on the day. Anything else refuses the whole bill
(``BillRefused``), saying where.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from simkeep.clock import SHANGHAI
from simkeep.money import InvalidAmount, Money
from simkeep.payment_methods import Provider
from simkeep.reconciliation.bill import Bill, BillRefused, BillRow, RowKind

MAX_FILE_BYTES = 64 * 1024 * 1024  # a day's file, unpacked: far above any real day's
BOM = "\ufeff"
MARK = "`"  # before every value of a row, so that spreadsheets keep long numbers whole
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
PAID, REFUNDED = "SUCCESS", "REFUND"
SUMMARY_HEADER = (
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "充值券退款总金额",
    "手续费总金额",
    "订单总金额",
    "申请退款总金额",
)
MAINLAND_HEADER = (
    *("交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号"),
    *("用户标识", "交易类型", "交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额"),
    *("微信退款单号", "商户退款单号", "退款金额", "充值券退款金额", "退款类型", "退款状态"),
    *("商品名称", "商户数据包", "手续费", "费率", "订单金额", "申请退款金额", "费率备注"),
)
GLOBAL_HEADER = (
    *("交易时间", "公众账号ID", "商户号", "子商户号", "设备号", "微信订单号", "商户订单号"),
    *("用户标识", "交易类型", "交易状态", "付款银行", "充值券币种", "充值券金额", "优惠券币种"),
    *("优惠券金额", "微信退款单号", "商户退款单号", "退款类型", "退款状态", "商品名称"),
    *("商户数据包", "手续费", "费率", "标价币种", "订单金额(标价币种)", "用户支付币种"),
    *("用户支付金额", "结算币种", "应结订单金额", "支付汇率", "退款汇率", "申请退款金额"),
    *("用户退款币种", "用户退款金额", "退款结算币种", "退款应结订单金额", "充值券退款金额"),
    "优惠券退款金额",
)


@dataclass(frozen=True, slots=True)
class Layout:
    """One format's columns: the header, and which column holds each figure."""

    provider: Provider
    header: tuple[str, ...]
    currency: str  # what the merchant is charged and paid back in
    currency_column: str
    order_amount: str  # a payment's order amount (订单总金额 adds these up)
    settled_refund: str  # a refund's settled amount (退款总金额 adds these up)
    summary_sums: Mapping[str, str]  # summary column → the row column it adds up


MAINLAND = Layout(
    provider=Provider.WECHATPAY,
    header=MAINLAND_HEADER,
    currency="CNY",
    currency_column="货币种类",
    order_amount="订单金额",
    settled_refund="退款金额",
    summary_sums={
        "应结订单总金额": "应结订单金额",
        "退款总金额": "退款金额",
        "充值券退款总金额": "充值券退款金额",
        "手续费总金额": "手续费",
        "订单总金额": "订单金额",
        "申请退款总金额": "申请退款金额",
    },
)
GLOBAL = Layout(
    provider=Provider.WECHATPAY_HK,
    header=GLOBAL_HEADER,
    currency="HKD",
    currency_column="结算币种",
    order_amount="订单金额(标价币种)",
    settled_refund="退款应结订单金额",
    summary_sums={
        "应结订单总金额": "应结订单金额",
        "退款总金额": "退款应结订单金额",
        "充值券退款总金额": "充值券退款金额",
        "手续费总金额": "手续费",
        "订单总金额": "订单金额(标价币种)",
        "申请退款总金额": "申请退款金额",
    },
)
LAYOUTS = {layout.provider: layout for layout in (MAINLAND, GLOBAL)}


def parse(data: bytes, *, day: date, provider: Provider = Provider.WECHATPAY) -> Bill:
    """The bill of ``day`` from the file's bytes (unpacked, digest already checked);
    ``BillRefused`` unless it reads and its summary adds up."""
    layout = LAYOUTS[provider]
    lines = _text(data, day, layout).removeprefix(BOM).splitlines()
    if not lines or lines[0] != ",".join(layout.header):
        raise _refused(day, layout, f"the header is not WeChat Pay's: {lines[:1]!r:.80}")
    try:
        end = lines.index(",".join(SUMMARY_HEADER))
    except ValueError as error:
        raise _refused(day, layout, "the summary header is missing") from error
    rows = [_values(fields, layout.header, day, layout) for fields in _records(lines[1:end])]
    summary = [line for line in lines[end + 1 :] if line]
    if len(summary) != 1:
        raise _refused(day, layout, f"the summary has {len(summary)} rows, not one")
    bill_rows = tuple(_row(values, day, layout) for values in rows)
    _check_summary(_values(_records(summary)[0], SUMMARY_HEADER, day, layout), rows, day, layout)
    return Bill(provider=layout.provider, day=day, rows=bill_rows)


def check_digest(data: bytes, digest: str, *, day: date, provider: Provider) -> None:
    """Refuse the file unless its SHA-1 is the (hex) digest WeChat Pay vouched for."""
    if not hmac.compare_digest(
        hashlib.sha1(data, usedforsecurity=False).hexdigest(), digest.lower()
    ):
        raise _refused(day, LAYOUTS[provider], f"its SHA-1 is not the {digest!r} vouched for")


def gunzip(data: bytes, *, day: date, provider: Provider) -> bytes:
    """The file inside a gzip download, refused past ``MAX_FILE_BYTES`` unpacked."""
    unpacker = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        unpacked = unpacker.decompress(data, MAX_FILE_BYTES + 1)
    except zlib.error as error:
        raise _refused(day, LAYOUTS[provider], "the download is not gzip") from error
    if len(unpacked) > MAX_FILE_BYTES or not unpacker.eof:
        raise _refused(day, LAYOUTS[provider], "the gzip is cut short or too large")
    return unpacked


def _text(data: bytes, day: date, layout: Layout) -> str:
    if len(data) > MAX_FILE_BYTES:
        raise _refused(day, layout, f"the file is larger than {MAX_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _refused(day, layout, "the file is not UTF-8 text") from error


def _records(lines: Sequence[str]) -> list[list[str]]:
    return list(csv.reader(lines))


def _values(fields: list[str], names: Sequence[str], day: date, layout: Layout) -> dict[str, str]:
    if len(fields) != len(names) or not all(field.startswith(MARK) for field in fields):
        shown = ",".join(fields)[:80]
        raise _refused(day, layout, f"a row is not {len(names)} marked values: {shown!r}")
    return {name: field.removeprefix(MARK) for name, field in zip(names, fields, strict=True)}


def _row(values: Mapping[str, str], day: date, layout: Layout) -> BillRow:
    status, currency = values["交易状态"], values[layout.currency_column]
    if currency != layout.currency:
        raise _refused(day, layout, f"a row is in {currency!r}, not {layout.currency}")
    if status not in (PAID, REFUNDED):
        raise _refused(day, layout, f"a row's 交易状态 is {status!r}")
    paid = status == PAID
    amount = _minor(values[layout.order_amount if paid else "申请退款金额"], day, layout)
    fee = _minor(values["手续费"], day, layout) * (1 if paid else -1)
    refund_no = "" if paid else values["商户退款单号"]
    unnumbered = not paid and refund_no in ("0", "")
    if amount <= 0 or fee < 0 or not values["商户订单号"] or unnumbered:
        raise _refused(day, layout, f"the {status} row of {values['商户订单号']!r} does not read")
    return BillRow(
        kind=RowKind.PAY if paid else RowKind.REFUND,
        order_no=values["商户订单号"],
        refund_no=refund_no,
        trade_no=values["微信订单号" if paid else "微信退款单号"],
        amount=Money(amount, layout.currency),
        fee=Money(fee, layout.currency),
        at=_booked(values["交易时间"], day, layout),
    )


def _check_summary(
    summary: Mapping[str, str], rows: Sequence[Mapping[str, str]], day: date, layout: Layout
) -> None:
    if summary["总交易单数"] != str(len(rows)):
        stated = summary["总交易单数"]
        raise _refused(day, layout, f"the summary counts {stated!r} rows, the file has {len(rows)}")
    for total, column in layout.summary_sums.items():
        added = sum(_minor(values[column], day, layout) for values in rows)
        if _minor(summary[total], day, layout) != added:
            rows_add_up = Money(added, layout.currency).to_decimal()
            stated = f"the summary's {total} is {summary[total]}"
            raise _refused(day, layout, f"{stated}, its rows add up to {rows_add_up:f}")


def _booked(text: str, day: date, layout: Layout) -> datetime:
    try:
        at = datetime.strptime(text, TIME_FORMAT).replace(tzinfo=SHANGHAI)
    except ValueError as error:
        raise _refused(day, layout, f"{text!r} is not a time") from error
    if at.date() != day:
        raise _refused(day, layout, f"a row was booked at {text}, not on the day")
    return at


def _minor(text: str, day: date, layout: Layout) -> int:
    try:
        return Money.parse(text, layout.currency).minor
    except InvalidAmount as error:
        raise _refused(day, layout, f"{text!r} is not an amount") from error


def _refused(day: date, layout: Layout, reason: str) -> BillRefused:
    return BillRefused(f"{layout.provider.value}'s bill of {day}: {reason}")
