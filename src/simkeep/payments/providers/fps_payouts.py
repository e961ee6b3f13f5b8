"""The receiving bank's FPS payout API: an outgoing credit transfer from our account, the
shape of its request and of its answer, shared by our adapter (``fps``) and the simulated
bank (``simulators.fps_payouts``).

Design overview
---------------
FPS is a push payment, so paying a payer back is a new transfer the other way, to the proxy
the payment came from. Requests and answers are signed as every call of the bank's API
(``fps_bank``):

* ``POST {bank}/v1/fps/payouts`` with ``PayoutOrder.to_json()``: ``{"instruction_id",
  "amount": {"value": <cents>, "currency": "HKD"}, "payee": {"proxy", "bank_code"?},
  "remittance_reference", "original_fps_txn_id"?}``. The instruction id is ours (our refund
  number): the bank keeps one payout per instruction id, so the same instruction again
  answers that payout (200; a new one is 201) and never pays twice; the same id with other
  details is refused with 409 ``DU01`` (that answer is not the payout's fate).
* ``GET {bank}/v1/fps/payouts/{instruction_id}`` answers the payout, or 404 ``not_found``.

A payout answer (``PayoutAnswer``) carries its ISO 20022 status: ``ACSP`` accepted and on its
way, ``ACSC`` settled on the payee's account, ``RJCT`` refused with a reason code (``REASONS``)
— nothing was paid out, and asking again with the same instruction id answers the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from simkeep.payments.model import NotificationRejected
from simkeep.payments.providers.fps_bank import (
    amount_field,
    instant_field,
    object_field,
    stamp,
    text_field,
)

PAYOUTS_PATH = "/v1/fps/payouts"
INSTRUCTION_ID = re.compile(r"^[A-Za-z0-9_-]{1,35}$")  # ISO 20022 end-to-end id: 35 at most
BANK_CODE = re.compile(r"^(\d{3}):(.+)$")  # ``012:+852-9***1234`` as the credit reported it


class PayoutStatus(StrEnum):
    ACSP = "ACSP"  # accepted by the bank, settlement in progress
    ACSC = "ACSC"  # settled on the payee's account
    RJCT = "RJCT"  # refused: nothing left our account


# The ISO 20022 status reason codes the bank refuses a payout with.
REASONS = {
    "AC01": "incorrect account: the bank knows no such payee proxy",
    "AM01": "zero amount",
    "AM02": "amount not allowed: above what is left of the original payment",
    "AM03": "currency not allowed: FPS payouts are in HKD",
    "AM04": "insufficient funds on the account",
    "AM12": "invalid amount: not positive",
    "DU01": "duplicate instruction id: it was given with other details",
    "NOOR": "original transaction never received",
}


@dataclass(frozen=True, slots=True)
class Payee:
    """Where a payout goes: an FPS proxy, at the bank the credit named if it did."""

    proxy: str
    bank_code: str | None = None

    @classmethod
    def of(cls, account: str) -> Payee:
        """The payee of ``<bank code>:<proxy>`` (a credit's ``payer_account``) or a bare proxy."""
        match = BANK_CODE.match(account)
        return cls(match[2], match[1]) if match else cls(account)

    def to_json(self) -> dict[str, str]:
        return {"proxy": self.proxy} | ({"bank_code": self.bank_code} if self.bank_code else {})


@dataclass(frozen=True, slots=True)
class PayoutOrder:
    """What we ask the bank to pay out."""

    instruction_id: str
    amount_minor: int
    currency: str
    payee: Payee
    remittance_reference: str
    original_fps_txn_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "instruction_id": self.instruction_id,
            "amount": {"value": self.amount_minor, "currency": self.currency},
            "payee": self.payee.to_json(),
            "remittance_reference": self.remittance_reference,
            "original_fps_txn_id": self.original_fps_txn_id,
        }

    def same_as(self, other: PayoutOrder) -> bool:
        """Whether ``other`` asks for this payout (the remittance text aside)."""
        return (
            self.amount_minor,
            self.currency,
            self.payee,
            self.original_fps_txn_id,
        ) == (other.amount_minor, other.currency, other.payee, other.original_fps_txn_id)


@dataclass(frozen=True, slots=True)
class PayoutAnswer:
    """What the bank says about one payout."""

    instruction_id: str
    status: PayoutStatus
    amount_minor: int
    currency: str
    fps_txn_id: str | None = None  # only once the bank accepted it
    reason_code: str | None = None  # only when refused
    reason_message: str | None = None
    settled_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        reason = (
            {"code": self.reason_code, "message": self.reason_message or ""}
            if self.reason_code
            else None
        )
        return {
            "instruction_id": self.instruction_id,
            "status": self.status.value,
            "reason": reason,
            "fps_txn_id": self.fps_txn_id,
            "amount": {"value": self.amount_minor, "currency": self.currency},
            "settled_at": stamp(self.settled_at) if self.settled_at else None,
        }


def parse_order(data: object) -> PayoutOrder:
    """A payout request's fields, checked for shape; ``NotificationRejected`` when malformed
    (a zero, negative or foreign amount is well formed: the bank refuses it with a code)."""
    if not isinstance(data, dict):
        raise NotificationRejected("malformed", "the payout is not a JSON object")
    instruction_id = text_field(data, "instruction_id", required=True)
    if not INSTRUCTION_ID.match(instruction_id):
        raise NotificationRejected("malformed", "instruction_id is not 1-35 of A-Z a-z 0-9 _ -")
    value, currency = amount_field(data)
    payee = object_field(data, "payee")
    bank_code = text_field(payee, "bank_code", required=False)
    return PayoutOrder(
        instruction_id=instruction_id,
        amount_minor=value,
        currency=currency,
        payee=Payee(text_field(payee, "proxy", required=True), bank_code or None),
        remittance_reference=text_field(data, "remittance_reference", required=False),
        original_fps_txn_id=text_field(data, "original_fps_txn_id", required=False) or None,
    )


def parse_answer(data: object) -> PayoutAnswer:
    """A payout answer's fields, checked for shape; ``NotificationRejected`` when malformed."""
    if not isinstance(data, dict):
        raise NotificationRejected("malformed", "the payout is not a JSON object")
    try:
        status = PayoutStatus(str(data.get("status")))
    except ValueError as error:
        raise NotificationRejected("malformed", "the payout's status is unknown") from error
    reason = data.get("reason")
    if (status is PayoutStatus.RJCT) != isinstance(reason, dict):
        raise NotificationRejected("malformed", "only a refused payout carries a reason")
    if status is PayoutStatus.ACSC and not data.get("settled_at"):
        raise NotificationRejected("malformed", "a settled payout carries settled_at")
    value, currency = amount_field(data)
    return PayoutAnswer(
        instruction_id=text_field(data, "instruction_id", required=True),
        status=status,
        amount_minor=value,
        currency=currency,
        fps_txn_id=text_field(data, "fps_txn_id", required=False) or None,
        reason_code=text_field(reason, "code", required=True) if reason else None,
        reason_message=text_field(reason, "message", required=False) if reason else None,
        settled_at=instant_field(data, "settled_at") if data.get("settled_at") else None,
    )
