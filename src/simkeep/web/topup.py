"""The top-up wizard, ``/topup``: number → amount and currency → review and pay.

Design overview
---------------
The steps that only read are GET pages whose choices travel in the query string, so the
wizard keeps no state on the server, works without scripts, and Back, reload and
bookmarks behave as on any page; they change nothing, so they carry no CSRF token. Every
step checks everything again through the services.

1. *Number* (``/topup``). ``topups.service.preview_number`` is the wrong-number guard: an
   unknown or recycled number is refused with the service's reason; a live one shows the
   holder's masked name, the plan and the line state.
2. *Amount* (``/topup?number=…``). 50/100/200/300 in the SIM's home currency, paid in that
   currency or — when the operator has set a rate — in the other one. A number this
   subscriber never topped up must be typed a second time here.
3. *Review* (``…&step=review``). The exact amount to pay with the rate locked
   (``topups.model.quote``), the promotions that apply (``topups.service.promotions_for``,
   per way to pay when a promotion asks for one: what placing the order will reserve) and
   the ways to pay, ordered and
   pre-selected for the device (``devices.is_phone``: a phone opens the wallet on itself,
   a desktop shows a QR code first). Its form carries an idempotency key made for this
   page: a double submit gives the same order (``payments.service.checkout``). It also
   carries the amount shown: if the rate changed since, the review comes back with the new
   amount instead of an order.

*Pay* is the one POST. It answers with a 303 to the provider's cashier or to the order's
status page (which shows the QR code); a refusal shows the review (or the step at fault)
again with the reason, 4xx.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.errors import Refusal
from simkeep.money import Money
from simkeep.payment_methods import Provider
from simkeep.payments import methods
from simkeep.payments import service as payments
from simkeep.payments.methods import OTHER_CURRENCY, PayMethod
from simkeep.payments.model import ProviderError
from simkeep.payments.service import OrderNotPayable
from simkeep.phone import InvalidNumber, parse_number
from simkeep.promotions.model import Applied, SalesChannel
from simkeep.promotions.wording import benefits_text
from simkeep.retention.model import kept_until_after
from simkeep.services import Services, ServicesDep
from simkeep.sims import service as sims
from simkeep.sims.model import SimAccount
from simkeep.topups import service as topups
from simkeep.topups.model import (
    DENOMINATIONS,
    FxRate,
    IdempotencyConflict,
    NumberPreview,
    OrderRequest,
    Quote,
    QuoteChanged,
    TopupError,
    quote,
)
from simkeep.web.devices import is_phone
from simkeep.web.forms import FieldError, FormState, read_form, see_other
from simkeep.web.pages import Pages, PagesDep
from simkeep.web.session import SignedIn, SignedInDep

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


CHOICES = ("number", "confirm", "amount", "pay_currency")  # what the steps carry along
KEY = re.compile(r"web-[A-Za-z0-9_-]{32}")


@dataclass(frozen=True, slots=True)
class Offer:
    """What the amount step offers for one number."""

    preview: NumberPreview
    fx: FxRate | None  # home currency → the other one, when the operator has set it
    charges: Mapping[Provider, frozenset[str]]  # the providers offered here, their currencies
    held: SimAccount | None = None  # the SIM, when the payer holds it: its balance and dates

    @property
    def credits(self) -> list[Money]:
        return [Money(minor, self.preview.home_currency) for minor in DENOMINATIONS]

    @property
    def pay_currencies(self) -> list[str]:
        """The home currency, and the other one at the operator's rate; only those that a
        payment method here can charge."""
        home = self.preview.home_currency
        offered = [home, OTHER_CURRENCY[home]] if self.fx else [home]
        return [currency for currency in offered if self.providers_for(currency)]

    def providers_for(self, currency: str) -> list[Provider]:
        """The providers that charge in ``currency``, in the order they are offered."""
        found = methods.offered(
            home_currency=self.preview.home_currency,
            pay_currencies=[currency],
            charges=self.charges,
            phone=False,
        )
        return list(dict.fromkeys(method.provider for method in found))


@router.get("/topup")
async def wizard(
    request: Request, pages: PagesDep, services: ServicesDep, me: SignedInDep
) -> HTMLResponse:
    """The steps that only read, by what the query string holds so far."""
    form = FormState(dict(request.query_params))
    if "number" not in form.values:
        return _page(request, pages, me, "number", form)
    try:
        offer = await _offer(services, me, form.text("number"))
    except Refusal as error:
        return _page(request, pages, me, "number", form.fail("number", error))
    form.values["number"] = offer.preview.e164
    priced = _price(form, offer) if form.text("step") == "review" else None
    if priced is None:
        return _page(request, pages, me, "amount", form, offer=offer)
    return await _review(request, pages, services, me, form, offer, priced, new_key=True)


@router.post("/topup")
async def pay(
    request: Request, pages: PagesDep, services: ServicesDep, me: SignedInDep
) -> Response:
    """Pay: the order (once per key), then a 303 to where the payer pays."""
    form = await read_form(request, me.viewer)
    try:
        offer = await _offer(services, me, form.text("number"))
    except Refusal as error:
        return _page(request, pages, me, "number", form.fail("number", error))
    priced = _price(form, offer)
    if priced is None:
        return _page(request, pages, me, "amount", form, offer=offer)
    return await _checkout(request, pages, services, me, form, offer, priced)


async def _offer(services: Services, me: SignedIn, number: str) -> Offer:
    async def read(conn: AsyncConnection) -> Offer:
        preview = await topups.preview_number(conn, subscriber_id=me.id, number=number)
        home = preview.home_currency
        fx = await topups.current_fx(conn, base=home, quote_currency=OTHER_CURRENCY[home])
        held = [
            account
            for account in await sims.held_sims(conn, subscriber_id=me.id)
            if preview.e164 in (account.sim.hk_number.e164, account.sim.cn_number.e164)
        ]
        return Offer(preview, fx, services.charges, held[0] if held else None)

    return await services.db.transaction(read)


def _price(form: FormState, offer: Offer) -> Quote | None:
    """The amount and currency chosen, priced with the rate locked; None marks the form."""
    if offer.preview.must_confirm:
        _check_confirmation(form, offer.preview.e164)
    pay_currency = form.text("pay_currency")
    if pay_currency not in offer.pay_currencies:
        form.fail("pay_currency", FieldError("choose_currency"))
    amount = form.text("amount")
    if not amount.isdigit() or int(amount) not in DENOMINATIONS:
        form.fail("amount", FieldError("no_such_denomination"))
    if not form.ok:
        return None
    credit = Money(int(amount), offer.preview.home_currency)
    fx = offer.fx if pay_currency != credit.currency else None
    try:
        return quote(credit=credit, pay_currency=pay_currency, fx=fx)
    except TopupError as error:
        form.fail("amount", error)
        return None


def _check_confirmation(form: FormState, e164: str) -> None:
    typed = form.text("confirm")
    if not typed:
        form.fail("confirm", FieldError("confirm_number"))
        return
    try:
        same = parse_number(typed).e164 == e164
    except InvalidNumber:
        same = False
    if not same:
        form.fail("confirm", FieldError("number_mismatch"))


async def _checkout(
    request: Request,
    pages: Pages,
    services: Services,
    me: SignedIn,
    form: FormState,
    offer: Offer,
    priced: Quote,
) -> Response:
    """Step 3 done: create the order (once per key), then off to pay."""
    phone = is_phone(request.headers.get("user-agent"))
    methods = _methods(services, priced, offer, phone=phone)
    method = next((m for m in methods if m.name == form.text("method")), None)
    if method is None:
        form.fail("method", FieldError("choose_method"))
    if not KEY.fullmatch(form.text("key")):
        form.fail("order", FieldError("form_expired"))
    if method is None or not form.ok:
        return await _review(request, pages, services, me, form, offer, priced, new_key=False)
    try:
        order = await payments.checkout(
            services.db,
            adapter=services.checkout_adapter(method.provider),
            request=OrderRequest.of(
                subscriber_id=me.id,
                idempotency_key=form.text("key"),
                number=offer.preview.e164,
                confirm_number=form.text("confirm") or None,
                credit=priced.credit,
                pay_currency=priced.pay.currency,
                provider=method.provider,
                channel=method.channel,
                expected_pay=_shown_pay(form, priced),
                via=SalesChannel.WEB,
            ),
            urls=services.urls,
            payer_ip=request.client.host if request.client else "127.0.0.1",
            now=services.clock.now(),
            ttl=services.order_ttl,
        )
    except ProviderError:
        form.fail("order", FieldError("provider_unavailable"))
        return await _review(request, pages, services, me, form, offer, priced, new_key=False)
    except (IdempotencyConflict, OrderNotPayable, QuoteChanged) as error:
        form.fail("order", error)
        return await _review(request, pages, services, me, form, offer, priced, new_key=True)
    except Refusal as error:
        return _page(request, pages, me, "amount", form.fail("order", error), offer=offer)
    if order.waiting and order.pay_url and order.pay_form:  # a gateway that takes a form
        return pages.render(request, "topups/go.html", {"order": order}, viewer=me.viewer)
    if order.waiting and order.pay_url:
        return RedirectResponse(order.pay_url, status_code=303)  # the provider's cashier
    return see_other(f"/topups/{order.order_no}")


async def _review(
    request: Request,
    pages: Pages,
    services: Services,
    me: SignedIn,
    form: FormState,
    offer: Offer,
    priced: Quote,
    *,
    new_key: bool,
) -> HTMLResponse:
    """Step 3: the exact amount, the promotion, the way to pay, and a fresh idempotency key
    (kept as it was when the same order is being tried again)."""
    if new_key or not KEY.fullmatch(form.text("key")):
        form.values["key"] = f"web-{secrets.token_urlsafe(24)}"
    form.values["shown_pay"] = str(priced.pay.minor)
    phone = is_phone(request.headers.get("user-agent"))
    kept = None
    if offer.held is not None:  # only the SIM's holders see what its balance implies
        kept = kept_until_after(
            offer.held,
            credit=priced.credit.minor,
            validity_days=priced.validity_days,
            now=services.clock.now(),
        )
    methods = _methods(services, priced, offer, phone=phone)
    locale = pages.choose(request).language.code
    common, by_method = await _promotions(services, offer, priced, methods, locale)
    context = {
        "offer": offer,
        "priced": priced,
        "kept_after": kept,
        "promotions": common,
        "method_promotions": by_method,
        "methods": methods,
        "phone": phone,
        "change": "/topup?" + urlencode({k: form.text(k) for k in CHOICES if form.text(k)}),
    }
    return _page(request, pages, me, "review", form, **context)


Shown = list[tuple[str, str]]  # a promotion's name and what it gives, in the reader's words


async def _promotions(
    services: Services, offer: Offer, priced: Quote, methods: list[PayMethod], locale: str
) -> tuple[Shown, dict[str, Shown]]:
    """The promotions that apply whichever way is paid, and those of each way alone."""

    async def read(conn: AsyncConnection) -> dict[str, list[Applied]]:
        return {
            method.name: await topups.promotions_for(
                conn,
                number=offer.preview.e164,
                credit=priced.credit,
                via=SalesChannel.WEB,
                provider=method.provider,
                channel=method.channel,
                now=services.clock.now(),
            )
            for method in methods
        }

    per_method = await services.db.transaction(read) if methods else {}
    everywhere = (
        set.intersection(*({a.promotion_id for a in found} for found in per_method.values()))
        if per_method
        else set()
    )

    def shown(found: list[Applied]) -> Shown:
        currency = priced.credit.currency
        return [
            (a.names.pick(locale), benefits_text(a, locale=locale, currency=currency))
            for a in found
        ]

    first = next(iter(per_method.values()), [])
    common = shown([a for a in first if a.promotion_id in everywhere])
    alone = {
        name: shown([a for a in found if a.promotion_id not in everywhere])
        for name, found in per_method.items()
    }
    return common, alone


def _shown_pay(form: FormState, priced: Quote) -> Money | None:
    """The amount the review page showed, which the order must still cost."""
    shown = form.text("shown_pay")
    return Money(int(shown), priced.pay.currency) if shown.isdigit() else None


def _methods(services: Services, priced: Quote, offer: Offer, *, phone: bool) -> list[PayMethod]:
    """The ways to pay offered here that charge the currency to pay in, best first."""
    return methods.offered(
        home_currency=offer.preview.home_currency,
        pay_currencies=[priced.pay.currency],
        charges=services.charges,
        phone=phone,
    )


def _page(
    request: Request,
    pages: Pages,
    me: SignedIn,
    step: str,
    form: FormState,
    **context: object,
) -> HTMLResponse:
    status = 200 if form.ok else 400
    return pages.render(
        request,
        f"topup/{step}.html",
        {"step": step, "form": form, **context},
        status_code=status,
        viewer=me.viewer,
    )
