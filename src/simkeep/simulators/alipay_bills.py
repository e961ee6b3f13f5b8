"""Alipay's daily trade bill, provider side: ``alipay.data.dataservice.bill.downloadurl.query``
on an ``AlipaySimulator``'s gateway, the zip its ``bill_download_url`` gives, and the two
GBK files in it — written from the simulator's own trades and refunds.

Design overview
---------------
``AlipayBills`` registers the method on the simulator (``AlipaySimulator.extend``), so it is
checked and signed as every gateway method is. ``bill_type`` must be ``trade`` and
``bill_date`` a ``yyyy-MM-dd`` Beijing day that is over; a day not over yet (today, or one to
come) is refused ``40004 isp.bill_not_exist``, Alipay's answer for a bill it has not made. A
finished day's bill is made when asked — from the trades paid (by ``gmt_payment``) and the
refunds made (by ``gmt_refund``) that day — and kept under a random token for 30 seconds,
the life of Alipay's ``bill_download_url``; ``GET /downloadBillFile.resource?…&token=`` gives
the zip, unsigned as Alipay's file server gives it.

The zip holds ``<pid>_<yyyymmdd>_业务明细.csv`` and ``<pid>_<yyyymmdd>_业务明细(汇总).csv``
(names in GBK, without the zip's UTF-8 flag), GBK text, ``\\n`` line ends:

* the detail: four ``#`` lines (title, the account ``[<pid>0156]``, the day's bounds, the
  list's rule), the 25-column header, one row per payment (``交易``) and refund (``退款``) in
  time order — IDs followed by a tab, a refund's amounts negative with its
  ``out_request_no``, the fee in ``服务费（元）`` as the merchant's cost (negative on a
  payment, the part given back positive on a refund) — then the closing rule, the
  ``#交易合计`` and ``#退款合计`` lines and the export time;
* the summary: the same kind of head, the 12-column header and one ``合计`` row — payments
  and refunds counted, the rows' amounts and fees added up, ``实收净额`` the merchant's
  takings after fees — and its closing lines.

Text GBK cannot write (a ``¥``) is written ``?``, as a GBK file must. The differences a test
plants (``bill_rules.BillDifferences``) change the bills made after: one payment's amount
shifted, or the summary's ``合计`` order amount one fen more than its rows.
"""

from __future__ import annotations

import csv
import io
import secrets
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from simkeep.clock import in_shanghai
from simkeep.money import Money
from simkeep.payments.bills.alipay import (
    DETAIL_HEADER,
    DETAIL_TITLE,
    PAYMENT,
    REFUND,
    SUMMARY_HEADER,
    SUMMARY_TITLE,
    TOTAL,
    chinese_date,
    yuan_text,
)
from simkeep.payments.providers.alipay_signing import GatewayRefusal, beijing_time
from simkeep.simulators.alipay_trades import SimTrade
from simkeep.simulators.bill_rules import BillDifferences, day_of

if TYPE_CHECKING:
    from simkeep.simulators.alipay import AlipaySimulator

BILL_METHOD = "alipay.data.dataservice.bill.downloadurl.query"
URL_LIFETIME = timedelta(seconds=30)
CNY_ACCOUNT = "0156"  # after the PID: the merchant's CNY account, as the bills name it
RULE = "-" * 41
PAYER_ACCOUNT = "159****5620"  # the simulator's one payer, as its answers name them
ZERO = "0.00"


@dataclass(frozen=True, slots=True)
class BillLine:
    """One row of the detail: a payment, or a refund (``refund_no`` set, amounts negative)."""

    trade_no: str
    out_trade_no: str
    kind: str  # 交易 or 退款
    subject: str
    created_at: datetime
    done_at: datetime
    amount: int  # minor units, negative on a refund
    refund_no: str
    fee: int  # minor units, the merchant's cost: negative on a payment


