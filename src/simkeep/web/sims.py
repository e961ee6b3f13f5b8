"""The subscriber's home and SIM pages: ``/my``, ``/my/sims/{sim_id}``, ``/my/sims/link``.

Design overview
---------------
Every page here needs a signed-in subscriber (``SignedInDep`` sends anyone else to log in)
and shows only SIMs that subscriber linked: ``sims.service.held_sim`` answers ``None`` for
any other SIM, which is a 404 here, the same as a SIM that does not exist. Linking takes two
steps on one page, like registering: the number (a code goes to it by SMS, then a 303 to
the code step, ``/my/sims/link?number=…&step=code``), then the code. A refused number shows
the number step again, a refused code the code step, with the field marked.

A SIM's page shows every account that holds it (phones masked, since when), and lets the
subscriber remove their own link (a POST with the CSRF token, then back to ``/my``; the SIM
is a 404 for them from then on).
"""

from __future__ import annotations

from contextlib import suppress

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.errors import Refusal
from simkeep.phone import InvalidNumber, parse_number
from simkeep.retention import accounts as retention_accounts
from simkeep.services import ServicesDep
from simkeep.sims import service as sims
from simkeep.sims.model import SimAccount
from simkeep.topups import service as topups
from simkeep.topups.model import Order
from simkeep.topups.queries import HistoryFilter
from simkeep.web.forms import FormState, read_form, see_other
from simkeep.web.keepalive import keep_alive_or_none
from simkeep.web.pages import Pages, PagesDep, RowId
from simkeep.web.session import SignedIn, SignedInDep

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
RECENT = 5


@router.get("/my")
async def home(
    request: Request, pages: PagesDep, services: ServicesDep, me: SignedInDep
) -> HTMLResponse:
    accounts = await services.reads.read(
        lambda conn: sims.held_sims(conn, subscriber_id=me.id), seen=me.seen
    )
    return pages.render(request, "my/home.html", {"accounts": accounts}, viewer=me.viewer)


@router.get("/my/sims/link")
async def link_page(
    request: Request, pages: PagesDep, me: SignedInDep, number: str = "", step: str = ""
) -> HTMLResponse:
    """The number step, or — once a code was sent to a valid number — the code step."""
    form = FormState({"number": number})
    if step == "code":
        with suppress(InvalidNumber):
            form.values["number"] = parse_number(number).e164
            return _show_link(request, pages, me, form, "code")
    return _show_link(request, pages, me, form, "number")


@router.post("/my/sims/link")
async def link(
    request: Request, pages: PagesDep, services: ServicesDep, me: SignedInDep
) -> Response:
    form = await read_form(request, me.viewer)
    step = form.text("step")
    now = services.clock.now()
    try:
        if step != "link":
            number = parse_number(form.text("number")).e164
            await sims.request_link_code(
                services.db,
                number=number,
                language=pages.choose(request).language.code,
                key=services.auth_key,
                limits=services.limits,
                now=now,
            )
            return see_other("/my/sims/link", number=number, step="code")
        sim = await sims.link_sim(
            services.db,
            subscriber_id=me.id,
            number=form.text("number"),
            code=form.text("code"),
            language=pages.choose(request).language.code,
            key=services.auth_key,
            limits=services.limits,
            now=now,
        )
    except Refusal as error:
        field = "code" if error.code == "bad_code" else "number"
        shown = "code" if step == "link" else "number"  # a refused code: type it again
        return _show_link(request, pages, me, form.fail(field, error), shown)
    return see_other(f"/my/sims/{sim.id}")


@router.get("/my/sims/{sim_id:int}")
async def sim_page(
    request: Request, pages: PagesDep, services: ServicesDep, me: SignedInDep, sim_id: RowId
) -> HTMLResponse:
    async def read(conn: AsyncConnection) -> dict[str, object] | None:
        account = await sims.held_sim(conn, subscriber_id=me.id, sim_id=sim_id)
        if account is None:
            return None
        return {
            "account": account,
            "recent": await _recent_topups(conn, me.id, account),
            "keeping": await retention_accounts.history(
                conn, sim_id=sim_id, currency=account.sim.home_currency
            ),
            "holders": await sims.holders(conn, sim_id=sim_id),
            "keepalive": await keep_alive_or_none(conn, subscriber_id=me.id, sim_id=sim_id),
        }

    context = await services.reads.read(read, seen=me.seen)
    if context is None:
        raise HTTPException(404)
    return pages.render(request, "my/sim.html", context, viewer=me.viewer)


@router.post("/my/sims/{sim_id:int}/unlink")
async def unlink(
    request: Request, services: ServicesDep, me: SignedInDep, sim_id: RowId
) -> Response:
    await read_form(request, me.viewer)
    removed = await services.db.transaction(
        lambda conn: sims.unlink_sim(conn, subscriber_id=me.id, sim_id=sim_id)
    )
    if not removed:
        raise HTTPException(404)
    return see_other("/my")


async def _recent_topups(
    conn: AsyncConnection, subscriber_id: int, account: SimAccount
) -> list[Order]:
    """This subscriber's latest top-ups of either number of the SIM, newest first."""
    orders: list[Order] = []
    for number in (account.sim.hk_number, account.sim.cn_number):
        where = HistoryFilter(msisdn=number.e164, limit=RECENT)
        page = await topups.order_history(conn, subscriber_id=subscriber_id, where=where)
        orders.extend(page.orders)
    return sorted(orders, key=lambda order: order.created_at, reverse=True)[:RECENT]


def _show_link(
    request: Request, pages: Pages, me: SignedIn, form: FormState, step: str
) -> HTMLResponse:
    context = {"form": form, "step": step}
    status = 200 if form.ok else 400
    return pages.render(request, "my/link.html", context, status_code=status, viewer=me.viewer)
