"""The Alipay+ (AlipayHK) simulator over HTTP: the AMS endpoints (every answer signed, HTTP 200
with a ``result``) — the report download ``reports/download`` among them (``alipayplus_bill``)
— the cashier page a payer clicks through, and the test hooks — ``POST /pay/{id}?outcome=
success|fail|silent`` (``silent``: paid, and the merchant never told) and the bills'
``/bills/differences`` (``bill_hooks``) — mounted under ``/_sim/alipayhk`` in the embedded
default.

The cashier (``GET /cashier/{paymentId}``, the ``normalUrl``; ``?qr=1`` is what the desktop
QR code opens on a phone) asks for a test AlipayHK account, then for the 6-digit payment
password; both are printed on the page. A payer on a phone goes back to the merchant's
``paymentRedirectUrl`` once the payment is done or left. The page carries no script.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from simkeep.payments.bills.alipayplus import REPORTS_PATH
from simkeep.payments.providers.alipayplus_signing import json_bytes
from simkeep.simulators.alipayplus import AlipayPlusSimulator
from simkeep.simulators.alipayplus_payments import (
    ACCOUNTS,
    DECLINED_ACCOUNT,
    DEFAULT_ACCOUNT,
    DEMO_PASSWORD,
    SimPayment,
    SimulatorError,
)
from simkeep.simulators.bill_hooks import bill_hooks

TITLE = "支付寶HK AlipayHK"
OUTCOMES = ("success", "fail", "silent")


async def _answer(
    sim: AlipayPlusSimulator, request: Request, action: Callable[[dict[str, Any]], dict[str, Any]]
) -> Response:
    body, path = await request.body(), request.url.path
    try:
        sim.check_request(path=path, headers=request.headers, body=body)
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise SimulatorError("PARAM_ILLEGAL", "the body must be a JSON object")
        answer = action(payload)
    except ValueError:
        answer = SimulatorError("PARAM_ILLEGAL", "the body is not JSON").answer()
    except SimulatorError as error:
        answer = error.answer()
    content = json_bytes(answer)
    headers = sim.sign_response(path, content)
    return Response(content, 200, headers, media_type="application/json; charset=UTF-8")


def _request_id(payload: dict[str, Any]) -> str:
    value = payload.get("paymentRequestId")
    if not isinstance(value, str) or not value:
        raise SimulatorError("PARAM_ILLEGAL", "paymentRequestId is required")
    return value


def router(sim: AlipayPlusSimulator) -> APIRouter:
    """The AMS endpoints, the cashier and the test hook of one simulator."""
    api = APIRouter(tags=["simulator: AlipayHK (Alipay+)"])

    @api.post("/ams/api/v1/payments/pay")
    async def pay(request: Request) -> Response:
        return await _answer(sim, request, lambda p: sim.pay_answer(sim.create_payment(p)))

    @api.post("/ams/api/v1/payments/inquiryPayment")
    async def inquiry(request: Request) -> Response:
        return await _answer(sim, request, lambda p: sim.inquiry_answer(sim.find(_request_id(p))))

    @api.post("/ams/api/v1/payments/cancel")
    async def cancel(request: Request) -> Response:
        return await _answer(sim, request, lambda p: sim.cancel_answer(sim.cancel(_request_id(p))))

    @api.post("/ams/api/v1/payments/refund")
    async def refund(request: Request) -> Response:
        return await _answer(sim, request, sim.refund)

    @api.post("/ams/api/v1/payments/inquiryRefund")
    async def inquiry_refund(request: Request) -> Response:
        return await _answer(sim, request, sim.inquire_refund)

    @api.post("/ams/api/v1" + REPORTS_PATH)
    async def report(request: Request) -> Response:
        return await _answer(sim, request, sim.bills.answer)

    @api.post("/pay/{payment_request_id}")
    async def pay_hook(payment_request_id: str, outcome: str = "success") -> JSONResponse:
        if outcome not in OUTCOMES:
            return JSONResponse(
                {"code": "PARAM_ILLEGAL", "message": "outcome is success|fail|silent"}, 400
            )
        account = DECLINED_ACCOUNT if outcome == "fail" else DEFAULT_ACCOUNT
        try:
            payment = sim.pay(
                payment_request_id,
                account=account,
                password=DEMO_PASSWORD,
                notify=outcome != "silent",
            )
        except SimulatorError as error:
            return JSONResponse(error.answer(), 400)
        await sim.deliver_due()
        return JSONResponse(
            {"paymentRequestId": payment.payment_request_id, "paymentStatus": payment.state}
        )

    @api.get("/cashier/{payment_id}", response_class=HTMLResponse)
    async def cashier(payment_id: str, qr: str = "") -> HTMLResponse:
        return _page_for(sim, payment_id, qr=qr, step="login")

    @api.post("/cashier/{payment_id}", response_class=HTMLResponse)
    async def cashier_submit(
        payment_id: str,
        action: str = Form("login"),
        account: str = Form(""),
        password: str = Form(""),
        qr: str = Form(""),
    ) -> Response:
        try:
            payment = sim.by_payment_id(payment_id)
            if action == "leave":
                return _leave(payment, qr, "您已離開 You left the cashier")
            if account not in ACCOUNTS:
                raise SimulatorError("USER_NOT_EXIST", "找不到帳戶 No such AlipayHK account")
            if action == "login":
                return _page_for(sim, payment_id, qr=qr, step="pay", account=account)
            payment = sim.pay(payment.payment_request_id, account=account, password=password)
        except SimulatorError as error:
            step = "login" if error.code == "USER_NOT_EXIST" else "pay"
            return _page_for(
                sim, payment_id, qr=qr, step=step, account=account, notice=error.message, status=400
            )
        await sim.deliver_due()
        if payment.state == "SUCCESS":
            return _leave(payment, qr, "支付成功 Paid")
        return _page_for(sim, payment_id, qr=qr, step="done", notice="付款被拒 Declined: balance")

    api.include_router(bill_hooks(sim.bills, currency="HKD"))
    return api


def _leave(payment: SimPayment, qr: str, notice: str) -> Response:
    """A phone's payer goes back to the merchant; a scanned code's payer stays here."""
    if payment.redirect_url and not qr:
        return RedirectResponse(payment.redirect_url, status_code=303)
    return HTMLResponse(_page(_summary(payment, notice)))


def _page_for(
    sim: AlipayPlusSimulator,
    payment_id: str,
    *,
    qr: str,
    step: str,
    account: str = "",
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    try:
        payment = sim.by_payment_id(payment_id)
    except SimulatorError as error:
        return HTMLResponse(_page(f"<p>{html.escape(error.message)}</p>"), 404)
    body = _summary(payment, notice)
    if payment.state == "PROCESSING" and step != "done":
        body += _login_form(qr) if step == "login" else _pay_form(account, qr)
    return HTMLResponse(_page(body), status)


def _summary(payment: SimPayment, notice: str) -> str:
    dollars = f"{payment.amount // 100:,}.{payment.amount % 100:02d}"
    return (
        f"<p>{html.escape(payment.description)}</p>"
        f'<p class="amount"><strong>HK${dollars}</strong></p>'
        f"<p>訂單 Order: {html.escape(payment.payment_request_id)} · "
        f"{html.escape(payment.state)}</p><p role=status>{html.escape(notice)}</p>"
    )


def _hidden(qr: str) -> str:
    return f'<input type="hidden" name="qr" value="{html.escape(qr)}">' if qr else ""


def _login_form(qr: str) -> str:
    accounts = "".join(
        f"<li><code>{html.escape(login)}</code> — {html.escape(holder.name)}, "
        f"HK${holder.balance // 100:,}</li>"
        for login, holder in ACCOUNTS.items()
    )
    return (
        '<form method="post"><label>AlipayHK 帳戶 Account '
        '<input type="email" name="account" autocomplete="off" required></label> '
        f'{_hidden(qr)}<button name="action" value="login">登入 Log in</button> '
        '<button name="action" value="leave" formnovalidate>離開 Leave</button></form>'
        f"<p>測試帳戶 Test accounts (the second is always declined):</p><ul>{accounts}</ul>"
    )


def _pay_form(account: str, qr: str) -> str:
    return (
        f'<form method="post"><p>{html.escape(account)}</p>'
        f'<input type="hidden" name="account" value="{html.escape(account)}">{_hidden(qr)}'
        '<label>支付密碼 6-digit payment password <input type="password" name="password" '
        'inputmode="numeric" pattern="[0-9]{6}" maxlength="6" autocomplete="off"></label> '
        f"<p>測試密碼 Test password: <code>{DEMO_PASSWORD}</code></p>"
        '<button name="action" value="pay">確認付款 Pay</button> '
        '<button name="action" value="leave">離開 Leave</button></form>'
    )


def _page(body: str) -> str:
    return (
        '<!doctype html><html lang="zh-Hant-HK"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{TITLE}</title></head>"
        f"<body><h1>{TITLE}</h1>{body}</body></html>"
    )
