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
language (``pos_answers``, which the refunds' forms share). Without scripts the form posts
as any form does.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from simkeep.counter import service as counter
from simkeep.counter.model import CounterError, TopUp, VoucherSale, check_cash, topup_minor
from simkeep.counter.service import Lookup
from simkeep.errors import Refusal
from simkeep.refunds import counter_papers
from simkeep.services import Services, ServicesDep
from simkeep.sims.model import IdType
from simkeep.web import pos_refunds
from simkeep.web.forms import FormState, read_form, see_other
from simkeep.web.pages import PagesDep, RowId
from simkeep.web.pos_answers import (
    Paper,
    answer,
    id_answer,
    id_checked,
    looked_up,
    typed_document,
    typed_payer,
    untyped,
)
from simkeep.web.pos_session import ClerkDep, forms_page
from simkeep.web.staff_session import SignedInStaff

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
router.include_router(pos_refunds.router)  # refunds at the counter
FORMS = ("open", "lookup", "id", "topup", "vouchers", "close")
MAX_SERIALS_TEXT = 2_000


@router.get("/pos")
async def counter_page(
    request: Request, pages: PagesDep, services: ServicesDep, clerk: ClerkDep
) -> Response:
    lookup = FormState({"number": request.query_params.get("number", "")[:32]})
    return await _page(request, pages, services, clerk, {"lookup": lookup, **id_checked(request)})


@router.post("/pos/shifts")
async def open_shift(
    request: Request, pages: PagesDep, services: ServicesDep, clerk: ClerkDep
) -> Response:
    form = await read_form(request, clerk.viewer)
    try:
        await counter.open_shift(
            services.db,
            clerk=clerk.member,
            opening_minor=await _cash(services, clerk, form, "opening_cash"),
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
            services.db, number=number, **typed_document(form, services, clerk)
        )
    except Refusal as error:
        forms = {"lookup": FormState({"number": number}), "id": untyped(form, error)}
        return await _page(request, pages, services, clerk, forms)
    return see_other("/pos", number=number, id=id_answer(matched))


@router.post("/pos/topups")
async def top_up(
    request: Request, pages: PagesDep, services: ServicesDep, clerk: ClerkDep
) -> Response:
    form = await read_form(request, clerk.viewer)

    async def sell() -> Paper:
        request_ = TopUp(
            key=form.text("key"),
            number=form.text("number")[:32],
            amount_minor=topup_minor(form.text("amount")[:12]),
            payer=typed_payer(form),
        )
        sale = await counter.top_up(
            services.db,
            clerk=clerk.member,
            device_id=None,
            request=request_,
            policy=services.id_policy,
            now=services.clock.now(),
        )
        return Paper.of_sale(sale)

    lookup = FormState({"number": form.text("number")[:32]})
    return await _sold(request, pages, services, clerk, form, sell(), {"lookup": lookup}, "topup")


@router.post("/pos/voucher-sales")
async def sell_vouchers(
    request: Request, pages: PagesDep, services: ServicesDep, clerk: ClerkDep
) -> Response:
    form = await read_form(request, clerk.viewer)

    async def sell() -> Paper:
        serials = form.text("serials")[:MAX_SERIALS_TEXT].replace(",", " ").split()
        request_ = VoucherSale(
            key=form.text("key"), serials=tuple(serials), payer=typed_payer(form, "v_")
        )
        sale = await counter.sell_vouchers(
            services.db,
            clerk=clerk.member,
            device_id=None,
            request=request_,
            now=services.clock.now(),
        )
        return Paper.of_sale(sale)

    return await _sold(request, pages, services, clerk, form, sell(), {}, "vouchers")


@router.post("/pos/shifts/{shift_id}/close")
async def close_shift(
    request: Request, pages: PagesDep, services: ServicesDep, clerk: ClerkDep, shift_id: RowId
) -> Response:
    form = await read_form(request, clerk.viewer)
    try:
        await counter.close_shift(
            services.db,
            clerk=clerk.member,
            shift_id=shift_id,
            counted_minor=await _cash(services, clerk, form, "counted_cash"),
            actor=clerk.actor,
            now=services.clock.now(),
        )
    except CounterError as error:
        forms = {"close": form.fail("counted_cash", error)}
        return await _page(request, pages, services, clerk, forms)
    return see_other(f"/pos/shifts/{shift_id}/z-report")


async def _cash(services: Services, clerk: SignedInStaff, form: FormState, field: str) -> int:
    """The cash in the drawer typed in ``field``, in minor units of the outlet's currency."""
    place = await counter.counter_of(services.db, clerk=clerk.member)
    return check_cash(form.text(field), place.outlet.currency, field=field).minor


async def _sold(
    request: Request,
    pages: PagesDep,
    services: Services,
    clerk: SignedInStaff,
    form: FormState,
    selling: Awaitable[Paper],
    forms: dict[str, FormState],
    kind: str,
) -> Response:
    """Answer a sale's POST (``pos_answers.answer``); a refusal marks its field on the
    counter page."""

    async def again(error: Refusal) -> Response:
        return await _page(request, pages, services, clerk, {**forms, kind: form})

    def field(error: Refusal) -> str:
        return _field(error, kind)

    return await answer(request, pages, selling, form=form, field=field, again=again)


def _field(error: Refusal, kind: str) -> str:
    """The field of the sale's form a refusal marks (the vouchers' form names its payment
    fields ``v_…``)."""
    field = str(getattr(error, "field", "") or ("serials" if kind == "vouchers" else "amount"))
    if kind == "vouchers" and field in ("payment", "terminal_ref"):
        return f"v_{field}"
    return field


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

    async def look_up(number: str) -> Lookup:
        return await counter.look_up(
            services.db,
            clerk=clerk.member,
            number=number,
            policy=services.id_policy,
            now=services.clock.now(),
        )

    context = {
        "counter": place,
        "lookup": await looked_up(forms["lookup"], "number", look_up),
        "waiting": await counter_papers.waiting_here(services.db, clerk=clerk.member),
        "id_types": list(IdType),
        "keys": {"topup": str(uuid.uuid4()), "vouchers": str(uuid.uuid4())},
    }
    return forms_page(pages, request, "pos/counter.html", clerk, forms, context)
