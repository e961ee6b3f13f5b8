"""Refunds at the counter's pages: refunding a top-up made at the agent's outlets
(``/pos/refund``), paying out a refund waiting there (``/pos/refunds/{no}/pay-out``), the
holder's ID check for either, and a refund's paper (``/pos/refunds/{no}``, with its PDF).

Design overview
---------------
Finding the top-up is a GET (``/pos/refund?topup=…``, the receipt or order number on the
customer's receipt): it changes nothing and shows what can go back, how (as the top-up was
paid) and whether the holder's ID must be checked first, with the forms to check it and to
refund. Every change is a POST behind the CSRF token that calls ``refunds.counter`` once.
The refund and the payout carry an idempotency key made when the page is shown and are sent
by ``static/pos.js`` as a sale is (``data-pos-sale``): asked for JSON they answer
``{"done": true, "receipt_no", "url"}`` or the refusal in the page's language; the script
asks ``/pos/refunds?key=…`` when the connection stayed down. Without scripts a form posts
and is answered by a 303 to the refund's paper. A refusal shows the page again with the
field marked. The paper is laid out for the 80 mm roll like a sale's receipt, and read by
whoever may read the counter's papers (``refunds.counter.papers``); anyone else gets 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from simkeep.counter.model import IdLimits, check_payer
from simkeep.errors import Refusal
from simkeep.receipts.model import receipt_signature
from simkeep.receipts.refunds import RefundReceipt, refund_receipt_pdf, verify_refund_receipt
from simkeep.refunds import counter as refunds
from simkeep.refunds import counter_papers
from simkeep.refunds.counter import Collect, CounterRefund
from simkeep.refunds.counter_papers import RefundPapers
from simkeep.refunds.model import Reason, UnknownRefund
from simkeep.refunds.queries import Refund
from simkeep.services import Services, ServicesDep
from simkeep.sims.model import IdType, digest_key
from simkeep.web.formats import qr_svg
from simkeep.web.forms import FormState, read_form, see_other
from simkeep.web.pages import PagesDep
from simkeep.web.pos_session import ClerkDep, PaperReaderDep, id_policy, pos_page
from simkeep.web.staff_session import SignedInStaff

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
RefundNo = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9]+$")]
FORMS = ("find", "id", "refund")
FIELDS = ("reason", "payment", "terminal_ref", "key")  # of the refund's form
JSON = "application/json"
Page = Callable[
    [Request, PagesDep, Services, SignedInStaff, dict[str, FormState]], Awaitable[Response]
]


class ChooseReason(Refusal):
    code = "choose_reason"
    field = "reason"


@router.get("/pos/refund")
async def refund_page(
    request: Request, pages: PagesDep, services: ServicesDep, clerk: ClerkDep
) -> Response:
    query = request.query_params
    forms = {"find": FormState({"topup": query.get("topup", "")[:64]})}
    if query.get("id") in ("match", "no_match"):
        forms["id"] = FormState({"result": str(query.get("id"))})
    return await _refund_page(request, pages, services, clerk, forms)


@router.post("/pos/refunds")
async def refund(
    request: Request, pages: PagesDep, services: ServicesDep, clerk: ClerkDep
) -> Response:
    form = await read_form(request, clerk.viewer)
    topup = form.text("topup")[:64]
    try:
        made = await refunds.refund(
            services.db,
            clerk=clerk.member,
            actor=clerk.actor,
            request=CounterRefund(
                key=form.text("key"),
                topup=topup,
                reason=_reason(form.text("reason")),
                payer=check_payer(form.text("payment"), form.text("terminal_ref")[:80] or None),
                asked_minor=_minor(form.text("asked")),
            ),
            policy=id_policy(services),
            now=services.clock.now(),
        )
    except Refusal as error:
        forms = {"find": FormState({"topup": topup}), "refund": form}
        return await _refused(request, pages, services, clerk, error, forms, _refund_page)
    return _done(request, made)


@router.get("/pos/refunds/{refund_no}/pay-out")
async def payout_page(
    request: Request, pages: PagesDep, services: ServicesDep, clerk: ClerkDep, refund_no: RefundNo
) -> Response:
    forms = {"find": FormState({"refund_no": refund_no})}
    if request.query_params.get("id") in ("match", "no_match"):
        forms["id"] = FormState({"result": str(request.query_params.get("id"))})
    return await _payout_page(request, pages, services, clerk, forms)


@router.post("/pos/refunds/{refund_no}/pay-out")
async def pay_out(
    request: Request, pages: PagesDep, services: ServicesDep, clerk: ClerkDep, refund_no: RefundNo
) -> Response:
    form = await read_form(request, clerk.viewer)
    try:
        paid = await refunds.pay_out(
            services.db,
            clerk=clerk.member,
            actor=clerk.actor,
            request=Collect(
                key=form.text("key"),
                refund_no=refund_no,
                payer=check_payer(form.text("payment"), form.text("terminal_ref")[:80] or None),
            ),
            policy=id_policy(services),
            now=services.clock.now(),
        )
    except Refusal as error:
        forms = {"find": FormState({"refund_no": refund_no}), "refund": form}
        return await _refused(request, pages, services, clerk, error, forms, _payout_page)
    return _done(request, paid)


@router.post("/pos/refund-id-checks")
async def check_id(
    request: Request, pages: PagesDep, services: ServicesDep, clerk: ClerkDep
) -> Response:
    form = await read_form(request, clerk.viewer)
    topup, refund_no = form.text("topup")[:64], form.text("refund_no")[:32]
    try:
        matched = await refunds.check_holder_id(
            services.db,
            clerk=clerk.member,
            topup=topup,
            id_type=form.text("id_type")[:24],
            id_number=form.secret("id_number")[:40],
            id_key=digest_key(services.settings.secret_key),
            limits=IdLimits(),
            actor=clerk.actor,
            now=services.clock.now(),
        )
    except Refusal as error:
        form.values.pop("id_number", None)  # never written back to the page
        if refund_no:
            forms = {
                "find": FormState({"refund_no": refund_no}),
                "id": form.fail("id_number", error),
            }
            return await _payout_page(request, pages, services, clerk, forms)
        forms = {"find": FormState({"topup": topup}), "id": form.fail("id_number", error)}
        return await _refund_page(request, pages, services, clerk, forms)
    result = "match" if matched else "no_match"
    if refund_no:
        return see_other(f"/pos/refunds/{refund_no}/pay-out", id=result)
    return see_other("/pos/refund", topup=topup, id=result)


@router.get("/pos/refunds")
async def refund_by_key(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    clerk: ClerkDep,
    key: Annotated[str, Query(max_length=128)] = "",
) -> Response:
    found = (
        await counter_papers.refund_by_key(services.db, clerk=clerk.member, key=key)
        if key
        else None
    )
    if JSON in request.headers.get("accept", ""):
        if found is None:
            return JSONResponse({"found": False}, status_code=404)
        url = f"/pos/refunds/{found.refund_no}"
        return JSONResponse({"found": True, "receipt_no": found.refund_no, "url": url})
    context = {"refund": found}
    status = 200 if found is not None else 404
    return pos_page(pages, request, "pos/refund_status.html", clerk, context, status_code=status)


@router.get("/pos/refunds/{refund_no}")
async def refund_paper(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    staff: PaperReaderDep,
    refund_no: RefundNo,
) -> Response:
    papers = await _papers(services, staff, refund_no)
    verify_url = services.receipts.verify_url(refund_no)
    context = {
        "papers": papers,
        "verify_url": verify_url,
        "new": request.query_params.get("new") == "1",
        "qr": qr_svg(verify_url, title=refund_no),
    }
    return pos_page(pages, request, "pos/refund_receipt.html", staff, context)


@router.get("/pos/refunds/{refund_no}/receipt.pdf")
async def refund_pdf(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    staff: PaperReaderDep,
    refund_no: RefundNo,
) -> Response:
    await _papers(services, staff, refund_no)
    receipt = await _receipt(services, refund_no)
    pdf = await refund_receipt_pdf(receipt, language=pages.choose(request).language.code)
    headers = {
        "Content-Disposition": f'inline; filename="{refund_no}.pdf"',
        "Cache-Control": "no-store",
    }
    return Response(pdf, media_type="application/pdf", headers=headers)


async def _papers(services: Services, staff: SignedInStaff, refund_no: str) -> RefundPapers:
    papers = await counter_papers.papers(services.db, refund_no=refund_no, viewer=staff.member)
    if papers is None:
        raise HTTPException(404)
    return papers


async def _receipt(services: Services, refund_no: str) -> RefundReceipt:
    """The refund's receipt as its public check reads it (the link this server signs)."""
    signing = services.receipts
    signature = receipt_signature(signing.key, refund_no)
    receipt = await verify_refund_receipt(
        services.db, refund_no=refund_no, signature=signature, signing=signing
    )
    if receipt is None:
        raise HTTPException(404)
    return receipt


