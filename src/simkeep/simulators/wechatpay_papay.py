"""WeChat Pay 委托代扣 (papay) in v3 style, platform side: pre-signing, the signing page, the
``PAPAY.SIGN``/``PAPAY.TERMINATE`` notifications, contract query and termination, and
deductions by ``contract_id`` — beside a ``WeChatPaySimulator``, mounted with it.

Design overview
---------------
``WeChatPapay`` keeps contracts by the merchant's ``out_contract_code``; requests go through
the same merchant-signature check and every answer is signed (``wechatpay_routes._answer``).
A pre-sign answers the ``redirect_url`` of a signing page where the payer confirms with their
payment password; signing makes the contract ``SIGNED`` with a ``contract_id``, notifies
``PAPAY.SIGN`` (AES-256-GCM resource, signed headers, the payments' retry schedule) to the
``contract_notify_url`` and sends the payer to ``return_url``.

``POST /v3/papay/pay/transactions/apply`` takes a charge for a signed contract: the trade is
made (``trade_type=PAP``) and charged at once — paid, and notified ``TRANSACTION.SUCCESS``
to its ``transaction_notify_url`` like any payment, or, for a payer without funds,
``PAYERROR`` (``trade_state_desc`` 余额不足), which the trade query tells. A payer signed as
``DECLINING_ACCOUNT``, or set by ``POST /papay/contracts/{code}/funds?enough=false``, has no
funds; ``POST /papay/contracts/{code}/terminate`` is the payer ending it in WeChat
(``PAPAY.TERMINATE`` is notified).
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from simkeep.clock import in_shanghai
from simkeep.payments.providers.wechatpay_signing import json_bytes
from simkeep.payments.signing import aes_gcm_encrypt
from simkeep.simulators.wechatpay import WeChatPaySimulator
from simkeep.simulators.wechatpay_routes import _answer
from simkeep.simulators.wechatpay_trades import DEMO_PASSWORD, Delivery, SimulatorError

DECLINING_ACCOUNT = "nofunds"


@dataclass
class SimContract:
    out_contract_code: str
    plan_id: int
    display_account: str
    notify_url: str
    return_url: str
    contract_id: str = ""
    state: str = "UNSIGNED"  # UNSIGNED → SIGNED → TERMINATED
    signed_at: datetime | None = None
    terminated_at: datetime | None = None
    funds: bool = True


class WeChatPapay:
    """The 委托代扣 contracts of one simulated WeChat Pay merchant."""

    def __init__(self, sim: WeChatPaySimulator) -> None:
        self.sim = sim
        self.contracts: dict[str, SimContract] = {}
        self.outcomes: dict[str, bool] = {}  # applied charges still to be carried out

    def snapshot(self) -> dict[str, Any]:
        """The contracts, as ``simulators.records`` keeps them (an applied charge is carried
        out within its request)."""
        return {"contracts": self.contracts}

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        self.contracts = snapshot["contracts"]

    def pre_sign(self, body: Mapping[str, Any]) -> dict[str, str]:
        if body.get("appid") != self.sim.appid:
            raise SimulatorError(400, "PARAM_ERROR", "appid must be the merchant's")
        code, plan_id = body.get("out_contract_code"), body.get("plan_id")
        texts = [code, body.get("contract_notify_url"), body.get("contract_display_account")]
        complete = all(isinstance(text, str) and text for text in texts)
        if not complete or not isinstance(plan_id, int):
            raise SimulatorError(400, "PARAM_ERROR", "plan_id, out_contract_code, urls needed")
        known = self.contracts.get(str(code))
        if known is not None and known.state != "UNSIGNED":
            raise SimulatorError(400, "CONTRACT_EXISTED", "this out_contract_code is signed")
        self.contracts[str(code)] = SimContract(
            out_contract_code=str(code),
            plan_id=plan_id,
            display_account=str(texts[2]),
            notify_url=str(texts[1]),
            return_url=str(body.get("return_url") or ""),
        )
        return {
            "pre_entrustweb_id": f"PE{secrets.token_hex(8)}",
            "redirect_url": f"{self.sim.public_base_url}/papay/sign/{code}",
        }

    def find(self, code: str) -> SimContract:
        contract = self.contracts.get(code)
        if contract is None:
            raise SimulatorError(404, "CONTRACT_NOT_EXIST", "the contract does not exist")
        return contract

    def signed(self, code: str, plan_id: int) -> SimContract:
        contract = self.find(code)
        if contract.plan_id != plan_id or contract.state == "UNSIGNED":
            raise SimulatorError(404, "CONTRACT_NOT_EXIST", "the contract does not exist")
        return contract

    def sign(self, code: str, *, account: str) -> SimContract:
        contract = self.find(code)
        if contract.state != "UNSIGNED":
            raise SimulatorError(400, "CONTRACT_EXISTED", f"the contract is {contract.state}")
        contract.state, contract.signed_at = "SIGNED", self.sim_now()
        contract.contract_id = f"Wx{secrets.randbelow(10**20):020d}"
        contract.funds = account != DECLINING_ACCOUNT
        self._notify(contract, "PAPAY.SIGN", "签约成功")
        return contract

    def terminate(self, code: str) -> SimContract:
        contract = self.find(code)
        if contract.state == "SIGNED":
            contract.state, contract.terminated_at = "TERMINATED", self.sim_now()
            self._notify(contract, "PAPAY.TERMINATE", "解约成功")
        return contract

    def apply(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Take a charge: the trade is made now, charged by ``carry_out``."""
        contract = next(
            (c for c in self.contracts.values() if c.contract_id == body.get("contract_id")), None
        )
        if contract is None or not contract.contract_id:
            raise SimulatorError(400, "CONTRACT_NOT_EXIST", "no such contract_id")
        if contract.state != "SIGNED":
            raise SimulatorError(400, "CONTRACT_ERROR", "the contract is not in force")
        order = {
            "appid": body.get("appid"),
            "mchid": self.sim.mchid,
            "out_trade_no": body.get("out_trade_no"),
            "description": body.get("description"),
            "notify_url": body.get("transaction_notify_url"),
            "amount": body.get("amount"),
        }
        trade = self.sim.create_trade(kind="native", order=order)
        trade.trade_type = "PAP"
        if trade.state == "NOTPAY":
            self.outcomes[trade.out_trade_no] = contract.funds
        return {"out_trade_no": trade.out_trade_no, "amount": body.get("amount")}

    async def carry_out(self) -> None:
        """Charge the applied trades: paid and notified, or PAYERROR for want of funds."""
        while self.outcomes:
            out_trade_no, funds = self.outcomes.popitem()
            await self.sim.pay(out_trade_no, success=funds)

    def contract_answer(self, contract: SimContract) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "mchid": self.sim.mchid,
            "appid": self.sim.appid,
            "contract_id": contract.contract_id,
            "plan_id": contract.plan_id,
            "out_contract_code": contract.out_contract_code,
            "contract_display_account": contract.display_account,
            "contract_state": contract.state,
            "openid": f"o{contract.contract_id[-16:]}",
        }
        if contract.signed_at is not None:
            answer["contract_signed_time"] = _rfc3339(contract.signed_at)
        if contract.terminated_at is not None:
            answer["contract_terminate_info"] = {
                "contract_termination_mode": "USER",
                "contract_terminated_time": _rfc3339(contract.terminated_at),
            }
        return answer

    def sim_now(self) -> datetime:
        return self.sim._clock.now()

    def _notify(self, contract: SimContract, event_type: str, summary: str) -> None:
        nonce = secrets.token_hex(6)
        plaintext = json_bytes(self.contract_answer(contract))
        key = self.sim.apiv3_key.encode("ascii")
        event = {
            "id": f"EV-{secrets.token_hex(12)}",
            "create_time": _rfc3339(self.sim_now()),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {
                "original_type": "papay",
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": aes_gcm_encrypt(key, nonce.encode(), plaintext, b"papay"),
                "nonce": nonce,
                "associated_data": "papay",
            },
        }
        body = json_bytes(event)
        code, url = contract.out_contract_code, contract.notify_url
        self.sim.deliveries.append(Delivery(code, url, body, body, self.sim_now()))


