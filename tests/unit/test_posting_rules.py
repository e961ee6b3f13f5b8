"""Every business event's journal, as a worked example (docs/ledger.md).

Account ids here are small numbers standing for the accounts named in each test.
"""

from __future__ import annotations

import pytest

from simkeep.ledger import rules
from simkeep.ledger.model import InvalidJournal, Posting, check_postings
from simkeep.money import Money

CLEARING, SIM, BONUS, FX_HKD, FX_CNY, FLOAT, COMM_EXP, COMM_PAY = range(1, 9)
VOUCHERS, REVENUE, PROMO, REFUNDS, FORFEIT, BANK, FEES = range(9, 16)


def hkd(minor: int) -> Money:
    return Money(minor, "HKD")


def cny(minor: int) -> Money:
    return Money(minor, "CNY")


def test_alipay_top_up_of_hk100() -> None:
    postings = rules.provider_topup(clearing=CLEARING, sim_balance=SIM, amount=hkd(10_000))
    assert postings == (Posting(CLEARING, 10_000, "HKD"), Posting(SIM, -10_000, "HKD"))


def test_hk100_paid_with_cny92_goes_through_fx() -> None:
    postings = rules.cross_currency_topup(
        clearing=CLEARING,
        fx_paid=FX_CNY,
        fx_credited=FX_HKD,
        sim_balance=SIM,
        paid=cny(9_200),
        credited=hkd(10_000),
    )
    check_postings(postings)
    assert Posting(CLEARING, 9_200, "CNY") in postings
    assert Posting(FX_CNY, -9_200, "CNY") in postings
    assert Posting(FX_HKD, 10_000, "HKD") in postings
    assert Posting(SIM, -10_000, "HKD") in postings


def test_cross_currency_needs_two_currencies() -> None:
    with pytest.raises(InvalidJournal):
        rules.cross_currency_topup(
            clearing=1, fx_paid=2, fx_credited=3, sim_balance=4, paid=hkd(1), credited=hkd(1)
        )


def test_hk200_cash_at_an_outlet_with_3_percent_commission() -> None:
    postings = rules.outlet_topup(
        agent_float=FLOAT,
        sim_balance=SIM,
        commission_expense=COMM_EXP,
        commission_payable=COMM_PAY,
        amount=hkd(20_000),
        commission=hkd(600),
    )
    check_postings(postings)
    assert postings == (
        Posting(FLOAT, 20_000, "HKD"),
        Posting(SIM, -20_000, "HKD"),
        Posting(COMM_EXP, 600, "HKD"),
        Posting(COMM_PAY, -600, "HKD"),
    )


def test_zero_commission_writes_no_commission_lines() -> None:
    postings = rules.outlet_topup(
        agent_float=FLOAT,
        sim_balance=SIM,
        commission_expense=COMM_EXP,
        commission_payable=COMM_PAY,
        amount=hkd(5_000),
        commission=hkd(0),
    )
    assert len(postings) == 2


def test_voucher_sold_then_redeemed() -> None:
    sale = rules.voucher_sale(
        agent_float=FLOAT,
        vouchers_outstanding=VOUCHERS,
        commission_expense=COMM_EXP,
        commission_payable=COMM_PAY,
        face_value=hkd(10_000),
        commission=hkd(300),
    )
    redemption = rules.voucher_redemption(
        vouchers_outstanding=VOUCHERS, sim_balance=SIM, face_value=hkd(10_000)
    )
    outstanding = sum(p.amount for p in sale + redemption if p.account_id == VOUCHERS)
    assert outstanding == 0  # sold and redeemed: the operator owes nothing on it any more
    assert sum(p.amount for p in redemption if p.account_id == SIM) == -10_000


def test_monthly_fee_of_cny8() -> None:
    postings = rules.retention_fee(sim_balance=SIM, revenue=REVENUE, fee=cny(800))
    assert postings == (Posting(SIM, 800, "CNY"), Posting(REVENUE, -800, "CNY"))


def test_usage_spends_bonus_first() -> None:
    postings = rules.usage(
        sim_bonus=BONUS,
        sim_balance=SIM,
        revenue=REVENUE,
        from_bonus=cny(500),
        from_balance=cny(250),
    )
    check_postings(postings)
    assert Posting(BONUS, 500, "CNY") in postings
    assert Posting(SIM, 250, "CNY") in postings
    assert Posting(REVENUE, -750, "CNY") in postings


def test_usage_of_nothing_is_refused() -> None:
    with pytest.raises(InvalidJournal):
        rules.usage(sim_bonus=1, sim_balance=2, revenue=3, from_bonus=cny(0), from_balance=cny(0))


def test_promotion_granted_then_expired_costs_nothing() -> None:
    grant = rules.promotion_grant(promotion_expense=PROMO, sim_bonus=BONUS, bonus=hkd(1_000))
    expiry = rules.promotion_expiry(sim_bonus=BONUS, promotion_expense=PROMO, unused=hkd(1_000))
    assert sum(p.amount for p in grant + expiry if p.account_id == PROMO) == 0


