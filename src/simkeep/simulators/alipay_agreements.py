"""Alipay agreement payment (商家扣款), provider side: the signing page, the agreement
notifications, ``alipay.user.agreement.query``/``unsign`` and ``alipay.trade.pay`` through an
agreement — added to an ``AlipaySimulator``'s gateway, mounted with it.

Design overview
---------------
``AlipayAgreements`` keeps the agreements by the merchant's ``external_agreement_no`` and
registers its methods on the simulator's gateway (``AlipaySimulator.extend``), so they are
checked and signed exactly as the trade methods are. ``alipay.user.agreement.page.sign`` is
a page: the gateway records a ``TEMP`` agreement and sends the payer to the signing page,
where they confirm with their payment password (any non-empty one, as at the cashier).
Signing makes the agreement ``NORMAL`` with Alipay's ``agreement_no``, queues a signed
``dut_user_sign`` notification to the request's ``notify_url`` (delivered with the trade
notifications, on the same retry ladder) and sends the payer back to ``return_url``.

``alipay.trade.pay`` with ``product_code=GENERAL_WITHHOLDING`` and
``agreement_params.agreement_no`` charges a ``NORMAL`` agreement at once: the trade is made
and paid (its ``trade_status_sync`` notification goes out as any paid trade's), or — for an
account without funds — refused ``40004 ACQ.BUYER_BALANCE_NOT_ENOUGH`` and nothing is made.
An account signed in as ``DECLINING_ACCOUNT``, or set by the test hook
``POST /agreements/{external_agreement_no}/funds?enough=false``, has no funds. The payer
may end an agreement in their wallet (``POST /agreements/{…}/unsign``): ``dut_user_unsign``
is notified.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from simkeep.clock import in_shanghai
from simkeep.payments.providers.alipay_signing import (
    NOTIFICATION_UNSIGNED,
    GatewayRefusal,
    beijing_time,
    sign_params,
    trade_identity,
    yuan,
)
from simkeep.payments.signing import load_private_key
from simkeep.simulators.alipay import AlipaySimulator
from simkeep.simulators.alipay_trades import DEMO_PASSWORD, Delivery, SimTrade

DECLINING_ACCOUNT = "nofunds@example.com"
PERSONAL_PRODUCT_CODE = "GENERAL_WITHHOLDING_P"
MISSING = "USER_AGREEMENT_NOT_EXIST"


@dataclass
class SimAgreement:
    external_agreement_no: str
    agreement_no: str
    logon_id: str
    notify_url: str
    return_url: str
    status: str = "TEMP"  # TEMP → NORMAL → STOP
    sign_time: datetime | None = None
    funds: bool = True


class AlipayAgreements:
    """The agreements of one simulated Alipay merchant app."""

    def __init__(self, sim: AlipaySimulator) -> None:
        self.sim = sim
        self.agreements: dict[str, SimAgreement] = {}
        self._key = load_private_key(sim.keys.private_pem)
        sim.extend(
            handlers={
                "alipay.user.agreement.query": self._query,
                "alipay.user.agreement.unsign": self._unsign,
                "alipay.trade.pay": self._pay,
            },
            redirects={"alipay.user.agreement.page.sign": self._page_sign},
        )

    def snapshot(self) -> dict[str, Any]:
        """The agreements, as ``simulators.records`` keeps them."""
        return {"agreements": self.agreements}

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        self.agreements = snapshot["agreements"]

    def find(self, external_agreement_no: str) -> SimAgreement:
        agreement = self.agreements.get(external_agreement_no)
        if agreement is None:
            raise HTTPException(404, f"no agreement {external_agreement_no}")
        return agreement

    def sign(self, external_agreement_no: str, *, logon_id: str) -> SimAgreement:
        """The payer confirmed: the agreement is in force, and Alipay says so."""
        agreement = self.find(external_agreement_no)
        if agreement.status != "TEMP":
            raise HTTPException(409, f"the agreement is {agreement.status}")
        agreement.status, agreement.sign_time = "NORMAL", self.sim.clock.now()
        agreement.logon_id = logon_id or agreement.logon_id
        agreement.funds = logon_id != DECLINING_ACCOUNT
        self._notify(agreement, "dut_user_sign", {"sign_time": beijing_time(agreement.sign_time)})
        return agreement

    def end(self, external_agreement_no: str) -> SimAgreement:
        """The payer ended the agreement in their wallet: Alipay notifies the merchant."""
        agreement = self.find(external_agreement_no)
        if agreement.status == "NORMAL":
            agreement.status = "STOP"
            unsigned = {"unsign_time": beijing_time(self.sim.clock.now())}
            self._notify(agreement, "dut_user_unsign", unsigned)
        return agreement

    def _page_sign(self, params: Mapping[str, str], biz: dict[str, Any]) -> str:
        ref = str(biz.get("external_agreement_no", ""))
        if not ref or biz.get("personal_product_code") != PERSONAL_PRODUCT_CODE:
            raise GatewayRefusal("40002", "isv.invalid-biz-content", "agreement fields needed")
        if ref not in self.agreements:
            now = in_shanghai(self.sim.clock.now())
            self.agreements[ref] = SimAgreement(
                external_agreement_no=ref,
                agreement_no=f"{now:%Y%m%d}000{len(self.agreements) + 1:09d}",
                logon_id=str(biz.get("external_logon_id", "")),
                notify_url=params.get("notify_url", ""),
                return_url=params.get("return_url", ""),
            )
        return f"{self.sim.base_url}/agreements/{ref}/sign"

    def _query(self, params: Mapping[str, str], biz: dict[str, Any]) -> dict[str, str]:
        agreement = self._known(biz)
        answer = {
            "agreement_no": agreement.agreement_no,
            "external_agreement_no": agreement.external_agreement_no,
            "personal_product_code": PERSONAL_PRODUCT_CODE,
            "status": agreement.status,
            "alipay_logon_id": agreement.logon_id,
        }
        if agreement.sign_time is not None:
            answer["sign_time"] = beijing_time(agreement.sign_time)
        return answer

    def _unsign(self, params: Mapping[str, str], biz: dict[str, Any]) -> dict[str, str]:
        agreement = self._known(biz)
        if agreement.status != "NORMAL":
            raise GatewayRefusal("40004", MISSING, "the agreement is not in force")
        agreement.status = "STOP"
        return {}

    def _pay(self, params: Mapping[str, str], biz: dict[str, Any]) -> dict[str, str]:
        out_trade_no, amount = trade_identity(biz)
        if biz.get("product_code") != "GENERAL_WITHHOLDING":
            raise GatewayRefusal("40004", "ACQ.PRODUCT_AMOUNT_LIMIT_ERROR", "not a withholding")
        agreement_params = biz.get("agreement_params")
        number = agreement_params.get("agreement_no") if isinstance(agreement_params, dict) else ""
        agreement = next((a for a in self.agreements.values() if a.agreement_no == number), None)
        if agreement is None:
            raise GatewayRefusal("40004", "ACQ.AGREEMENT_NOT_EXIST", "no such agreement")
        if agreement.status != "NORMAL":
            raise GatewayRefusal("40004", "ACQ.AGREEMENT_STATUS_NOT_NORMAL", agreement.status)
        known = self.sim.trades.get(out_trade_no)
        if known is not None:
            raise GatewayRefusal("40004", "ACQ.TRADE_HAS_SUCCESS", "the trade is paid already")
        if not agreement.funds:
            raise GatewayRefusal("40004", "ACQ.BUYER_BALANCE_NOT_ENOUGH", "余额不足")
        now = self.sim.clock.now()
        trade = SimTrade(
            out_trade_no=out_trade_no,
            trade_no=f"{in_shanghai(now):%Y%m%d}22001{len(self.sim.trades) + 1:09d}",
            amount=amount,
            subject=str(biz.get("subject", "")),
            notify_url=params.get("notify_url", ""),
            return_url="",
            created_at=now,
            opened=True,
        )
        self.sim.trades[out_trade_no] = trade
        self.sim.pay(out_trade_no)
        return {
            "trade_no": trade.trade_no,
            "out_trade_no": out_trade_no,
            "total_amount": yuan(amount),
            "buyer_logon_id": agreement.logon_id,
            "gmt_payment": beijing_time(now),
        }

    def _known(self, biz: dict[str, Any]) -> SimAgreement:
        ref, number = biz.get("external_agreement_no"), biz.get("agreement_no")
        for agreement in self.agreements.values():
            if agreement.external_agreement_no == ref or agreement.agreement_no == number:
                return agreement
        raise GatewayRefusal("40004", MISSING, "the agreement does not exist")

    def _notify(self, agreement: SimAgreement, notify_type: str, extra: dict[str, str]) -> None:
        if not agreement.notify_url:
            return
        now = self.sim.clock.now()
        fields = {
            "notify_time": beijing_time(now),
            "notify_type": notify_type,
            "notify_id": f"{agreement.agreement_no}{notify_type}",
            "charset": "utf-8",
            "version": "1.0",
            "sign_type": "RSA2",
            "app_id": self.sim.app_id,
            "auth_app_id": self.sim.app_id,
            "agreement_no": agreement.agreement_no,
            "external_agreement_no": agreement.external_agreement_no,
            "personal_product_code": PERSONAL_PRODUCT_CODE,
            "sign_scene": "INDUSTRY|MOBILE",
            "status": "NORMAL" if notify_type == "dut_user_sign" else "UNSIGN",
            "alipay_logon_id": agreement.logon_id,
            **extra,
        }
        fields["sign"] = sign_params(self._key, fields, unsigned=NOTIFICATION_UNSIGNED)
        self.sim.deliveries.append(Delivery(agreement.notify_url, fields, now))


def alipay_agreements_router(agreements: AlipayAgreements) -> APIRouter:
    """The signing page and the test hooks, mounted beside the gateway (``/_sim/alipay``)."""
    router = APIRouter(tags=["simulator: alipay"])

    @router.get("/agreements/{ref}/sign", response_class=HTMLResponse)
    async def sign_page(ref: str) -> HTMLResponse:
        return HTMLResponse(_sign_page(agreements.find(ref), message=""))

    @router.post("/agreements/{ref}/sign")
    async def sign(
        ref: str, action: str = Form("sign"), password: str = Form(""), account: str = Form("")
    ) -> Response:
        agreement = agreements.find(ref)
        if action != "sign":
            return HTMLResponse(_sign_page(agreement, message="Not signed."))
        if not password:
            return HTMLResponse(_sign_page(agreement, message="Enter the payment password."), 400)
        agreements.sign(ref, logon_id=account.strip()[:64])
        await agreements.sim.deliver_pending()
        if agreement.return_url:
            return RedirectResponse(agreement.return_url, status_code=303)
        return HTMLResponse(_sign_page(agreement, message="Signed."))

    @router.post("/agreements/{ref}/funds")
    async def funds(ref: str, enough: bool = True) -> dict[str, object]:
        """Test hook: the account has money for the next deductions, or none."""
        agreements.find(ref).funds = enough
        return {"external_agreement_no": ref, "funds": enough}

    @router.post("/agreements/{ref}/unsign")
    async def unsign(ref: str) -> dict[str, str]:
        """Test hook: the payer ends the agreement in their Alipay app."""
        agreement = agreements.end(ref)
        await agreements.sim.deliver_pending()
        return {"external_agreement_no": ref, "status": agreement.status}

    return router


def _sign_page(agreement: SimAgreement, *, message: str) -> str:
    note = f'<p role="alert">{html.escape(message)}</p>' if message else ""
    form = ""
    if agreement.status == "TEMP":
        form = f"""<form method="post">
<label>Alipay account <input name="account" value="{html.escape(agreement.logon_id)}"></label>
<label>Payment password <input type="password" name="password" autocomplete="off"></label>
<p>Demo: any non-empty password signs, for example <code>{DEMO_PASSWORD}</code>; the account
<code>{DECLINING_ACCOUNT}</code> has no funds.</p>
<button type="submit" name="action" value="sign">Agree and sign</button>
<button type="submit" name="action" value="cancel">Cancel</button>
</form>"""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Alipay agreement payment (simulator)</title></head>
<body><main>
<h1>支付宝 商家扣款 · Alipay agreement payment (simulator)</h1>
<p>The merchant may charge this account for top-ups without asking each time.</p>
<p>Agreement {html.escape(agreement.external_agreement_no)} · {html.escape(agreement.status)}</p>
{note}{form}
</main></body></html>"""