class AlipayBills:
    """The daily bills of one simulated Alipay merchant app."""

    def __init__(self, sim: AlipaySimulator) -> None:
        self.sim = sim
        self.differences = BillDifferences()
        self._made: dict[str, tuple[bytes, datetime]] = {}  # token → zip, until when
        sim.extend(handlers={BILL_METHOD: self._query}, redirects={})

    def files(self, day: date) -> dict[str, bytes]:
        """The day's two files as Alipay would make them now: name → GBK bytes."""
        lines = bill_lines(self.sim.trades.values(), day, self.differences)
        account = f"{self.sim.seller_id}{CNY_ACCOUNT}"
        now, stem = self.sim.clock.now(), f"{self.sim.seller_id}_{day:%Y%m%d}_业务明细"
        detail = detail_text(lines, account=account, day=day, exported_at=now)
        summary = summary_text(
            lines,
            account=account,
            day=day,
            exported_at=now,
            bad_totals=self.differences.bad_totals,
        )
        return {f"{stem}.csv": _gbk(detail), f"{stem}(汇总).csv": _gbk(summary)}

    def download(self, token: str) -> bytes | None:
        """The zip a ``bill_download_url`` gives, while it is valid."""
        made = self._made.get(token)
        if made is None or self.sim.clock.now() > made[1]:
            return None
        return made[0]

    def knows(self, out_trade_no: str) -> bool:
        return out_trade_no in self.sim.trades

    async def plant_provider_only(self, amount: Money) -> str:
        """A trade paid now that the merchant never created (and is never told of)."""
        now = self.sim.clock.now()
        number = len(self.sim.trades) + 1
        trade = SimTrade(
            out_trade_no=f"ALIPAYONLY{number:08d}",
            trade_no=f"{in_shanghai(now):%Y%m%d}22001{number:09d}",
            amount=amount,
            subject="面对面付款",
            notify_url="",
            return_url="",
            created_at=now,
            opened=True,
        )
        self.sim.trades[trade.out_trade_no] = trade
        return self.sim.pay(trade.out_trade_no).out_trade_no

    def _query(self, params: Mapping[str, str], biz: dict[str, Any]) -> dict[str, str]:
        day = _bill_day(biz)
        now = self.sim.clock.now()
        if not self.differences.made(day, now):
            raise GatewayRefusal("40004", "isp.bill_not_exist", "账单不存在")
        token = secrets.token_urlsafe(16)
        self._made[token] = (zip_files(self.files(day), at=now), now + URL_LIFETIME)
        query = {
            "bizType": "trade",
            "userId": self.sim.seller_id,
            "fileType": "csv.zip",
            "bizDates": f"{day:%Y%m%d}",
            "downloadFileName": f"{self.sim.seller_id}_{day:%Y%m%d}.csv.zip",
            "token": token,
        }
        return {
            "bill_download_url": f"{self.sim.base_url}/downloadBillFile.resource?{urlencode(query)}"
        }


def bill_lines(
    trades: Iterable[SimTrade], day: date, differences: BillDifferences
) -> list[BillLine]:
    """The payments and refunds Alipay booked on ``day``, in time order."""
    lines = []
    for trade in trades:
        if trade.paid_at is not None and day_of(trade.paid_at) == day:
            amount = differences.shift(trade.out_trade_no, trade.amount.minor)
            fee = trade.fee.minor if trade.fee is not None else 0
            lines.append(_line(trade, PAYMENT, trade.paid_at, amount, "", -fee))
        for refund in trade.refunds.values():
            if day_of(refund.refunded_at) == day:
                amount, fee = -refund.amount.minor, refund.fee_back.minor
                lines.append(
                    _line(trade, REFUND, refund.refunded_at, amount, refund.out_request_no, fee)
                )
    return sorted(lines, key=lambda line: (line.done_at, line.trade_no, line.kind == REFUND))


def detail_text(lines: list[BillLine], *, account: str, day: date, exported_at: datetime) -> str:
    """``业务明细.csv`` as text."""
    payments = [line for line in lines if line.kind == PAYMENT]
    refunds = [line for line in lines if line.kind == REFUND]
    rows = [_detail_row(line) for line in lines]
    return "".join(
        [
            *_head(DETAIL_TITLE, account, day, "业务明细列表"),
            f"{DETAIL_HEADER}\n",
            _csv(rows),
            f"#{RULE}业务明细列表结束{RULE[:36]}\n",
            f"#交易合计：{len(payments)}笔，商家实收共{yuan_text(_sum(payments))}元，商家优惠共{ZERO}元\n",
            f"#退款合计：{len(refunds)}笔，商家实收退款共{yuan_text(_sum(refunds))}元，"
            f"商家优惠退款共{ZERO}元\n",
            f"#导出时间：[{_chinese_time(exported_at)}]\n",
        ]
    )


