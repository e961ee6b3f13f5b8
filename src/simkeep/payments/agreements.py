"""Payment agreements (Alipay 商家扣款, WeChat Pay 委托代扣): the types and the Protocol every
provider's agreement adapter keeps, pure data, no I/O.

Design overview
---------------
A subscriber signs an agreement on the provider's own page (``start_signing``:
our agreement reference goes with it, and the provider's signed notification comes back to
``/api/v1/keep-alive/<provider>/notify``). Once signed, the provider names it by its own
number (Alipay ``agreement_no``, WeChat Pay ``contract_id``), which every deduction carries.
A deduction (``deduct``) charges a top-up order's trade through the agreement: its money is
believed only as any payment is — the trade's own notification or our query of it — so
crediting stays ``topups.crediting``'s; ``deduct`` only says whether the provider took the
charge (``paid``, ``pending``) or refused it (``declined``, with the provider's reason).
``end`` unsigns at the provider; a provider that ends an agreement itself (the payer
cancelled it in their wallet) says so in a notification (``AgreementNotice.ended``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from simkeep.money import Money
from simkeep.payment_methods import Provider
from simkeep.payments.model import Acknowledgement, RawNotification

AGREEMENT_REF_PATTERN = r"^[A-Za-z0-9]{6,32}$"  # Alipay external_agreement_no, WeChat code


class AgreementState(StrEnum):
    SIGNING = "signing"  # not (yet) signed by the payer
    ACTIVE = "active"
    ENDED = "ended"  # unsigned or terminated, by either side


class DeductionOutcome(StrEnum):
    PAID = "paid"  # taken: the trade's notification (or the poll) credits the order
    PENDING = "pending"  # accepted, the outcome comes later: the poll finds it
    DECLINED = "declined"  # refused (no funds, agreement ended …): nothing taken


@dataclass(frozen=True, slots=True)
class AgreementRequest:
    """What a signing asks for: our reference, who signs, where the provider calls back."""

    agreement_ref: str
    display_account: str  # shown on the provider's page, masked (a phone number)
    notify_url: str
    return_url: str


@dataclass(frozen=True, slots=True)
class AgreementStatus:
    """What the provider says about an agreement when asked, or in a notification."""

    agreement_ref: str
    state: AgreementState
    provider_agreement_no: str | None = None
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Deduction:
    """One charge through an agreement: the top-up order's trade."""

    out_trade_no: str
    provider_agreement_no: str
    amount: Money
    subject: str
    notify_url: str


@dataclass(frozen=True, slots=True)
class DeductionResult:
    outcome: DeductionOutcome
    reason: str = ""  # the provider's refusal code (ACQ.BUYER_BALANCE_NOT_ENOUGH, NOTENOUGH)


@runtime_checkable
class AgreementAdapter(Protocol):
    """The merchant side of one provider's agreement protocol."""

    provider: Provider
    currencies: frozenset[str]

    async def start_signing(self, request: AgreementRequest) -> str:
        """Ask the provider for a signing page if it must be asked; the URL to send the
        payer to."""
        ...

    async def query_agreement(self, agreement_ref: str) -> AgreementStatus:
        """Ask the provider about an agreement (one it does not know is still signing)."""
        ...

    async def deduct(self, deduction: Deduction) -> DeductionResult:
        """Charge a trade through a signed agreement."""
        ...

    async def end_agreement(self, agreement_ref: str, provider_agreement_no: str) -> None:
        """Unsign (terminate) at the provider; one ended already is ended."""
        ...

    def verify_agreement_notification(
        self, raw: RawNotification, *, now: datetime
    ) -> AgreementStatus:
        """A signed agreement notification, verified; ``NotificationRejected`` otherwise."""
        ...

    def acknowledge(self, accepted: bool) -> Acknowledgement:
        """The reply the provider expects."""
        ...
