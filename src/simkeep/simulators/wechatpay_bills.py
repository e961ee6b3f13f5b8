"""WeChat Pay's daily bills, platform side: the Mainland v3 trade bill and WeChat Pay HK's
global statement, written from a simulated platform's own trades and refunds, and the
answers that hand them out.

Design overview
---------------
``WeChatPayBills`` belongs to one platform (``WeChatPayPlatform.bills``) and writes its API's
format (``payments.bills.wechatpay.Layout``: Mainland's 27 columns, the global 38): UTF-8
with a byte-order mark, ``\\r\\n`` line ends, the header, one row per payment of the day (by
its ``success_time``) and per refund (by the time it was accepted), in time order, every
value after a backtick, then the summary's header and its row. Amounts are yuan (HK: dollars)
with two decimals; ``手续费`` is the fee with five, negative on a refund (the part given
back), ``费率`` the platform's rate (``0.60%``). A refund row's ``退款状态`` is the refund's
state when the bill is made.

A day that is not over has no bill yet: 400 ``STATEMENT_CREATING`` (账单生成中, WeChat Pay's
answer before its bill is made); a finished day with neither payments nor refunds has none
at all: 400 ``NO_STATEMENT_EXIST``. Otherwise:

* Mainland (``GET /v3/bill/tradebill?bill_date=yyyy-MM-dd&bill_type=ALL&tar_type=GZIP``):
  the signed answer ``{"hash_type":"SHA1","hash_value":…,"download_url":…}``, the SHA-1
  being over the file before gzip; the file is kept under a token for 30 seconds, and the
  download — itself a signed v3 GET — answers the gzip (or the file, without ``tar_type``),
  unsigned.
* Global (``GET /v3/global/statements?date=yyyyMMdd&mchid=…``): the file itself, its SHA-1 in
  ``Wechatpay-Statement-Sha1``, the answer signed over ``{"sha1":"<that digest>"}``.

The differences a test plants (``bill_rules.BillDifferences``) change the bills made after:
one payment's amount shifted, or WeChat Pay vouching for a digest that is not the file's.
"""

from __future__ import annotations

import gzip
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from simkeep.clock import SHANGHAI, in_shanghai
from simkeep.money import Money
from simkeep.payments.bills.wechatpay import (
    BOM,
    LAYOUTS,
    MARK,
    PAID,
    REFUNDED,
    SUMMARY_HEADER,
    TIME_FORMAT,
    Layout,
)
from simkeep.simulators.bill_rules import BillDifferences, day_of
from simkeep.simulators.wechatpay_trades import SimRefund, SimTrade, SimulatorError

if TYPE_CHECKING:
    from simkeep.simulators.wechatpay import WeChatPayPlatform

URL_LIFETIME = timedelta(seconds=30)
LINE_END = "\r\n"
ZERO = "0.00"
RATE_SCALE = 100_000_000  # exchange rates are written ×10⁸, as the API gives them


@dataclass(frozen=True, slots=True)
class BillFile:
    """One day's bill as the platform hands it out: the file and the SHA-1 it vouches for."""

    data: bytes
    digest: str


