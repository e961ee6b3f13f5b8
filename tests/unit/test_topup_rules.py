"""The top-up rules of docs/topups.md as worked examples: denominations, the locked FX price
and its rounding, validity and its 730-day cap, the wrong-number guard, and the state
machine the statements take their state lists from."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.sims.model import SimState, extended_validity
from simkeep.topups.model import (
    PAYABLE,
    TRANSITIONS,
    ConfirmNumber,
    FxRate,
    NoSuchDenomination,
    NumberFacts,
    NumberNotEligible,
    OrderRequest,
    OrderState,
    QuoteChanged,
    TopupError,
    UnknownNumber,
    check_order,
    quote,
    sources,
    sql_states,
)

HKD_CNY = FxRate("HKD", "CNY", Decimal("0.9200"))
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
NUMBER = "+85292010037"


@pytest.mark.parametrize(
    ("minor", "days"), [(5_000, 90), (10_000, 180), (20_000, 365), (30_000, 365)]
)
def test_each_denomination_buys_its_validity_days(minor: int, days: int) -> None:
    priced = quote(credit=Money(minor, "HKD"), pay_currency="HKD", fx=None)
    assert priced.pay == Money(minor, "HKD")
    assert priced.fx is None
    assert priced.validity_days == days


@pytest.mark.parametrize("minor", [0, 1, 4_999, 5_001, 15_000, 40_000, 100_000])
def test_other_amounts_are_not_denominations(minor: int) -> None:
    with pytest.raises(NoSuchDenomination):
        quote(credit=Money(minor, "HKD"), pay_currency="HKD", fx=None)


def test_paying_in_the_other_currency_uses_the_locked_rate() -> None:
    priced = quote(credit=Money(10_000, "HKD"), pay_currency="CNY", fx=HKD_CNY)
    assert priced.pay == Money(9_200, "CNY")
    assert priced.credit == Money(10_000, "HKD")
    assert priced.fx == HKD_CNY


@pytest.mark.parametrize(
    ("rate", "fen"),
    [("0.92345", 4_617), ("0.92350", 4_618), ("0.92349", 4_617), ("1", 5_000)],
)
def test_the_converted_amount_rounds_half_up_to_the_fen(rate: str, fen: int) -> None:
    fx = FxRate("HKD", "CNY", Decimal(rate))
    assert quote(credit=Money(5_000, "HKD"), pay_currency="CNY", fx=fx).pay == Money(fen, "CNY")


def test_no_rate_no_price_in_the_other_currency() -> None:
    with pytest.raises(TopupError, match="no exchange rate"):
        quote(credit=Money(5_000, "HKD"), pay_currency="CNY", fx=None)


def test_a_rate_converts_only_its_own_base() -> None:
    with pytest.raises(TopupError):
        HKD_CNY.convert(Money(5_000, "CNY"))


def test_validity_counts_from_the_later_of_today_and_the_current_date() -> None:
    later = datetime(2027, 3, 1, tzinfo=UTC)
    assert extended_validity(later, 365, NOW) == datetime(2028, 2, 29, tzinfo=UTC)
    lapsed = datetime(2026, 1, 1, tzinfo=UTC)
    assert extended_validity(lapsed, 90, NOW) == datetime(2027, 2, 23, 9, 0, tzinfo=UTC)
    assert extended_validity(None, 90, NOW) == datetime(2027, 2, 23, 9, 0, tzinfo=UTC)


def test_validity_never_goes_more_than_730_days_ahead() -> None:
    far = datetime(2028, 10, 1, tzinfo=UTC)
    assert extended_validity(far, 365, NOW) == datetime(2028, 11, 24, 9, 0, tzinfo=UTC)
    at_cap = datetime(2028, 11, 24, 9, 0, tzinfo=UTC)
    assert extended_validity(at_cap, 90, NOW) == at_cap
    just_under = datetime(2028, 8, 26, 9, 0, tzinfo=UTC)  # 640 days ahead: 90 more fit exactly
    assert extended_validity(just_under, 90, NOW) == at_cap


def facts(**changes: object) -> NumberFacts:
    base: dict[str, object] = {
        "e164": NUMBER,
        "sim_id": 1,
        "sim_state": SimState.ACTIVE,
        "home_currency": "HKD",
        "holder_masked": "陳*明",
        "plan_code": "HK-VALID",
        "topped_up_before": True,
        "fx": HKD_CNY,
    }
    return NumberFacts(**{**base, **changes})  # type: ignore[arg-type]


def request(**changes: object) -> OrderRequest:
    base: dict[str, object] = {
        "subscriber_id": 7,
        "idempotency_key": "key-00000001",
        "number": "9201 0037",
        "confirm_number": None,
        "credit": Money(10_000, "HKD"),
        "pay_currency": "HKD",
        "provider": Provider.ALIPAY,
        "channel": Channel.WAP,
    }
    return OrderRequest.of(**{**base, **changes})  # type: ignore[arg-type]


def test_the_guard_refuses_unknown_and_recycled_numbers() -> None:
    with pytest.raises(UnknownNumber):
        check_order(facts(sim_id=None, sim_state=None, home_currency=None), request())
    with pytest.raises(NumberNotEligible):
        check_order(facts(sim_state=SimState.RECYCLED), request())
    for state in (SimState.GRACE, SimState.SUSPENDED):  # a top-up brings them back
        assert check_order(facts(sim_state=state), request()).pay == Money(10_000, "HKD")


def test_a_number_never_topped_up_must_be_typed_twice_the_same() -> None:
    first_time = facts(topped_up_before=False)
    with pytest.raises(ConfirmNumber):
        check_order(first_time, request())
    with pytest.raises(ConfirmNumber):  # another valid number is not a confirmation
        check_order(first_time, request(confirm_number="9202 0074"))
    confirmed = request(confirm_number="+852 9201 0037")  # the same number, spelled otherwise
    assert check_order(first_time, confirmed).credit == Money(10_000, "HKD")
    anonymous = request(subscriber_id=None)  # nobody to have topped it up before
    assert check_order(first_time, anonymous).credit == Money(10_000, "HKD")


def test_the_credit_is_in_the_sims_currency() -> None:
    with pytest.raises(TopupError, match="HKD"):
        check_order(facts(), request(credit=Money(10_000, "CNY")))


def test_a_price_other_than_the_one_shown_is_refused() -> None:
    shown = request(pay_currency="CNY", expected_pay=Money(9_000, "CNY"))
    with pytest.raises(QuoteChanged, match="92"):
        check_order(facts(), shown)
    same = request(pay_currency="CNY", expected_pay=Money(9_200, "CNY"))
    assert check_order(facts(), same).pay == Money(9_200, "CNY")


def test_the_fingerprint_tells_a_replay_from_another_request() -> None:
    assert request().fingerprint() == request(number="+85292010037").fingerprint()
    assert request().fingerprint() != request(credit=Money(5_000, "HKD")).fingerprint()
    assert request().fingerprint() != request(channel=Channel.QR).fingerprint()


def test_the_state_lists_come_from_the_transitions() -> None:
    assert {OrderState.CREATED, OrderState.AWAITING_PAYMENT, OrderState.EXPIRED} == PAYABLE
    # a refund that did not go out puts the order back
    assert sources(OrderState.CREDITED) == {OrderState.PAID, OrderState.REFUND_REQUESTED}
    assert sources(OrderState.REFUND_REQUESTED) == {
        OrderState.CREDITED,
        OrderState.PARTIALLY_REFUNDED,
    }
    assert not TRANSITIONS[OrderState.REFUNDED]
    assert sources(OrderState.EXPIRED) == {OrderState.CREATED, OrderState.AWAITING_PAYMENT}
    assert sql_states(sources(OrderState.EXPIRED)) == "'awaiting_payment', 'created'"
    assert not sources(OrderState.CREATED)  # nothing moves back to created
