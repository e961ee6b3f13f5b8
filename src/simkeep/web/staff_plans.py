"""The plans on the operator's pages: ``/staff/plans`` lists them, ``/staff/plans/{code}``
shows one and, for an operator, edits it.

Design overview
---------------
The edit form holds a plan's names in the three languages, its monthly fee (in major units
of the plan's currency), its grace and suspension days, and its usage rates — the price of
a voice minute, a data MB and an SMS in Hong Kong and on the Mainland; code, currency and
retention model are shown, not edited. The POST is behind ``StaffGuard`` (operators only) and its
CSRF token, and calls ``staff.console.edit_plan``, which checks the terms, stores them and
records the change with before and after in one transaction. A refusal shows the form
again with the field marked (400) and changes nothing; a success answers with a 303 back to
the plan. The usage rates by zone and kind will join this page as a section of their own.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException, Path, Request
from fastapi.responses import Response

from simkeep.errors import Refusal
from simkeep.money import Money
from simkeep.names import Names
from simkeep.services import Services, ServicesDep
from simkeep.sims.model import Plan
from simkeep.sims.plans import InvalidPlanTerms, UnknownPlan
from simkeep.staff import console
from simkeep.usage.model import Kind, Zone
from simkeep.usage.rates import Rates
from simkeep.web.forms import FormState, read_form, see_other
from simkeep.web.pages import PagesDep
from simkeep.web.staff_session import SignedInStaff, StaffDep, staff_page, staff_router

router = staff_router()
PlanCode = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
NAME_FIELDS = ("name_zh_hant_hk", "name_zh_hans_cn", "name_en")
DAY_FIELDS = ("grace_days", "suspension_days")
RATE_KEYS = tuple((zone, kind) for zone in Zone for kind in Kind)


@router.get("/staff/plans")
async def plans(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep
) -> Response:
    context = {"plans": await console.all_plans(services.db)}
    return staff_page(pages, request, "staff/plans.html", staff, context)


@router.get("/staff/plans/{code}")
async def plan_page(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep, code: PlanCode
) -> Response:
    plan, rates = await _plan(services, code)
    return _show(
        request,
        pages,
        staff,
        plan,
        _form_of(plan, rates),
        saved=bool(request.query_params.get("saved")),
    )


@router.post("/staff/plans/{code}")
async def edit_plan(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep, code: PlanCode
) -> Response:
    form = await read_form(request, staff.viewer)
    plan, _ = await _plan(services, code)
    days = _days(form)
    if not form.ok:
        return _show(request, pages, staff, plan, form)
    try:
        names = Names(*(form.text(field)[:200] for field in NAME_FIELDS))
    except ValueError:
        return _show(
            request,
            pages,
            staff,
            plan,
            form.fail(
                "names",
                InvalidPlanTerms("names", "invalid_name", "a name in every language is required"),
            ),
        )
    try:
        await console.edit_plan(
            services.db,
            code=code,
            names=names,
            monthly_fee=form.text("monthly_fee"),
            grace_days=days["grace_days"],
            suspension_days=days["suspension_days"],
            rates={  # the rates sent (the page sends all); one left out stays as it is
                key: form.text(field)
                for key in RATE_KEYS
                if (field := console.rate_field(*key)) in form.values
            },
            actor=staff.actor,
            now=services.clock.now(),
        )
    except InvalidPlanTerms as error:
        return _show(request, pages, staff, plan, form.fail(error.field, error))
    except Refusal as error:
        return _show(request, pages, staff, plan, form.fail("names", error))
    return see_other(f"/staff/plans/{code}", saved="1")


async def _plan(services: Services, code: str) -> tuple[Plan, Rates]:
    try:
        return await console.plan(services.db, code=code)
    except UnknownPlan as error:
        raise HTTPException(404, str(error)) from error


def _days(form: FormState) -> dict[str, int]:
    """The day fields as whole numbers; a field that is not one is marked."""
    days = {}
    for field in DAY_FIELDS:
        text = form.text(field)
        if text.isdigit() and len(text) <= 6:
            days[field] = int(text)
        else:
            form.fail(
                field, InvalidPlanTerms(field, "invalid_days", "enter a whole number of days")
            )
    return days


def _form_of(plan: Plan, rates: Rates) -> FormState:
    def major(minor: int) -> str:
        return str(Money(minor, plan.currency).to_decimal())

    return FormState(
        {
            **plan.names.values(),
            "monthly_fee": major(plan.monthly_fee),
            "grace_days": str(plan.grace_days),
            "suspension_days": str(plan.suspension_days),
            **{console.rate_field(*key): major(rates.get(key, 0)) for key in RATE_KEYS},
        }
    )


def _show(
    request: Request,
    pages: PagesDep,
    staff: SignedInStaff,
    plan: Plan,
    form: FormState,
    *,
    saved: bool = False,
) -> Response:
    status = 200 if form.ok else 400
    context = {
        "plan": plan,
        "form": form,
        "saved": saved,
        "name_fields": NAME_FIELDS,
        "rate_fields": [(console.rate_field(*key), *key) for key in RATE_KEYS],
    }
    return staff_page(pages, request, "staff/plan.html", staff, context, status_code=status)
