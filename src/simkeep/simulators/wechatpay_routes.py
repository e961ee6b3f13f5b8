"""A WeChat Pay v3 simulator over HTTP: its API's endpoints — orders, their query and close,
refunds and their query, the day's bill; every answer signed, even an empty 204 (but a bill
download, which WeChat Pay leaves unsigned) — the cashier page a payer clicks through, and the
test hooks — the Mainland one mounted under ``/_sim/wechatpay`` in the embedded default. The
paths are the simulator's ``V3Api``'s, so WeChat Pay HK's global API is served by the same
routes.

The hooks: ``POST /pay/{out_trade_no}?outcome=success|fail|silent`` (``silent``: paid, and
the merchant never told), and the bills' ``/bills/differences`` (``bill_hooks``: every kind
but ``bad_totals``, which WeChat Pay's bill has no trailer for; refusals answered as the API
answers its own)."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from simkeep.payment_methods import Channel
from simkeep.payments.providers.wechatpay_signing import STATEMENT_SHA1, json_bytes
from simkeep.simulators.bill_hooks import Refused, bill_hooks
from simkeep.simulators.bill_rules import Difference
from simkeep.simulators.wechatpay import WeChatPayPlatform
from simkeep.simulators.wechatpay_trades import DEMO_PASSWORD, SimTrade, SimulatorError, price

BILL_DIFFERENCES = tuple(kind for kind in Difference if kind is not Difference.BAD_TOTALS)


def _signed_response(
    sim: WeChatPayPlatform, status: int, payload: Mapping[str, Any] | None
) -> Response:
    body = json_bytes(payload) if payload is not None else b""
    headers = sim.sign(body)
    media_type = "application/json" if payload is not None else None
    return Response(content=body, status_code=status, headers=headers, media_type=media_type)


async def _answer(
    sim: WeChatPayPlatform,
    request: Request,
    action: Callable[[dict[str, Any]], tuple[int, Mapping[str, Any] | None]],
) -> Response:
    body = await request.body()
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        sim.check_request(
            method=request.method,
            path=path,
            body=body,
            authorization=request.headers.get("Authorization", ""),
        )
        payload = json.loads(body) if body else {}
        if not isinstance(payload, dict):
            raise SimulatorError(400, "PARAM_ERROR", "the body must be a JSON object")
        status, answer = action(payload)
    except ValueError:
        status, answer = 400, {"code": "PARAM_ERROR", "message": "the body is not JSON"}
    except SimulatorError as error:
        status, answer = error.status, {"code": error.code, "message": error.message}
    return _signed_response(sim, status, answer)


def _check_mchid(sim: WeChatPayPlatform, mchid: object) -> None:
    if mchid != sim.mchid:
        raise SimulatorError(400, "PARAM_ERROR", "mchid must be the merchant's")


def wechatpay_router(sim: WeChatPayPlatform) -> APIRouter:
    """The v3 endpoints, the cashier page and the test hook of one simulator."""
    router = APIRouter(tags=[f"simulator: {sim.api.name}"])
    transactions = sim.api.transactions
    h5_endpoint, _ = sim.api.starts[Channel.WAP]

    @router.post(f"{transactions}/native")
    async def native(request: Request) -> Response:
        def create(order: dict[str, Any]) -> tuple[int, Mapping[str, Any]]:
            return 200, {"code_url": sim.create_trade(kind="native", order=order).code_url}

        return await _answer(sim, request, create)

    @router.post(f"{transactions}/{h5_endpoint}")
    async def h5(request: Request) -> Response:
        def create(order: dict[str, Any]) -> tuple[int, Mapping[str, Any]]:
            trade = sim.create_trade(kind=h5_endpoint, order=order)
            return 200, {"h5_url": f"{sim.public_base_url}/cashier/{trade.out_trade_no}"}

        return await _answer(sim, request, create)

    @router.get(f"{transactions}/out-trade-no/{{out_trade_no}}")
    async def query(request: Request, out_trade_no: str) -> Response:
        def answer(_: dict[str, Any]) -> tuple[int, Mapping[str, Any]]:
            _check_mchid(sim, request.query_params.get("mchid"))
            return 200, sim.query_answer(sim.find(out_trade_no))

        return await _answer(sim, request, answer)

    @router.post(f"{transactions}/out-trade-no/{{out_trade_no}}/close")
    async def close(request: Request, out_trade_no: str) -> Response:
        def answer(body: dict[str, Any]) -> tuple[int, None]:
            _check_mchid(sim, body.get("mchid"))
            sim.close_trade(out_trade_no)
            return 204, None

        return await _answer(sim, request, answer)

    _add_refund_routes(router, sim)
    _add_bill_routes(router, sim)

    @router.post("/pay/{out_trade_no}")
    async def pay_hook(
        out_trade_no: str, outcome: str = "success", wallet: str | None = None
    ) -> JSONResponse:
        if outcome not in ("success", "fail", "silent"):
            message = "outcome is success|fail|silent"
            return JSONResponse({"code": "PARAM_ERROR", "message": message}, 400)
        try:
            trade = await sim.pay(
                out_trade_no,
                success=outcome != "fail",
                wallet=wallet,
                notify=outcome != "silent",
            )
        except SimulatorError as error:
            return JSONResponse({"code": error.code, "message": error.message}, error.status)
        return JSONResponse({"out_trade_no": out_trade_no, "trade_state": trade.state})

    @router.get("/cashier/{out_trade_no}", response_class=HTMLResponse)
    async def cashier(out_trade_no: str, redirect_url: str = "") -> HTMLResponse:
        try:
            sim.h5_return(out_trade_no, redirect_url)
        except SimulatorError as error:
            return _cashier_response(sim, out_trade_no, notice=error.message, status=error.status)
        return _cashier_response(sim, out_trade_no, notice="")

    # The form posts to the page's own URL, so an H5 payer's redirect_url comes along.
    @router.post("/cashier/{out_trade_no}", response_class=HTMLResponse)
    async def cashier_submit(
        out_trade_no: str,
        redirect_url: str = "",
        action: str = Form("pay"),
        password: str = Form(""),
        wallet: str = Form(""),
    ) -> Response:
        if action != "cancel" and not password:
            return _cashier_response(sim, out_trade_no, notice="请输入支付密码", status=400)
        try:
            back = sim.h5_return(out_trade_no, redirect_url)
            if action != "cancel":
                await sim.pay(out_trade_no, success=True, wallet=wallet or None)
        except SimulatorError as error:
            return _cashier_response(sim, out_trade_no, notice=error.message, status=error.status)
        if back is not None:  # an H5 payer goes back to the merchant's page
            return RedirectResponse(back, status_code=303)
        notice = "已取消 Cancelled" if action == "cancel" else "支付成功 Paid"
        return _cashier_response(sim, out_trade_no, notice=notice)

    return router


def _add_refund_routes(router: APIRouter, sim: WeChatPayPlatform) -> None:
    """A refund asked for, and one refund by the merchant's number."""

    @router.post(sim.api.refunds)
    async def refund(request: Request) -> Response:
        def create(order: dict[str, Any]) -> tuple[int, Mapping[str, Any]]:
            return 200, sim.refund_answer(sim.create_refund(order))

        return await _answer(sim, request, create)

    @router.get(sim.api.refund_by_no)
    async def refund_query(request: Request, out_refund_no: str) -> Response:
        def answer(_: dict[str, Any]) -> tuple[int, Mapping[str, Any]]:
            if sim.api.merchant_in_refunds:
                _check_mchid(sim, request.query_params.get("mchid"))
            return 200, sim.refund_answer(sim.find_refund(out_refund_no))

        return await _answer(sim, request, answer)


