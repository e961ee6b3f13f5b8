"""What every simulated provider's daily bill keeps alike: the fee it charges the merchant,
the Beijing day a row belongs to, and the differences a test plants in the next bills.

Design overview
---------------
A provider charges the merchant a fee on every paid trade, a rate of the amount in basis
points (Alipay and WeChat Pay 0.6 %, WeChat Pay HK 1.0 %: a simulator's ``fee_rate_bp``),
in integer minor units rounded half up to the fen or cent. A refund gives the fee back pro
rata, rounded alike, and the refund that pays the trade back in full gives back what is
left of it, so a trade refunded whole costs nothing.

A bill covers one Beijing day, 00:00 to 24:00 Asia/Shanghai, by the time the provider
booked each row; it exists once that day is over.

``BillDifferences`` are what the reconciliation tests plant (``POST /bills/differences``
under a simulator): one trade's amount shifted in the bill, the digest or the summary totals
corrupted, or bills made early — the day's bill before the day is over, with what is booked
so far (the fault harness reconciles the day it ran on). They hold for every bill made
after they are planted, until cleared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from simkeep.clock import SHANGHAI, in_shanghai

BASIS_POINTS = 10_000


class Difference(StrEnum):
    AMOUNT_MISMATCH = "amount_mismatch"  # one trade's amount shifted in the bill
    PROVIDER_ONLY = "provider_only"  # a paid trade the merchant never created
    BAD_DIGEST = "bad_digest"  # WeChat Pay vouches for another file's SHA-1
    BAD_TOTALS = "bad_totals"  # Alipay's summary totals do not add up
    EARLY = "early"  # a day's bill is made before the day is over, with what is booked so far


@dataclass
class BillDifferences:
    """The differences planted in a simulator's next bills."""

    shifted: dict[str, int] = field(default_factory=dict)  # out_trade_no → minor units added
    bad_digest: bool = False
    bad_totals: bool = False
    early: bool = False

    def made(self, day: date, now: datetime) -> bool:
        """Whether the bill of ``day`` is made by ``now``: once the day is over, or at once
        when planted ``early`` (a harness that cannot wait for midnight)."""
        return self.early or day_over(day, now)

    def shift(self, out_trade_no: str, amount_minor: int) -> int:
        """A payment's amount as the bill states it."""
        return amount_minor + self.shifted.get(out_trade_no, 0)

    def clear(self) -> None:
        self.shifted.clear()
        self.bad_digest = self.bad_totals = self.early = False


def fee_of(amount_minor: int, rate_bp: int) -> int:
    """The provider's fee on a payment of ``amount_minor``, rounded half up."""
    return _half_up(amount_minor * rate_bp, BASIS_POINTS)


def fee_back(
    *, fee: int, total: int, refunded_before: int, refund: int, fee_back_before: int
) -> int:
    """What of ``fee`` a refund of ``refund`` gives back: its share, rounded half up; the
    refund that completes the trade gives back what is left."""
    left = fee - fee_back_before
    if refunded_before + refund >= total:
        return left
    return min(_half_up(fee * refund, total), left)


def day_of(instant: datetime) -> date:
    """The Beijing day an instant is booked on."""
    return in_shanghai(instant).date()


def day_start(day: date) -> datetime:
    """00:00 of a Beijing day."""
    return datetime.combine(day, time(), tzinfo=SHANGHAI)


def day_over(day: date, now: datetime) -> bool:
    """Whether the Beijing day has ended by ``now`` (a bill exists only then)."""
    return now >= day_start(day) + timedelta(days=1)


def _half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)