def _reason(text: str) -> Reason:
    try:
        return Reason(text)
    except ValueError:
        raise ChooseReason("choose why the top-up is refunded") from None


def _minor(text: str) -> int | None:
    """What the page showed would go back, in minor units; None when it showed nothing."""
    return int(text) if text.isdigit() and len(text) <= 12 else None


def _done(request: Request, made: Refund) -> Response:
    url = f"/pos/refunds/{made.refund_no}"
    if JSON in request.headers.get("accept", ""):
        return JSONResponse({"done": True, "receipt_no": made.refund_no, "url": url})
    return see_other(url, new="1")


async def _refused(
    request: Request,
    pages: PagesDep,
    services: Services,
    clerk: SignedInStaff,
    error: Refusal,
    forms: dict[str, FormState],
    page: Page,
) -> Response:
    """A refund or payout refused: the page again with the field marked (or, asked for
    JSON, the refusal in the page's language)."""
    field = str(getattr(error, "field", ""))
    if field not in FIELDS:
        field = "refund"
    forms["refund"].fail(field, error)
    if JSON in request.headers.get("accept", ""):
        message = pages.fragment(
            request, "pos/_refusal.html", {"error": forms["refund"].errors[field]}
        )
        body = {"done": False, "code": error.code, "message": message.strip()}
        return JSONResponse(body, status_code=_status(error.code))
    page_ = await page(request, pages, services, clerk, forms)
    page_.status_code = _status(error.code)
    return page_


