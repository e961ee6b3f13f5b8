"""Which promotions apply to a top-up, and what each gives: the one pure decision
(``promotions.model.applicable``), as worked examples and as properties."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simkeep.money import Money
from simkeep.names import Names
from simkeep.payment_methods import Channel, Provider
from simkeep.promotions.model import (
    Benefit,
    BenefitKind,
    Conditions,
    Promotion,
    PromotionError,
    PromotionState,
    Prospect,
    SalesChannel,
    applicable,
    check_promotion,
    grants,
    offered_to,
    window,
)
from simkeep.sims.model import Retention

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
DATA_1GB = Benefit(BenefitKind.DATA, 1024, None, 30)


def promotion(
    pid: int,
    *benefits: Benefit,
    priority: int = 10,
    stackable: bool = False,
    budget: int | None = None,
    used: int = 0,
    cap: int | None = None,
    **conditions: object,
) -> Promotion:
    return Promotion(
        id=pid,
        code=f"P{pid}",
        names=Names(f"優惠{pid}", f"优惠{pid}", f"Promotion {pid}"),
        state=PromotionState.ACTIVE,
        priority=priority,
        stackable=stackable,
        conditions=Conditions(**conditions),  # type: ignore[arg-type]
        benefits=benefits or (DATA_1GB,),
        budget=budget,
        used=used,
        per_sim_cap=cap,
    )


def prospect(minor: int = 10_000, **changes: object) -> Prospect:
    base = Prospect(
        credit=Money(minor, "HKD"),
        sales_channel=SalesChannel.WEB,
        provider=Provider.WECHATPAY,
        pay_channel=Channel.QR,
        first_topup=False,
        plan_code="HK-VALID",
        retention=Retention.VALIDITY,
        at=NOW,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def ids(promotions: list[Promotion], top_up: Prospect) -> list[int]:
    return [applied.promotion_id for applied in applicable(promotions, top_up)]


# The three promotions of the demo, as worked examples.
GB_FOR_100 = promotion(1, DATA_1GB, currency="HKD", min_credit_minor=10_000, priority=20)
FIRST_10_PERCENT = promotion(
    2, Benefit(BenefitKind.PERCENT, 10, None, 90), first_topup=True, priority=30, cap=1
)
WECHAT_20_MINUTES = promotion(
    3,
    Benefit(BenefitKind.VOICE, 20, None, 30),
    provider=Provider.WECHATPAY,
    stackable=True,
    starts_at=datetime(2026, 10, 31, 16, tzinfo=UTC),
    ends_at=datetime(2026, 11, 30, 16, tzinfo=UTC),
)
DEMO = [GB_FOR_100, FIRST_10_PERCENT, WECHAT_20_MINUTES]


def test_hk_100_by_wechat_pay_gets_the_gigabyte_and_the_minutes() -> None:
    applied = applicable(DEMO, prospect(10_000))
    assert [a.promotion_id for a in applied] == [1, 3]
    assert applied[0].grants[0].amount == 1024
    assert applied[0].grants[0].expires_days == 30
    assert applied[1].grants[0].kind is BenefitKind.VOICE


def test_a_first_top_up_gets_the_best_of_the_two_that_do_not_stack() -> None:
    """10 % beats the gigabyte by priority; the WeChat Pay minutes stack on top."""
    applied = applicable(DEMO, prospect(20_000, first_topup=True))
    assert [a.promotion_id for a in applied] == [2, 3]
    assert applied[0].grants[0].money("HKD") == Money(2_000, "HKD")


def test_hk_50_by_alipay_gets_nothing() -> None:
    assert ids(DEMO, prospect(5_000, provider=Provider.ALIPAY)) == []


def test_the_percentage_is_rounded_down_to_the_minor_unit() -> None:
    third = promotion(9, Benefit(BenefitKind.PERCENT, 3, None, 30))
    assert grants(third, prospect(5_050))[0].amount == 151  # 151.5 fen → 151


def test_extra_validity_days_mean_nothing_to_a_monthly_fee_sim() -> None:
    days = promotion(5, Benefit(BenefitKind.VALIDITY, 30))
    assert applicable([days], prospect())[0].validity_days == 30
    assert applicable([days], prospect(retention=Retention.MONTHLY_FEE)) == []
    both = promotion(6, DATA_1GB, Benefit(BenefitKind.VALIDITY, 30))
    kept = applicable([both], prospect(retention=Retention.MONTHLY_FEE))
    assert [g.kind for g in kept[0].grants] == [BenefitKind.DATA]


@pytest.mark.parametrize(
    ("conditions", "top_up"),
    [
        ({"currency": "CNY"}, {}),
        ({"sales_channel": SalesChannel.API}, {}),
        ({"provider": Provider.ALIPAY}, {}),
        ({"provider": Provider.WECHATPAY}, {"provider": None}),
        ({"pay_channel": Channel.WAP}, {}),
        ({"first_topup": True}, {}),
        ({"plan_code": "HK-KEEP"}, {}),
        ({"starts_at": NOW + timedelta(seconds=1)}, {}),
        ({"ends_at": NOW}, {}),
    ],
)
def test_each_condition_that_fails_keeps_the_promotion_out(
    conditions: dict[str, object], top_up: dict[str, object]
) -> None:
    assert ids([promotion(1, **conditions)], prospect(**top_up)) == []
    assert ids([promotion(1)], prospect(**top_up)) == [1]


def test_paused_run_out_and_capped_promotions_are_not_offered() -> None:
    paused = replace(promotion(1), state=PromotionState.PAUSED)
    spent = promotion(2, budget=5, used=5)
    capped = promotion(3, cap=1)
    assert ids([paused, spent, capped], prospect(sim_uses={3: 1})) == []
    assert ids([capped], prospect(sim_uses={3: 0})) == [3]


def test_the_window_is_hong_kong_days() -> None:
    starts, ends = window(date(2026, 11, 1), date(2026, 11, 30))
    assert starts == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert ends == datetime(2026, 11, 30, 16, tzinfo=UTC)


def test_offered_to_a_sim_leaves_out_what_it_cannot_get() -> None:
    others = [promotion(7, currency="CNY"), promotion(8, plan_code="CN-KEEP")]
    offered = offered_to(
        [*DEMO, *others], currency="HKD", plan_code="HK-VALID", first_topup=False, sim_uses={}
    )
    assert [p.id for p in offered] == [1, 3]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"code": "bad code!"}, "code"),
        ({"priority": -1}, "priority"),
        ({"budget": 0}, "budget"),
        ({"per_sim_cap": 0}, "per_sim_cap"),
        ({"benefits": []}, "benefits"),
        ({"benefits": [DATA_1GB, DATA_1GB]}, "benefits"),
        ({"benefits": [Benefit(BenefitKind.DATA, 0, None, 30)]}, "data"),
        ({"benefits": [Benefit(BenefitKind.PERCENT, 101, None, 30)]}, "percent"),
        ({"benefits": [Benefit(BenefitKind.DATA, 10, None, None)]}, "data_days"),
        ({"benefits": [Benefit(BenefitKind.DATA, 10, "moon", 30)]}, "data_zone"),
        ({"benefits": [Benefit(BenefitKind.VALIDITY, 10, None, 30)]}, "validity"),
        (
            {"benefits": [Benefit(BenefitKind.MONEY, 500, None, 30)], "conditions": Conditions()},
            "currency",
        ),
        ({"conditions": Conditions(min_credit_minor=100)}, "currency"),
        ({"conditions": Conditions(starts_at=NOW, ends_at=NOW)}, "ends_on"),
    ],
)
def test_what_the_operator_cannot_mean_is_refused_by_field(
    changes: dict[str, object], field: str
) -> None:
    values: dict[str, object] = {
        "code": "GB100",
        "priority": 10,
        "budget": 100,
        "per_sim_cap": 1,
        "conditions": Conditions(currency="HKD", min_credit_minor=10_000),
        "benefits": [DATA_1GB],
        **changes,
    }
    with pytest.raises(PromotionError) as refused:
        check_promotion(**values)  # type: ignore[arg-type]
    assert refused.value.field == field


promotions_strategy = st.lists(
    st.builds(
        promotion,
        pid=st.integers(1, 50),
        priority=st.integers(0, 5),
        stackable=st.booleans(),
        cap=st.none() | st.integers(1, 2),
        budget=st.none() | st.integers(1, 3),
        used=st.integers(0, 3),
        first_topup=st.booleans(),
        min_credit_minor=st.none() | st.sampled_from([5_000, 10_000, 20_000]),
        currency=st.just("HKD"),
    ),
    max_size=8,
    unique_by=lambda p: p.id,
)


@given(
    promotions_strategy,
    st.sampled_from([5_000, 10_000, 20_000, 30_000]),
    st.booleans(),
    st.dictionaries(st.integers(1, 50), st.integers(0, 2)),
)
def test_at_most_one_that_does_not_stack_and_it_is_the_best(
    promotions: list[Promotion], minor: int, first: bool, uses: dict[int, int]
) -> None:
    top_up = prospect(minor, first_topup=first, sim_uses=uses)
    chosen = {a.promotion_id for a in applicable(promotions, top_up)}
    by_id = {p.id: p for p in promotions}
    lone = [pid for pid in chosen if not by_id[pid].stackable]
    assert len(lone) <= 1
    eligible = [
        p
        for p in promotions
        if not p.exhausted
        and (p.per_sim_cap is None or uses.get(p.id, 0) < p.per_sim_cap)
        and (not p.conditions.first_topup or first)
        and (p.conditions.min_credit_minor or 0) <= minor
    ]
    alone = [p for p in eligible if not p.stackable]
    best = {min(alone, key=lambda p: (-p.priority, p.id)).id} if alone else set()
    assert chosen == {p.id for p in eligible if p.stackable} | best
