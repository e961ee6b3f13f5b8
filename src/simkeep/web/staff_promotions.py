"""The promotions on the operator's pages: ``/staff/promotions`` lists them with their budget
used and grants, ``/staff/promotions/new`` creates one, and each can be paused and resumed.

Design overview
---------------
The form holds every condition and benefit: names in three languages, priority, stacking,
budget and per-SIM cap (grants; empty for none), the currency with the least amount (major
units), how the order came in, the provider and how the payer reaches it, first top-up
only, the plan, the first and last Hong Kong day; and per benefit its amount, its days and,
for data, minutes and SMS, a zone. The text is read here — whole numbers, amounts, days —
and every rule is the service's (``promotions.model.check_promotion``): a refusal shows the
form again with the field marked (400) and changes nothing. The POSTs are behind
``StaffGuard`` (operators only) and the CSRF token, call ``promotions.console``, which
records each change in the audit log in the same transaction, and answer with a 303.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import HTTPException, Path, Request
from fastapi.responses import Response

from simkeep.errors import Refusal
from simkeep.money import InvalidAmount, Money
from simkeep.names import Names
from simkeep.payment_methods import Channel, Provider
from simkeep.promotions import console
from simkeep.promotions.model import (
    ZONES,
    Benefit,
    BenefitKind,
    Conditions,
    NewPromotion,
    PromotionError,
    PromotionState,
    SalesChannel,
    UnknownPromotion,
    window,
)
from simkeep.promotions.wording import offer_text
from simkeep.services import ServicesDep
from simkeep.staff import console as staff_console
from simkeep.web.forms import FormState, read_form, see_other
from simkeep.web.pages import PagesDep
from simkeep.web.staff_session import SignedInStaff, StaffDep, staff_page, staff_router

router = staff_router()
PromotionId = Annotated[int, Path(ge=1, le=2**62)]
NAME_FIELDS = ("name_zh_hant_hk", "name_zh_hans_cn", "name_en")
CURRENCIES = ("HKD", "CNY")
KINDS = tuple(BenefitKind)
ZONED = (BenefitKind.DATA, BenefitKind.VOICE, BenefitKind.SMS)


@router.get("/staff/promotions")
async def promotions(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep
) -> Response:
    figures = await console.overview(services.db)
    locale = pages.choose(request).language.code
    context = {
        "figures": figures,
        "gives": {f.promotion.id: offer_text(f.promotion, locale=locale) for f in figures},
        "last_days": {  # the window's end is the start of the day after its last
            f.promotion.id: f.promotion.conditions.ends_at - timedelta(microseconds=1)
            for f in figures
            if f.promotion.conditions.ends_at
        },
        "created": request.query_params.get("created", "")[:40],
    }
    return staff_page(pages, request, "staff/promotions.html", staff, context)


@router.get("/staff/promotions/new")
async def new_promotion(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep
) -> Response:
    return await _form_page(request, pages, services, staff, FormState({"priority": "10"}))


@router.post("/staff/promotions")
async def create_promotion(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep
) -> Response:
    form = await read_form(request, staff.viewer)
    try:
        created = await console.create(
            services.db, new=_read(form), actor=staff.actor, now=services.clock.now()
        )
    except PromotionError as error:
        return await _form_page(request, pages, services, staff, form.fail(error.field, error))
    except Refusal as error:
        return await _form_page(request, pages, services, staff, form.fail("code", error))
    return see_other("/staff/promotions", created=created.code)


@router.post("/staff/promotions/{promotion_id}/state")
async def change_state(
    request: Request, services: ServicesDep, staff: StaffDep, promotion_id: PromotionId
) -> Response:
    form = await read_form(request, staff.viewer)
    try:
        state = PromotionState(form.text("state"))
    except ValueError as error:
        raise HTTPException(400, "the state is active or paused") from error
    try:
        await console.set_state(
            services.db,
            promotion_id=promotion_id,
            state=state,
            actor=staff.actor,
            now=services.clock.now(),
        )
    except UnknownPromotion as error:
        raise HTTPException(404, str(error)) from error
    return see_other("/staff/promotions")


def _read(form: FormState) -> NewPromotion:
    """The form as the service's arguments; text that is not what its field holds raises
    ``PromotionError`` for that field."""
    try:
        names = Names(*(form.text(field)[:100] for field in NAME_FIELDS))
    except ValueError as error:
        raise PromotionError("names", "a name in every language is required") from error
    currency = _choice(form, "currency", CURRENCIES)
    least = form.text("min_credit")
    if least and currency is None:
        raise PromotionError("currency", "a least amount needs its currency")
    starts_at, ends_at = window(_day(form, "starts_on"), _day(form, "ends_on"))
    channel = _choice(form, "sales_channel", tuple(SalesChannel))
    provider = _choice(form, "provider", tuple(Provider))
    pay_channel = _choice(form, "pay_channel", tuple(Channel))
    conditions = Conditions(
        currency=currency,
        min_credit_minor=_amount(form, "min_credit", currency) if least else None,
        sales_channel=SalesChannel(channel) if channel else None,
        provider=Provider(provider) if provider else None,
        pay_channel=Channel(pay_channel) if pay_channel else None,
        first_topup=form.text("first_topup") == "1",
        plan_code=form.text("plan_code")[:32] or None,
        starts_at=starts_at,
        ends_at=ends_at,
    )
    return NewPromotion(
        code=form.text("code")[:40],
        names=names,
        priority=_whole(form, "priority"),
        stackable=form.text("stackable") == "1",
        conditions=conditions,
        benefits=_benefits(form, currency),
        budget=_whole(form, "budget") if form.text("budget") else None,
        per_sim_cap=_whole(form, "per_sim_cap") if form.text("per_sim_cap") else None,
    )


def _benefits(form: FormState, currency: str | None) -> tuple[Benefit, ...]:
    given = []
    for kind in KINDS:
        field = kind.value
        if not form.text(field):
            continue
        if kind is BenefitKind.MONEY:
            if currency is None:
                raise PromotionError("currency", "fixed bonus money needs the currency")
            amount = _amount(form, field, currency)
        else:
            amount = _whole(form, field)
        days = None if kind is BenefitKind.VALIDITY else _whole(form, f"{field}_days")
        zone = _choice(form, f"{field}_zone", ZONES) if kind in ZONED else None
        given.append(Benefit(kind, amount, zone, days))
    return tuple(given)


def _whole(form: FormState, field: str) -> int:
    text = form.text(field)
    if not (text.isdigit() and len(text) <= 9):
        raise PromotionError(field, "enter a whole number")
    return int(text)


def _amount(form: FormState, field: str, currency: str | None) -> int:
    try:
        money = Money.parse(form.text(field)[:20], currency or "HKD")
    except InvalidAmount as error:
        raise PromotionError(field, "enter an amount, like 100.00") from error
    if not 0 < money.minor <= 10**9:
        raise PromotionError(field, "enter an amount, like 100.00")
    return money.minor


def _day(form: FormState, field: str) -> date | None:
    text = form.text(field)
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError as error:
        raise PromotionError(field, "enter a day as 2026-12-31") from error


def _choice(form: FormState, field: str, allowed: tuple[str, ...]) -> str | None:
    text = form.text(field)
    if text and text not in allowed:
        raise PromotionError(field, f"choose one of {', '.join(allowed)}")
    return text or None


async def _form_page(
    request: Request, pages: PagesDep, services: ServicesDep, staff: SignedInStaff, form: FormState
) -> Response:
    locale = pages.choose(request).language.code
    plans = await staff_console.all_plans(services.db)
    context = {
        "form": form,
        "plan_options": [(plan.code, f"{plan.code} · {plan.name(locale)}") for plan in plans],
        "name_fields": NAME_FIELDS,
        "kinds": KINDS,
        "zoned": ZONED,
    }
    status = 200 if form.ok else 400
    return staff_page(
        pages, request, "staff/promotion_new.html", staff, context, status_code=status
    )
