"""WeChat Pay API v3, platform side: a simulator for the embedded default and the tests.

Design overview
---------------
``WeChatPaySimulator`` holds its platform key pair (generated, or kept in a directory by
``simulators.keys`` so that every worker process signs alike) and a ``PUB_KEY_ID_…`` derived
from the public key (public-key mode), knows one merchant (mchid, appid, public key,
certificate serial, APIv3 key), keeps trades in memory and reads time from an injected
``Clock``. ``wechatpay_router`` exposes the v3 endpoints (Native and H5 orders, query,
close); each request must carry a valid merchant ``Authorization`` within ±300 s, else 401
``SIGN_ERROR``, and every answer — errors and empty 204 bodies included — is signed with the
platform key.

A paid trade gets one ``TRANSACTION.SUCCESS`` notification (AES-256-GCM ``resource`` under
the APIv3 key). It is delivered through an injected async ``deliver`` callable on the real
retry schedule, scaled by ``time_scale``, until the merchant answers 200 or 204; each attempt
is signed afresh. ``deliver_due(now=…)`` sends whatever is due, so tests move a
``FixedClock`` instead of sleeping. ``faults`` injects drop, duplicate, bad signature,
SIGNTEST signature, tampered amount and stale timestamp. A cashier page and a test hook
(``POST /pay/{out_trade_no}``) stand in for the payer; an H5 payer is sent back to the
``redirect_url`` the merchant appended to the ``h5_url``, if it is on the merchant's own
site (the host of the order's notify URL stands in for the registered H5 domain).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from simkeep.clock import Clock, in_shanghai
from simkeep.payments.providers.wechatpay_signing import (
    MAX_SKEW,
    SIGNTEST_PREFIX,
    json_bytes,
    new_nonce,
    parse_authorization,
    platform_headers,
    signing_message,
)
from simkeep.payments.signing import (
    KeyPair,
    SignatureError,
    aes_gcm_encrypt,
    load_private_key,
    load_public_key,
    verify_sha256_rsa,
)
from simkeep.simulators.keys import kept_key_pair, public_key_id
from simkeep.simulators.wechatpay_trades import (
    ACCEPTED,
    RETRY_SCHEDULE_SECONDS,
    TRADE_TYPES,
    Deliver,
    Delivery,
    Faults,
    SimTrade,
    SimulatorError,
    http_deliver,
)


class WeChatPaySimulator:
    """WeChat Pay's platform for one merchant: trades, signatures, notifications."""

    def __init__(
        self,
        *,
        mchid: str,
        appid: str,
        merchant_public_key_pem: bytes,
        merchant_serial_no: str,
        apiv3_key: str,
        clock: Clock,
        public_base_url: str = "http://127.0.0.1:8000/_sim/wechatpay",
        key_dir: Path | None = None,
        deliver: Deliver = http_deliver,
        time_scale: float = 1.0,
    ) -> None:
        self.mchid = mchid
        self.appid = appid
        self.platform_keys = (
            KeyPair.generate() if key_dir is None else kept_key_pair(key_dir, "wechatpay")
        )
        self.public_key_id = public_key_id(self.platform_keys.public_pem)
        self.apiv3_key = apiv3_key
        self.public_base_url = public_base_url.rstrip("/")
        self.faults = Faults()
        self.trades: dict[str, SimTrade] = {}
        self.deliveries: list[Delivery] = []
        self._merchant_key = load_public_key(merchant_public_key_pem)
        self._merchant_serial_no = merchant_serial_no
        self._platform_key = load_private_key(self.platform_keys.private_pem)
        self._clock = clock
        self._deliver = deliver
        self._time_scale = time_scale

    def check_request(self, *, method: str, path: str, body: bytes, authorization: str) -> None:
        """Raise 401 ``SIGN_ERROR`` unless the merchant signed exactly this request just now."""
        try:
            items = parse_authorization(authorization)
        except SignatureError as error:
            raise SimulatorError(401, "SIGN_ERROR", str(error)) from error
        if items["mchid"] != self.mchid or items["serial_no"] != self._merchant_serial_no:
            raise SimulatorError(401, "SIGN_ERROR", "unknown mchid or merchant certificate serial")
        timestamp = items["timestamp"]
        if not timestamp.isdigit() or abs(self._unix() - int(timestamp)) > MAX_SKEW.total_seconds():
            raise SimulatorError(401, "SIGN_ERROR", "the timestamp is more than 300 s off")
        lines = (method, path, timestamp, items["nonce_str"])
        message = signing_message(*(line.encode() for line in lines), body)
        if not verify_sha256_rsa(self._merchant_key, message, items["signature"]):
            raise SimulatorError(401, "SIGN_ERROR", "the signature does not verify")

    def sign(self, body: bytes) -> dict[str, str]:
        """``Wechatpay-*`` headers for an answer body (empty for 204)."""
        return platform_headers(
            private_key=self._platform_key,
            serial=self.public_key_id,
            body=body,
            timestamp=self._unix(),
            nonce=new_nonce(),
        )

    def create_trade(self, *, kind: str, order: Mapping[str, Any]) -> SimTrade:
        """A Native or H5 order; the same out_trade_no again must repeat the same amount."""
        trade = _trade_from_order(kind=kind, order=order, appid=self.appid, mchid=self.mchid)
        known = self.trades.get(trade.out_trade_no)
        if known is None:
            self.trades[trade.out_trade_no] = trade
            return trade
        if known.state == "SUCCESS":
            raise SimulatorError(400, "ORDERPAID", "the order is already paid")
        if (known.total, known.trade_type) != (trade.total, trade.trade_type):
            raise SimulatorError(400, "INVALID_REQUEST", "out_trade_no reused with other terms")
        return known

    def find(self, out_trade_no: str) -> SimTrade:
        trade = self.trades.get(out_trade_no)
        if trade is None:
            raise SimulatorError(404, "ORDER_NOT_EXIST", "the order does not exist")
        expired = trade.time_expire is not None and self._clock.now() > trade.time_expire
        if trade.state == "NOTPAY" and expired:
            trade.state = "CLOSED"
        return trade

    def h5_return(self, out_trade_no: str, redirect_url: str) -> str | None:
        """Where the H5 cashier sends the payer afterwards: ``redirect_url``, if any, when it
        is on the merchant's site (else 400, as WeChat Pay refuses a foreign domain)."""
        trade = self.find(out_trade_no)
        if not redirect_url or trade.trade_type != TRADE_TYPES["h5"]:
            return None
        target, merchant = urlsplit(redirect_url), urlsplit(trade.notify_url)
        if (target.scheme, target.netloc) != (merchant.scheme, merchant.netloc):
            raise SimulatorError(400, "PARAM_ERROR", "redirect_url is not the merchant's domain")
        return redirect_url

    def close_trade(self, out_trade_no: str) -> None:
        trade = self.find(out_trade_no)
        if trade.state == "SUCCESS":
            raise SimulatorError(400, "ORDERPAID", "a paid order cannot be closed")
        trade.state = "CLOSED"

    async def pay(self, out_trade_no: str, *, success: bool) -> SimTrade:
        """The payer pays (or fails); a success is notified at once, then on the schedule."""
        trade = self.find(out_trade_no)
        if trade.state not in ("NOTPAY", "PAYERROR"):
            raise SimulatorError(400, "TRADE_ERROR", f"the order is {trade.state}")
        if not success:
            trade.state = "PAYERROR"
            return trade
        trade.state, trade.success_time = "SUCCESS", self._clock.now()
        trade.transaction_id = "4200" + "".join(secrets.choice("0123456789") for _ in range(24))
        self.deliveries.append(self._notification(trade))
        await self.deliver_due()
        return trade

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

    def payment_resource(self, trade: SimTrade, *, total: int) -> dict[str, Any]:
        """The decrypted payment plaintext of a ``TRANSACTION.SUCCESS`` notification."""
        success_time = in_shanghai(trade.success_time or self._clock.now())
        return {
            "mchid": self.mchid,
            "appid": self.appid,
            "out_trade_no": trade.out_trade_no,
            "transaction_id": trade.transaction_id,
            "trade_type": trade.trade_type,
            "trade_state": "SUCCESS",
            "trade_state_desc": "支付成功",
            "bank_type": "OTHERS",
            "attach": "",
            "success_time": success_time.isoformat(timespec="seconds"),
            "payer": {"openid": "o" + trade.transaction_id[-16:]},
            "amount": {
                "total": total,
                "payer_total": total,
                "currency": trade.currency,
                "payer_currency": trade.currency,
            },
            "promotion_detail": [],
        }

    def query_answer(self, trade: SimTrade) -> dict[str, Any]:
        answer = self.payment_resource(trade, total=trade.total)
        answer["trade_state"] = trade.state
        answer["trade_state_desc"] = trade.state
        if trade.state != "SUCCESS":
            for name in ("transaction_id", "success_time", "payer", "bank_type"):
                del answer[name]
        return answer

    def _notification(self, trade: SimTrade) -> Delivery:
        body = self._event(trade, total=trade.total)
        signed = body
        if self.faults.tampered_amount:
            body = self._event(trade, total=trade.total // 100 or 1, event_id=_event_id(signed))
        return Delivery(
            out_trade_no=trade.out_trade_no,
            url=trade.notify_url,
            body=body,
            signed_body=signed,
            next_at=self._clock.now(),
        )

    def _event(self, trade: SimTrade, *, total: int, event_id: str | None = None) -> bytes:
        nonce = secrets.token_hex(6)
        plaintext = json_bytes(self.payment_resource(trade, total=total))
        ciphertext = aes_gcm_encrypt(
            self.apiv3_key.encode("ascii"), nonce.encode(), plaintext, b"transaction"
        )
        event = {
            "id": event_id or f"EV-{secrets.token_hex(12)}",
            "create_time": in_shanghai(self._clock.now()).isoformat(timespec="seconds"),
            "resource_type": "encrypt-resource",
            "event_type": "TRANSACTION.SUCCESS",
            "summary": "支付成功",
            "resource": {
                "original_type": "transaction",
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": ciphertext,
                "nonce": nonce,
                "associated_data": "transaction",
            },
        }
        return json_bytes(event)

    async def _attempt(self, delivery: Delivery, now: datetime) -> None:
        if self.faults.drop:
            delivery.done = True
            return
        copies = 2 if self.faults.duplicate else 1
        for _ in range(copies):
            headers = self._notification_headers(delivery)
            delivery.statuses.append(await self._deliver(delivery.url, headers, delivery.body))
        delivery.attempts += 1
        accepted = delivery.statuses[-1] in ACCEPTED
        if accepted or delivery.attempts >= len(RETRY_SCHEDULE_SECONDS):
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


def _trade_from_order(*, kind: str, order: Mapping[str, Any], appid: str, mchid: str) -> SimTrade:
    if order.get("appid") != appid or order.get("mchid") != mchid:
        raise SimulatorError(400, "PARAM_ERROR", "appid and mchid must be the merchant's")
    amount = order.get("amount")
    total = amount.get("total") if isinstance(amount, dict) else None
    currency = amount.get("currency", "CNY") if isinstance(amount, dict) else None
    if isinstance(total, bool) or not isinstance(total, int) or total <= 0 or currency != "CNY":
        raise SimulatorError(400, "PARAM_ERROR", "amount.total must be positive fen in CNY")
    texts = [order.get(name) for name in ("out_trade_no", "description", "notify_url")]
    if not all(isinstance(text, str) and text for text in texts):
        raise SimulatorError(400, "PARAM_ERROR", "out_trade_no, description, notify_url needed")
    if kind == "h5" and not isinstance(order.get("scene_info"), dict):
        raise SimulatorError(400, "PARAM_ERROR", "an H5 order needs scene_info")
    return SimTrade(
        out_trade_no=str(texts[0]),
        trade_type=TRADE_TYPES[kind],
        description=str(texts[1]),
        total=total,
        currency=currency,
        notify_url=str(texts[2]),
        time_expire=_parse_expiry(order.get("time_expire")),
    )


def _parse_expiry(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as error:
        raise SimulatorError(400, "PARAM_ERROR", "time_expire must be RFC 3339") from error
    if parsed.tzinfo is None:
        raise SimulatorError(400, "PARAM_ERROR", "time_expire needs an offset")
    return parsed
