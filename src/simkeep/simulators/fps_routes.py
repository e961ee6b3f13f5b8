"""The FPS simulator over HTTP, relative to its mount prefix (``/_sim/fps`` in the embedded
default).

Design overview
---------------
* ``GET /v1/fps/credits?bill_reference=…`` — the receiving bank's query API: the request
  must be signed by the merchant (``X-Client-Id``, ``X-Timestamp``, ``X-Signature``), else
  401; every answer, errors included, is signed by the bank (``X-Bank-*``).
* ``POST /v1/fps/payouts`` and ``GET /v1/fps/payouts/{instruction_id}`` — the bank's payout
  API (``fps_payouts``), signed both ways like the query: 201 a new payout, 200 the one
  already kept under that instruction id, 409 ``DU01`` the same id with other details, 404
  ``not_found``, 400 a malformed request.
* ``GET /v1/fps/statements?date=yyyy-MM-dd`` — the day's statement of the account
  (``fps_bill``), signed both ways like the query: 200, 404 ``statement_not_ready`` while
  the day is not over, 400 ``bad_date``.
* ``GET /app`` — the payer's banking app: a form to paste a QR payload; ``GET
  /app?payload=…`` (the link a phone opens from the merchant's page) reads it, checks its
  CRC, and shows the payee, amount and reference (which the payer may change or clear)
  with a PIN field, the demo PIN printed on the page; ``POST /app/{transfer}`` pays or
  cancels. The pages are plain server-rendered HTML with no script.
* ``POST /pay/{reference}?outcome=success|fail|silent[&amount_minor=…][&reference=…]`` — the
  test hook: pays the QR code last scanned with that reference (or ``amount_minor`` when
  none was), optionally carrying another ``reference`` (empty for none); ``silent`` settles
  it without a webhook. ``/bills/differences`` plants differences in the statements
  (``bill_hooks``).
"""

from __future__ import annotations

import html
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from simkeep.payments.bills.fps import STATEMENTS_PATH
from simkeep.payments.providers.fps_bank import CREDITS_PATH, CURRENCY, error_body, json_bytes
from simkeep.payments.providers.fps_payouts import PAYOUTS_PATH
from simkeep.simulators.bill_hooks import bill_hooks
from simkeep.simulators.fps import FpsBankSimulator
from simkeep.simulators.fps_transfers import DEMO_PIN, SimulatorError, State, Transfer


def router(sim: FpsBankSimulator) -> APIRouter:
    """The bank's query API, the payer's app pages and the test hook of ``sim``."""
    routes = APIRouter(tags=["simulator: FPS"])

    @routes.get(CREDITS_PATH)
    async def credits(request: Request, bill_reference: str = "") -> Response:
        try:
            await _checked(sim, request)
            status, answer = 200, json_bytes({"credits": sim.credits(bill_reference)})
        except SimulatorError as error:
            status, answer = error.status, error_body(error.code, error.message)
        return _signed(sim, status, answer)

    @routes.post(PAYOUTS_PATH)
    async def payout(request: Request) -> Response:
        try:
            payout, created = sim.payouts.instruct(await _checked(sim, request))
            status, answer = 201 if created else 200, json_bytes(payout.answer().to_json())
        except SimulatorError as error:
            status, answer = error.status, error_body(error.code, error.message)
        return _signed(sim, status, answer)

    @routes.get(STATEMENTS_PATH)
    async def statement(request: Request, date: str = Query("", max_length=10)) -> Response:
        try:
            await _checked(sim, request)
            status, answer = 200, json_bytes(sim.bills.answer(date))
        except SimulatorError as error:
            status, answer = error.status, error_body(error.code, error.message)
        return _signed(sim, status, answer)

    @routes.get(PAYOUTS_PATH + "/{instruction_id}")
    async def payout_status(request: Request, instruction_id: str) -> Response:
        try:
            await _checked(sim, request)
            status, answer = 200, json_bytes(sim.payouts.find(instruction_id).answer().to_json())
        except SimulatorError as error:
            status, answer = error.status, error_body(error.code, error.message)
        return _signed(sim, status, answer)

    @routes.get("/app", response_class=HTMLResponse)
    async def app(payload: str = "") -> HTMLResponse:
        if not payload:
            return _page(_scan_form(""))
        try:
            transfer = sim.scan(payload)
        except SimulatorError as error:
            return _page(_scan_form(payload, error.message), error.status)
        return _page(_review(sim, transfer, "", action=f"app/{transfer.id}"))

    @routes.post("/app/{transfer_id}", response_class=HTMLResponse)
    async def app_confirm(
        transfer_id: str,
        action: str = Form("pay"),
        pin: str = Form(""),
        reference: str = Form(""),
    ) -> HTMLResponse:
        try:
            if action == "cancel":
                transfer = sim.cancel(transfer_id)
            else:
                transfer = await sim.confirm(transfer_id, pin=pin, reference=reference)
        except SimulatorError as error:
            if error.code != "wrong_pin":
                return _page(f"<p role=alert>{html.escape(error.message)}</p>", error.status)
            transfer = sim.find(transfer_id)
            return _page(_review(sim, transfer, error.message, action=transfer.id), error.status)
        return _page(_done(transfer))

    @routes.post("/pay/{out_trade_no}")
    async def pay_hook(
        out_trade_no: str,
        outcome: str = "success",
        amount_minor: int | None = None,
        reference: str | None = Query(None, max_length=64),
    ) -> JSONResponse:
        if outcome not in ("success", "fail", "silent"):
            message = "outcome is success|fail|silent"
            return JSONResponse({"code": "outcome", "message": message}, 400)
        try:
            transfer = await sim.pay(
                out_trade_no,
                success=outcome != "fail",
                amount_minor=amount_minor,
                carried=reference,
                notify=outcome == "success",
            )
        except SimulatorError as error:
            return JSONResponse({"code": error.code, "message": error.message}, error.status)
        return JSONResponse(
            {
                "reference": transfer.reference,
                "state": transfer.state.value,
                "amount_minor": transfer.amount_minor,
                "fps_txn_id": transfer.fps_txn_id,
            }
        )

    routes.include_router(bill_hooks(sim.bills, currency=CURRENCY))
    return routes


