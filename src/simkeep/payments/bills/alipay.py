"""Alipay's daily trade bill (``bill_type=trade``), read: the zip that
``alipay.data.dataservice.bill.downloadurl.query`` points to, checked against itself and
turned into a ``Bill``.

Design overview
---------------
The zip holds two GBK files named ``<pid>_<yyyymmdd>_业务明细.csv`` (the detail) and
``<pid>_<yyyymmdd>_业务明细(汇总).csv`` (the summary); Alipay names them in GBK without the
zip's UTF-8 flag, so the names are read as GBK. Each file opens with ``#`` lines — the title,
the account, the day's bounds (which must be the day asked for), the list's rule — then its
header, which must be Alipay's exactly, then its rows, then ``#`` lines again.

A detail row is a payment (``业务类型`` ``交易``, positive amounts) or a refund (``退款``,
negative amounts, numbered by our ``out_request_no`` in ``退款批次号/请求号``); IDs carry a
trailing tab, which is not part of them. ``完成时间`` (Beijing time) is when Alipay booked it
and must fall on the day. ``服务费（元）`` is Alipay's fee, written as the merchant's cost —
negative on a payment, the part given back positive on a refund; a row's fee is its size.

Nothing is believed unless the file vouches for itself: the detail's ``#交易合计`` and
``#退款合计`` lines must count and add up its rows, and the summary's ``合计`` row must
count the payments and the refunds and add up their order amounts, takings and fees, with
``实收净额`` the takings after fees. Anything that does not read or does not add up refuses
the whole bill (``BillRefused``), saying where.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from simkeep.clock import SHANGHAI
from simkeep.money import InvalidAmount, Money
from simkeep.payment_methods import Provider
from simkeep.reconciliation.bill import Bill, BillRefused, BillRow, RowKind

CURRENCY = "CNY"
MAX_FILE_BYTES = 64 * 1024 * 1024  # a day's file, unpacked: far above any real day's
DETAIL_HEADER = (
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,"
    "终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,"
    "支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,"
    "卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注"
)
SUMMARY_HEADER = (
    "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,"
    "支付宝优惠（元）,商家优惠（元）,卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）"
)
DETAIL_TITLE, SUMMARY_TITLE = "#支付宝业务明细查询", "#支付宝业务汇总查询"
PAYMENT, REFUND = "交易", "退款"
TOTAL = "合计"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
COLUMNS = {name: index for index, name in enumerate(DETAIL_HEADER.split(","))}
SUMMARY_COLUMNS = {name: index for index, name in enumerate(SUMMARY_HEADER.split(","))}


@dataclass(frozen=True, slots=True)
class _Row:
    """A detail row with its amounts as Alipay signs them (refunds and fees negative)."""

    row: BillRow
    order_amount: int
    takings: int
    service_fee: int


def parse(data: bytes, *, day: date) -> Bill:
    """The bill of ``day`` from Alipay's zip; ``BillRefused`` unless it reads and adds up."""
    detail, summary = _files(data, day)
    rows = _detail(detail, day)
    _check_summary(summary, day, rows)
    return Bill(provider=Provider.ALIPAY, day=day, rows=tuple(entry.row for entry in rows))


def _files(data: bytes, day: date) -> tuple[list[str], list[str]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data), metadata_encoding="gbk")
    except zipfile.BadZipFile as error:
        raise _refused(day, "the download is not a zip") from error
    with archive:
        stamp = f"_{day:%Y%m%d}_业务明细"
        detail = _member(archive, f"{stamp}.csv", day)
        summary = _member(archive, f"{stamp}(汇总).csv", day)
        if detail.filename.removesuffix(".csv") + "(汇总).csv" != summary.filename:
            raise _refused(day, "the detail and the summary are of different accounts")
        return _lines(archive, detail, day), _lines(archive, summary, day)


def _member(archive: zipfile.ZipFile, suffix: str, day: date) -> zipfile.ZipInfo:
    found = [info for info in archive.infolist() if info.filename.endswith(suffix)]
    if len(found) != 1:
        raise _refused(day, f"the zip has {len(found)} files named …{suffix}, not one")
    if found[0].file_size > MAX_FILE_BYTES:
        raise _refused(day, f"{found[0].filename} is larger than {MAX_FILE_BYTES} bytes")
    return found[0]


def _lines(archive: zipfile.ZipFile, info: zipfile.ZipInfo, day: date) -> list[str]:
    try:
        return archive.read(info).decode("gbk").splitlines()
    except (zipfile.BadZipFile, UnicodeDecodeError) as error:
        raise _refused(day, f"{info.filename} does not read as GBK text") from error


def _detail(lines: list[str], day: date) -> list[_Row]:
    body, tail = _listing(lines, DETAIL_TITLE, DETAIL_HEADER, day)
    rows = [_detail_row(fields, day) for fields in _records(body, len(COLUMNS), day)]
    payments = [entry for entry in rows if entry.row.kind is RowKind.PAY]
    refunds = [entry for entry in rows if entry.row.kind is RowKind.REFUND]
    trade_total = f"#交易合计：{len(payments)}笔，商家实收共{yuan_text(_takings(payments))}元"
    refund_total = f"#退款合计：{len(refunds)}笔，商家实收退款共{yuan_text(_takings(refunds))}元"
    if len(tail) < 3 or not (
        tail[1].startswith(trade_total + "，") and tail[2].startswith(refund_total + "，")
    ):
        raise _refused(day, f"the detail's totals are not {trade_total} and {refund_total}")
    return rows


