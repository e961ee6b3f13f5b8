"""The WeChat Pay HK simulator over HTTP, relative to its mount prefix (``/_sim/wechatpay_hk``
in the embedded default).

Design overview
---------------
The routes are the v3 simulator's (``wechatpay_routes``), laid out by the simulator's
``V3Api``: ``POST /v3/global/transactions/native`` and ``…/mweb``,
``GET /v3/global/transactions/out-trade-no/{out_trade_no}?mchid=…``,
``POST /v3/global/transactions/out-trade-no/{out_trade_no}/close``, every answer signed;
``GET``/``POST /cashier/{out_trade_no}`` (the payer picks a wallet, HKD or CNY, and enters
the demo password printed on the page); and the test hook
``POST /pay/{out_trade_no}?outcome=success|fail&wallet=HKD|CNY``.
"""

from __future__ import annotations

from fastapi import APIRouter

from simkeep.simulators.wechatpay_global import WeChatPayGlobalSimulator
from simkeep.simulators.wechatpay_routes import wechatpay_router


def router(sim: WeChatPayGlobalSimulator) -> APIRouter:
    """The global API's endpoints, the cashier page and the test hook of ``sim``."""
    return wechatpay_router(sim)