def summary_text(
    lines: list[BillLine], *, account: str, day: date, exported_at: datetime, bad_totals: bool
) -> str:
    """``业务明细(汇总).csv`` as text: the ``合计`` of the detail's rows."""
    refunds = sum(1 for line in lines if line.kind == REFUND)
    amount, fees = _sum(lines), sum(line.fee for line in lines)
    stated = amount + 1 if bad_totals else amount
    total = [
        *(TOTAL, "", str(len(lines) - refunds), str(refunds), yuan_text(stated), yuan_text(amount)),
        *(ZERO, ZERO, ZERO, yuan_text(fees), ZERO, yuan_text(amount + fees)),
    ]
    return "".join(
        [
            *_head(SUMMARY_TITLE, account, day, "业务汇总列表"),
            f"{SUMMARY_HEADER}\n",
            _csv([total]),
            f"#{RULE}业务汇总列表结束{RULE[:36]}\n",
            f"#导出时间：[{_chinese_time(exported_at)}]\n",
        ]
    )


class _GbkNamed(zipfile.ZipInfo):
    """A zip member named in GBK without the UTF-8 flag, as Alipay names its bill files
    (``zipfile`` itself writes any non-ASCII name as flagged UTF-8)."""

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:
        return self.filename.encode("gbk"), self.flag_bits


def zip_files(files: Mapping[str, bytes], *, at: datetime) -> bytes:
    """The bill's zip: each file deflated, stamped with ``at`` in Beijing time."""
    stamp = in_shanghai(at).timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            info = _GbkNamed(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def _line(
    trade: SimTrade, kind: str, at: datetime, amount: int, refund_no: str, fee: int
) -> BillLine:
    return BillLine(
        trade_no=trade.trade_no,
        out_trade_no=trade.out_trade_no,
        kind=kind,
        subject=trade.subject,
        created_at=trade.created_at,
        done_at=at,
        amount=amount,
        refund_no=refund_no,
        fee=fee,
    )


def _detail_row(line: BillLine) -> list[str]:
    amount = yuan_text(line.amount)
    return [
        *(f"{line.trade_no}\t", f"{line.out_trade_no}\t", f"{line.kind}\t", line.subject),
        *(beijing_time(line.created_at), beijing_time(line.done_at), "\t", "\t", "\t", "\t"),
        *(f"{PAYER_ACCOUNT}\t", amount, amount, ZERO, ZERO, ZERO, ZERO, ZERO, ""),
        *(f"{ZERO}\t", ZERO, f"{line.refund_no}\t", yuan_text(line.fee), ZERO, ""),
    ]


def _head(title: str, account: str, day: date, listing: str) -> list[str]:
    end = day + timedelta(days=1)
    return [
        f"{title}\n",
        f"#账号：[{account}]\n",
        f"#起始日期：[{chinese_date(day)} 00:00:00]   终止日期：[{chinese_date(end)} 00:00:00]\n",
        f"#{RULE}{listing}{RULE[:40]}\n",
    ]


def _bill_day(biz: Mapping[str, Any]) -> date:
    if biz.get("bill_type") != "trade":
        raise GatewayRefusal("40004", "invalid_arguments", "bill_type must be trade")
    try:
        return date.fromisoformat(str(biz.get("bill_date", "")))
    except ValueError as error:
        raise GatewayRefusal("40004", "invalid_arguments", "bill_date is yyyy-MM-dd") from error


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _sum(lines: Iterable[BillLine]) -> int:
    return sum(line.amount for line in lines)


def _chinese_time(instant: datetime) -> str:
    local = in_shanghai(instant)
    return f"{chinese_date(local.date())} {local:%H:%M:%S}"


def _gbk(text: str) -> bytes:
    return text.encode("gbk", errors="replace")
