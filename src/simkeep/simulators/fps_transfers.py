"""The FPS simulator's records: transfers and their state machine, webhooks and their
attempts, faults, the retry schedule, and what a merchant's reply means.

Design overview
---------------
A ``Transfer`` moves only along ``TRANSITIONS`` (``move`` refuses anything else with 409),
so a cancelled or rejected transfer can never be settled and a settled one never twice. A
``Notice`` is one webhook: the body sent, the body signed (they differ only under the
tampered-amount fault), its schedule round and how many posts it took. ``accepted`` is the
bank's reading of a merchant's reply: 200 with ``{"received": true}``, nothing else.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from simkeep.clock import in_hong_kong
from simkeep.simulators.delivery import Reply

RETRY_SCHEDULE_SECONDS = (0, 30, 120, 600, 1800, 3600, 7200, 14400)
DEMO_PIN = "123456"
PAYER = {"proxy": "+852-9***1234", "bank_code": "012", "name": "CHAN T** M**"}


class State(StrEnum):
    PENDING = "PENDING"  # scanned in the payer's app, waiting for the PIN
    SETTLED = "SETTLED"  # the money is on the merchant's account
    REJECTED = "REJECTED"  # the payer's bank refused it
    CANCELLED = "CANCELLED"  # the payer gave up


TRANSITIONS: dict[State, frozenset[State]] = {
    State.PENDING: frozenset({State.SETTLED, State.REJECTED, State.CANCELLED}),
    State.SETTLED: frozenset(),
    State.REJECTED: frozenset(),
    State.CANCELLED: frozenset(),
}


class SimulatorError(Exception):
    """An answer of the bank or the app: HTTP status plus ``{"code", "message"}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(slots=True)
class Faults:
    """Webhook faults, settable while the simulator runs."""

    drop: bool = False
    duplicate: bool = False
    bad_signature: bool = False
    tampered_amount: bool = False
    stale_timestamp: bool = False


@dataclass(slots=True)
class Transfer:
    """One FPS transfer to the merchant, from the payer's scan to its settlement."""

    id: str
    qr_reference: str
    reference: str  # what the transfer carries: the QR code's, unless the payer changed it
    amount_minor: int
    payee_name: str
    state: State = State.PENDING
    fps_txn_id: str = ""
    settled_at: datetime | None = None
    fee: int = 0  # the bank's charge on it, once settled (cents)

    def move(self, to: State) -> None:
        if to not in TRANSITIONS[self.state]:
            raise SimulatorError(409, "invalid_state", f"the transfer is {self.state}")
        self.state = to


@dataclass(slots=True)
class Notice:
    """One webhook and its attempts; ``body`` differs from ``signed_body`` when tampered."""

    transfer: Transfer
    body: bytes
    signed_body: bytes
    next_at: datetime
    rounds: int = 0  # scheduled attempts made
    attempts: int = 0  # webhooks posted (a duplicated round posts two)
    acknowledged: bool = False
    done: bool = False


def accepted(reply: Reply) -> bool:
    """Whether the merchant took a webhook: 200 with ``{"received": true}``."""
    if reply.status != 200:
        return False
    try:
        answer = json.loads(reply.body)
    except ValueError:
        return False
    return isinstance(answer, dict) and answer.get("received") is True


def fps_reference(now: datetime) -> str:
    """A new FPS transaction reference, as HKICL numbers them: the Hong Kong date, then a
    serial (``FRN20261125PAYC000000000001``)."""
    return f"FRN{in_hong_kong(now):%Y%m%d}PAYC{secrets.randbelow(10**12):012d}"
