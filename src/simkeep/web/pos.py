"""The counter's page, ``/pos``, and its forms: open a shift, look a number up, check the
holder's ID, top up, sell vouchers, close the shift; and, from it, refunds
(``pos_refunds``): finding a top-up to refund, and the refunds waiting to be paid out.

Design overview
---------------
One page for a counter tablet or PC, for a clerk only (``ClerkDep``), bound to the clerk's
outlet. Looking a number up is a GET (``/pos?number=…``): it changes nothing, and the page
then shows the number's holder (masked), plan, line state and what the ID policy asks, with
the ID check and the top-up form for that number. Every change is a POST behind the CSRF
token, calls ``counter.service`` once and answers with a 303: to the counter again, to the
sale's receipt page, or to the shift's Z-report. A refusal shows the page again with the
field marked and a 4xx status, nothing written.

A sale's form carries an idempotency key made when the page is shown. ``static/pos.js``
sends it with ``fetch`` (``Accept: application/json``) and, if the connection drops, sends
it again with the same key — the counter makes one sale, whatever arrives twice — then asks
``/pos/sales?key=…``; it shows "sending…", "done — receipt …" or "NOT done". Asked for JSON,
a sale's POST answers ``{"done": true, "receipt_no", "url"}`` or its refusal as
``{"done": false, "code", "message"}`` with the 4xx status, the message in the page's
language. Without scripts the form posts as any form does.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from simkeep.counter import service as counter
from simkeep.counter.model import (
    CounterError,
    IdLimits,
    TopUp,
    VoucherSale,
    check_cash,
    check_payer,
    topup_minor,
)
from simkeep.counter.service import Sale
from simkeep.errors import Refusal
from simkeep.refunds import counter_papers
from simkeep.services import Services, ServicesDep
from simkeep.sims.model import IdType, digest_key
from simkeep.web import pos_refunds
from simkeep.web.forms import FormState, read_form, see_other
from simkeep.web.pages import PagesDep, RowId
from simkeep.web.pos_session import ClerkDep, id_policy, pos_page
from simkeep.web.staff_session import SignedInStaff

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
router.include_router(pos_refunds.router)  # refunds at the counter
FORMS = ("open", "lookup", "id", "topup", "vouchers", "close")
MAX_SERIALS_TEXT = 2_000


@router.get("/pos")
async def counter_page(
    request: Request, pages: PagesDep, services: ServicesDep, clerk: ClerkDep
) -> Response:
    query = request.query_params
    forms = {"lookup": FormState({"number": query.get("number", "")[:32]})}
    if query.get("id") in ("match", "no_match"):
        forms["id"] = FormState({"result": str(query.get("id"))})
    return await _page(request, pages, services, clerk, forms)


@router.post("/pos/shifts")
async def open_shift(
    request: Request, pages: PagesDep, services: ServicesDep, clerk: ClerkDep
) -> Response:
    form = await read_form(request, clerk.viewer)
    try:
        place = await counter.counter_of(services.db, clerk=clerk.member)
        opening = check_cash(form.text("opening_cash"), place.outlet.currency, field="opening_cash")
        await counter.open_shift(
            services.db,
            clerk=clerk.member,
            opening_minor=opening.minor,
            actor=clerk.actor,
            now=services.clock.now(),
        )
    except CounterError as error:
        return await _page(request, pages, services, clerk, {"open": form.fail(error.field, error)})
    return see_other("/pos")


@router.post("/pos/id-checks")
async def check_id(
    request: Request, pages: PagesDep, services: ServicesDep, clerk: ClerkDep
) -> Response:
    form = await read_form(request, clerk.viewer)
    number = form.text("number")[:32]
    try:
        matched = await counter.check_id(
            services.db,
            clerk=clerk.member,
            number=number,
            id_type=form.text("id_type")[:24],
            id_number=form.secret("id_number")[:40],
            id_key=digest_key(services.settings.secret_key),
            limits=IdLimits(),
            actor=clerk.actor,
            now=services.clock.now(),
        )
    except Refusal as error:
        form.values.pop("id_number", None)  # never written back to the page
        forms = {"lookup": FormState({"number": number}), "id": form.fail("id_number", error)}
        return await _page(request, pages, services, clerk, forms)
    return see_other("/pos", number=number, id="match" if matched else "no_match")


@router.post("/pos/topups")
async def top_up(
    request: Request, pages: PagesDep, services: ServicesDep, clerk: ClerkDep
) -> Response:
    form = await read_form(request, clerk.viewer)

    async def sell() -> Sale:
        request_ = TopUp(
            key=form.text("key"),
            number=form.text("number")[:32],
            amount_minor=topup_minor(form.text("amount")[:12]),
            payer=check_payer(form.text("payment"), form.text("terminal_ref")[:80] or None),
        )
        return await counter.top_up(
            services.db,
            clerk=clerk.member,
            device_id=None,
            request=request_,
            policy=id_policy(services),
            now=services.clock.now(),
        )

    lookup = FormState({"number": form.text("number")[:32]})
    return await _sold(request, pages, services, clerk, form, sell(), {"lookup": lookup}, "topup")


@router.post("/pos/voucher-sales")
async def sell_vouchers(
    request: Request, pages: PagesDep, services: ServicesDep, clerk: ClerkDep
) -> Response:
    form = await read_form(request, clerk.viewer)

    async def sell() -> Sale:
        serials = form.text("serials")[:MAX_SERIALS_TEXT].replace(",", " ").split()
        ref = form.text("v_terminal_ref")[:80] or None
        request_ = VoucherSale(
            key=form.text("key"),
            serials=tuple(serials),
            payer=check_payer(form.text("v_payment"), ref),
        )
        return await counter.sell_vouchers(
            services.db,
            clerk=clerk.member,
            device_id=None,
            request=request_,
            now=services.clock.now(),
        )

    return await _sold(request, pages, services, clerk, form, sell(), {}, "vouchers")


@router.post("/pos/shifts/{shift_id}/close")
async def close_shift(
    request: Request, pages: PagesDep, services: ServicesDep, clerk: ClerkDep, shift_id: RowId
) -> Response:
    form = await read_form(request, clerk.viewer)
    try:
        place = await counter.counter_of(services.db, clerk=clerk.member)
        counted = check_cash(form.text("counted_cash"), place.outlet.currency, field="counted_cash")
        await counter.close_shift(
            services.db,
            clerk=clerk.member,
            shift_id=shift_id,
            counted_minor=counted.minor,
            actor=clerk.actor,
            now=services.clock.now(),
        )
    except CounterError as error:
        return await _page(
            request, pages, services, clerk, {"close": form.fail("counted_cash", error)}
        )
    return see_other(f"/pos/shifts/{shift_id}/z-report")


async def _sold(
    request: Request,
    pages: PagesDep,
    services: Services,
    clerk: SignedInStaff,
    form: FormState,
    selling: Awaitable[Sale],
    forms: dict[str, FormState],
    kind: str,
) -> Response:
    """Answer a sale's POST: its receipt (or, asked for JSON, where it is); a refusal marks
    its field on the counter page (or comes as JSON)."""
    wants_json = "application/json" in request.headers.get("accept", "")
    try:
        sale = await selling
    except Refusal as error:
        field = _field(error, kind)
        form.fail(field, error)
        if wants_json:
            message = pages.fragment(request, "pos/_refusal.html", {"error": form.errors[field]})
            body = {"done": False, "code": error.code, "message": message.strip()}
            return JSONResponse(body, status_code=_status(error.code))
        return await _page(request, pages, services, clerk, {**forms, kind: form})
    url = f"/pos/sales/{sale.id}"
    if wants_json:
        return JSONResponse({"done": True, "receipt_no": sale.receipt_no, "url": url})
    return see_other(url, new="1")


def _field(error: Refusal, kind: str) -> str:
    """The field of the sale's form a refusal marks (the vouchers' form names its payment
    fields ``v_…``)."""
    field = str(getattr(error, "field", "") or ("serials" if kind == "vouchers" else "amount"))
    if kind == "vouchers" and field in ("payment", "terminal_ref"):
        return f"v_{field}"
    return field


def _status(code: str) -> int:
    """The status of a refused sale: a conflict with the counter's state, or bad input."""
    conflicts = {"no_open_shift", "id_check_required", "float_too_low", "idempotency_conflict"}
    return 409 if code in conflicts or code == "outlet_not_selling" else 422


async def _page(
    request: Request,
    pages: PagesDep,
    services: Services,
    clerk: SignedInStaff,
    forms: dict[str, FormState],
) -> Response:
    """The counter: the outlet, the shift so far, the number looked up, and the forms."""
    place = await counter.counter_of(services.db, clerk=clerk.member)
    forms = {name: forms.get(name, FormState()) for name in FORMS}
    lookup: Any = None
    number = forms["lookup"].text("number")
    if number:
        try:
            lookup = await counter.look_up(
                services.db,
                clerk=clerk.member,
                number=number,
                policy=id_policy(services),
                now=services.clock.now(),
            )
        except Refusal as error:
            forms["lookup"].fail("number", error)
    refused = any(not form.ok for form in forms.values())
    context = {
        "counter": place,
        "forms": forms,
        "lookup": lookup,
        "waiting": await counter_papers.waiting_here(services.db, clerk=clerk.member),
        "id_types": list(IdType),
        "keys": {"topup": str(uuid.uuid4()), "vouchers": str(uuid.uuid4())},
    }
    return pos_page(
        pages, request, "pos/counter.html", clerk, context, status_code=422 if refused else 200
    )
