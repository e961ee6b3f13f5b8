"""WeChat Pay v3 platform signatures and payment notifications: the half of a simulated v3
platform that speaks first — the same for the Mainland API and the global one.

Design overview
---------------
``V3Notifier`` holds the platform key pair and its ``PUB_KEY_ID_…``, signs answers
(``sign``), and turns a paid trade's payment resource into one ``TRANSACTION.SUCCESS``
notification — or a refund's into one ``REFUND.SUCCESS``, due when the refund succeeds —
(AES-256-GCM under the APIv3 key), delivered through the generic
``simulators.delivery.Deliver`` on the v3 retry schedule scaled by ``time_scale``, each
attempt signed afresh, until a ``Reply`` is ``accepted`` (200 or 204). ``deliver_due(now=…)``
sends what is due, so tests move a ``FixedClock`` instead of sleeping. ``faults`` injects
drop, duplicate, bad signature, SIGNTEST signature, tampered amount (the body sent carries
another amount than the body signed) and stale timestamp.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from simkeep.clock import Clock, in_shanghai
from simkeep.payments.providers.wechatpay_signing import (
    MAX_SKEW,
    SIGNTEST_PREFIX,
    json_bytes,
    new_nonce,
    platform_headers,
)
from simkeep.payments.signing import KeyPair, aes_gcm_encrypt, load_private_key
from simkeep.simulators import delivery as generic
from simkeep.simulators.keys import public_key_id
from simkeep.simulators.wechatpay_trades import (
    RETRY_SCHEDULE_SECONDS,
    Delivery,
    Faults,
    accepted,
)

Resource = Callable[[int], Mapping[str, Any]]  # a payment's plaintext, given its amount


@dataclass(frozen=True, slots=True)
class Event:
    """What a notification tells: its ``event_type``, summary and resource type."""

    event_type: str
    summary: str
    original_type: str  # also the resource's associated data


PAYMENT = Event("TRANSACTION.SUCCESS", "支付成功", "transaction")
REFUND_SUCCESS = Event("REFUND.SUCCESS", "退款成功", "refund")


class V3Notifier:
    """A v3 platform's key, answer signatures and payment notifications."""

    accepted = staticmethod(accepted)

    def __init__(
        self,
        *,
        platform_keys: KeyPair,
        apiv3_key: str,
        clock: Clock,
        deliver: generic.Deliver,
        time_scale: float,
    ) -> None:
        self.platform_keys = platform_keys
        self.public_key_id = public_key_id(platform_keys.public_pem)
        self.apiv3_key = apiv3_key
        self.faults = Faults()
        self.deliveries: list[Delivery] = []
        self._platform_key = load_private_key(platform_keys.private_pem)
        self._clock = clock
        self._deliver = deliver
        self._time_scale = time_scale

    def sign(self, body: bytes) -> dict[str, str]:
        """``Wechatpay-*`` headers for an answer body (empty for 204)."""
        return platform_headers(
            private_key=self._platform_key,
            serial=self.public_key_id,
            body=body,
            timestamp=self._unix(),
            nonce=new_nonce(),
        )

    async def deliver_due(self, *, now: datetime | None = None) -> int:
        """Send every notification due at ``now`` (default: the clock); returns attempts made."""
        instant = now or self._clock.now()
        due = [d for d in self.deliveries if not d.done and d.next_at <= instant]
        for delivery in due:
            await self._attempt(delivery, instant)
        return len(due)

    def next_due(self) -> datetime | None:
        """When the next pending attempt is due, if any."""
        pending = [d.next_at for d in self.deliveries if not d.done]
        return min(pending, default=None)

    async def run_notifier(self, *, stop: asyncio.Event, poll_seconds: float = 1.0) -> None:
        """Deliver due notifications until ``stop`` is set (for a running embedded app)."""
        while not stop.is_set():
            await self.deliver_due()
            try:
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
            except TimeoutError:
                continue

    def queue(
        self,
        *,
        out_trade_no: str,
        url: str,
        resource: Resource,
        total: int,
        event: Event = PAYMENT,
        due: datetime | None = None,
    ) -> None:
        """Notify ``event`` (a payment of ``total``) to ``url``: due at ``due`` (by default
        at once), then on the schedule. ``out_trade_no`` names what it is about."""
        at = due or self._clock.now()
        signed = self._event(resource(total), event, at)
        body = signed
        if self.faults.tampered_amount:
            body = self._event(resource(total // 100 or 1), event, at, event_id=_event_id(signed))
        self.deliveries.append(
            Delivery(out_trade_no=out_trade_no, url=url, body=body, signed_body=signed, next_at=at)
        )

    def _event(
        self,
        plaintext: Mapping[str, Any],
        event: Event,
        at: datetime,
        *,
        event_id: str | None = None,
    ) -> bytes:
        nonce = secrets.token_hex(6)
        aad = event.original_type.encode()
        key = self.apiv3_key.encode("ascii")
        ciphertext = aes_gcm_encrypt(key, nonce.encode(), json_bytes(plaintext), aad)
        body = {
            "id": event_id or f"EV-{secrets.token_hex(12)}",
            "create_time": in_shanghai(at).isoformat(timespec="seconds"),
            "resource_type": "encrypt-resource",
            "event_type": event.event_type,
            "summary": event.summary,
            "resource": {
                "original_type": event.original_type,
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": ciphertext,
                "nonce": nonce,
                "associated_data": event.original_type,
            },
        }
        return json_bytes(body)

    async def _attempt(self, delivery: Delivery, now: datetime) -> None:
        if self.faults.drop:
            delivery.done = True
            return
        copies = 2 if self.faults.duplicate else 1
        for _ in range(copies):
            headers = self._notification_headers(delivery)
            reply = await self._deliver(delivery.url, headers, delivery.body)
            delivery.statuses.append(reply.status)
        delivery.attempts += 1
        if accepted(reply) or delivery.attempts >= len(RETRY_SCHEDULE_SECONDS):
            delivery.done = True
            return
        delay = RETRY_SCHEDULE_SECONDS[delivery.attempts] * self._time_scale
        delivery.next_at = now + timedelta(seconds=delay)

    def _notification_headers(self, delivery: Delivery) -> dict[str, str]:
        key = self._platform_key
        if self.faults.bad_signature:
            key = load_private_key(KeyPair.generate().private_pem)
        skew = 2 * int(MAX_SKEW.total_seconds()) if self.faults.stale_timestamp else 0
        headers = platform_headers(
            private_key=key,
            serial=self.public_key_id,
            body=delivery.signed_body,
            timestamp=self._unix() - skew,
            nonce=new_nonce(),
        )
        if self.faults.signtest:
            headers["Wechatpay-Signature"] = SIGNTEST_PREFIX + secrets.token_hex(16)
        return {"Content-Type": "application/json", **headers}

    def _unix(self) -> int:
        return int(self._clock.now().timestamp())


def _event_id(body: bytes) -> str:
    return str(json.loads(body)["id"])
