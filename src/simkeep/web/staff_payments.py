"""Payments in review on the operator's pages: ``/staff/payments`` lists the money pushed to
us that matched no order (``payments.incoming``: no reference, an unknown one, another
amount, a second payment for a paid order), each with what the bank reported, and lets an
operator give one to the order it was meant for.

Design overview
---------------
Giving a payment to an order is one transaction in ``payments.incoming.assign``: the
payment leaves review by one conditional update (two operators at once: one wins, the
other is told), the order is credited as if it had matched, the audit log records who and
why. A refusal (the order unknown, of another amount, paid already) changes nothing and
shows the list again with the reason beside that payment (400). Auditors read the list;
the forms are for operators (``StaffGuard`` refuses their POSTs).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request
from fastapi.responses import Response

from simkeep.errors import Refusal
from simkeep.payments import incoming
from simkeep.services import ServicesDep
from simkeep.web.forms import read_form, see_other
from simkeep.web.pages import PagesDep
from simkeep.web.staff_session import SignedInStaff, StaffDep, staff_page, staff_router

router = staff_router()
PaymentId = Annotated[int, Path(ge=1, le=2**62)]
ORDER_CHARS = 32


@router.get("/staff/payments")
async def review_page(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep
) -> Response:
    assigned = request.query_params.get("assigned", "")[:ORDER_CHARS]
    return await _page(request, pages, services, staff, notice=assigned)


@router.post("/staff/payments/{payment_id}/assign")
async def assign(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    staff: StaffDep,
    payment_id: PaymentId,
) -> Response:
    form = await read_form(request, staff.viewer)
    order_no = form.text("order_no")[:ORDER_CHARS]
    try:
        await services.db.transaction(
            lambda conn: incoming.assign(
                conn,
                payment_id=payment_id,
                order_no=order_no,
                note=form.text("note"),
                actor=staff.actor,
                now=services.clock.now(),
            )
        )
    except Refusal as error:
        failed = {payment_id: (order_no, error)}
        return await _page(request, pages, services, staff, failed=failed, status_code=400)
    return see_other("/staff/payments", assigned=order_no.strip().upper())


async def _page(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    staff: SignedInStaff,
    *,
    notice: str = "",
    failed: dict[int, tuple[str, Refusal]] | None = None,
    status_code: int = 200,
) -> Response:
    waiting = await services.db.read(lambda conn: incoming.in_review(conn))
    context = {"waiting": waiting, "notice": notice, "failed": failed or {}}
    return staff_page(
        pages, request, "staff/payments.html", staff, context, status_code=status_code
    )
