"""The agents on the operator's pages: ``/staff/agents`` lists them with their floats,
``/staff/agents/{code}`` shows one (floats, outlets with the day's sales, deposits, people)
with its forms, and ``/staff/agents/deposits`` is the queue of deposits to check.

Design overview
---------------
Every member of staff reads these pages. The float deposits — entering one, approving or
rejecting another's — are on ``deposit_router`` (``staff_router(Permission.ADJUST)``:
operators and finance); the rest posts only for operators (``staff_router()``); each form
has its CSRF token. The text of a form is read and capped here (an amount in major units, a
bank reference, a reason, a username); every rule is the service's (``outlets.floats``,
``outlets.staffing``), each change audited in its own transaction there. A refusal shows
the page again with the field marked (400) and changes nothing; a success answers 303 —
except adding a member of staff, whose answer shows their new authenticator key and QR code
once (never put in an address, and kept out of caches), as ``simkeep agents add-clerk``
prints them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException, Path, Request
from fastapi.responses import Response

from simkeep.errors import Refusal
from simkeep.ledger.chart import CURRENCIES
from simkeep.money import InvalidAmount, Money
from simkeep.outlets import agent_console, floats, staffing
from simkeep.outlets.agent_console import AgentPage
from simkeep.outlets.float_model import InvalidCreditLimit, InvalidDeposit, UnknownDeposit
from simkeep.outlets.model import UnknownAgent
from simkeep.retention.model import day_of
from simkeep.services import Services, ServicesDep
from simkeep.sqltypes import MAX_ID
from simkeep.staff.model import InvalidStaff, Permission, check_display_name, check_username
from simkeep.web.formats import qr_svg
from simkeep.web.forms import FormState, read_form, see_other
from simkeep.web.pages import Pages, PagesDep
from simkeep.web.staff_session import SignedInStaff, StaffDep, staff_page, staff_router

router = staff_router()
deposit_router = staff_router(Permission.ADJUST)
AgentCode = Annotated[str, Path(min_length=2, max_length=16, pattern=r"^[A-Z0-9][A-Z0-9-]+$")]
DepositId = Annotated[int, Path(ge=1, le=MAX_ID)]
FORMS = ("deposit", "limit", "member")
FIELD_OF = {  # the field a refusal of the services marks
    "unknown_outlet": "outlet",
    "weak_password": "password",
    "invalid_staff": "username",
    "invalid_credit_limit": "credit_limit",
    "float_below_limit": "credit_limit",
}


@router.get("/staff/agents")
async def agents(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep
) -> Response:
    page = await agent_console.agents_page(services.db)
    return staff_page(pages, request, "staff/agents.html", staff, {"page": page})


@router.get("/staff/agents/deposits")
async def deposits(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep
) -> Response:
    return await _queue(request, pages, services, staff, FormState(), 200)


@deposit_router.post("/staff/agents/deposits/{deposit_id}/approve")
async def approve(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep, deposit_id: DepositId
) -> Response:
    form = await read_form(request, staff.viewer)
    try:
        await floats.approve_deposit(
            services.db, deposit_id=deposit_id, actor=staff.actor, now=services.clock.now()
        )
    except UnknownDeposit as error:
        raise HTTPException(404, str(error)) from error
    except Refusal as error:
        return await _queue(request, pages, services, staff, form.fail("deposit", error), 400)
    return see_other("/staff/agents/deposits", approved=str(deposit_id))


@deposit_router.post("/staff/agents/deposits/{deposit_id}/reject")
async def reject(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep, deposit_id: DepositId
) -> Response:
    form = await read_form(request, staff.viewer)
    try:
        await floats.reject_deposit(
            services.db,
            deposit_id=deposit_id,
            reason=form.text("reason")[:400],
            actor=staff.actor,
            now=services.clock.now(),
        )
    except UnknownDeposit as error:
        raise HTTPException(404, str(error)) from error
    except Refusal as error:
        field = "reason" if getattr(error, "field", "") == "reason" else "deposit"
        form.values["rejecting"] = str(deposit_id)
        return await _queue(request, pages, services, staff, form.fail(field, error), 400)
    return see_other("/staff/agents/deposits", rejected=str(deposit_id))


@router.get("/staff/agents/{code}")
async def agent(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep, code: AgentCode
) -> Response:
    return await _agent_page(request, pages, services, staff, code, {}, 200)


@deposit_router.post("/staff/agents/{code}/deposits")
async def enter_deposit(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep, code: AgentCode
) -> Response:
    form = await read_form(request, staff.viewer)
    try:
        place = await staffing.placement(services.db, agent_code=code)
        currency = form.text("currency")
        if currency not in CURRENCIES:
            raise InvalidDeposit("choose the currency", field="currency")
        deposit = await floats.enter_deposit(
            services.db,
            agent_id=place.agent_id,
            amount=_amount(form, "amount", currency, InvalidDeposit),
            reference=form.text("reference")[:200],
            actor=staff.actor,
            now=services.clock.now(),
        )
    except UnknownAgent as error:
        raise HTTPException(404, str(error)) from error
    except Refusal as error:
        form.fail(getattr(error, "field", "amount"), error)
        return await _agent_page(request, pages, services, staff, code, {"deposit": form}, 400)
    return see_other(f"/staff/agents/{code}", entered=str(deposit.id))


@router.post("/staff/agents/{code}/credit-limit")
async def credit_limit(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep, code: AgentCode
) -> Response:
    form = await read_form(request, staff.viewer)
    try:
        place = await staffing.placement(services.db, agent_code=code)
        await floats.set_credit_limit(
            services.db,
            agent_id=place.agent_id,
            credit_limit_minor=_amount(form, "credit_limit", "HKD", InvalidCreditLimit).minor,
            actor=staff.actor,
            now=services.clock.now(),
        )
    except UnknownAgent as error:
        raise HTTPException(404, str(error)) from error
    except Refusal as error:
        form.fail("credit_limit", error)
        return await _agent_page(request, pages, services, staff, code, {"limit": form}, 400)
    return see_other(f"/staff/agents/{code}", limit="saved")


@router.post("/staff/agents/{code}/staff")
async def add_member(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep, code: AgentCode
) -> Response:
    form = await read_form(request, staff.viewer)
    clerk = form.text("kind") == "clerk"
    for field, check in (("username", check_username), ("display_name", check_display_name)):
        try:
            check(form.text(field)[:200])
        except InvalidStaff as error:
            form.fail(field, error)
            return await _agent_page(request, pages, services, staff, code, {"member": form}, 400)
    try:
        place = await staffing.placement(
            services.db,
            agent_code=code,
            outlet_code=form.text("outlet")[:16] if clerk else None,
        )
        new = await staffing.add_agent_staff(
            services.db,
            place=place,
            username=form.text("username"),
            display_name=form.text("display_name"),
            password=form.secret("password")[:200],
            actor=staff.actor,
            now=services.clock.now(),
        )
    except UnknownAgent as error:
        raise HTTPException(404, str(error)) from error
    except Refusal as error:
        form.fail(FIELD_OF.get(error.code, "username"), error)
        return await _agent_page(request, pages, services, staff, code, {"member": form}, 400)
    context = {
        "code": code,
        "new": new,
        "role": place.role.value,
        "outlet": form.text("outlet") if clerk else "",
        "secret": " ".join(new.totp_secret[i : i + 4] for i in range(0, len(new.totp_secret), 4)),
        "qr": qr_svg(new.totp_uri, title="otpauth"),
    }
    return staff_page(pages, request, "staff/agents_member.html", staff, context)


def _amount(form: FormState, field: str, currency: str, refusal: type[Refusal]) -> Money:
    try:
        return Money.parse(form.text(field)[:20], currency)
    except InvalidAmount as error:
        raise refusal("enter an amount, like 1000.00") from error


async def _agent_page(
    request: Request,
    pages: Pages,
    services: Services,
    staff: SignedInStaff,
    code: str,
    forms: dict[str, FormState],
    status: int,
) -> Response:
    try:
        view = await agent_console.agent_page(
            services.db, code=code, day=day_of(services.clock.now())
        )
    except UnknownAgent as error:
        raise HTTPException(404, str(error)) from error
    context = {
        "view": view,
        "today": day_of(services.clock.now()),
        "currency_options": [(c, c) for c in _currencies(view)],
        "outlet_options": [("", "–"), *((o.code, o.code) for o in view.outlets)],
        "outlet_codes": {outlet.id: outlet.code for outlet in view.outlets},
        "entered": request.query_params.get("entered", "")[:20],
        "limit_saved": request.query_params.get("limit") == "saved",
        **{f"{name}_form": forms.get(name, FormState()) for name in FORMS},
    }
    return staff_page(pages, request, "staff/agents_agent.html", staff, context, status_code=status)


def _currencies(view: AgentPage) -> list[str]:
    """The currencies a deposit may be in: those the agent sells in, else any."""
    return sorted({book.currency for book in view.books}) or list(CURRENCIES)


async def _queue(
    request: Request,
    pages: Pages,
    services: Services,
    staff: SignedInStaff,
    form: FormState,
    status: int,
) -> Response:
    queue = await agent_console.deposits_queue(services.db)
    context = {
        "queue": queue,
        "form": form,
        "empty_form": FormState(),
        "approved": request.query_params.get("approved", "")[:20],
        "rejected": request.query_params.get("rejected", "")[:20],
    }
    return staff_page(
        pages, request, "staff/agents_deposits.html", staff, context, status_code=status
    )
