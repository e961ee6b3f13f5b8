"""The simulated bank's payouts: outgoing FPS transfers from the merchant's account, which is
how an FPS payment is paid back.

Design overview
---------------
``PayoutBook`` is the merchant's account seen from the payout side. The bank learns, from
each incoming credit it settles (``credited``), the payer's proxy (a known account that may
be paid), the amount the credit brought in (what may go back against it) and the balance.
The balance is what came in less the bank's charges on it, less what went out.
``instruct`` takes a payout request (``providers.fps_payouts``) and keeps one payout per
instruction id: the same instruction again answers that payout — pays nothing twice — and
the same id with other details is refused with 409 ``DU01``. A new payout is refused
(``RJCT``, kept under its id with its reason code) in this order: a currency other than HKD
``AM03``, a zero ``AM01`` or negative ``AM12`` amount, a payee proxy it has never seen pay
``AC01``, an original transaction it never received ``NOOR``, more than is left of that
original payment after the payouts already made against it ``AM02``, more than the balance
``AM04``. Otherwise it is accepted (``ACSP``) and the money leaves the balance at once; it
settles (``ACSC``) ``settle_after`` later — real FPS takes seconds, scaled like the webhooks
— seen whenever the payout is next read. Nothing leaves ``ACSC`` or ``RJCT``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from simkeep.clock import Clock
from simkeep.payments.model import NotificationRejected, json_object
from simkeep.payments.providers.fps_bank import CURRENCY
from simkeep.payments.providers.fps_payouts import (
    REASONS,
    PayoutAnswer,
    PayoutOrder,
    PayoutStatus,
    parse_order,
)
from simkeep.simulators.fps_transfers import SimulatorError, fps_reference

PAYOUT_SETTLE_SECONDS = 5

PAYOUT_TRANSITIONS: dict[PayoutStatus, frozenset[PayoutStatus]] = {
    PayoutStatus.ACSP: frozenset({PayoutStatus.ACSC}),
    PayoutStatus.ACSC: frozenset(),
    PayoutStatus.RJCT: frozenset(),
}


@dataclass(slots=True)
class Payout:
    """One outgoing transfer, kept under the merchant's instruction id."""

    order: PayoutOrder
    status: PayoutStatus
    created_at: datetime
    fps_txn_id: str | None = None
    reason_code: str | None = None
    settled_at: datetime | None = None

    def move(self, to: PayoutStatus) -> None:
        if to not in PAYOUT_TRANSITIONS[self.status]:
            raise SimulatorError(409, "invalid_state", f"the payout is {self.status}")
        self.status = to

    def answer(self) -> PayoutAnswer:
        """The payout as the bank's API reports it."""
        return PayoutAnswer(
            instruction_id=self.order.instruction_id,
            status=self.status,
            amount_minor=self.order.amount_minor,
            currency=self.order.currency,
            fps_txn_id=self.fps_txn_id,
            reason_code=self.reason_code,
            reason_message=REASONS[self.reason_code] if self.reason_code else None,
            settled_at=self.settled_at,
        )


class PayoutBook:
    """The merchant's account for payouts: known payees, what came in, what went out."""

    def __init__(self, *, clock: Clock, settle_after: timedelta) -> None:
        self.payouts: dict[str, Payout] = {}
        self.known_accounts: dict[str, str] = {}  # payer proxy → its bank code
        self.received: dict[str, int] = {}  # incoming fps_txn_id → cents credited
        self.balance_minor = 0
        self._clock = clock
        self._settle_after = settle_after

    def snapshot(self) -> dict[str, Any]:
        """The account and its payouts, as ``simulators.records`` keeps them."""
        return {
            "payouts": self.payouts,
            "known_accounts": self.known_accounts,
            "received": self.received,
            "balance_minor": self.balance_minor,
        }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        self.payouts, self.received = snapshot["payouts"], snapshot["received"]
        self.known_accounts = snapshot["known_accounts"]
        self.balance_minor = snapshot["balance_minor"]

    def credited(
        self, fps_txn_id: str, amount_minor: int, *, payer: Mapping[str, str], fee_minor: int
    ) -> None:
        """An incoming credit settled: its payer becomes an account that may be paid."""
        self.known_accounts[payer["proxy"]] = payer["bank_code"]
        self.received[fps_txn_id] = amount_minor
        self.balance_minor += amount_minor - fee_minor

    def instruct(self, body: bytes) -> tuple[Payout, bool]:
        """Take a payout request: the payout under its instruction id, and whether it is new."""
        try:
            order = parse_order(json_object(body, what="the payout request"))
        except NotificationRejected as error:
            raise SimulatorError(400, error.code, str(error)) from error
        kept = self.payouts.get(order.instruction_id)
        if kept is not None:
            if not kept.order.same_as(order):
                raise SimulatorError(409, "DU01", REASONS["DU01"])
            return self._settled_if_due(kept), False
        payout = Payout(order, PayoutStatus.RJCT, created_at=self._clock.now())
        payout.reason_code = self._refusal(order)
        if payout.reason_code is None:
            payout.status, payout.fps_txn_id = PayoutStatus.ACSP, fps_reference(self._clock.now())
            self.balance_minor -= order.amount_minor
        self.payouts[order.instruction_id] = payout
        return payout, True

    def find(self, instruction_id: str) -> Payout:
        """The payout under ``instruction_id``; 404 ``not_found`` when there is none."""
        payout = self.payouts.get(instruction_id)
        if payout is None:
            raise SimulatorError(404, "not_found", "no payout has that instruction id")
        return self._settled_if_due(payout)

    def paid_out_minor(self, original_fps_txn_id: str | None = None) -> int:
        """Cents that left the account (accepted or settled), against one credit if named."""
        return sum(
            p.order.amount_minor
            for p in self.payouts.values()
            if p.status is not PayoutStatus.RJCT
            and (original_fps_txn_id is None or p.order.original_fps_txn_id == original_fps_txn_id)
        )

    def _refusal(self, order: PayoutOrder) -> str | None:
        """The reason code the bank refuses ``order`` with, or ``None`` to accept it."""
        if order.currency != CURRENCY:
            return "AM03"
        if order.amount_minor <= 0:
            return "AM01" if order.amount_minor == 0 else "AM12"
        bank_code = self.known_accounts.get(order.payee.proxy)
        if bank_code is None or order.payee.bank_code not in (None, bank_code):
            return "AC01"
        original = order.original_fps_txn_id
        if original is not None:
            if original not in self.received:
                return "NOOR"
            left = self.received[original] - self.paid_out_minor(original)
            if order.amount_minor > left:
                return "AM02"
        if order.amount_minor > self.balance_minor:
            return "AM04"
        return None

    def _settled_if_due(self, payout: Payout) -> Payout:
        if payout.status is PayoutStatus.ACSP:
            due = payout.created_at + self._settle_after
            if self._clock.now() >= due:
                payout.move(PayoutStatus.ACSC)
                payout.settled_at = due
        return payout