def test_refund_approved_then_paid_by_the_provider() -> None:
    approved = rules.refund_approved(
        sim_balance=SIM,
        refunds_payable=REFUNDS,
        promotion_expense=PROMO,
        taken=hkd(5_000),
        deducted=hkd(0),
        owed=hkd(5_000),
    )
    paid = rules.refund_paid(refunds_payable=REFUNDS, paid_from=CLEARING, amount=hkd(5_000))
    assert sum(p.amount for p in approved + paid if p.account_id == REFUNDS) == 0
    assert Posting(CLEARING, -5_000, "HKD") in paid
    assert Posting(SIM, 5_000, "HKD") in approved


def test_refund_of_hk100_with_hk6_of_its_bonus_used_pays_back_hk94() -> None:
    approved = rules.refund_approved(
        sim_balance=SIM,
        refunds_payable=REFUNDS,
        promotion_expense=PROMO,
        taken=hkd(10_000),
        deducted=hkd(600),
        owed=hkd(9_400),
    )
    assert approved == (
        Posting(SIM, 10_000, "HKD"),
        Posting(PROMO, -600, "HKD"),
        Posting(REFUNDS, -9_400, "HKD"),
    )


def test_refund_of_hk100_paid_with_cny92_owes_cny92_through_fx() -> None:
    approved = rules.refund_approved(
        sim_balance=SIM,
        refunds_payable=REFUNDS,
        promotion_expense=PROMO,
        taken=hkd(10_000),
        deducted=hkd(0),
        owed=cny(9_200),
        fx=(FX_HKD, FX_CNY),
    )
    check_postings(approved)
    assert Posting(REFUNDS, -9_200, "CNY") in approved
    assert Posting(FX_HKD, -10_000, "HKD") in approved


@pytest.mark.parametrize(
    ("taken", "deducted", "owed"),
    [(hkd(5_000), hkd(0), hkd(4_000)), (hkd(5_000), hkd(5_000), hkd(1)), (hkd(0), hkd(0), hkd(0))],
)
def test_refund_approved_refuses_amounts_that_do_not_add_up(
    taken: Money, deducted: Money, owed: Money
) -> None:
    with pytest.raises(InvalidJournal):
        rules.refund_approved(
            sim_balance=SIM,
            refunds_payable=REFUNDS,
            promotion_expense=PROMO,
            taken=taken,
            deducted=deducted,
            owed=owed,
        )


def test_forfeiture_of_a_recycled_sim() -> None:
    postings = rules.forfeiture(sim_balance=SIM, forfeited=FORFEIT, remaining=hkd(1_234))
    assert postings == (Posting(SIM, 1_234, "HKD"), Posting(FORFEIT, -1_234, "HKD"))


def test_provider_settlement_less_fee() -> None:
    postings = rules.provider_settlement(
        bank=BANK, fees=FEES, clearing=CLEARING, gross=cny(100_000), fee=cny(600)
    )
    check_postings(postings)
    assert Posting(BANK, 99_400, "CNY") in postings
    assert Posting(FEES, 600, "CNY") in postings


def test_float_deposit_and_commission_payout() -> None:
    deposit = rules.float_deposit(bank=BANK, agent_float=FLOAT, amount=hkd(1_000_000))
    payout = rules.commission_payout(commission_payable=COMM_PAY, bank=BANK, amount=hkd(900))
    assert deposit[1] == Posting(FLOAT, -1_000_000, "HKD")
    assert payout[0] == Posting(COMM_PAY, 900, "HKD")


def test_negative_amounts_are_refused() -> None:
    with pytest.raises(InvalidJournal):
        rules.provider_topup(clearing=1, sim_balance=2, amount=hkd(-100))


def test_many_fees_are_booked_in_few_journals_with_the_revenue_summed() -> None:
    sims = range(1000, 1250)  # 250 SIMs' balances, each billed HK$8 or ¥8
    events = [
        rules.retention_fee(sim_balance=sim, revenue=REVENUE, fee=hkd(800) if sim % 2 else cny(800))
        if sim % 3
        else rules.retention_fee(sim_balance=sim, revenue=FORFEIT, fee=cny(800))
        for sim in sims
    ]
    journals = rules.batched(events, pooled={REVENUE, FORFEIT})

    assert [booked for booked, _ in journals] == [range(97), range(97, 194), range(194, 250)]
    seen = []
    for _, postings in journals:
        assert len(check_postings(postings)) <= 100  # each a valid, balanced journal
        seen += [p.account_id for p in postings if p.account_id not in {REVENUE, FORFEIT}]
        assert len([p for p in postings if p.account_id in {REVENUE, FORFEIT}]) <= 3
    assert seen == list(sims)  # every SIM once, in order, none split
    booked = sum(-p.amount for _, ps in journals for p in ps if p.account_id == REVENUE)
    assert booked == 800 * len([s for s in sims if s % 3])


def test_a_batch_never_splits_an_event() -> None:
    events = [(Posting(SIM, 5, "HKD"), Posting(BONUS, 5, "HKD"), Posting(REVENUE, -10, "HKD"))] * 3
    journals = rules.batched(events, pooled={REVENUE}, limit=5)
    assert [(booked, len(postings)) for booked, postings in journals] == [
        (range(2), 5),
        (range(2, 3), 3),
    ]
