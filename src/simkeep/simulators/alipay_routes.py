"""The Alipay simulator over HTTP: the gateway, the cashier pages a payer clicks through, the
bill files its ``bill_download_url`` points to, and the test hooks — mounted under
``/_sim/alipay`` in the embedded default.

The hooks: ``POST /pay/{out_trade_no}?outcome=success|fail|silent`` (``silent``: paid, and the
merchant never told), and the bills' ``/bills/differences`` (``bill_hooks``: every kind but
``bad_digest``, which Alipay's unsigned zip has no digest for)."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from simkeep.payments.providers.alipay_signing import CURRENCY, yuan
from simkeep.simulators.alipay import AlipaySimulator
from simkeep.simulators.alipay_trades import DEMO_PASSWORD, SimTrade, TradeNotFound, TradeStateError
from simkeep.simulators.bill_hooks import bill_hooks
from simkeep.simulators.bill_rules import Difference

BILL_DIFFERENCES = tuple(kind for kind in Difference if kind is not Difference.BAD_DIGEST)


def alipay_router(sim: AlipaySimulator) -> APIRouter:
    """``/gateway.do``, the cashier and the test hook, for mounting under e.g. /_sim/alipay."""
    router = APIRouter(tags=["simulator: alipay"])

    @router.api_route("/gateway.do", methods=["GET", "POST"])
    async def gateway(request: Request) -> Response:
        answer = sim.gateway(await _merged_params(request))
        if answer.cashier_trade is not None:
            return _cashier_response(request, answer.cashier_trade)
        if answer.redirect_url is not None:
            return RedirectResponse(answer.redirect_url, status_code=303)
        return Response(answer.json_text, media_type="application/json;charset=utf-8")

    @router.get("/cashier/{out_trade_no}", response_class=HTMLResponse)
    async def cashier(request: Request, out_trade_no: str) -> HTMLResponse:
        return _cashier_response(request, _or_http_error(sim.open_cashier, out_trade_no))

    @router.post("/cashier/{out_trade_no}", name="alipay_cashier_submit")
    async def cashier_submit(request: Request, out_trade_no: str) -> Response:
        form = await request.form()
        trade = _or_http_error(sim.open_cashier, out_trade_no)
        if form.get("action") != "pay":
            return HTMLResponse(_result_page("Payment cancelled", trade))
        if not form.get("password"):
            message = "Enter the payment password."
            return _cashier_response(request, trade, message=message, status_code=400)
        _or_http_error(sim.pay, out_trade_no)
        await sim.deliver_pending()
        return_url = sim.return_url_for(trade)
        if return_url is not None:
            return RedirectResponse(return_url, status_code=303)
        return HTMLResponse(_result_page("Paid", trade))

    @router.post("/pay/{out_trade_no}")
    async def pay_hook(
        out_trade_no: str, outcome: Literal["success", "fail", "silent"] = "success"
    ) -> dict[str, str]:
        """Test hook: the payer pays (and the first notification goes out, unless
        ``silent``) or fails."""
        actions: dict[str, Callable[[str], SimTrade]] = {
            "success": sim.pay,
            "fail": sim.fail,
            "silent": lambda number: sim.pay(number, notify=False),
        }
        trade = _or_http_error(actions[outcome], out_trade_no)
        await sim.deliver_pending()
        return {"out_trade_no": trade.out_trade_no, "trade_status": trade.status}

    _add_bill_routes(router, sim)
    return router


def _add_bill_routes(router: APIRouter, sim: AlipaySimulator) -> None:
    """The bill file a ``bill_download_url`` gives, and the hooks that plant differences."""

    @router.get("/downloadBillFile.resource")
    async def bill_file(token: str = "") -> Response:
        data = sim.bills.download(token)
        if data is None:
            raise HTTPException(404, "the bill download URL is unknown or expired (30 s)")
        return Response(data, media_type="application/zip")

    router.include_router(bill_hooks(sim.bills, currency=CURRENCY, kinds=BILL_DIFFERENCES))


async def _merged_params(request: Request) -> dict[str, str]:
    params = dict(request.query_params)
    form = await request.form()
    params.update({key: value for key, value in form.items() if isinstance(value, str)})
    return params


def _or_http_error(action: Callable[[str], SimTrade], out_trade_no: str) -> SimTrade:
    try:
        return action(out_trade_no)
    except TradeNotFound as error:
        raise HTTPException(404, f"no trade {out_trade_no}") from error
    except TradeStateError as error:
        raise HTTPException(409, str(error)) from error


def _cashier_response(
    request: Request, trade: SimTrade, *, message: str = "", status_code: int = 200
) -> HTMLResponse:
    if trade.status == "TRADE_CLOSED":  # expired or closed: Alipay shows no way to pay
        return HTMLResponse(_result_page("Trade closed", trade), 409)
    action = str(request.url_for("alipay_cashier_submit", out_trade_no=trade.out_trade_no))
    return HTMLResponse(_cashier_page(trade, action=action, message=message), status_code)


def _cashier_page(trade: SimTrade, *, action: str, message: str) -> str:
    error = f'<p role="alert">{html.escape(message)}</p>' if message else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Alipay cashier (simulator)</title></head>
<body><main>
<h1>Alipay cashier (simulator)</h1>
<p>{html.escape(trade.subject)}</p>
<p>Amount: <strong>¥{html.escape(yuan(trade.amount))}</strong></p>
<p>Order {html.escape(trade.out_trade_no)}</p>
{error}
<form method="post" action="{html.escape(action)}">
<label>Payment password <input type="password" name="password" autocomplete="off"></label>
<p>Demo: any non-empty password pays, for example <code>{DEMO_PASSWORD}</code>.</p>
<button type="submit" name="action" value="pay">Pay</button>
<button type="submit" name="action" value="cancel">Cancel</button>
</form>
</main></body></html>"""


def _result_page(title: str, trade: SimTrade) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title>"
        f"</head><body><main><h1>{title}</h1><p>Order {html.escape(trade.out_trade_no)}: "
        f"¥{html.escape(yuan(trade.amount))}</p></main></body></html>"
    )
