"""A provider's daily bill, as every format reads into it: the rows reconciliation matches.

Design overview
---------------
Each provider writes its bill in its own format (Alipay's zipped GBK CSV, WeChat Pay's
backtick CSV, UnionPay's fixed-width file, …: ``docs/payments.md``). Its reader in
``simkeep.payments.bills`` checks the file's digest and its summary totals against its rows
and returns a ``Bill``: one ``BillRow`` per payment or refund the provider booked on the day
(the Beijing day, which is Hong Kong's), amounts as positive ``Money`` in the currency the
payer paid, the provider's fee on each row. A file that does not add up is refused with
``BillRefused`` and nothing is matched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from simkeep.errors import Refusal
from simkeep.money import Money
from simkeep.payment_methods import Provider


class RowKind(StrEnum):
    PAY = "pay"
    REFUND = "refund"


class BillRefused(Refusal):
    """The bill is not what its provider vouches for: a digest, a total or a line that
    does not read. Nothing of it is matched."""

    code = "bill_refused"


class BillNotReady(Refusal):
    """The provider has no bill for the day yet (it is today, or the day is not over)."""

    code = "bill_not_ready"


@dataclass(frozen=True, slots=True)
class BillRow:
    kind: RowKind
    order_no: str  # the merchant's trade number (out_trade_no, orderId, paymentRequestId …)
    refund_no: str  # the merchant's refund number for a refund row, "" for a payment
    trade_no: str  # the provider's own id of the payment or refund
    amount: Money  # positive: what was paid, or paid back, in the currency the payer paid
    fee: Money  # the provider's fee on the row; on a refund, the fee it gives back (>= 0)
    at: datetime  # when the provider booked it, aware


@dataclass(frozen=True, slots=True)
class Bill:
    provider: Provider
    day: date
    rows: tuple[BillRow, ...]