async def _checked(sim: FpsBankSimulator, request: Request) -> bytes:
    """The request's body, once the merchant's signature over it verifies (else 401)."""
    body = await request.body()
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    sim.check_request(method=request.method, path=path, body=body, headers=request.headers)
    return body


def _signed(sim: FpsBankSimulator, status: int, answer: bytes) -> Response:
    return Response(answer, status, headers=sim.sign(answer), media_type="application/json")


def scan_path(order_no: str, qr_payload: str) -> str:
    """Where, under the prefix, a phone lands that opens an order's FPS QR code."""
    return f"/app?payload={quote(qr_payload, safe='')}"


def _scan_form(payload: str, error: str = "") -> str:
    notice = f"<p role=alert>{html.escape(error)}</p>" if error else ""
    return (
        f"{notice}<form method=get action=app><label>QR 內容 QR payload<br>"
        "<textarea name=payload rows=5 cols=48 required>"
        f"{html.escape(payload)}</textarea></label><br>"
        "<button>掃描 Scan</button></form>"
    )


def _review(sim: FpsBankSimulator, transfer: Transfer, error: str, *, action: str) -> str:
    """The transfer for the payer to check, and the PIN; the form posts to ``action``
    (relative to the page: ``app/{transfer}`` from ``/app``, ``{transfer}`` from itself)."""
    notice = f"<p role=alert>{html.escape(error)}</p>" if error else ""
    return (
        f"{notice}<dl><dt>收款人 Payee</dt><dd>{html.escape(transfer.payee_name)}</dd>"
        f"<dt>FPS</dt><dd>{html.escape(sim.proxy_id)}</dd>"
        f"<dt>金額 Amount</dt><dd class=amount>{_price(transfer.amount_minor)}</dd></dl>"
        f'<form method=post action="{html.escape(action)}">'
        "<p><label>參考編號 Reference "
        f'<input name=reference value="{html.escape(transfer.reference)}" maxlength=35>'
        "</label></p><p><label>密碼 PIN "
        "<input type=password name=pin inputmode=numeric autocomplete=off></label></p>"
        f"<p>示範密碼 Demo PIN: <code>{DEMO_PIN}</code></p>"
        "<button name=action value=pay>確認付款 Pay</button> "
        "<button name=action value=cancel>取消 Cancel</button></form>"
    )


def _done(transfer: Transfer) -> str:
    if transfer.state is not State.SETTLED:
        return "<p role=status>已取消 Cancelled</p><p><a href=../app>返回 Back</a></p>"
    return (
        "<p role=status>已付款 Paid</p>"
        f"<p>{_price(transfer.amount_minor)} → {html.escape(transfer.payee_name)}</p>"
        f"<p>參考編號 Reference: {html.escape(transfer.reference) or '—'}</p>"
        f"<p>交易編號 Transaction: <code>{html.escape(transfer.fps_txn_id)}</code></p>"
        "<p><a href=../app>返回 Back</a></p>"
    )


def _price(minor: int) -> str:
    return f"HK${minor // 100:,}.{minor % 100:02d}"


def _page(body: str, status: int = 200) -> HTMLResponse:
    page = (
        '<!doctype html><html lang="zh-Hant-HK"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>轉數快 FPS · 模擬銀行 Demo Bank</title></head>"
        "<body>"
        f"<h1>轉數快 FPS</h1>{body}</body></html>"
    )
    return HTMLResponse(page, status)
