"""The staff pages in one router for the composition root: getting in and out
(``staff_login``), the overview, lines at risk, runs and audit log (``staff_console``), the
dashboard (``staff_dashboard``) and the exports (``staff_exports``), the plans
(``staff_plans``), the promotions (``staff_promotions``), the agents (``staff_agents``),
the payments in review (``staff_payments``), the refunds (``staff_refunds``), the
reconciliation of the providers' bills (``staff_reconciliation``), the search
(``staff_search``), a SIM's page (``staff_sims``), the balance adjustments
(``staff_adjustments``), an agent's own page (``agent_pages``) and the counter's POS
(``pos``, with its papers in ``pos_papers``). Staff pages are built on ``staff_session``."""

from __future__ import annotations

from fastapi import APIRouter

from simkeep.web import (
    agent_pages,
    pos,
    pos_papers,
    staff_adjustments,
    staff_agents,
    staff_console,
    staff_dashboard,
    staff_exports,
    staff_login,
    staff_payments,
    staff_plans,
    staff_promotions,
    staff_reconciliation,
    staff_refunds,
    staff_search,
    staff_sims,
)
from simkeep.web.staff_vouchers import router as vouchers_router

router = APIRouter(include_in_schema=False)
for _area in (
    staff_login,
    staff_console,
    staff_dashboard,
    staff_exports,
    staff_plans,
    staff_promotions,
    staff_agents,
    staff_payments,
    staff_refunds,
    staff_reconciliation,
    staff_search,
    staff_sims,
    staff_adjustments,
    agent_pages,
):
    router.include_router(_area.router)
router.include_router(staff_agents.deposit_router)  # float deposits: operators and finance
router.include_router(vouchers_router)  # the voucher batches
router.include_router(pos.router)
router.include_router(pos_papers.router)
