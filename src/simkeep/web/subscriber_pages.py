"""The subscriber's pages in one router for the composition root: getting in and out
(``account``), their email for reminders (``account_email``), their SIMs (``sims``), the
top-up wizard (``topup``), their orders (``orders``), asking for one's money back
(``refunds``) and receipts (``receipts``, with the public check of a receipt), a SIM's
auto keep-alive (``keepalive``), and redeeming a voucher (``vouchers``, open to anyone)."""

from __future__ import annotations

from fastapi import APIRouter

from simkeep.web import (
    account,
    account_email,
    keepalive,
    orders,
    receipts,
    refunds,
    sims,
    topup,
    vouchers,
)

router = APIRouter(include_in_schema=False)
_AREAS = (account, account_email, sims, keepalive, topup, orders, refunds, receipts, vouchers)
for _area in _AREAS:
    router.include_router(_area.router)
