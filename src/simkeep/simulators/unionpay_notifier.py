"""UnionPay's signatures and back-notifications, UnionPay's side: the half of the simulated
gateway that speaks first.

Design overview
---------------
``UnionPayNotifier`` holds UnionPay's certificates and signing key (``unionpay_pki``, kept
in ``key_dir`` so that every process signs alike) and signs answers and notifications
(``sign``: the leaf key, its certificate in ``signPubKeyCert``). A queued back-notification
(``queue``: a form POST to the transaction's ``backUrl``, about one ``queryId``) is sent
through the injected ``Deliver`` at once and then on ``RETRY_SCHEDULE_SECONDS`` scaled by
``time_scale``, its fields (``_notification``, given by the gateway) signed afresh for each
attempt, until the merchant answers HTTP 200 (``accepted``); ``send_due`` sends what is
due. ``faults`` injects drop, duplicate, bad signature, tampered amount, stale ``txnTime``
and a self-signed certificate.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric import rsa

from simkeep.clock import Clock
from simkeep.payments.providers.unionpay_signing import (
    SIGN_METHOD,
    beijing_time,
    parse_beijing_time,
    signed,
)
from simkeep.payments.signing import KeyPair, load_private_key
from simkeep.simulators.delivery import Deliver
from simkeep.simulators.unionpay_pki import kept_pki, self_signed_leaf
from simkeep.simulators.unionpay_trades import (
    RETRY_SCHEDULE_SECONDS,
    Delivery,
    Faults,
    accepted,
)

STALE_BY = timedelta(days=4)
FORM = "application/x-www-form-urlencoded;charset=UTF-8"


class UnionPayNotifier(ABC):
    """UnionPay's signing key, answer signatures and back-notifications; the gateway that
    holds the transactions says what a notification carries (``_notification``)."""

    def __init__(self, *, key_dir: Path, clock: Clock, deliver: Deliver, time_scale: float) -> None:
        self.pki = kept_pki(key_dir, now=clock.now())
        self.faults = Faults()
        self.deliveries: dict[str, Delivery] = {}  # by queryId
        self._sign_key = load_private_key(self.pki.sign_keys.private_pem)
        self._forged: tuple[bytes, KeyPair] | None = None
        self._clock = clock
        self._deliver = deliver
        self._time_scale = time_scale

    def sign(
        self, fields: Mapping[str, str], *, key: rsa.RSAPrivateKey | None = None, cert: bytes = b""
    ) -> dict[str, str]:
        """``fields`` with ``signMethod``, ``signPubKeyCert`` and UnionPay's ``signature``."""
        certificate = (cert or self.pki.sign_cert_pem).decode("ascii")
        content = {**fields, "signMethod": SIGN_METHOD, "signPubKeyCert": certificate}
        return signed(key or self._sign_key, content)

    def queue(self, query_id: str, url: str, now: datetime) -> None:
        """Notify the transaction ``query_id`` to ``url``: at ``now``, then on the schedule."""
        self.deliveries[query_id] = Delivery(query_id, url, now)

    async def send_due(self, now: datetime) -> None:
        """Send every back-notification attempt due at ``now``."""
        for delivery in [d for d in self.deliveries.values() if not d.done]:
            if delivery.next_at <= now:
                await self._attempt(delivery, now)

    def pending(self) -> list[datetime]:
        """When each notification still to be taken is next tried."""
        return [d.next_at for d in self.deliveries.values() if not d.done]

    @abstractmethod
    def _notification(self, query_id: str) -> dict[str, str]:
        """The fields UnionPay notifies about the transaction ``query_id``, unsigned."""

    def _signed_notification(self, query_id: str) -> dict[str, str]:
        fields = self._notification(query_id)
        if self.faults.stale_timestamp:
            fields["txnTime"] = beijing_time(parse_beijing_time(fields["txnTime"]) - STALE_BY)
        if self.faults.self_signed_cert:
            self._forged = self._forged or self_signed_leaf(self._clock.now())
            cert, keys = self._forged
            return self.sign(fields, key=load_private_key(keys.private_pem), cert=cert)
        if self.faults.bad_signature:
            return self.sign(fields, key=load_private_key(KeyPair.generate().private_pem))
        notification = self.sign(fields)
        if self.faults.tampered_amount:
            notification["txnAmt"] = str(int(fields["txnAmt"]) // 100 or 1)
        return notification

    async def _attempt(self, delivery: Delivery, now: datetime) -> None:
        if self.faults.drop:
            delivery.done = True
            return
        for _ in range(2 if self.faults.duplicate else 1):
            body = urlencode(self._signed_notification(delivery.query_id)).encode("ascii")
            reply = await self._deliver(delivery.url, {"Content-Type": FORM}, body)
            delivery.replies.append(reply)
        delivery.attempts += 1
        if accepted(delivery.replies[-1]) or delivery.attempts >= len(RETRY_SCHEDULE_SECONDS):
            delivery.done = True
            return
        delay = RETRY_SCHEDULE_SECONDS[delivery.attempts] * self._time_scale
        delivery.next_at = now + timedelta(seconds=delay)