def _status(code: str) -> int:
    """A refusal's status: a conflict with what exists, a top-up not found, or bad input."""
    conflicts = {
        "no_open_shift",
        "outlet_not_selling",
        "id_check_required",
        "idempotency_conflict",
        "refund_open",
        "refund_paid_out",
        "not_refundable",
        "not_outlet_topup",
        "other_agent",
        "nothing_to_refund",
    }
    if code in ("unknown_topup", "unknown_refund"):
        return 404
    return 409 if code in conflicts else 422


async def _refund_page(
    request: Request,
    pages: PagesDep,
    services: Services,
    clerk: SignedInStaff,
    forms: dict[str, FormState],
) -> Response:
    """The refund's page: the top-up found, what goes back, the ID check and the form."""
    forms = {name: forms.get(name, FormState()) for name in FORMS}
    found: Any = None
    topup = forms["find"].text("topup")
    if topup:
        try:
            found = await refunds.preview(
                services.db,
                clerk=clerk.member,
                topup=topup,
                policy=id_policy(services),
                now=services.clock.now(),
            )
        except Refusal as error:
            forms["find"].fail("topup", error)
    context = _context(forms, found=found, waiting=None)
    status = 200 if all(form.ok for form in forms.values()) else 422
    return pos_page(pages, request, "pos/refund.html", clerk, context, status_code=status)


async def _payout_page(
    request: Request,
    pages: PagesDep,
    services: Services,
    clerk: SignedInStaff,
    forms: dict[str, FormState],
) -> Response:
    """A refund waiting at the counter: what it pays, the ID check and the payout's form."""
    forms = {name: forms.get(name, FormState()) for name in FORMS}
    try:
        waiting = await refunds.waiting_preview(
            services.db,
            clerk=clerk.member,
            refund_no=forms["find"].text("refund_no"),
            policy=id_policy(services),
            now=services.clock.now(),
        )
    except UnknownRefund as error:
        raise HTTPException(404) from error
    except Refusal as error:
        forms["find"].fail("refund_no", error)
        waiting = None
    context = _context(forms, found=None, waiting=waiting)
    status = 200 if all(form.ok for form in forms.values()) else 409
    return pos_page(pages, request, "pos/refund.html", clerk, context, status_code=status)


def _context(forms: dict[str, FormState], *, found: Any, waiting: Any) -> dict[str, Any]:
    return {
        "forms": forms,
        "found": found,
        "waiting": waiting,
        "reasons": list(Reason),
        "id_types": list(IdType),
        "key": str(uuid.uuid4()),
    }