def _detail_row(fields: list[str], day: date) -> _Row:
    value = {name: fields[index].removesuffix("\t") for name, index in COLUMNS.items()}
    kind = {PAYMENT: RowKind.PAY, REFUND: RowKind.REFUND}.get(value["业务类型"])
    order_amount, takings = (
        _minor(value["订单金额（元）"], day),
        _minor(value["商家实收（元）"], day),
    )
    refund_no = value["退款批次号/请求号"] if kind is RowKind.REFUND else ""
    sign = 1 if kind is RowKind.PAY else -1
    if kind is None or sign * takings <= 0 or sign * order_amount <= 0 or not value["商户订单号"]:
        raise _refused(day, f"a row of {value['支付宝交易号']!r} is neither a payment nor a refund")
    if kind is RowKind.REFUND and not refund_no:
        raise _refused(day, f"a refund of {value['商户订单号']!r} has no refund number")
    service_fee = _minor(value["服务费（元）"], day)
    row = BillRow(
        kind=kind,
        order_no=value["商户订单号"],
        refund_no=refund_no,
        trade_no=value["支付宝交易号"],
        amount=Money(abs(order_amount), CURRENCY),
        fee=Money(abs(service_fee), CURRENCY),
        at=_booked(value["完成时间"], day),
    )
    return _Row(row, order_amount, takings, service_fee)


def _check_summary(lines: list[str], day: date, rows: Sequence[_Row]) -> None:
    body, _ = _listing(lines, SUMMARY_TITLE, SUMMARY_HEADER, day)
    totals = [fields for fields in _records(body, len(SUMMARY_COLUMNS), day) if fields[0] == TOTAL]
    if len(totals) != 1:
        raise _refused(day, f"the summary has {len(totals)} {TOTAL} rows, not one")
    total = {name: totals[0][index] for name, index in SUMMARY_COLUMNS.items()}
    takings = _takings(rows)
    fees = sum(entry.service_fee for entry in rows)
    refunds = sum(1 for entry in rows if entry.row.kind is RowKind.REFUND)
    expected = {
        "交易订单总笔数": str(len(rows) - refunds),
        "退款订单总笔数": str(refunds),
        "订单金额（元）": yuan_text(sum(entry.order_amount for entry in rows)),
        "商家实收（元）": yuan_text(takings),
        "服务费（元）": yuan_text(fees),
        "实收净额（元）": yuan_text(takings + fees),
    }
    for name, figure in expected.items():
        stated = total[name] if name.endswith("笔数") else yuan_text(_minor(total[name], day))
        if stated != figure:
            raise _refused(
                day, f"the summary's {name} is {total[name]}, its rows add up to {figure}"
            )


def _listing(lines: list[str], title: str, header: str, day: date) -> tuple[list[str], list[str]]:
    """The rows between the header and the closing ``#`` lines, and those closing lines."""
    head = [
        title,
        f"#起始日期：[{chinese_date(day)} 00:00:00]   "
        f"终止日期：[{chinese_date(day + timedelta(days=1))} 00:00:00]",
    ]
    if len(lines) < 5 or [lines[0], lines[2]] != head or not lines[1].startswith("#账号："):
        raise _refused(day, f"the file is not {title[1:]} of {day}")
    if lines[4] != header:
        raise _refused(day, f"the header is not Alipay's: {lines[4][:80]!r}")
    end = next((n for n in range(5, len(lines)) if lines[n].startswith("#")), len(lines))
    return lines[5:end], lines[end:]


def _records(lines: list[str], width: int, day: date) -> list[list[str]]:
    records = list(csv.reader(lines))
    for number, fields in enumerate(records, start=1):
        if len(fields) != width:
            raise _refused(day, f"row {number} has {len(fields)} columns, not {width}")
    return records


def _booked(text: str, day: date) -> datetime:
    try:
        at = datetime.strptime(text, TIME_FORMAT).replace(tzinfo=SHANGHAI)
    except ValueError as error:
        raise _refused(day, f"{text!r} is not a time") from error
    if at.date() != day:
        raise _refused(day, f"a row was booked at {text}, not on the day")
    return at


def _minor(text: str, day: date) -> int:
    try:
        return Money.parse(text, CURRENCY).minor
    except InvalidAmount as error:
        raise _refused(day, f"{text!r} is not an amount in yuan") from error


def _takings(rows: Sequence[_Row]) -> int:
    return sum(entry.takings for entry in rows)


def yuan_text(minor: int) -> str:
    """Minor units as the bill writes yuan: ``-0.01``, ``100.00``."""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{sign}{whole}.{cents:02d}"


def chinese_date(day: date) -> str:
    """A day as the bill's ``#`` lines write it: ``2026年11月25日``."""
    return f"{day.year}年{day.month:02d}月{day.day:02d}日"


def _refused(day: date, reason: str) -> BillRefused:
    return BillRefused(f"Alipay's bill of {day}: {reason}")