def _add_bill_routes(router: APIRouter, sim: WeChatPayPlatform) -> None:
    """The day's bill the API's way, and the hooks that plant differences in it."""
    bills = sim.bills

    if sim.api.bill_download:

        @router.get(sim.api.bills)
        async def trade_bill(request: Request) -> Response:
            def answer(_: dict[str, Any]) -> tuple[int, Mapping[str, Any]]:
                return 200, bills.trade_bill(request.query_params)

            return await _answer(sim, request, answer)

        @router.get("/v3/billdownload/file")
        async def bill_download(request: Request, token: str = "") -> Response:
            try:
                _check_signed(sim, request)
                data = bills.download(token)
            except SimulatorError as error:
                return _signed_response(sim, error.status, _error(error))
            return Response(data, media_type="application/octet-stream")

    else:

        @router.get(sim.api.bills)
        async def statement(request: Request) -> Response:
            try:
                _check_signed(sim, request)
                made = bills.statement(request.query_params)
            except SimulatorError as error:
                return _signed_response(sim, error.status, _error(error))
            headers = sim.sign(json_bytes({"sha1": made.digest}))
            headers[STATEMENT_SHA1] = made.digest
            return Response(made.data, media_type="text/plain", headers=headers)

    router.include_router(
        bill_hooks(bills, currency=sim.api.currency, kinds=BILL_DIFFERENCES, refused=_refused)
    )


