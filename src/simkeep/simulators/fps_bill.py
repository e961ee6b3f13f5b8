"""The simulated bank's daily statement of the merchant's account: FPS's bill, written from
the bank's own transfers and payouts.

Design overview
---------------
``FpsBills.answer`` answers the statement API (``GET /v1/fps/statements?date=…``, checked
and signed by ``fps_routes`` as every call of the bank's API): a Hong Kong day that is over
is written when asked (``payments.bills.fps``) — the opening balance (every credit settled
before the day, less its charge, less every payout accepted before it), the credits settled
that day (whatever reference they carried, none included) and the payouts accepted that
day, in booking order (credits first within a second, otherwise as they were booked) — and
handed over as ``content`` (base64) with its ``sha256``. A day not over yet is 404
``statement_not_ready``.

The differences a test plants (``bill_rules.BillDifferences``) change the statements made
after: the credits carrying one reference shifted, the summary's credits one cent more than
its entries, or a SHA-256 that is not the file's. ``plant_provider_only`` settles a credit
carrying a reference the merchant never gave, without a webhook.
"""

from __future__ import annotations

import base64
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any

from simkeep.clock import HONG_KONG, Clock
from simkeep.money import Money
from simkeep.payments.bills.fps import (
    CREDIT,
    DEBIT,
    NOT_READY,
    Counterparty,
    Entry,
    Statement,
    digest,
    statement_file,
    statement_id,
)
from simkeep.payments.providers.fps_bank import CURRENCY
from simkeep.payments.providers.fps_payouts import PayoutStatus
from simkeep.simulators.bill_hooks import billed_amount
from simkeep.simulators.bill_rules import BillDifferences, day_of
from simkeep.simulators.fps_payouts import Payout
from simkeep.simulators.fps_transfers import PAYER, SimulatorError, State, Transfer

if TYPE_CHECKING:
    from simkeep.simulators.fps import FpsBankSimulator


class FpsBills:
    """The daily statements of the merchant's account at the simulated bank."""

    def __init__(self, sim: FpsBankSimulator, *, clock: Clock) -> None:
        self.sim = sim
        self.differences = BillDifferences()
        self._clock = clock

    def answer(self, date_text: str) -> dict[str, Any]:
        """The statement API's answer for ``date_text`` (``yyyy-MM-dd``)."""
        try:
            day = date.fromisoformat(date_text)
        except ValueError as error:
            raise SimulatorError(400, "bad_date", "date is yyyy-MM-dd") from error
        if not self.differences.made(day, self._clock.now()):
            raise SimulatorError(404, NOT_READY, f"the statement of {day} is made after the day")
        data = self.statement(day)
        stated = digest(b"damaged" + data) if self.differences.bad_digest else digest(data)
        number = statement_id(self.sim.proxy_id, day)
        return {
            "statement_id": number,
            "date": day.isoformat(),
            "file_name": f"{number}.json",
            "content": base64.b64encode(data).decode("ascii"),
            "sha256": stated,
        }

    def statement(self, day: date) -> bytes:
        """The statement of ``day`` as the bank would make it now."""
        statement = Statement(
            proxy=self.sim.proxy_id,
            name=self.sim.merchant_name,
            currency=CURRENCY,
            day=day,
            opening=self.balance_at(datetime.combine(day, time(), tzinfo=HONG_KONG)),
            entries=tuple(self.entries(day)),
        )
        return statement_file(statement, totals_off_by=1 if self.differences.bad_totals else 0)

    def entries(self, day: date) -> list[Entry]:
        """The credits settled and the payouts accepted on ``day``, in booking order."""
        credits = [
            self._credit(transfer)
            for transfer in self.sim.transfers.values()
            if transfer.settled_at is not None
            and transfer.state is State.SETTLED
            and day_of(transfer.settled_at) == day
        ]
        debits = [
            self._debit(payout) for payout in self._paid_out() if day_of(payout.created_at) == day
        ]
        return sorted(credits + debits, key=lambda entry: (entry.booked_at, entry.credit_debit))

    def balance_at(self, instant: datetime) -> int:
        """The account's balance just before ``instant``."""
        came_in = sum(
            transfer.amount_minor - transfer.fee
            for transfer in self.sim.transfers.values()
            if transfer.state is State.SETTLED
            and transfer.settled_at is not None
            and transfer.settled_at < instant
        )
        went_out = sum(
            payout.order.amount_minor for payout in self._paid_out() if payout.created_at < instant
        )
        return came_in - went_out

    def knows(self, out_trade_no: str) -> bool:
        return any(t.reference == out_trade_no for t in self.sim.transfers.values())

    async def plant_provider_only(self, amount: Money) -> str:
        """A credit settled now carrying a reference the merchant never gave, no webhook."""
        reference = f"FPSONLY{len(self.sim.transfers) + 1:08d}"
        await self.sim.pay(reference, success=True, amount_minor=amount.minor, notify=False)
        return reference

    def _paid_out(self) -> list[Payout]:
        return [p for p in self.sim.payouts.payouts.values() if p.status is not PayoutStatus.RJCT]

    def _credit(self, transfer: Transfer) -> Entry:
        assert transfer.settled_at is not None
        return Entry(
            credit_debit=CREDIT,
            fps_txn_id=transfer.fps_txn_id,
            booked_at=transfer.settled_at,
            amount=billed_amount(self.differences, transfer.reference, transfer.amount_minor),
            charges=transfer.fee,
            counterparty=Counterparty(PAYER["proxy"], PAYER["bank_code"], PAYER["name"]),
            bill_reference=transfer.reference,
        )

    def _debit(self, payout: Payout) -> Entry:
        payee = payout.order.payee
        bank_code = payee.bank_code or self.sim.payouts.known_accounts.get(payee.proxy, "")
        return Entry(
            credit_debit=DEBIT,
            fps_txn_id=payout.fps_txn_id or "",
            booked_at=payout.created_at,
            amount=payout.order.amount_minor,
            charges=0,
            counterparty=Counterparty(payee.proxy, bank_code, ""),
            bill_reference=payout.order.remittance_reference,
            end_to_end_id=payout.order.instruction_id,
            original_fps_txn_id=payout.order.original_fps_txn_id or "",
        )
