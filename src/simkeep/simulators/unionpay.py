"""UnionPay online gateway (ACP 5.1.0), UnionPay's side: a simulator for the embedded default
and the tests.

Design overview
---------------
``UnionPaySimulator`` knows one merchant (``merId``, public key, ``certId``), keeps trades in
memory (``unionpay_trades``) and reads time from an injected ``Clock``; its signatures and
back-notifications are ``unionpay_notifier``'s (UnionPay's certificates and signing key, kept
in ``key_dir`` so that every process signs alike). A request — the browser's consume form,
the merchant's query — is taken only when signed by the merchant's key, with the merchant's
``certId``, the expected ``txnType``/``txnSubType``/``bizType``, ``version`` 5.1.0 and
``signMethod`` 01. Every answer and notification is signed with the leaf key and carries
its certificate in ``signPubKeyCert``.

A trade is paid on the cashier (``unionpay_routes``) with a test card and the password, or
by the test hook; ``payTimeout`` passed, it expires and nothing pays it. A payment sends one
back-notification (form POST to ``backUrl``) at once and then on UnionPay's schedule until
the merchant takes it; ``deliver_due(now)`` sends what is due, so tests move a
``FixedClock`` instead of sleeping.

A refund (``backTransReq.do``, 退货) of a paid consume is checked and kept by
``unionpay_refunds``; it is paid back ``REFUND_SECONDS`` (scaled) after it was taken, when
``deliver_due`` (or a query) comes to it, and then back-notified to its own ``backUrl`` on
the same schedule, signed and faulted like a consume's notification.

Each paid consume costs the merchant UnionPay's fee (``fee_rate_bp``, 0.55 % unless told
otherwise), which its refunds give back pro rata; ``bills`` (``unionpay_bill``) answers the
file transfer with the day's flow file, written from these records. ``snapshot`` and
``restore`` keep the trades, refunds and notifications across restarts
(``simulators.records``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from simkeep.clock import Clock
from simkeep.payments.providers.unionpay_signing import (
    CURRENCIES,
    ENCODING,
    SIGN_METHOD,
    SUCCESS,
    VERSION,
    beijing_time,
    parse_amount,
    parse_beijing_time,
    verify_fields,
)
from simkeep.payments.signing import load_public_key
from simkeep.simulators.bill_rules import fee_of
from simkeep.simulators.delivery import Deliver, http_deliver
from simkeep.simulators.unionpay_bill import UnionPayBills
from simkeep.simulators.unionpay_notifier import UnionPayNotifier
from simkeep.simulators.unionpay_refunds import (
    ORIG_RESP_CODES,
    REFUND_SECONDS,
    RefundBook,
    refund_fields,
)
from simkeep.simulators.unionpay_trades import (
    DECLINE,
    DECLINED_CARD,
    GOOD_CARD,
    PASSWORD,
    SMS_CARD,
    SMS_CODE,
    UNKNOWN_CARD,
    CashierRefusal,
    GatewayRefusal,
    SimTrade,
    TradeState,
    accepted,
    digits,
    luhn_valid,
    masked,
)

CONSUME = {"txnType": "01", "txnSubType": "01", "bizType": "000201"}
QUERY = {"txnType": "00", "txnSubType": "00", "bizType": "000000"}
REFUND = {"txnType": "04", "txnSubType": "00", "bizType": "000201"}
CONSUME_FIELDS = ("orderId", "txnTime", "txnAmt", "currencyCode", "backUrl", "payTimeout")
FEE_RATE_BP = 55  # UnionPay's fee on a consume, 0.55 %


class UnionPaySimulator(UnionPayNotifier):
    """UnionPay's gateway for one merchant: consumes, the cashier, queries, notifications."""

    def __init__(
        self,
        *,
        mer_id: str,
        merchant_name: str,
        merchant_public_key_pem: bytes,
        merchant_cert_id: str,
        clock: Clock,
        key_dir: Path,
        public_base_url: str,
        deliver: Deliver = http_deliver,
        time_scale: float = 1.0,
        fee_rate_bp: int = FEE_RATE_BP,
    ) -> None:
        super().__init__(key_dir=key_dir, clock=clock, deliver=deliver, time_scale=time_scale)
        self.mer_id = mer_id
        self.merchant_name = merchant_name
        self.public_base_url = public_base_url.rstrip("/")
        self.trades: dict[tuple[str, str], SimTrade] = {}
        self.refund_book = RefundBook(delay=timedelta(seconds=REFUND_SECONDS * time_scale))
        self._merchant_key = load_public_key(merchant_public_key_pem)
        self._merchant_cert_id = merchant_cert_id
        self.fee_rate_bp = fee_rate_bp
        self.bills = UnionPayBills(self, clock=clock)

    def snapshot(self) -> dict[str, Any]:
        """What UnionPay remembers across restarts (``simulators.records``): the consumes,
        the refunds and the notifications with their attempts."""
        refunds = self.refund_book.refunds
        return {"trades": self.trades, "refunds": refunds, "deliveries": self.deliveries}

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Take back a ``snapshot``, just after being built."""
        self.trades, self.deliveries = snapshot["trades"], snapshot["deliveries"]
        self.refund_book.refunds = snapshot["refunds"]

    def check_request(self, fields: Mapping[str, str], kind: Mapping[str, str]) -> None:
        """Refuse a request that is not this kind, for this merchant, signed by its key."""
        if any(fields.get(name) != value for name, value in kind.items()):
            raise GatewayRefusal("10", "txnType, txnSubType or bizType is wrong")
        if (fields.get("version"), fields.get("signMethod")) != (VERSION, SIGN_METHOD):
            raise GatewayRefusal("10", "version 5.1.0 with signMethod 01 only")
        if fields.get("merId") != self.mer_id:
            raise GatewayRefusal("31", "unknown merId")
        if fields.get("certId") != self._merchant_cert_id:
            raise GatewayRefusal("11", "certId is not the merchant's certificate")
        if not verify_fields(self._merchant_key, fields):
            raise GatewayRefusal("11", "the signature does not verify")

    def open_trade(self, fields: Mapping[str, str]) -> SimTrade:
        """The consume the browser posted; the same one again (a reload) is the same trade."""
        self.check_request(fields, CONSUME)
        missing = [name for name in CONSUME_FIELDS if not fields.get(name)]
        if fields.get("channelType") not in ("07", "08"):
            missing.append("channelType")
        if missing:
            raise GatewayRefusal("13", f"missing or wrong fields: {', '.join(missing)}")
        try:
            parse_beijing_time(fields["txnTime"])
            pay_timeout = parse_beijing_time(fields["payTimeout"])
            parse_amount(fields["txnAmt"], fields["currencyCode"])
        except ValueError as error:
            raise GatewayRefusal("10", str(error)) from error
        key = (fields["orderId"], fields["txnTime"])
        known = self.trades.get(key)
        if known is not None:
            terms = (fields["txnAmt"], fields["currencyCode"])
            if (str(known.amount), known.currency_code) != terms:
                raise GatewayRefusal("12", "重复交易 orderId reused with other terms")
            return self._current(known)
        if pay_timeout <= self._clock.now():
            raise GatewayRefusal("39", "交易已超时 payTimeout has passed")
        trade = SimTrade(
            order_id=fields["orderId"],
            txn_time=fields["txnTime"],
            query_id=beijing_time(self._clock.now())[2:] + digits(9),
            amount=int(fields["txnAmt"]),
            currency_code=fields["currencyCode"],
            channel_type=fields["channelType"],
            front_url=fields.get("frontUrl", ""),
            back_url=fields["backUrl"],
            pay_timeout=pay_timeout,
        )
        self.trades[key] = trade
        return trade

    def query_answer(self, fields: Mapping[str, str]) -> dict[str, str]:
        """The signed answer to a query: ``respCode`` 00 and the trade's ``origRespCode``,
        ``34`` for a trade never seen, or the refusal's code."""
        answer = {name: fields.get(name, "") for name in ("merId", "orderId", "txnTime")}
        answer.update(QUERY, version=VERSION, encoding=ENCODING, accessType="0")
        key = (fields.get("orderId", ""), fields.get("txnTime", ""))
        self.pay_back_due(self._clock.now())
        try:
            self.check_request(fields, QUERY)
            trade = self.trades.get(key)
            refund = self.refund_book.refunds.get(key)
            if trade is None and refund is None:
                raise GatewayRefusal("34", "查无此交易 no such trade")
        except GatewayRefusal as refusal:
            return self.sign({**answer, "respCode": refusal.code, "respMsg": refusal.message})
        answer.update(respCode=SUCCESS, respMsg="成功[0000000]")
        if refund is not None:
            code, message = ORIG_RESP_CODES[refund.state]
            answer.update(refund_fields(refund), origRespCode=code, origRespMsg=message)
            return self.sign(answer)
        assert trade is not None
        trade = self._current(trade)
        answer.update(self._trade_fields(trade))
        answer.update(origRespCode=trade.orig_resp_code, origRespMsg=trade.state.value)
        return self.sign(answer)

    def refund_answer(self, fields: Mapping[str, str]) -> dict[str, str]:
        """The signed answer to a refund: ``respCode`` 00 when taken (paid back later), or
        the refusal's code."""
        names = ("merId", "orderId", "txnTime", "txnAmt", "currencyCode", "origQryId")
        answer = {name: fields.get(name, "") for name in names}
        answer.update(REFUND, version=VERSION, encoding=ENCODING, accessType="0")
        try:
            self.check_request(fields, REFUND)
            refund = self.refund_book.take(fields, self.trades, self._clock.now())
        except GatewayRefusal as refusal:
            return self.sign({**answer, "respCode": refusal.code, "respMsg": refusal.message})
        return self.sign(
            {**answer, "respCode": SUCCESS, "respMsg": "成功[0000000]", "queryId": refund.query_id}
        )

    def trade(self, query_id: str) -> SimTrade:
        """The trade of a cashier page, expired if its ``payTimeout`` has passed."""
        for trade in self.trades.values():
            if trade.query_id == query_id:
                return self._current(trade)
        raise GatewayRefusal("34", "查无此交易 no such trade", status=404)

    def by_order(self, order_id: str) -> SimTrade:
        """The latest trade of an ``orderId`` (the test hook knows no ``txnTime``)."""
        found = [t for (order, _), t in self.trades.items() if order == order_id]
        if not found:
            raise GatewayRefusal("34", "查无此交易 no such trade", status=404)
        return self._current(max(found, key=lambda trade: trade.txn_time))

    async def pay_card(self, query_id: str, *, card: str, password: str) -> SimTrade:
        """The payer's card and password: paid, declined, or an SMS code asked."""
        trade = _payable(self.trade(query_id))
        card = "".join(card.split())
        if not luhn_valid(card):
            raise CashierRefusal("卡号有误 The card number is not valid")
        if card not in (GOOD_CARD, DECLINED_CARD, SMS_CARD):
            raise CashierRefusal(f"{UNKNOWN_CARD[1]} ({UNKNOWN_CARD[0]})")
        if password != PASSWORD:
            raise CashierRefusal("密码错误 Wrong payment password")
        if card == DECLINED_CARD:
            trade.move(TradeState.DECLINED)
            trade.decline = DECLINE
        elif card == SMS_CARD:
            trade.move(TradeState.SMS_SENT)
            trade.card = card
        else:
            await self._settle(trade, card)
        return trade

    async def confirm_sms(self, query_id: str, *, code: str) -> SimTrade:
        """The SMS code of a card that asked one: right, and the trade is paid."""
        trade = _payable(self.trade(query_id))
        if trade.state is not TradeState.SMS_SENT:
            raise CashierRefusal("请先输入卡号 Enter the card first")
        if code.strip() != SMS_CODE:
            raise CashierRefusal("验证码错误 Wrong SMS code")
        await self._settle(trade, trade.card)
        return trade

    async def pay(self, order_id: str, *, success: bool, notify: bool = True) -> SimTrade:
        """The test hook: the good card pays (the merchant told, unless not ``notify``), or
        the declining card is declined."""
        trade = self.by_order(order_id)
        if not success:
            trade.move(TradeState.DECLINED)
            trade.decline = DECLINE
            return trade
        await self._settle(trade, GOOD_CARD, notify=notify)
        return trade

    async def deliver_due(self, now: datetime | None = None) -> None:
        """Pay back the refunds due at ``now`` (default: the clock), then send every
        back-notification attempt due."""
        instant = now or self._clock.now()
        self.pay_back_due(instant)
        await self.send_due(instant)

    def next_due(self) -> datetime | None:
        """When the next pending attempt or refund is due, if any."""
        refund_due = self.refund_book.next_due()
        return min([*self.pending(), *([refund_due] if refund_due else [])], default=None)

    def records(self) -> list[dict[str, Any]]:
        """Every trade as UnionPay records it, with its notification's attempts."""
        records = []
        for trade in map(self._current, self.trades.values()):
            delivery = self.deliveries.get(trade.query_id)
            replies = delivery.replies if delivery else []
            records.append(
                {
                    "out_trade_no": trade.order_id,
                    "paid": trade.state is TradeState.PAID,
                    "state": trade.state.value,
                    "amount_minor": trade.amount,
                    "fee_minor": trade.fee,
                    "currency": CURRENCIES[trade.currency_code],
                    "attempts": len(replies),
                    "acknowledged": any(accepted(reply) for reply in replies),
                    "refunded_minor": trade.refunded,  # UnionPay's running sum of its refunds
                    "refunds": self.refund_book.records_of(trade.query_id),
                }
            )
        return records

    def pay_back_due(self, now: datetime) -> None:
        """Pay back the refunds whose time has come, and queue their notifications."""
        for refund in self.refund_book.pay_back_due(now):
            self.queue(refund.query_id, refund.back_url, now)

    async def _settle(self, trade: SimTrade, card: str, *, notify: bool = True) -> None:
        now = self._clock.now()
        trade.move(TradeState.PAID)
        trade.acc_no, trade.card = masked(card), ""
        trace = beijing_time(now)
        trade.trace_no, trade.trace_time, trade.settle_date = digits(6), trace[4:], trace[4:8]
        trade.paid_at, trade.fee = now, fee_of(trade.amount, self.fee_rate_bp)
        if notify:
            self.queue(trade.query_id, trade.back_url, now)
            await self.deliver_due(now)

    def _current(self, trade: SimTrade) -> SimTrade:
        final = trade.state in (TradeState.PAID, TradeState.EXPIRED)
        if not final and self._clock.now() > trade.pay_timeout:
            trade.move(TradeState.EXPIRED)
        return trade

    def _trade_fields(self, trade: SimTrade) -> dict[str, str]:
        fields = {"queryId": trade.query_id, "txnAmt": str(trade.amount)}
        fields["currencyCode"] = trade.currency_code
        if trade.state is TradeState.PAID:
            fields.update(traceNo=trade.trace_no, traceTime=trade.trace_time)
            fields.update(settleDate=trade.settle_date, accNo=trade.acc_no)
            fields.update(settleAmt=str(trade.amount), settleCurrencyCode=trade.currency_code)
        return fields

    def _notification(self, query_id: str) -> dict[str, str]:
        refund = self.refund_book.by_query_id(query_id)
        if refund is not None:
            return {**self._notified(REFUND), "merId": self.mer_id, **refund_fields(refund)}
        trade = self.trade(query_id)
        return {
            **self._notified(CONSUME),
            "merId": self.mer_id,
            "orderId": trade.order_id,
            "txnTime": trade.txn_time,
            **self._trade_fields(trade),
        }

    def _notified(self, kind: Mapping[str, str]) -> dict[str, str]:
        return {
            **kind,
            "version": VERSION,
            "encoding": ENCODING,
            "accessType": "0",
            "respCode": SUCCESS,
            "respMsg": "成功[0000000]",
        }


def _payable(trade: SimTrade) -> SimTrade:
    if trade.state is TradeState.PAID:
        raise CashierRefusal("已支付 Already paid")
    if trade.state is TradeState.EXPIRED:
        raise CashierRefusal("交易已超时 The time to pay is over")
    return trade
