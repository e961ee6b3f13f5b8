"""Refunds at the counter's pages: refunding a top-up made at the agent's outlets
(``/pos/refund``), paying out a refund waiting there (``/pos/refunds/{no}/pay-out``) and the
holder's ID check for either; the refund's paper is ``pos_papers``'.

Design overview
---------------
Finding the top-up is a GET (``/pos/refund?topup=…``, the receipt or order number on the
customer's receipt): it changes nothing and shows what can go back, how (as the top-up was
paid) and whether the holder's ID must be checked first, with the forms to check it and to
refund. Every change is a POST behind the CSRF token that calls ``refunds.counter`` once.
The refund and the payout carry an idempotency key made when the page is shown and are sent
by ``static/pos.js`` as a sale is (``data-pos-sale``) and answered as a sale is
(``pos_answers.answer``): asked for JSON, ``{"done": true, "receipt_no", "url"}`` or the
refusal in the page's language; the script asks ``/pos/refunds?key=…`` when the connection
stayed down. Without scripts a form posts and is answered by a 303 to the refund's paper. A
refusal shows the page again with the field marked and the refusal's status.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from simkeep.errors import Refusal
from simkeep.refunds import counter as refunds
from simkeep.refunds.counter import Collect, CounterRefund, Refundable, Waiting
from simkeep.refunds.model import Reason, UnknownRefund
from simkeep.services import Services, ServicesDep
from simkeep.sims.model import IdType
from simkeep.web.forms import FormState, read_form, see_other
from simkeep.web.pages import PagesDep
from simkeep.web.pos_answers import (
    Paper,
    answer,
    id_answer,
    id_checked,
    looked_up,
    refusal_status,
    typed_document,
    typed_payer,
    untyped,
)
from simkeep.web.pos_session import ClerkDep, RefundNo, forms_page
from simkeep.web.staff_session import SignedInStaff

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
FORMS = ("find", "id", "refund")
FIELDS = ("reason", "payment", "terminal_ref", "key")  # of the refund's form


class ChooseReason(Refusal):
    code = "choose_reason"
    field = "reason"


@router.get("/pos/refund")
async def refund_page(
    request: Request, pages: PagesDep, services: ServicesDep, clerk: ClerkDep
) -> Response:
    topup = FormState({"topup": request.query_params.get("topup", "")[:64]})
    forms = {"find": topup, **id_checked(request)}
    return await _page(request, pages, services, clerk, forms)


@router.post("/pos/refunds")
async def refund(
    request: Request, pages: PagesDep, services: ServicesDep, clerk: ClerkDep
) -> Response:
    form = await read_form(request, clerk.viewer)
    topup = form.text("topup")[:64]

    async def make() -> Paper:
        made = await refunds.refund(
            services.db,
            clerk=clerk.member,
            actor=clerk.actor,
            request=CounterRefund(
                key=form.text("key"),
                topup=topup,
                reason=_reason(form.text("reason")),
                payer=typed_payer(form),
                asked_minor=_minor(form.text("asked")),
            ),
            policy=services.id_policy,
            now=services.clock.now(),
        )
        return Paper.of_refund(made)

    forms = {"find": FormState({"topup": topup}), "refund": form}
    return await _answer(request, pages, services, clerk, make(), forms)


@router.get("/pos/refunds/{refund_no}/pay-out")
async def payout_page(
    request: Request, pages: PagesDep, services: ServicesDep, clerk: ClerkDep, refund_no: RefundNo
) -> Response:
    forms = {"find": FormState({"refund_no": refund_no}), **id_checked(request)}
    return await _page(request, pages, services, clerk, forms)


@router.post("/pos/refunds/{refund_no}/pay-out")
async def pay_out(
    request: Request, pages: PagesDep, services: ServicesDep, clerk: ClerkDep, refund_no: RefundNo
) -> Response:
    form = await read_form(request, clerk.viewer)

    async def pay() -> Paper:
        paid = await refunds.pay_out(
            services.db,
            clerk=clerk.member,
            actor=clerk.actor,
            request=Collect(key=form.text("key"), refund_no=refund_no, payer=typed_payer(form)),
            policy=services.id_policy,
            now=services.clock.now(),
        )
        return Paper.of_refund(paid)

    forms = {"find": FormState({"refund_no": refund_no}), "refund": form}
    return await _answer(request, pages, services, clerk, pay(), forms)


@router.post("/pos/refund-id-checks")
async def check_id(
    request: Request, pages: PagesDep, services: ServicesDep, clerk: ClerkDep
) -> Response:
    form = await read_form(request, clerk.viewer)
    topup, refund_no = form.text("topup")[:64], form.text("refund_no")[:32]
    try:
        matched = await refunds.check_holder_id(
            services.db, topup=topup, **typed_document(form, services, clerk)
        )
    except Refusal as error:
        find = FormState({"refund_no": refund_no} if refund_no else {"topup": topup})
        forms = {"find": find, "id": untyped(form, error)}
        return await _page(request, pages, services, clerk, forms)
    if refund_no:
        return see_other(f"/pos/refunds/{refund_no}/pay-out", id=id_answer(matched))
    return see_other("/pos/refund", topup=topup, id=id_answer(matched))


def _reason(text: str) -> Reason:
    try:
        return Reason(text)
    except ValueError:
        raise ChooseReason("choose why the top-up is refunded") from None


def _minor(text: str) -> int | None:
    """What the page showed would go back, in minor units; None when it showed nothing."""
    return int(text) if text.isdigit() and len(text) <= 12 else None


async def _answer(
    request: Request,
    pages: PagesDep,
    services: Services,
    clerk: SignedInStaff,
    making: Awaitable[Paper],
    forms: dict[str, FormState],
) -> Response:
    """Answer a refund's or payout's POST (``pos_answers.answer``); refused, the page again
    with the field marked, and the refusal's status."""

    async def again(error: Refusal) -> Response:
        shown = await _page(request, pages, services, clerk, forms)
        shown.status_code = refusal_status(error.code)
        return shown

    return await answer(request, pages, making, form=forms["refund"], field=_field, again=again)