class WeChatPayBills:
    """The daily bills of one simulated WeChat Pay platform."""

    def __init__(self, platform: WeChatPayPlatform) -> None:
        self.platform = platform
        self.layout = LAYOUTS[platform.api.provider]
        self.differences = BillDifferences()
        self._made: dict[str, tuple[bytes, datetime]] = {}  # token → file, until when

    def rows(self, day: date) -> list[dict[str, str]]:
        """The day's payments and refunds as the bill's rows (column → value), in time order."""
        return sorted(
            [*self._payments(day), *self._refunds(day)],
            key=lambda row: (row["交易时间"], row["微信订单号"], row["交易状态"] == REFUNDED),
        )

    def bill_file(self, day: date) -> BillFile:
        """The day's file and its digest, or WeChat Pay's refusal when it has none."""
        if not self.differences.made(day, self.platform.now()):
            raise SimulatorError(400, "STATEMENT_CREATING", "账单生成中")
        rows = self.rows(day)
        if not rows:
            raise SimulatorError(400, "NO_STATEMENT_EXIST", "请求的账单文件不存在")
        data = bill_text(self.layout, rows)
        vouched = data + b"\n" if self.differences.bad_digest else data
        return BillFile(data, hashlib.sha1(vouched, usedforsecurity=False).hexdigest())

    def trade_bill(self, query: Mapping[str, str]) -> dict[str, str]:
        """The Mainland answer: where to download the day's file, and its SHA-1."""
        if query.get("bill_type", "ALL") != "ALL" or query.get("tar_type", "GZIP") != "GZIP":
            raise SimulatorError(400, "PARAM_ERROR", "bill_type is ALL, tar_type GZIP or none")
        made = self.bill_file(_day(query.get("bill_date", ""), "%Y-%m-%d"))
        gzipped = "tar_type" in query
        token = secrets.token_urlsafe(16)
        data = gzip.compress(made.data, mtime=0) if gzipped else made.data
        self._made[token] = (data, self.platform.now() + URL_LIFETIME)
        url = f"{self.platform.public_base_url}/v3/billdownload/file?token={token}"
        return {
            "hash_type": "SHA1",
            "hash_value": made.digest,
            "download_url": url + ("&tartype=gzip" if gzipped else ""),
        }

    def download(self, token: str) -> bytes:
        """The file a ``download_url`` gives, while it is valid."""
        made = self._made.get(token)
        if made is None or self.platform.now() > made[1]:
            raise SimulatorError(400, "INVALID_REQUEST", "下载链接已过期或不存在")
        return made[0]

    def statement(self, query: Mapping[str, str]) -> BillFile:
        """The global answer: the day's file itself, and its SHA-1."""
        if query.get("mchid") != self.platform.mchid:
            raise SimulatorError(400, "PARAM_ERROR", "mchid must be the merchant's")
        return self.bill_file(_day(query.get("date", ""), "%Y%m%d"))

    def knows(self, out_trade_no: str) -> bool:
        return out_trade_no in self.platform.trades

    async def plant_provider_only(self, amount: Money) -> str:
        """A trade paid now that the merchant never created (and is never told of)."""
        number = f"WXONLY{len(self.platform.trades) + 1:08d}"
        self.platform.trades[number] = SimTrade(
            out_trade_no=number,
            trade_type="NATIVE",
            description="扫码支付",
            total=amount.minor,
            currency=amount.currency,
            notify_url="",
            time_expire=None,
        )
        return (await self.platform.pay(number, success=True, notify=False)).out_trade_no

    def _payments(self, day: date) -> list[dict[str, str]]:
        rows = []
        for trade in self.platform.trades.values():
            if trade.success_time is None or day_of(trade.success_time) != day:
                continue
            amount = _yuan(self.differences.shift(trade.out_trade_no, trade.total))
            payment = self.platform.payment_resource(trade, total=trade.total)
            rows.append(
                self._row(trade, trade.success_time, payment)
                | {
                    **dict.fromkeys(("应结订单金额", "订单金额", "订单金额(标价币种)"), amount),
                    "交易状态": PAID,
                    "手续费": _fee(trade.fee),
                    "用户支付币种": trade.payer_currency,
                    "用户支付金额": _yuan(trade.payer_total),
                    "支付汇率": _rate_of(payment),
                }
            )
        return rows

    def _refunds(self, day: date) -> list[dict[str, str]]:
        rows = []
        now = self.platform.now()
        for refund in self.platform.refunds.values():
            if day_of(refund.create_time) != day:
                continue
            trade = self.platform.trades[refund.out_trade_no]
            payment = self.platform.payment_resource(trade, total=trade.total)
            row = self._row(trade, refund.create_time, payment) | _refund_values(refund, now)
            rows.append(row | {"退款汇率": _rate_of(payment)})
        return rows

    def _row(self, trade: SimTrade, at: datetime, payment: Mapping[str, Any]) -> dict[str, str]:
        """What a payment's and a refund's rows share, and the zeros a refund's overwrites."""
        currency = trade.currency
        return {
            **dict.fromkeys(self.layout.header, ""),
            **dict.fromkeys(_AMOUNTS, ZERO),
            "交易时间": in_shanghai(at).strftime(TIME_FORMAT),
            "公众账号ID": self.platform.appid,
            "商户号": self.platform.mchid,
            "特约商户号": "0",
            "子商户号": "0",
            "微信订单号": trade.transaction_id,
            "商户订单号": trade.out_trade_no,
            "用户标识": str(payment["payer"]["openid"]),
            "交易类型": trade.trade_type,
            "付款银行": "OTHERS",
            "微信退款单号": "0",
            "商户退款单号": "0",
            "商品名称": trade.description,
            "费率": _rate(self.platform.fee_rate_bp),
            **dict.fromkeys(_CURRENCIES, currency),
        }


_AMOUNTS = (
    *("应结订单金额", "代金券金额", "退款金额", "充值券退款金额", "订单金额", "申请退款金额"),
    *("充值券金额", "优惠券金额", "订单金额(标价币种)", "用户支付金额", "用户退款金额"),
    *("退款应结订单金额", "优惠券退款金额"),
)
_CURRENCIES = ("货币种类", "充值券币种", "优惠券币种", "标价币种", "结算币种")


def bill_text(layout: Layout, rows: list[dict[str, str]]) -> bytes:
    """The file: header, marked rows, the summary's header and its row."""
    summary = [str(len(rows))]
    for total, column in layout.summary_sums.items():
        added = sum(Money.parse(row[column], layout.currency).minor for row in rows)
        summary.append(_fee(added) if total == "手续费总金额" else _yuan(added))
    lines = [
        ",".join(layout.header),
        *(_marked(row[name] for name in layout.header) for row in rows),
        ",".join(SUMMARY_HEADER),
        _marked(summary),
    ]
    return (BOM + "".join(line + LINE_END for line in lines)).encode("utf-8")


def _refund_values(refund: SimRefund, now: datetime) -> dict[str, str]:
    amount = _yuan(refund.refund)
    return {
        "交易状态": REFUNDED,
        "微信退款单号": refund.refund_id,
        "商户退款单号": refund.out_refund_no,
        "退款金额": amount,
        "退款应结订单金额": amount,
        "申请退款金额": amount,
        "退款类型": "ORIGINAL",
        "退款状态": refund.status(now),
        "手续费": _fee(-refund.fee_refunded),
        "用户退款币种": refund.payer_currency,
        "用户退款金额": _yuan(refund.payer_refund),
        "退款结算币种": refund.currency,
    }


def _marked(values: Any) -> str:
    return ",".join(MARK + value for value in values)


def _day(text: str, pattern: str) -> date:
    try:
        return datetime.strptime(text, pattern).replace(tzinfo=SHANGHAI).date()
    except ValueError as error:
        raise SimulatorError(400, "PARAM_ERROR", f"the bill date is {pattern}") from error


def _rate_of(payment: Mapping[str, Any]) -> str:
    """The payer's rate, ×10⁸ (one for a payer who paid in the order's currency)."""
    return str(payment["amount"].get("exchange_rate", {}).get("rate", RATE_SCALE))


def _yuan(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{sign}{whole}.{cents:02d}"


def _fee(minor: int) -> str:
    return _yuan(minor) + "000"


def _rate(rate_bp: int) -> str:
    whole, hundredths = divmod(rate_bp, 100)
    return f"{whole}.{hundredths:02d}%"
