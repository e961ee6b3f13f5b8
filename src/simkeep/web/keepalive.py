"""A SIM's auto keep-alive page: ``/my/sims/{sim_id}/keep-alive`` — what is set up and what
the last top-up did, the form to save an agreement and its rule, and cancelling; the SIM's
own page shows a summary with a link here.

Design overview
---------------
Thin, like every page: saving (a POST with the CSRF token) calls ``keepalive.save_rule``; a
new agreement is signed at the provider, so the answer is a 303 to the provider's signing
page, which sends the subscriber back to ``…/keep-alive/return``: there the provider is
asked once (``refresh_signing``: its notification may be late) and the subscriber lands on
this page again. A refused form comes back with the field marked (400). Cancelling ends the
agreement at the provider, then the rule (a 303 back here). A SIM the subscriber does not
hold is a 404, as on its own page.
"""

from __future__ import annotations

from contextlib import suppress

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.errors import Refusal
from simkeep.keepalive import service as keepalive
from simkeep.keepalive.model import Mode
from simkeep.keepalive.service import KeepAlive, KeepAliveUrls, NotHeld
from simkeep.payment_methods import Provider
from simkeep.payments.model import ProviderError
from simkeep.services import Services, ServicesDep
from simkeep.sims import service as sims
from simkeep.sims.model import SimAccount
from simkeep.topups.model import DENOMINATIONS
from simkeep.web.forms import FieldError, FormState, read_form, see_other
from simkeep.web.pages import Pages, PagesDep, RowId
from simkeep.web.session import SignedIn, SignedInDep

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


async def keep_alive_or_none(
    conn: AsyncConnection, *, subscriber_id: int, sim_id: int
) -> KeepAlive | None:
    """The subscriber's keep-alive of a SIM they hold, if they set one up."""
    try:
        return await keepalive.keep_alive_of(conn, subscriber_id=subscriber_id, sim_id=sim_id)
    except NotHeld:
        return None


@router.get("/my/sims/{sim_id:int}/keep-alive")
async def keep_alive_page(
    request: Request, pages: PagesDep, services: ServicesDep, me: SignedInDep, sim_id: RowId
) -> HTMLResponse:
    return await _show(request, pages, services, me, sim_id, FormState())


@router.post("/my/sims/{sim_id:int}/keep-alive")
async def save(
    request: Request, pages: PagesDep, services: ServicesDep, me: SignedInDep, sim_id: RowId
) -> Response:
    form = await read_form(request, me.viewer)
    adapters = keepalive.agreement_adapters(services.adapters)
    provider = next((p for p in adapters if p.value == form.text("provider")), None)
    if provider is None:
        return await _show(request, pages, services, me, sim_id, form.fail("provider", _choose()))
    choice = form.text("choice")  # "enough", or a denomination in minor units
    mode = Mode.ENOUGH if choice == Mode.ENOUGH.value else Mode.FIXED
    try:
        saved = await keepalive.save_rule(
            services.db,
            adapter=adapters[provider],
            urls=KeepAliveUrls(services.settings.public_url),
            subscriber_id=me.id,
            sim_id=sim_id,
            mode=mode,
            amount_minor=int(choice) if choice.isdigit() and len(choice) < 10 else None,
            now=services.clock.now(),
        )
    except NotHeld as error:
        raise HTTPException(404) from error
    except Refusal as error:
        field = "amount" if error.code == "amount_not_offered" else "provider"
        return await _show(request, pages, services, me, sim_id, form.fail(field, error))
    except ProviderError:
        failed = FieldError("provider_unavailable")
        return await _show(request, pages, services, me, sim_id, form.fail("provider", failed))
    if saved.sign_url is not None:
        return RedirectResponse(saved.sign_url, status_code=303)  # the provider's page
    return see_other(f"/my/sims/{sim_id}/keep-alive")


@router.post("/my/sims/{sim_id:int}/keep-alive/cancel")
async def cancel(
    request: Request, pages: PagesDep, services: ServicesDep, me: SignedInDep, sim_id: RowId
) -> Response:
    form = await read_form(request, me.viewer)
    try:
        await keepalive.cancel_rule(
            services.db,
            adapters=keepalive.agreement_adapters(services.adapters),
            subscriber_id=me.id,
            sim_id=sim_id,
            now=services.clock.now(),
        )
    except (NotHeld, keepalive.NoAgreements) as error:
        raise HTTPException(404) from error
    except ProviderError:
        failed = FieldError("provider_unavailable")
        return await _show(request, pages, services, me, sim_id, form.fail("cancel", failed))
    return see_other(f"/my/sims/{sim_id}/keep-alive")


@router.get("/my/sims/{sim_id:int}/keep-alive/return")
async def back_from_signing(services: ServicesDep, me: SignedInDep, sim_id: RowId) -> Response:
    """The provider sent the subscriber back: ask it once whether they signed."""
    held = await services.db.transaction(
        lambda conn: keep_alive_or_none(conn, subscriber_id=me.id, sim_id=sim_id)
    )
    adapter = (
        keepalive.agreement_adapters(services.adapters).get(held.rule.provider) if held else None
    )
    if held is not None and adapter is not None:
        with suppress(ProviderError):  # if the provider is not reached, its notice will come
            await keepalive.refresh_signing(
                services.db, adapter=adapter, rule=held.rule, now=services.clock.now()
            )
    return see_other(f"/my/sims/{sim_id}/keep-alive")


def _choose() -> FieldError:
    return FieldError("choose_method")


async def _show(
    request: Request,
    pages: Pages,
    services: Services,
    me: SignedIn,
    sim_id: int,
    form: FormState,
) -> HTMLResponse:
    async def read(conn: AsyncConnection) -> tuple[SimAccount, KeepAlive | None] | None:
        account = await sims.held_sim(conn, subscriber_id=me.id, sim_id=sim_id)
        if account is None:
            return None
        return account, await keep_alive_or_none(conn, subscriber_id=me.id, sim_id=sim_id)

    found = await services.db.transaction(read)
    if found is None:
        raise HTTPException(404)
    account, held = found
    context = {
        "account": account,
        "keepalive": held,
        "form": form,
        "providers": [p for p in Provider if p in keepalive.agreement_adapters(services.adapters)],
        "amounts": DENOMINATIONS,
    }
    status = 200 if form.ok else 400
    return pages.render(request, "my/keepalive.html", context, status_code=status, viewer=me.viewer)
