"""Alipay, provider side: a small in-memory ``gateway.do`` with a cashier and a notifier.

Design overview
---------------
``AlipaySimulator`` holds the platform key pair (generated, or kept in a directory by
``simulators.keys`` so that every worker process signs alike), the merchant app's public
key, the trades and the pending notifications (``snapshot`` gives them, ``restore`` takes them
back: ``simulators.records``); time comes from an injected ``Clock``.
``gateway`` verifies the merchant's RSA2 request signature and answers
``precreate``/``query``/``close`` with ``{"<method>_response":{…},"sign":"…"}`` — the object
first, signed over exactly the bytes sent — while ``page.pay``/``wap.pay`` create the trade
and show the cashier. Like real Alipay, a precreated trade is unknown to ``query`` and
``close`` until the payer opens it (or pays it through the test hook), and a trade still
unpaid after its ``time_expire`` (Beijing time, from the request) is closed: ``query`` says
``TRADE_CLOSED`` and neither the cashier nor the test hook can pay it. A paid trade is
refunded, partly or in full, through ``simulators.alipay_refunds``, registered here. Each
payment costs the merchant Alipay's fee (``fee_rate_bp``, 0.6 % unless told otherwise), which
its refunds give back pro rata; ``bills`` (``simulators.alipay_bills``) writes the daily
trade bill from these records.

Paying a trade, and each refund of it, queues a signed ``trade_status_sync`` notification
for the trade's ``notify_url``. ``deliver_pending(now)`` sends what is due through an
injected ``deliver`` callable and reschedules on Alipay's retry ladder (0, 4m, 10m, 10m, 1h,
2h, 6h, 15h, times ``time_scale``) until the merchant answers exactly ``success``; tests
move a ``FixedClock`` instead of sleeping. Faults (drop, duplicate, bad signature, tampered
amount, a seller balance too low to refund) are a set on the simulator. ``alipay_router``
exposes it over HTTP. The wire format — sign strings, request checks, the signed answer
text — is ``payments.providers.alipay_signing``, the same rules the merchant adapter uses.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from simkeep.clock import Clock, in_shanghai
from simkeep.money import Money
from simkeep.payments.providers.alipay_signing import (
    NOTIFICATION_UNSIGNED,
    GatewayRefusal,
    beijing_time,
    biz_content,
    check_request,
    compact_json,
    parse_beijing_time,
    response_key,
    sign_params,
    signed_response,
    trade_identity,
    yuan,
)
from simkeep.payments.signing import KeyPair, load_private_key, load_public_key
from simkeep.simulators.alipay_bills import AlipayBills
from simkeep.simulators.alipay_refunds import AlipayRefunds, refund_fields
from simkeep.simulators.alipay_trades import (
    CASHIER_METHODS,
    RETRY_DELAYS,
    TAMPER_BY,
    AlipayFault,
    Deliver,
    Delivery,
    GatewayAnswer,
    Handler,
    Redirect,
    SimTrade,
    TradeNotFound,
    TradeStateError,
    http_deliver,
)
from simkeep.simulators.bill_rules import fee_of
from simkeep.simulators.keys import kept_key_pair

FEE_RATE_BP = 60  # Alipay's fee on a payment, 0.6 %


class AlipaySimulator:
    """Alipay's platform for one merchant app, in memory."""

    def __init__(
        self,
        *,
        app_id: str,
        seller_id: str,
        merchant_public_key_pem: bytes | str,
        clock: Clock,
        base_url: str = "http://alipay.sim",
        key_dir: Path | None = None,
        deliver: Deliver = http_deliver,
        time_scale: float = 1.0,
        fee_rate_bp: int = FEE_RATE_BP,
    ) -> None:
        self.app_id = app_id
        self.seller_id = seller_id
        self.clock = clock
        self.base_url = base_url.rstrip("/")
        self.keys = KeyPair.generate() if key_dir is None else kept_key_pair(key_dir, "alipay")
        self.time_scale = time_scale
        self.fee_rate_bp = fee_rate_bp
        self.faults: set[AlipayFault] = set()
        self.trades: dict[str, SimTrade] = {}
        self.deliveries: list[Delivery] = []
        self._merchant_key = load_public_key(merchant_public_key_pem)
        self._private_key = load_private_key(self.keys.private_pem)
        self._deliver = deliver
        self._handlers: dict[str, Handler] = {
            "alipay.trade.precreate": self._precreate,
            "alipay.trade.query": self._query,
            "alipay.trade.close": self._close,
        }
        self._redirects: dict[str, Redirect] = {}
        AlipayRefunds(self)
        self.bills = AlipayBills(self)

    def snapshot(self) -> dict[str, Any]:
        """What Alipay remembers across restarts (``simulators.records``): the trades, with
        their refunds and fees, and the notifications with their attempts."""
        return {"trades": self.trades, "deliveries": self.deliveries}

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Take back a ``snapshot``, just after being built."""
        self.trades, self.deliveries = snapshot["trades"], snapshot["deliveries"]

    def extend(self, handlers: Mapping[str, Handler], redirects: Mapping[str, Redirect]) -> None:
        """More gateway methods: answered ones, and page ones that send the payer on
        (agreements: ``simulators.alipay_agreements``)."""
        self._handlers.update(handlers)
        self._redirects.update(redirects)

    @property
    def public_key_pem(self) -> bytes:
        """The "Alipay public key" the merchant verifies answers and notifications with."""
        return self.keys.public_pem

    def gateway(self, params: Mapping[str, str]) -> GatewayAnswer:
        """Answer one ``gateway.do`` request (query and form already merged)."""
        method = params.get("method", "")
        known = method in self._handlers or method in CASHIER_METHODS or method in self._redirects
        key = response_key(method) if known else "error_response"
        try:
            check_request(
                params,
                app_id=self.app_id,
                merchant_key=self._merchant_key,
                now=self.clock.now(),
                known_method=known,
            )
            biz = biz_content(params)
            if method in CASHIER_METHODS:
                return GatewayAnswer(cashier_trade=self._create_trade(params, biz, opened=True))
            if method in self._redirects:
                return GatewayAnswer(redirect_url=self._redirects[method](params, biz))
            answer = {"code": "10000", "msg": "Success", **self._handlers[method](params, biz)}
        except GatewayRefusal as refusal:
            answer = refusal.body
        return GatewayAnswer(json_text=signed_response(self._private_key, key, answer))

    def open_cashier(self, out_trade_no: str) -> SimTrade:
        """The payer scanned the QR code or opened the cashier: the trade now exists."""
        trade = self._trade(out_trade_no)
        trade.opened = True
        return trade

    def pay(self, out_trade_no: str, *, notify: bool = True) -> SimTrade:
        """The payer paid: mark the trade, charge the merchant its fee and queue its
        notification (if any, unless dropped; never, without ``notify``)."""
        trade = self._waiting_trade(out_trade_no)
        trade.opened = True
        trade.status = "TRADE_SUCCESS"
        trade.paid_at = self.clock.now()
        trade.fee = Money(fee_of(trade.amount.minor, self.fee_rate_bp), trade.amount.currency)
        if notify:
            self.queue_notification(trade, trade.paid_at)
        return trade

    def queue_notification(self, trade: SimTrade, at: datetime) -> None:
        """Queue the trade's notification as it now stands (unless dropped), due at ``at``."""
        if trade.notify_url and AlipayFault.DROP not in self.faults:
            copies = 2 if AlipayFault.DUPLICATE in self.faults else 1
            form = self._notification(trade)
            self.deliveries.append(Delivery(trade.notify_url, form, at, copies))

    def fail(self, out_trade_no: str) -> SimTrade:
        """The payment failed for good: the trade is closed unpaid (nothing is notified)."""
        trade = self._waiting_trade(out_trade_no)
        trade.opened = True
        trade.status = "TRADE_CLOSED"
        return trade

    def return_url_for(self, trade: SimTrade) -> str | None:
        """Where the cashier sends the payer after paying, with Alipay's signed GET params."""
        if not trade.return_url or trade.paid_at is None:
            return None
        params = {
            "method": "alipay.trade.page.pay.return",
            "app_id": self.app_id,
            "auth_app_id": self.app_id,
            "charset": "utf-8",
            "version": "1.0",
            "sign_type": "RSA2",
            "timestamp": beijing_time(trade.paid_at),
            "out_trade_no": trade.out_trade_no,
            "trade_no": trade.trade_no,
            "total_amount": yuan(trade.amount),
            "seller_id": self.seller_id,
        }
        params["sign"] = self._sign_fields(params)
        separator = "&" if "?" in trade.return_url else "?"
        return f"{trade.return_url}{separator}{urlencode(params)}"

    async def deliver_pending(self, now: datetime | None = None) -> int:
        """Send every notification due at ``now`` (default: the clock); how many were due."""
        moment = now or self.clock.now()
        due = [d for d in self.deliveries if d.next_due is not None and d.next_due <= moment]
        for delivery in due:
            await self._attempt(delivery, moment)
        return len(due)

    async def _attempt(self, delivery: Delivery, moment: datetime) -> None:
        delivery.attempts += 1
        delivery.next_due = self._next_due(delivery.attempts, moment)  # set before awaiting
        for _ in range(delivery.copies):
            delivery.answers.append(await self._send(delivery))
        if delivery.acknowledged:
            delivery.next_due = None

    def _next_due(self, attempts: int, moment: datetime) -> datetime | None:
        if attempts > len(RETRY_DELAYS):
            return None
        return moment + RETRY_DELAYS[attempts - 1] * self.time_scale

    async def _send(self, delivery: Delivery) -> str:
        try:
            return await self._deliver(delivery.url, delivery.form)
        except Exception as error:  # an unreachable merchant is an unanswered attempt
            return f"error: {error}"

    def _precreate(self, params: Mapping[str, str], biz: dict[str, Any]) -> dict[str, str]:
        trade = self._create_trade(params, biz, opened=False)
        qr_code = f"{self.base_url}/cashier/{trade.out_trade_no}"
        return {"out_trade_no": trade.out_trade_no, "qr_code": qr_code}

    def _query(self, params: Mapping[str, str], biz: dict[str, Any]) -> dict[str, str]:
        trade = self.known_trade(biz)
        answer = {
            "out_trade_no": trade.out_trade_no,
            "trade_no": trade.trade_no,
            "trade_status": trade.status,
            "total_amount": yuan(trade.amount),
            "buyer_logon_id": "159****5620",
        }
        if trade.paid_at is not None:
            paid = yuan(trade.amount)
            answer |= {"receipt_amount": paid, "buyer_pay_amount": paid}
            answer["send_pay_date"] = beijing_time(trade.paid_at)
        return answer

    def _close(self, params: Mapping[str, str], biz: dict[str, Any]) -> dict[str, str]:
        trade = self.known_trade(biz)
        if trade.status != "WAIT_BUYER_PAY":
            raise GatewayRefusal("40004", "ACQ.TRADE_STATUS_ERROR", f"trade is {trade.status}")
        trade.status = "TRADE_CLOSED"
        return {"out_trade_no": trade.out_trade_no, "trade_no": trade.trade_no}

    def _create_trade(
        self, params: Mapping[str, str], biz: dict[str, Any], *, opened: bool
    ) -> SimTrade:
        out_trade_no, amount = trade_identity(biz)
        existing = self._lookup(out_trade_no)
        if existing is not None:
            return _reused(existing, amount, opened=opened)
        now = self.clock.now()
        trade = SimTrade(
            out_trade_no=out_trade_no,
            trade_no=f"{in_shanghai(now):%Y%m%d}22001{len(self.trades) + 1:09d}",
            amount=amount,
            subject=str(biz.get("subject", "")),
            notify_url=params.get("notify_url", ""),
            return_url=params.get("return_url", ""),
            created_at=now,
            opened=opened,
            time_expire=_time_expire(biz),
        )
        self.trades[out_trade_no] = trade
        return self._closed_if_expired(trade)

    def known_trade(
        self, biz: Mapping[str, Any], *, missing: str = "ACQ.TRADE_NOT_EXIST"
    ) -> SimTrade:
        """The trade a request names, refused ``missing`` while the payer has not opened it."""
        trade = self._lookup(str(biz.get("out_trade_no", "")))
        if trade is None or not trade.opened:
            raise GatewayRefusal("40004", missing, "trade does not exist")
        return trade

    def _trade(self, out_trade_no: str) -> SimTrade:
        trade = self._lookup(out_trade_no)
        if trade is None:
            raise TradeNotFound(out_trade_no)
        return trade

    def _lookup(self, out_trade_no: str) -> SimTrade | None:
        trade = self.trades.get(out_trade_no)
        return None if trade is None else self._closed_if_expired(trade)

    def _closed_if_expired(self, trade: SimTrade) -> SimTrade:
        """Alipay closes a trade left unpaid past its ``time_expire``."""
        expired = trade.time_expire is not None and self.clock.now() > trade.time_expire
        if trade.status == "WAIT_BUYER_PAY" and expired:
            trade.status = "TRADE_CLOSED"
        return trade

    def _waiting_trade(self, out_trade_no: str) -> SimTrade:
        trade = self._trade(out_trade_no)
        if trade.status != "WAIT_BUYER_PAY":
            raise TradeStateError(f"trade {out_trade_no} is {trade.status}")
        return trade

    def _notification(self, trade: SimTrade) -> dict[str, str]:
        paid_at = trade.paid_at or self.clock.now()
        amount = yuan(trade.amount)
        fields = {
            "notify_time": beijing_time(self.clock.now()),
            "notify_type": "trade_status_sync",
            "notify_id": uuid.uuid4().hex,
            "charset": "utf-8",
            "version": "1.0",
            "sign_type": "RSA2",
            "app_id": self.app_id,
            "auth_app_id": self.app_id,
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_id": "2088102177846880",
            "buyer_logon_id": "159****5620",
            "seller_id": self.seller_id,
            "trade_status": trade.status,
            "total_amount": amount,
            "receipt_amount": amount,
            "invoice_amount": amount,
            "buyer_pay_amount": amount,
            "point_amount": "0.00",
            "subject": trade.subject,
            "gmt_create": beijing_time(trade.created_at),
            "gmt_payment": beijing_time(paid_at),
            "fund_bill_list": compact_json([{"amount": amount, "fundChannel": "ALIPAYACCOUNT"}]),
            **refund_fields(trade),
        }
        return self._faulted(fields, amount=trade.amount)

    def _faulted(self, fields: dict[str, str], *, amount: Money) -> dict[str, str]:
        fields["sign"] = self._sign_fields(fields)
        if AlipayFault.BAD_SIGNATURE in self.faults:
            fields["sign"] = self._sign_fields({**fields, "forged": "1"})
        if AlipayFault.TAMPERED_AMOUNT in self.faults:
            fields["total_amount"] = yuan(amount + TAMPER_BY)
        return fields

    def _sign_fields(self, fields: Mapping[str, str]) -> str:
        return sign_params(self._private_key, fields, unsigned=NOTIFICATION_UNSIGNED)


def _time_expire(biz: Mapping[str, Any]) -> datetime | None:
    text = biz.get("time_expire")
    if text is None:
        return None
    try:
        return parse_beijing_time(str(text))
    except ValueError as error:
        message = "time_expire must be yyyy-MM-dd HH:mm:ss in Beijing time"
        raise GatewayRefusal("40004", "ACQ.INVALID_PARAMETER", message) from error


def _reused(trade: SimTrade, amount: Money, *, opened: bool) -> SimTrade:
    if trade.amount != amount:
        raise GatewayRefusal("40004", "ACQ.CONTEXT_INCONSISTENT", "out_trade_no reused")
    if trade.status != "WAIT_BUYER_PAY":
        raise GatewayRefusal("40004", "ACQ.TRADE_STATUS_ERROR", f"trade is {trade.status}")
    trade.opened = trade.opened or opened
    return trade