def _field(error: Refusal) -> str:
    """The field of the refund's form a refusal marks; the whole form for any other."""
    field = str(getattr(error, "field", ""))
    return field if field in FIELDS else "refund"


async def _page(
    request: Request,
    pages: PagesDep,
    services: Services,
    clerk: SignedInStaff,
    forms: dict[str, FormState],
) -> Response:
    """The refund's page: the top-up found, or the refund waiting at the counter whose
    number the find form holds; what goes back, the ID check and the form."""
    forms = {name: forms.get(name, FormState()) for name in FORMS}
    find = forms["find"]
    payout = bool(find.text("refund_no"))
    context = {
        "found": await looked_up(find, "topup", lambda topup: _preview(services, clerk, topup)),
        "waiting": await looked_up(find, "refund_no", lambda no: _waiting(services, clerk, no)),
        "reasons": list(Reason),
        "id_types": list(IdType),
        "key": str(uuid.uuid4()),
    }
    refused = 409 if payout else 422
    return forms_page(pages, request, "pos/refund.html", clerk, forms, context, refused=refused)


async def _preview(services: Services, clerk: SignedInStaff, topup: str) -> Refundable:
    """The top-up, and what a refund of it would pay back now."""
    return await refunds.preview(
        services.db,
        clerk=clerk.member,
        topup=topup,
        policy=services.id_policy,
        now=services.clock.now(),
    )


async def _waiting(services: Services, clerk: SignedInStaff, refund_no: str) -> Waiting:
    """The refund waiting at the agent's counters, and what it pays; 404 for none."""
    try:
        return await refunds.waiting_preview(
            services.db,
            clerk=clerk.member,
            refund_no=refund_no,
            policy=services.id_policy,
            now=services.clock.now(),
        )
    except UnknownRefund as error:
        raise HTTPException(404) from error