def _check_signed(sim: WeChatPayPlatform, request: Request) -> None:
    """A GET the merchant must have signed, as every v3 call."""
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    authorization = request.headers.get("Authorization", "")
    sim.check_request(method="GET", path=path, body=b"", authorization=authorization)


def _refused(refused: Refused) -> JSONResponse:
    """A difference the bill hooks will not plant, refused as WeChat Pay refuses."""
    status, code = (404, "ORDER_NOT_EXIST") if refused.unknown_trade else (400, "PARAM_ERROR")
    return JSONResponse({"code": code, "message": refused.message}, status)


def _error(error: SimulatorError) -> dict[str, str]:
    return {"code": error.code, "message": error.message}


def _cashier_response(
    sim: WeChatPayPlatform, out_trade_no: str, *, notice: str, status: int = 200
) -> HTMLResponse:
    try:
        trade = sim.find(out_trade_no)
    except SimulatorError as error:
        return HTMLResponse(_page("微信支付", f"<p>{html.escape(error.message)}</p>"), error.status)
    title = f"微信支付 {sim.api.name}"
    body = _cashier_body(trade, notice, sim.wallet_choices(trade))
    return HTMLResponse(_page(title, body), status)


def _cashier_body(trade: SimTrade, notice: str, wallets: Mapping[str, str]) -> str:
    form = ""
    if trade.state in ("NOTPAY", "PAYERROR"):
        form = (
            f'<form method="post">{_wallet_select(wallets)}<label>支付密码 Payment password '
            '<input type="password" name="password" inputmode="numeric" autocomplete="off">'
            f"</label><p>演示密码 Demo password: <code>{DEMO_PASSWORD}</code></p>"
            '<button name="action" value="pay">支付 Pay</button> '
            '<button name="action" value="cancel">取消 Cancel</button></form>'
        )
    return (
        f"<p>{html.escape(trade.description)}</p>"
        f"<p class=amount>{html.escape(price(trade.total, trade.currency))}</p>"
        f"<p>二维码内容 QR payload: <code>{html.escape(trade.code_url)}</code></p>"
        f"<p>订单 Order: {html.escape(trade.out_trade_no)} · {html.escape(trade.state)}</p>"
        f"<p role=status>{html.escape(notice)}</p>{form}"
    )


def _wallet_select(wallets: Mapping[str, str]) -> str:
    """A choice of the payer's wallet, where the API takes more than one currency."""
    if not wallets:
        return ""
    options = "".join(
        f'<option value="{html.escape(code)}">{html.escape(label)}</option>'
        for code, label in wallets.items()
    )
    return f'<p><label>錢包 Wallet <select name="wallet">{options}</select></label></p>'


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="zh-Hans-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f"{body}</body></html>"
    )
