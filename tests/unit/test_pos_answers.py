"""How the counter's sale and refund forms answer a refusal, without a database: one status
for every refusal, whichever form it comes from, and an ID document that is never written
back to the page."""

from __future__ import annotations

import pytest

from simkeep.counter.model import FloatTooLow, IdCheckRequired, InvalidCounterAmount
from simkeep.refunds.model import PaidOut, UnknownRefund, UnknownTopUp
from simkeep.sims.model import InvalidIdDocument
from simkeep.web.forms import FormState
from simkeep.web.pos_answers import refusal_status, untyped


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (UnknownTopUp.code, 404),  # a refund of a top-up no one made
        (UnknownRefund.code, 404),
        (FloatTooLow.code, 409),  # a sale the agent's float cannot pay for
        (IdCheckRequired.code, 409),  # a sale or a refund alike
        (PaidOut.code, 409),
        (InvalidCounterAmount.code, 422),
        ("anything_else", 422),
    ],
)
def test_a_refusal_has_one_status_on_every_counter_form(code: str, status: int) -> None:
    assert refusal_status(code) == status


def test_a_refused_id_check_marks_the_number_and_forgets_it() -> None:
    form = FormState({"id_type": "hkid", "id_number": "A123456(3)"})
    refused = untyped(form, InvalidIdDocument("type the number as printed"))
    assert "id_number" not in refused.values
    assert refused.values["id_type"] == "hkid"
    assert refused.errors["id_number"].code == InvalidIdDocument.code