def _rfc3339(instant: datetime) -> str:
    return in_shanghai(instant).isoformat(timespec="seconds")


def wechatpay_papay_router(papay: WeChatPapay) -> APIRouter:
    """The papay v3 endpoints, the signing page and the test hooks (``/_sim/wechatpay``)."""
    router = APIRouter(tags=["simulator: WeChat Pay"])
    sim = papay.sim
    contract_path = "/v3/papay/sign/contracts/plan-id/{plan_id}/out-contract-code/{code}"

    @router.post("/v3/papay/sign/contracts/pre-entrust-sign")
    async def pre_sign(request: Request) -> Response:
        return await _answer(sim, request, lambda body: (200, papay.pre_sign(body)))

    @router.get(contract_path)
    async def query(request: Request, plan_id: int, code: str) -> Response:
        return await _answer(
            sim, request, lambda _: (200, papay.contract_answer(papay.signed(code, plan_id)))
        )

    @router.post(contract_path + "/terminate")
    async def terminate(request: Request, plan_id: int, code: str) -> Response:
        def end(_: dict[str, Any]) -> tuple[int, None]:
            contract = papay.signed(code, plan_id)
            if contract.state != "SIGNED":
                raise SimulatorError(400, "CONTRACT_ERROR", "the contract is not in force")
            contract.state, contract.terminated_at = "TERMINATED", papay.sim_now()
            return 204, None

        return await _answer(sim, request, end)

    @router.post("/v3/papay/pay/transactions/apply")
    async def apply(request: Request) -> Response:
        response = await _answer(sim, request, lambda body: (200, papay.apply(body)))
        await papay.carry_out()
        return response

    @router.get("/papay/sign/{code}", response_class=HTMLResponse)
    async def sign_page(code: str) -> HTMLResponse:
        return _page(papay, code, notice="")

    @router.post("/papay/sign/{code}")
    async def sign(
        code: str, action: str = Form("sign"), password: str = Form(""), account: str = Form("")
    ) -> Response:
        if action != "sign":
            return _page(papay, code, notice="已取消 Not signed")
        if not password:
            return _page(papay, code, notice="请输入支付密码 Enter the password", status=400)
        try:
            contract = papay.sign(code, account=account.strip()[:64])
        except SimulatorError as error:
            return _page(papay, code, notice=error.message, status=error.status)
        await sim.deliver_due()
        if contract.return_url:
            return RedirectResponse(contract.return_url, status_code=303)
        return _page(papay, code, notice="签约成功 Signed")

    @router.post("/papay/contracts/{code}/funds")
    async def funds(code: str, enough: bool = True) -> dict[str, object]:
        """Test hook: the payer has money for the next deductions, or none."""
        _or_404(papay, code).funds = enough
        return {"out_contract_code": code, "funds": enough}

    @router.post("/papay/contracts/{code}/terminate")
    async def user_terminates(code: str) -> dict[str, str]:
        """Test hook: the payer ends the contract in WeChat."""
        _or_404(papay, code)
        contract = papay.terminate(code)
        await sim.deliver_due()
        return {"out_contract_code": code, "contract_state": contract.state}

    return router


