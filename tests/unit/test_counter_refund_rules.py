"""The rules of refunds of outlet top-ups, as worked examples (docs/refunds.md, "Top-ups made
at an outlet"): the number on the receipt, the way back, the commission taken back, the
request's fingerprint, and the journal that pays a refund to the agent's float."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from simkeep.counter.model import InvalidPayment, Payer, Payment
from simkeep.i18n import LOCALE_DIR, LOCALES
from simkeep.ledger import rules
from simkeep.ledger.model import Posting, check_postings
from simkeep.money import Money
from simkeep.refunds.model import (
    InvalidTopUpNumber,
    Reason,
    check_topup_number,
    commission_back,
    counter_fingerprint,
    way_back,
)
from simkeep.refunds.outlets import PAID_OUT_TEXT, WAITING_TEXT

REFUNDS, FLOAT, COMM_PAY, COMM_EXP = range(1, 5)
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
CASH = Payer(Payment.CASH)
CARD = Payer(Payment.CARD, "TERM-1")


def hkd(minor: int) -> Money:
    return Money(minor, "HKD")


def test_the_receipts_number_or_the_orders_spaces_and_case_forgiven() -> None:
    assert check_topup_number(" r2611 2500 0000 0042 ") == "R2611250000000042"
    assert check_topup_number("T202611250000000042") == "T202611250000000042"
    for typed in ("R12", "T2026112500000000421", "X2611250000000042", "", "R261125000000004２"):
        with pytest.raises(InvalidTopUpNumber):
            check_topup_number(typed)


def test_it_goes_back_the_way_it_was_paid() -> None:
    assert way_back(Payment.CASH, CASH) == CASH
    assert way_back(Payment.CARD, CARD) == CARD
    with pytest.raises(InvalidPayment, match="refund it to the card"):
        way_back(Payment.CARD, CASH)
    with pytest.raises(InvalidPayment, match="refund it in cash"):
        way_back(Payment.CASH, CARD)


def test_hk33_at_1_5_percent_gives_back_its_49_cents_pro_rata_rounded_down() -> None:
    sale, earned = hkd(3_300), hkd(49)

    first = commission_back(sale=sale, earned=earned, paid_before=hkd(0), pay=hkd(1_000))
    rest = commission_back(sale=sale, earned=earned, paid_before=hkd(1_000), pay=hkd(2_300))

    assert first == hkd(14)  # 49 × 10 / 33 = 14.8…
    assert rest == hkd(35)
    assert first + rest == earned


def test_a_refund_less_the_used_bonus_gives_back_its_share_only() -> None:
    back = commission_back(sale=hkd(10_000), earned=hkd(150), paid_before=hkd(0), pay=hkd(9_400))
    assert back == hkd(141)


def test_the_fingerprint_tells_another_request_from_a_replay() -> None:
    one = counter_fingerprint(topup="R1", reason=Reason.OTHER, asked_minor=None, payer=CASH)
    assert one == counter_fingerprint(topup="R1", reason=Reason.OTHER, asked_minor=None, payer=CASH)
    others = {
        counter_fingerprint(topup="R2", reason=Reason.OTHER, asked_minor=None, payer=CASH),
        counter_fingerprint(topup="R1", reason=Reason.NOT_NEEDED, asked_minor=None, payer=CASH),
        counter_fingerprint(topup="R1", reason=Reason.OTHER, asked_minor=100, payer=CASH),
        counter_fingerprint(topup="R1", reason=Reason.OTHER, asked_minor=None, payer=CARD),
    }
    assert one not in others
    assert len(others) == 4


def test_hk500_refund_paid_to_the_float_takes_its_hk7_50_commission_back() -> None:
    postings = rules.outlet_refund_paid(
        refunds_payable=REFUNDS,
        agent_float=FLOAT,
        commission_payable=COMM_PAY,
        commission_expense=COMM_EXP,
        amount=hkd(50_000),
        commission=hkd(750),
    )

    check_postings(postings)
    assert postings == (
        Posting(REFUNDS, 50_000, "HKD"),
        Posting(FLOAT, -50_000, "HKD"),
        Posting(COMM_PAY, 750, "HKD"),
        Posting(COMM_EXP, -750, "HKD"),
    )


def test_no_commission_back_writes_no_commission_postings() -> None:
    postings = rules.outlet_refund_paid(
        refunds_payable=REFUNDS,
        agent_float=FLOAT,
        commission_payable=COMM_PAY,
        commission_expense=COMM_EXP,
        amount=hkd(66),
        commission=hkd(0),
    )
    assert postings == (Posting(REFUNDS, 66, "HKD"), Posting(FLOAT, -66, "HKD"))


@pytest.mark.parametrize("locale", LOCALES)
def test_the_payers_texts_are_translated_with_their_placeholders(locale: str) -> None:
    path = LOCALE_DIR / locale / "LC_MESSAGES" / "counter_refunds.po"
    with path.open("rb") as po_file:
        catalog = read_po(po_file, locale=locale)
    texts = {m.id: m.string for m in catalog if m.id and m.context == "sms" and m.string}
    assert set(texts) == {WAITING_TEXT, PAID_OUT_TEXT}
    for message, text in texts.items():
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(message)), text
