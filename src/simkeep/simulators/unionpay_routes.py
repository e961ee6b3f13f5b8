"""The UnionPay simulator over HTTP: the gateway's ``frontTransReq.do`` (the payer's browser
posts the merchant's signed form), ``queryTrans.do`` and ``backTransReq.do`` (a query and a
refund, server to server, a signed form both ways), the file transfer at ``/filedownload``
(the merchant's daily flow file, ``unionpay_bill``), the cashier pages a payer clicks
through, and the test hooks — ``POST /pay/{orderId}?outcome=success|fail|silent``
(``silent``: paid, and the merchant never told) and the bills' ``/bills/differences``
(``bill_hooks``) — mounted under ``/_sim/unionpay`` in the embedded default.

Design overview
---------------
A consume that verifies is answered 303 to its cashier page (``/cashier/{queryId}``), so a
reload does not post the form again; one that does not gets an error page with the ACP
``respCode`` and ``respMsg``. The cashier asks a test card number and the payment password
(both printed on the page), then — for the card that asks one — an SMS code (printed too).
A declined card shows the decline and the form again; once paid, the page links back to the
merchant's ``frontUrl``. The pages are server-rendered HTML with no script at all.
"""

from __future__ import annotations

import html
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from simkeep.payments.model import NotificationRejected
from simkeep.payments.providers.unionpay_signing import CURRENCIES, parse_form
from simkeep.simulators.bill_hooks import bill_hooks
from simkeep.simulators.unionpay import UnionPaySimulator
from simkeep.simulators.unionpay_trades import (
    DECLINED_CARD,
    GOOD_CARD,
    PASSWORD,
    SMS_CARD,
    SMS_CODE,
    CashierRefusal,
    GatewayRefusal,
    SimTrade,
    TradeState,
)

SYMBOLS = {"CNY": "¥", "HKD": "HK$"}
TITLE = "银联在线支付 UnionPay Online Payment"
FILE_PATH = "/filedownload"  # UnionPay serves it on a host of its own, at its root
OUTCOMES = ("success", "fail", "silent")


def router(sim: UnionPaySimulator) -> APIRouter:
    """The gateway endpoints, the cashier pages and the test hook of one simulator."""
    routes = APIRouter(tags=["simulator: UnionPay"])

    @routes.post("/frontTransReq.do", response_class=HTMLResponse)
    async def front_trans_req(request: Request) -> Response:
        try:
            trade = sim.open_trade(parse_form(await request.body()))
        except NotificationRejected as error:
            return _page(f"<p role=alert>10 {html.escape(str(error))}</p>", 400)
        except GatewayRefusal as refusal:
            return _refusal_page(refusal)
        return RedirectResponse(f"{sim.public_base_url}/cashier/{trade.query_id}", 303)

    @routes.post("/queryTrans.do")
    async def query_trans(request: Request) -> Response:
        return _form_answer(sim.query_answer(await _fields(request)))

    @routes.post("/backTransReq.do")
    async def back_trans_req(request: Request) -> Response:
        return _form_answer(sim.refund_answer(await _fields(request)))

    @routes.post(FILE_PATH)
    async def file_transfer(request: Request) -> Response:
        return _form_answer(sim.bills.answer(await _fields(request)))

    @routes.get("/cashier/{query_id}", response_class=HTMLResponse)
    async def cashier(query_id: str) -> Response:
        return _cashier(sim, query_id, notice="")

    @routes.post("/cashier/{query_id}", response_class=HTMLResponse)
    async def pay_with_card(
        query_id: str, card_no: str = Form(""), password: str = Form("")
    ) -> Response:
        try:
            trade = await sim.pay_card(query_id, card=card_no, password=password)
        except CashierRefusal as refusal:
            return _cashier(sim, query_id, notice=str(refusal), status=400)
        except GatewayRefusal as refusal:
            return _refusal_page(refusal)
        return _cashier(sim, query_id, notice=_outcome(trade))

    @routes.post("/cashier/{query_id}/sms", response_class=HTMLResponse)
    async def confirm_sms(query_id: str, sms_code: str = Form("")) -> Response:
        try:
            trade = await sim.confirm_sms(query_id, code=sms_code)
        except CashierRefusal as refusal:
            return _cashier(sim, query_id, notice=str(refusal), status=400)
        except GatewayRefusal as refusal:
            return _refusal_page(refusal)
        return _cashier(sim, query_id, notice=_outcome(trade))

    @routes.post("/pay/{order_id}")
    async def pay_hook(order_id: str, outcome: str = "success") -> JSONResponse:
        if outcome not in OUTCOMES:
            body = {"respCode": "10", "respMsg": "outcome is success|fail|silent"}
            return JSONResponse(body, 400)
        try:
            trade = await sim.pay(order_id, success=outcome != "fail", notify=outcome == "success")
        except GatewayRefusal as refusal:
            body = {"respCode": refusal.code, "respMsg": refusal.message}
            return JSONResponse(body, refusal.status)
        return JSONResponse({"orderId": order_id, "state": trade.state.value})

    routes.include_router(bill_hooks(sim.bills, currency="CNY"))
    return routes


