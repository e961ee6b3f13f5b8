"""The fault harness's auto keep-alive parts, without a run: the cards ``chaos.setup`` makes
lapse are due for a charge at once at any hour of any day, and the checker's keep-alive
figures count a period charged twice and a paid charge not credited."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

from chaos.keepalive_figures import keepalive_figures, keepalive_tally
from chaos.setup import lapsing
from simkeep.keepalive.model import charge_at, deadline, notice_due
from simkeep.retention.model import Line, day_of, first_fee, lapses_on
from simkeep.sims.model import Retention, SimState

START = datetime(2026, 1, 1, tzinfo=UTC)


def _line(retention: Retention, *, issued: datetime, validity: datetime | None) -> Line:
    billing_day, next_fee_on = (
        first_fee(issued)
        if retention is Retention.MONTHLY_FEE
        else (
            None,
            None,
        )
    )
    return Line(
        sim_id=1,
        state=SimState.ACTIVE,
        state_since=day_of(issued),
        retention=retention,
        fee=1_600 if retention is Retention.MONTHLY_FEE else 0,
        grace_days=30,
        suspension_days=60,
        balance=0,
        arrears=0,
        validity_until=validity,
        billing_day=billing_day,
        next_fee_on=next_fee_on,
    )


def test_the_lapsing_cards_are_due_for_a_charge_now_at_any_hour() -> None:
    for hours in range(0, 24 * 366, 5):  # every hour of the day, over a year's days
        now = START + timedelta(hours=hours, minutes=hours % 60)
        cards = lapsing(now)
        assert cards[0][0] == "HK-VALID"
        for plan, _currency, issued, validity in cards:
            retention = Retention.VALIDITY if plan.endswith("VALID") else Retention.MONTHLY_FEE
            lapse = lapses_on(_line(retention, issued=issued, validity=validity))
            assert lapse is not None, now
            assert notice_due(lapse, day_of(now)), now
            assert charge_at(lapse) <= now < deadline(lapse), (now, plan)


def test_most_days_have_the_monthly_card_too() -> None:
    days = [START + timedelta(days=n, hours=5) for n in range(365)]
    assert sum(len(lapsing(now)) == 2 for now in days) > 330


def _order(no: str, key: str, state: str, credited_at: datetime | None = None) -> SimpleNamespace:
    return SimpleNamespace(order_no=no, idempotency_key=key, state=state, credited_at=credited_at)


def _state(*orders: SimpleNamespace) -> dict[str, object]:
    period = date(2026, 12, 2)
    return {
        "orders": list(orders),
        "attempts": {1: (10, period, "paid"), 2: (11, period, "pending")},
        "rules": {"active": 2},
        "first_order_at": START,
    }


def test_a_clean_run_has_every_keep_alive_figure_at_zero() -> None:
    state = _state(
        _order("T1", "keepalive:1:1", "credited", START + timedelta(seconds=42)),
        _order("T2", "keepalive:2:1", "expired"),  # declined: never paid
    )
    assert [value for _, value in keepalive_figures(state, {"T1"})] == [0, 0]
    tally = keepalive_tally(state)
    assert tally["charges credited"] == 1
    assert tally["last credited, s after the first order"] == 42


def test_two_paid_tries_of_one_period_count_once_each_beyond_the_first() -> None:
    state = _state(
        _order("T1", "keepalive:1:1", "credited", START),
        _order("T2", "keepalive:1:2", "expired"),  # paid at the provider after it expired
    )
    figures = dict(keepalive_figures(state, {"T1", "T2"}))
    assert figures["keep-alive charges twice in one period"] == 1
    assert figures["keep-alive orders paid at the provider but not credited"] == 1
