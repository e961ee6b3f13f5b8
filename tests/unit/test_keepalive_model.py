"""Auto keep-alive's rules as worked examples: what "enough to stay active" tops up, the
notice and charge days, and the retries until the lapse day."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from simkeep.clock import HONG_KONG
from simkeep.keepalive.model import (
    AmountNotOffered,
    Mode,
    charge_at,
    check_rule,
    next_try,
    notice_due,
    top_up_amount,
)
from simkeep.retention.model import Line
from simkeep.sims.model import Retention, SimState


def _line(*, retention: Retention, fee: int, balance: int, arrears: int = 0) -> Line:
    return Line(
        sim_id=1,
        state=SimState.ACTIVE,
        state_since=date(2026, 1, 31),
        retention=retention,
        fee=fee,
        grace_days=30,
        suspension_days=60,
        balance=balance,
        arrears=arrears,
        validity_until=None,
        billing_day=31,
        next_fee_on=date(2026, 2, 28),
    )


@pytest.mark.parametrize(
    ("retention", "fee", "balance", "arrears", "tops_up"),
    [
        (Retention.MONTHLY_FEE, 800, 2_000, 0, 5_000),  # HK$4 left covers no fee: HK$50
        (Retention.MONTHLY_FEE, 8_000, 0, 0, 10_000),  # a fee of 80 needs HK$100
        (Retention.MONTHLY_FEE, 8_000, 0, 16_000, 30_000),  # 240 owed and due: the most
        (Retention.MONTHLY_FEE, 80_000, 0, 0, 30_000),  # more than any: the largest
        (Retention.VALIDITY, 0, 99_999, 0, 5_000),  # the next validity step: 50 → 90 days
    ],
)
def test_enough_to_stay_active(
    retention: Retention, fee: int, balance: int, arrears: int, tops_up: int
) -> None:
    line = _line(retention=retention, fee=fee, balance=balance, arrears=arrears)
    assert top_up_amount(line, mode=Mode.ENOUGH, amount_minor=None) == tops_up
    assert top_up_amount(line, mode=Mode.FIXED, amount_minor=20_000) == 20_000


@pytest.mark.parametrize(
    ("mode", "amount"), [(Mode.FIXED, 12_345), (Mode.FIXED, None), (Mode.ENOUGH, 5_000)]
)
def test_a_rule_takes_a_denomination_or_none(mode: Mode, amount: int | None) -> None:
    with pytest.raises(AmountNotOffered):
        check_rule(mode, amount)


def test_the_worked_example_of_the_docs() -> None:
    lapse = date(2026, 12, 11)  # valid until 10 December
    assert not notice_due(lapse, date(2026, 12, 3))
    assert notice_due(lapse, date(2026, 12, 4))
    assert not notice_due(lapse, lapse)
    first = charge_at(lapse)
    assert first == datetime(2026, 12, 8, 10, 0, tzinfo=HONG_KONG)
    tries, at = [first], first
    for n in range(1, 10):
        again = next_try(n, now=at, lapse=lapse)
        if again is None:
            break
        tries.append(at := again)
    assert [t - first for t in tries] == [
        timedelta(0),
        timedelta(hours=1),
        timedelta(hours=7),
        timedelta(days=1, hours=7),
        timedelta(days=2, hours=7),
    ]