def _or_404(papay: WeChatPapay, code: str) -> SimContract:
    try:
        return papay.find(code)
    except SimulatorError as error:
        raise HTTPException(404, error.message) from error


def _page(papay: WeChatPapay, code: str, *, notice: str, status: int = 200) -> HTMLResponse:
    contract = _or_404(papay, code)
    form = ""
    if contract.state == "UNSIGNED":
        form = (
            '<form method="post"><label>微信账户 Account <input name="account"></label> '
            '<label>支付密码 Payment password <input type="password" name="password" '
            'inputmode="numeric" autocomplete="off"></label>'
            f"<p>演示密码 Demo password: <code>{DEMO_PASSWORD}</code>; "
            f"<code>{DECLINING_ACCOUNT}</code> has no funds.</p>"
            '<button name="action" value="sign">同意并签约 Sign</button> '
            '<button name="action" value="cancel">取消 Cancel</button></form>'
        )
    body = (
        "<p>开通委托代扣：商户将按约定自动扣款 · The merchant may charge you for top-ups.</p>"
        f"<p>{html.escape(contract.display_account)} · "
        f"{html.escape(contract.out_contract_code)} · {html.escape(contract.state)}</p>"
        f"<p role=status>{html.escape(notice)}</p>{form}"
    )
    page = (
        '<!doctype html><html lang="zh-Hans-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>微信支付 委托代扣</title></head><body><h1>微信支付 委托代扣 (simulator)</h1>"
        f"{body}</body></html>"
    )
    return HTMLResponse(page, status)