async def _fields(request: Request) -> dict[str, str]:
    """A server-to-server form; one that does not parse is answered as an empty one."""
    try:
        return parse_form(await request.body())
    except NotificationRejected:
        return {}


def _form_answer(answer: dict[str, str]) -> Response:
    body = urlencode(answer)
    return Response(body, media_type="application/x-www-form-urlencoded;charset=UTF-8")


def _outcome(trade: SimTrade) -> str:
    if trade.state is TradeState.DECLINED and trade.decline is not None:
        code, message = trade.decline
        return f"银行卡被拒 Card declined: {message} ({code}) — 请换一张卡 try another card"
    if trade.state is TradeState.SMS_SENT:
        return "验证码已发送 An SMS code was sent"
    return "支付成功 Paid" if trade.state is TradeState.PAID else ""


def _cashier(sim: UnionPaySimulator, query_id: str, *, notice: str, status: int = 200) -> Response:
    try:
        trade = sim.trade(query_id)
    except GatewayRefusal as refusal:
        return _refusal_page(refusal)
    currency = CURRENCIES[trade.currency_code]
    amount = f"{SYMBOLS[currency]}{trade.amount // 100}.{trade.amount % 100:02d}"
    action = f"{sim.public_base_url}/cashier/{trade.query_id}"
    body = (
        f"<p>商户 Merchant: {html.escape(sim.merchant_name)} · "
        f"订单 Order: {html.escape(trade.order_id)}</p>"
        f'<p class="amount"><strong>{html.escape(amount)} {currency}</strong></p>'
        f"<p>状态 State: {trade.state.value}</p>"
        f"<p role=status>{html.escape(notice)}</p>{_step(trade, action)}"
    )
    return _page(body, status)


def _step(trade: SimTrade, action: str) -> str:
    back = (
        f'<p><a href="{html.escape(trade.front_url)}">返回商户 Return to merchant</a></p>'
        if trade.front_url
        else ""
    )
    if trade.state is TradeState.PAID:
        return f"<p>已付款 Paid with card {html.escape(trade.acc_no)}</p>{back}"
    if trade.state is TradeState.EXPIRED:
        return f"<p>交易已超时 The time to pay is over</p>{back}"
    if trade.state is TradeState.SMS_SENT:
        return (
            f'<form method="post" action="{html.escape(action)}/sms">'
            '<label>短信验证码 SMS code <input name="sms_code" inputmode="numeric" '
            'autocomplete="one-time-code"></label>'
            f"<p>测试验证码 Test SMS code: <code>{SMS_CODE}</code></p>"
            "<button>确认付款 Confirm</button></form>"
        )
    return (
        f'<form method="post" action="{html.escape(action)}">'
        '<p><label>卡号 Card number <input name="card_no" inputmode="numeric" '
        'autocomplete="cc-number"></label></p>'
        '<p><label>支付密码 Payment password <input type="password" name="password" '
        'inputmode="numeric" autocomplete="off"></label></p>'
        "<button>付款 Pay</button></form>"
        "<p>测试卡 Test cards:</p><ul>"
        f"<li><code>{_grouped(GOOD_CARD)}</code> 付款成功 pays</li>"
        f"<li><code>{_grouped(DECLINED_CARD)}</code> 余额不足 declined (51)</li>"
        f"<li><code>{_grouped(SMS_CARD)}</code> 需短信验证码 asks an SMS code</li></ul>"
        f"<p>支付密码 Payment password: <code>{PASSWORD}</code></p>"
    )


def _grouped(card: str) -> str:
    return " ".join(card[index : index + 4] for index in range(0, len(card), 4))


def _refusal_page(refusal: GatewayRefusal) -> Response:
    message = f"{refusal.code} {refusal.message}"
    return _page(f"<p role=alert>{html.escape(message)}</p>", refusal.status)


def _page(body: str, status: int = 200) -> Response:
    return HTMLResponse(
        '<!doctype html><html lang="zh-Hans-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{TITLE}</title></head><body><h1>{TITLE}</h1>{body}</body></html>",
        status,
    )
