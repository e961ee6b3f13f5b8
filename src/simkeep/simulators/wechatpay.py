"""WeChat Pay API v3, platform side: a simulator for the embedded default and the tests.

Design overview
---------------
``WeChatPayPlatform`` is one v3 API's platform for one merchant, the API given as data
(``V3Api``: paths, currency, field names): ``WeChatPaySimulator`` is the Mainland one, and
WeChat Pay HK's global API (``simulators.wechatpay_global``) runs on the same code. It holds
its platform key pair (generated, or kept in a directory by ``simulators.keys`` so that
every worker process signs alike) and a ``PUB_KEY_ID_…`` derived from the public key
(public-key mode), knows one merchant (mchid, appid, public key, certificate serial, APIv3
key), keeps trades in memory and reads time from an injected ``Clock``.
``wechatpay_router`` exposes the v3 endpoints (Native and H5 orders, query, close, refunds
and their query); each
request must carry a valid merchant ``Authorization`` within ±300 s, else 401
``SIGN_ERROR``, and every answer — errors and empty 204 bodies included — is signed with the
platform key.

Refunds (``simulators.wechatpay_refunds``) are kept by the merchant's ``out_refund_no``
in ``refunds``, each trade adding up what its refunds pay back; ``refund_funds``, when set,
is what the merchant's account holds to fund them (else any refund is funded).

A paid trade gets one ``TRANSACTION.SUCCESS`` notification, a refund that names a
``notify_url`` one ``REFUND.SUCCESS`` when it succeeds, sent by the platform's notifier
(``simulators.wechatpay_notifier``: retry schedule, faults) through the generic
``simulators.delivery.Deliver``; the Mainland simulator keeps its older status-answering
``deliver`` (``replying`` adapts it). A cashier page and a test hook
(``POST /pay/{out_trade_no}``) stand in for the payer; an H5 payer is sent back to the
``redirect_url`` the merchant appended to the ``h5_url``, if it is on the merchant's own
site (the host of the order's notify URL stands in for the registered H5 domain).
``records()`` gives every trade as the provider sees it, for the fault harness's checker;
``snapshot`` and ``restore`` keep the trades, refunds and notifications across restarts
(``simulators.records``).

Every payment costs the merchant WeChat Pay's fee (``fee_rate_bp``: Mainland 0.6 %, HK
1.0 %, unless told otherwise), which its refunds give back pro rata; ``bills``
(``simulators.wechatpay_bills``) writes the daily bill from these records.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from simkeep.clock import Clock, in_shanghai
from simkeep.payments.providers.wechatpay_api import MAINLAND, V3Api
from simkeep.payments.providers.wechatpay_signing import (
    MAX_SKEW,
    parse_authorization,
    signing_message,
)
from simkeep.payments.signing import (
    KeyPair,
    SignatureError,
    load_public_key,
    verify_sha256_rsa,
)
from simkeep.simulators import delivery as generic
from simkeep.simulators.bill_rules import fee_of
from simkeep.simulators.keys import kept_key_pair
from simkeep.simulators.wechatpay_bills import WeChatPayBills
from simkeep.simulators.wechatpay_notifier import REFUND_SUCCESS, V3Notifier
from simkeep.simulators.wechatpay_refunds import (
    REFUND_SECONDS,
    check_refundable,
    refund_answer,
    refund_resource,
    refund_terms,
    refunded_trade,
    same_refund,
    take_refund,
)
from simkeep.simulators.wechatpay_trades import (
    ACCEPTED,
    PAID_STATES,
    TRADE_TYPES,
    Deliver,
    SimRefund,
    SimTrade,
    SimulatorError,
    http_deliver,
    replying,
    trade_from_order,
)


class WeChatPayPlatform(V3Notifier):
    """One WeChat Pay v3 API's platform for one merchant: trades, signatures, notifications."""

    api: ClassVar[V3Api] = MAINLAND
    key_name: ClassVar[str] = "wechatpay"  # the platform key pair's name in ``key_dir``
    default_fee_rate_bp: ClassVar[int] = 60  # WeChat Pay's fee on a payment, 0.6 %

    def __init__(
        self,
        *,
        mchid: str,
        appid: str,
        merchant_public_key_pem: bytes,
        merchant_serial_no: str,
        apiv3_key: str,
        clock: Clock,
        public_base_url: str,
        key_dir: Path | None = None,
        deliver: generic.Deliver = generic.http_deliver,
        time_scale: float = 1.0,
        fee_rate_bp: int | None = None,
    ) -> None:
        super().__init__(
            platform_keys=(
                KeyPair.generate() if key_dir is None else kept_key_pair(key_dir, self.key_name)
            ),
            apiv3_key=apiv3_key,
            clock=clock,
            deliver=deliver,
            time_scale=time_scale,
        )
        self.mchid = mchid
        self.appid = appid
        self.public_base_url = public_base_url.rstrip("/")
        self.trades: dict[str, SimTrade] = {}
        self.refunds: dict[str, SimRefund] = {}  # by the merchant's out_refund_no
        self.refund_funds: int | None = None  # None: the account funds any refund
        self.fee_rate_bp = self.default_fee_rate_bp if fee_rate_bp is None else fee_rate_bp
        self._merchant_key = load_public_key(merchant_public_key_pem)
        self._merchant_serial_no = merchant_serial_no
        self.bills = WeChatPayBills(self)

    def snapshot(self) -> dict[str, Any]:
        """What WeChat Pay remembers across restarts (``simulators.records``): the trades,
        the refunds and the notifications with their attempts."""
        return {"trades": self.trades, "refunds": self.refunds, "deliveries": self.deliveries}

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Take back a ``snapshot``, just after being built."""
        self.trades, self.refunds = snapshot["trades"], snapshot["refunds"]
        self.deliveries = snapshot["deliveries"]

    def now(self) -> datetime:
        """The platform's time."""
        return self._clock.now()

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

    def create_trade(self, *, kind: str, order: Mapping[str, Any]) -> SimTrade:
        """A Native or H5 order; the same out_trade_no again must repeat the same amount."""
        self._check_order(kind, order)
        trade = trade_from_order(
            kind=kind, order=order, appid=self.appid, mchid=self.mchid, currency=self.api.currency
        )
        known = self.trades.get(trade.out_trade_no)
        if known is None:
            self.trades[trade.out_trade_no] = trade
            return trade
        if known.state in PAID_STATES:
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
        if not redirect_url or trade.trade_type != TRADE_TYPES["mweb"]:
            return None
        target, merchant = urlsplit(redirect_url), urlsplit(trade.notify_url)
        if (target.scheme, target.netloc) != (merchant.scheme, merchant.netloc):
            raise SimulatorError(400, "PARAM_ERROR", "redirect_url is not the merchant's domain")
        return redirect_url

    def close_trade(self, out_trade_no: str) -> None:
        trade = self.find(out_trade_no)
        if trade.state in PAID_STATES:
            raise SimulatorError(400, "ORDERPAID", "a paid order cannot be closed")
        trade.state = "CLOSED"

    async def pay(
        self, out_trade_no: str, *, success: bool, wallet: str | None = None, notify: bool = True
    ) -> SimTrade:
        """The payer pays (or fails) from a wallet in ``wallet``'s currency (by default one
        of those the API takes), and the merchant is charged WeChat Pay's fee; a success is
        notified at once, then on the schedule (never, without ``notify``)."""
        trade = self.find(out_trade_no)
        if trade.state not in ("NOTPAY", "PAYERROR"):
            raise SimulatorError(400, "TRADE_ERROR", f"the order is {trade.state}")
        if not success:
            trade.state = "PAYERROR"
            return trade
        self._charge(trade, wallet)
        trade.state, trade.success_time = "SUCCESS", self._clock.now()
        trade.transaction_id = "4200" + "".join(secrets.choice("0123456789") for _ in range(24))
        trade.fee = fee_of(trade.total, self.fee_rate_bp)
        if not notify:
            return trade
        self.queue(
            out_trade_no=trade.out_trade_no,
            url=trade.notify_url,
            resource=lambda total: self.payment_resource(trade, total=total),
            total=trade.total,
        )
        await self.deliver_due()
        return trade

    def create_refund(self, order: Mapping[str, Any]) -> SimRefund:
        """A refund of a paid trade; its ``out_refund_no`` again is that refund, never another."""
        terms = refund_terms(order, api=self.api, mchid=self.mchid, appid=self.appid)
        known = self.refunds.get(terms.out_refund_no)
        if known is not None:
            return same_refund(known, terms)
        trade = refunded_trade(self.trades, terms)
        check_refundable(trade, terms)
        if self.refund_funds is not None:
            if terms.refund > self.refund_funds:
                raise SimulatorError(403, "NOT_ENOUGH", "基本账户余额不足，请充值后重新发起")
            self.refund_funds -= terms.refund
        now = self._clock.now()
        done = now + timedelta(seconds=REFUND_SECONDS * self._time_scale)
        refund = take_refund(trade, terms, now=now, done=done)
        self.refunds[refund.out_refund_no] = refund
        if refund.notify_url:
            self.queue(
                out_trade_no=refund.out_refund_no,  # payments' deliveries are found by trade
                url=refund.notify_url,
                resource=lambda amount: refund_resource(
                    refund, mchid=self.mchid, api=self.api, amount=amount
                ),
                total=refund.refund,
                event=REFUND_SUCCESS,
                due=done,
            )
        return refund

    def find_refund(self, out_refund_no: str) -> SimRefund:
        refund = self.refunds.get(out_refund_no)
        if refund is None:
            raise SimulatorError(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return refund

    def refund_answer(self, refund: SimRefund) -> dict[str, Any]:
        return refund_answer(refund, self.api, self._clock.now())

    def records(self) -> list[dict[str, Any]]:
        """Every trade as the provider records it: state, amount, whether it was paid, how
        many notifications were posted and whether one was taken."""
        deliveries = {d.out_trade_no: d for d in self.deliveries}
        records = []
        for trade in self.trades.values():
            statuses = d.statuses if (d := deliveries.get(trade.out_trade_no)) else []
            records.append(
                {
                    "out_trade_no": trade.out_trade_no,
                    "paid": trade.state in PAID_STATES,
                    "state": trade.state,
                    "amount_minor": trade.total,
                    "currency": trade.currency,
                    "attempts": len(statuses),
                    "acknowledged": any(status in ACCEPTED for status in statuses),
                    **self.refund_records(trade),
                }
            )
        return records

    def refund_records(self, trade: SimTrade) -> dict[str, Any]:
        """What a trade's record adds about its money: WeChat Pay's fee on it, the total its
        refunds paid back, and each refund of it by the merchant's number with the fee it
        gave back (the fault harness counts them)."""
        refunds = [r for r in self.refunds.values() if r.out_trade_no == trade.out_trade_no]
        return {
            "fee_minor": trade.fee,
            "refunded_minor": trade.refunded,
            "refunds": [
                {
                    "refund_no": r.out_refund_no,
                    "amount_minor": r.refund,
                    "fee_refunded_minor": r.fee_refunded,
                }
                for r in refunds
            ],
        }

    def payment_resource(self, trade: SimTrade, *, total: int) -> dict[str, Any]:
        """The decrypted payment plaintext of a ``TRANSACTION.SUCCESS`` notification."""
        success_time = in_shanghai(trade.success_time or self._clock.now())
        return {
            "mchid": self.mchid,
            "appid": self.appid,
            "out_trade_no": trade.out_trade_no,
            self.api.transaction_id: trade.transaction_id,
            "trade_type": trade.trade_type,
            "trade_state": "SUCCESS",
            "trade_state_desc": "支付成功",
            "bank_type": "OTHERS",
            "attach": "",
            "success_time": success_time.isoformat(timespec="seconds"),
            "payer": {"openid": "o" + trade.transaction_id[-16:]},
            "amount": self._amount(trade, total),
            "promotion_detail": [],
        }

    def query_answer(self, trade: SimTrade) -> dict[str, Any]:
        answer = self.payment_resource(trade, total=trade.total)
        answer["trade_state"] = trade.state
        answer["trade_state_desc"] = trade.state
        if trade.state not in PAID_STATES:
            for name in (self.api.transaction_id, "success_time", "payer", "bank_type"):
                del answer[name]
        return answer

    def wallet_choices(self, trade: SimTrade) -> dict[str, str]:
        """The wallets a payer may choose between on the cashier page (Mainland: no choice)."""
        return {}

    def _check_order(self, kind: str, order: Mapping[str, Any]) -> None:
        """What this API asks of an order beyond the common terms (Mainland: nothing)."""

    def _charge(self, trade: SimTrade, wallet: str | None) -> None:
        """The payer pays the trade's own amount, from a wallet in its currency."""
        if wallet not in (None, trade.currency):
            raise SimulatorError(400, "PARAM_ERROR", f"a {wallet} wallet cannot pay this order")
        trade.payer_total, trade.payer_currency = trade.total, trade.currency

    def _amount(self, trade: SimTrade, total: int) -> dict[str, Any]:
        return {
            "total": total,
            "payer_total": total,
            "currency": trade.currency,
            "payer_currency": trade.currency,
        }


class WeChatPaySimulator(WeChatPayPlatform):
    """WeChat Pay's Mainland v3 platform, its notifier answered by a bare HTTP status."""

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
        fee_rate_bp: int | None = None,
    ) -> None:
        super().__init__(
            mchid=mchid,
            appid=appid,
            merchant_public_key_pem=merchant_public_key_pem,
            merchant_serial_no=merchant_serial_no,
            apiv3_key=apiv3_key,
            clock=clock,
            public_base_url=public_base_url,
            key_dir=key_dir,
            deliver=replying(deliver),
            time_scale=time_scale,
            fee_rate_bp=fee_rate_bp,
        )
