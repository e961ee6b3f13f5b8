"""FPS, the other side: the payer's banking app and the merchant's receiving bank, simulated.

Design overview
---------------
``FpsBankSimulator`` is both halves of a push payment for one merchant (its FPS proxy, name
and client id at the bank, its public key, its webhook URL):

* the payer's app: ``scan`` reads a QR payload with ``fps_qr.parse_payload`` (the CRC and
  every object checked) and opens a transfer to our merchant, PENDING; ``confirm`` with the
  PIN (``DEMO_PIN``, printed on the page) settles it, carrying the reference the payer
  left in the form (the QR code's, or one the payer changed or cleared); ``cancel`` drops
  it. The state machine is ``fps_transfers.TRANSITIONS``: PENDING → SETTLED | REJECTED |
  CANCELLED, and nothing leaves the last three;
* the receiving bank: each SETTLED transfer is a credit on the merchant's account, reported
  by a signed ``fps.credit`` webhook (``fps_bank``: the bank's key kept in ``key_dir``)
  through ``simulators.delivery.Deliver`` — at once, then on ``RETRY_SCHEDULE_SECONDS``
  scaled by ``time_scale``, each attempt stamped and signed afresh, until a ``Reply`` is
  ``accepted`` (200 ``{"received": true}``) — and listed by the signed query API, which
  checks the merchant's request signature (``check_request``);
* the merchant's account for payouts (``payouts``, a ``fps_payouts.PayoutBook``): each
  settled credit makes its payer a known account and adds to the balance, and the signed
  payout API pays back from it — one payout per instruction id, settled a few seconds
  (scaled by ``time_scale``) after it is accepted.

``pay`` is the test hook behind ``POST /pay/{reference}``: it settles (or rejects) the
transfer of the QR code last scanned with that reference, or a transfer of ``amount_minor``
when none was scanned, optionally carrying another ``reference`` (wrong or empty). ``faults``
injects drop, duplicate, bad signature, tampered amount (the body sent is not the body
signed) and stale timestamp. ``records()`` gives every transfer by the reference it
carried, for the fault harness's checker; ``snapshot`` and ``restore`` keep them across
restarts (``simulators.records``). The records themselves (transfers, webhooks,
faults, the schedule, ``accepted``) are in ``fps_transfers``. FPS QR codes carry no expiry:
a transfer may arrive for an order long expired, and the merchant decides.

The bank charges a flat ``fee_minor`` on each credit it receives (HK$0.00 unless told
otherwise: Hong Kong banks mostly charge nothing for receiving FPS); a payout gives none of
it back — it is a transfer of its own. ``bills`` (``fps_bill``) answers the statement API
with the day's statement of the account, written from these records.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from simkeep.clock import Clock
from simkeep.payments.providers.fps_bank import (
    CLIENT_ID,
    CURRENCY,
    MAX_SKEW,
    SIGNATURE,
    TIMESTAMP,
    bank_headers,
    fresh,
    json_bytes,
    request_message,
    stamp,
)
from simkeep.payments.providers.fps_payouts import PayoutStatus
from simkeep.payments.providers.fps_qr import QrError, parse_payload
from simkeep.payments.signing import (
    KeyPair,
    load_private_key,
    load_public_key,
    verify_sha256_rsa,
)
from simkeep.simulators.delivery import Deliver, http_deliver
from simkeep.simulators.fps_bill import FpsBills
from simkeep.simulators.fps_payouts import PAYOUT_SETTLE_SECONDS, PayoutBook
from simkeep.simulators.fps_transfers import (
    DEMO_PIN,
    PAYER,
    RETRY_SCHEDULE_SECONDS,
    Faults,
    Notice,
    SimulatorError,
    State,
    Transfer,
    accepted,
    fps_reference,
)
from simkeep.simulators.keys import kept_key_pair

FEE_MINOR = 0  # the bank's charge on an incoming FPS credit, cents


class FpsBankSimulator:
    """The payer's banking app and the merchant's receiving bank, for one merchant."""

    accepted = staticmethod(accepted)

    def __init__(
        self,
        *,
        proxy_id: str,
        merchant_name: str,
        client_id: str,
        merchant_public_key_pem: bytes,
        notify_url: str,
        clock: Clock,
        key_dir: Path | None = None,
        deliver: Deliver = http_deliver,
        time_scale: float = 1.0,
        fee_minor: int = FEE_MINOR,
    ) -> None:
        self.proxy_id = proxy_id
        self.merchant_name = merchant_name
        self.client_id = client_id
        self.notify_url = notify_url
        self.bank_keys = KeyPair.generate() if key_dir is None else kept_key_pair(key_dir, "fps")
        self.faults = Faults()
        self.transfers: dict[str, Transfer] = {}
        self.notices: list[Notice] = []
        settle_after = timedelta(seconds=PAYOUT_SETTLE_SECONDS * time_scale)
        self.payouts = PayoutBook(clock=clock, settle_after=settle_after)
        self._bank_key = load_private_key(self.bank_keys.private_pem)
        self._merchant_key = load_public_key(merchant_public_key_pem)
        self._clock = clock
        self._deliver = deliver
        self._time_scale = time_scale
        self.fee_minor = fee_minor
        self.bills = FpsBills(self, clock=clock)

    def snapshot(self) -> dict[str, Any]:
        """What the bank remembers across restarts (``simulators.records``): the transfers,
        the webhooks with their attempts, and the merchant's account with its payouts."""
        payouts = self.payouts.snapshot()
        return {"transfers": self.transfers, "notices": self.notices, "payouts": payouts}

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Take back a ``snapshot``, just after being built."""
        self.transfers, self.notices = snapshot["transfers"], snapshot["notices"]
        self.payouts.restore(snapshot["payouts"])

    def scan(self, payload: str) -> Transfer:
        """The payer's app reads a QR payload: a PENDING transfer to our merchant."""
        try:
            qr = parse_payload(payload)
        except QrError as error:
            raise SimulatorError(400, "invalid_qr", str(error)) from error
        if qr.proxy != self.proxy_id:
            raise SimulatorError(404, "unknown_payee", "nobody at this bank has that FPS proxy")
        if qr.amount.currency != CURRENCY:
            raise SimulatorError(400, "currency", f"the payee takes {CURRENCY} only")
        return self._open(qr.reference, qr.amount.minor, qr.merchant_name)

    def find(self, transfer_id: str) -> Transfer:
        transfer = self.transfers.get(transfer_id)
        if transfer is None:
            raise SimulatorError(404, "not_found", "no such transfer")
        return transfer

    async def confirm(self, transfer_id: str, *, pin: str, reference: str) -> Transfer:
        """The payer enters the PIN: the transfer settles, carrying ``reference``."""
        transfer = self.find(transfer_id)
        if not secrets.compare_digest(pin.encode(), DEMO_PIN.encode()):
            raise SimulatorError(400, "wrong_pin", "the PIN is not right")
        transfer.reference = reference.strip()
        await self._settle(transfer)
        return transfer

    def cancel(self, transfer_id: str) -> Transfer:
        transfer = self.find(transfer_id)
        transfer.move(State.CANCELLED)
        return transfer

    async def pay(
        self,
        reference: str,
        *,
        success: bool,
        amount_minor: int | None = None,
        carried: str | None = None,
        notify: bool = True,
    ) -> Transfer:
        """The test hook: settle (or reject) the transfer of the QR code last scanned with
        ``reference``, or a new one of ``amount_minor``; it carries ``carried`` if given. Its
        webhook goes out, unless not ``notify``."""
        scanned = [
            t
            for t in self.transfers.values()
            if t.qr_reference == reference and t.state is State.PENDING
        ]
        if amount_minor is not None and amount_minor <= 0:
            raise SimulatorError(400, "amount", "amount_minor must be positive")
        if scanned:
            transfer = scanned[-1]
        elif amount_minor is not None:
            transfer = self._open(reference, amount_minor, self.merchant_name)
        else:
            raise SimulatorError(404, "not_scanned", "scan the QR code first, or give an amount")
        if amount_minor is not None:
            transfer.amount_minor = amount_minor
        transfer.reference = transfer.qr_reference if carried is None else carried
        if not success:
            transfer.move(State.REJECTED)
            return transfer
        await self._settle(transfer, notify=notify)
        return transfer

    def credits(self, bill_reference: str) -> list[dict[str, Any]]:
        """The settled credits carrying ``bill_reference`` (ignoring case and spaces)."""
        wanted = bill_reference.strip().casefold()
        return [
            self.credit(t)
            for t in self.transfers.values()
            if t.state is State.SETTLED and t.reference.strip().casefold() == wanted
        ]

    def credit(self, transfer: Transfer, *, amount_minor: int | None = None) -> dict[str, Any]:
        """A credit as the bank reports it (a webhook's ``data``, a query's item)."""
        settled = transfer.settled_at or self._clock.now()
        return {
            "fps_txn_id": transfer.fps_txn_id,
            "amount": {
                "value": transfer.amount_minor if amount_minor is None else amount_minor,
                "currency": CURRENCY,
            },
            "payee_proxy": self.proxy_id,
            "bill_reference": transfer.reference,
            "payer": dict(PAYER),
            "settled_at": stamp(settled),
        }

    def check_request(
        self, *, method: str, path: str, body: bytes, headers: Mapping[str, str]
    ) -> None:
        """Raise 401 unless our merchant signed exactly this request just now."""
        client, timestamp, signature = (
            headers.get(h, "") for h in (CLIENT_ID, TIMESTAMP, SIGNATURE)
        )
        if client != self.client_id:
            raise SimulatorError(401, "unknown_client", "X-Client-Id is not a client of ours")
        if not fresh(timestamp, self._clock.now()):
            raise SimulatorError(401, "stale", f"X-Timestamp is not within {MAX_SKEW} of now")
        message = request_message(method, path, timestamp, body)
        if not verify_sha256_rsa(self._merchant_key, message, signature):
            raise SimulatorError(401, "bad_signature", "X-Signature does not verify")

    def sign(self, body: bytes) -> dict[str, str]:
        """The headers that sign an answer of the bank's API."""
        return bank_headers(
            private_key=self._bank_key,
            client_id=self.client_id,
            body=body,
            timestamp=stamp(self._clock.now()),
        )

    async def deliver_due(self, now: datetime | None = None) -> None:
        """Send every webhook attempt due at ``now`` (default: the clock)."""
        instant = now or self._clock.now()
        for notice in [n for n in self.notices if not n.done and n.next_at <= instant]:
            await self._attempt(notice, instant)

    def records(self) -> list[dict[str, Any]]:
        """Every transfer, by the reference it carried: state, amount, the webhook's fate."""
        notices = {n.transfer.id: n for n in self.notices}
        return [
            {
                "out_trade_no": t.reference,
                "paid": t.state is State.SETTLED,
                "state": t.state.value,
                "amount_minor": t.amount_minor,
                "fee_minor": t.fee,
                "currency": CURRENCY,
                "attempts": n.attempts if (n := notices.get(t.id)) else 0,
                "acknowledged": n.acknowledged if (n := notices.get(t.id)) else False,
                **self._payout_records(t),
            }
            for t in self.transfers.values()
        ]

    def _payout_records(self, transfer: Transfer) -> dict[str, Any]:
        """What a transfer's record adds about the payouts that paid it back (a refund): the
        total that left the account against it, and each payout by its instruction id."""
        payouts = [
            p
            for p in self.payouts.payouts.values()
            if p.status is not PayoutStatus.RJCT
            and transfer.fps_txn_id
            and p.order.original_fps_txn_id == transfer.fps_txn_id
        ]
        return {
            "refunded_minor": sum(p.order.amount_minor for p in payouts),
            "refunds": [
                {
                    "refund_no": p.order.instruction_id,
                    "amount_minor": p.order.amount_minor,
                    "fee_refunded_minor": 0,  # a payout is a transfer of its own
                }
                for p in payouts
            ],
        }

    def _open(self, reference: str, amount_minor: int, payee_name: str) -> Transfer:
        transfer = Transfer(
            id=secrets.token_urlsafe(9),
            qr_reference=reference,
            reference=reference,
            amount_minor=amount_minor,
            payee_name=payee_name,
        )
        self.transfers[transfer.id] = transfer
        return transfer

    async def _settle(self, transfer: Transfer, *, notify: bool = True) -> None:
        transfer.move(State.SETTLED)
        now = self._clock.now()
        transfer.settled_at, transfer.fee = now, self.fee_minor
        transfer.fps_txn_id = fps_reference(now)
        self.payouts.credited(
            transfer.fps_txn_id, transfer.amount_minor, payer=PAYER, fee_minor=transfer.fee
        )
        if not notify:
            return
        event_id = f"EVT-{secrets.token_hex(12)}"
        signed = self._event(transfer, event_id=event_id)
        body = signed
        if self.faults.tampered_amount:
            tampered = transfer.amount_minor // 100 or 1
            body = self._event(transfer, event_id=event_id, amount_minor=tampered)
        self.notices.append(Notice(transfer, body=body, signed_body=signed, next_at=now))
        await self.deliver_due()

    def _event(
        self, transfer: Transfer, *, event_id: str, amount_minor: int | None = None
    ) -> bytes:
        return json_bytes(
            {
                "event_id": event_id,
                "event_type": "fps.credit",
                "created_at": stamp(self._clock.now()),
                "data": self.credit(transfer, amount_minor=amount_minor),
            }
        )

    async def _attempt(self, notice: Notice, now: datetime) -> None:
        if self.faults.drop:
            notice.done = True
            return
        for _ in range(2 if self.faults.duplicate else 1):
            reply = await self._deliver(self.notify_url, self._headers(notice), notice.body)
            notice.attempts += 1
            notice.acknowledged = notice.acknowledged or accepted(reply)
        notice.rounds += 1
        if notice.acknowledged or notice.rounds >= len(RETRY_SCHEDULE_SECONDS):
            notice.done = True
            return
        delay = RETRY_SCHEDULE_SECONDS[notice.rounds] * self._time_scale
        notice.next_at = now + timedelta(seconds=delay)

    def _headers(self, notice: Notice) -> dict[str, str]:
        key = self._bank_key
        if self.faults.bad_signature:
            key = load_private_key(KeyPair.generate().private_pem)
        instant = self._clock.now()
        if self.faults.stale_timestamp:
            instant -= 2 * MAX_SKEW
        headers = bank_headers(
            private_key=key,
            client_id=self.client_id,
            body=notice.signed_body,
            timestamp=stamp(instant),
        )
        return {"Content-Type": "application/json", **headers}
