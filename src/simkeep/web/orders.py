"""A subscriber's top-up orders: the status page ``/topups/{order_no}`` (and its
``/state`` for the page's own refresh), and the history ``/topups``.

Design overview
---------------
* The status page is where every payment comes back to (the providers' return URL). It
  shows the QR code to scan while an order waits for a wallet, the way back to the cashier
  for a redirect payment, the promotions the order holds, and — once credited — the
  amount, the SIM's new balance and validity (when the subscriber holds that SIM), what the
  promotions gave, the receipt number and a link to the receipt, the refunds asked for and
  where each is, and the way to ask for one (``web.refunds``). A small script
  (``static/order-status.js``) asks ``/topups/{order_no}/state`` every two seconds and
  swaps in the new status when it changes; without scripts the page refreshes itself while
  the order waits. Nothing here changes an order: only the
  provider's notification, or the platform's own query of the provider, credits.
* Only the subscriber who placed an order sees it; any other order number is a 404.
* The history filters by state, number and Hong Kong days, newest first, and pages with
  the cursor the service returns (``next_before``). A filter that cannot be read marks its
  field (400); a cursor that is not an order id marks the link as broken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import HONG_KONG
from simkeep.payment_methods import PROVIDERS, Channel
from simkeep.payments.model import OUT_TRADE_NO_PATTERN
from simkeep.phone import InvalidNumber, parse_number
from simkeep.promotions import service as promotions
from simkeep.promotions.model import Applied
from simkeep.promotions.wording import promotion_line
from simkeep.refunds import queries as refund_queries
from simkeep.refunds.queries import Refund
from simkeep.services import Services, ServicesDep
from simkeep.sims import service as sims
from simkeep.sims.model import Plan, SimAccount
from simkeep.simulators.kits import scan_url
from simkeep.sqltypes import MAX_ID
from simkeep.topups import service as topups
from simkeep.topups.model import CREDITED_ONCE, Order, OrderState
from simkeep.topups.queries import HistoryFilter
from simkeep.web.formats import qr_svg
from simkeep.web.forms import FieldError, FormState
from simkeep.web.pages import PagesDep
from simkeep.web.session import SignedInDep

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
REFRESH_SECONDS = 5  # without scripts; the script asks every 2 s
CURSOR = re.compile(r"[0-9]{1,19}")  # ASCII digits only: str.isdigit also takes "²"


@dataclass(frozen=True, slots=True)
class OrderView:
    """An order as its status page shows it."""

    order: Order
    plan: Plan  # of the SIM topped up
    account: SimAccount | None  # the SIM topped up, if this subscriber holds it
    simulator_cashier: str | None  # the embedded simulator's cashier for a QR order
    promotions: tuple[Applied, ...] = ()  # what the order holds, or was granted
    refunds: tuple[Refund, ...] = ()  # asked for, oldest first

    @property
    def credited(self) -> bool:
        """Credited, whatever was refunded of it since."""
        return self.order.state in CREDITED_ONCE

    @property
    def refundable(self) -> bool:
        """A refund may be asked for (whether anything is left is the refund page's to say)."""
        return self.order.state in (OrderState.CREDITED, OrderState.PARTIALLY_REFUNDED)

    def promotion_lines(self, locale: str) -> list[str]:
        currency = self.order.credit.currency
        return [promotion_line(a, locale=locale, currency=currency) for a in self.promotions]

    @property
    def pushed(self) -> bool:
        """Whether the payer sends the money from a banking app (FPS), not a wallet."""
        return PROVIDERS[self.order.provider].push

    @property
    def qr(self) -> str | None:
        if not (self.order.waiting and self.order.pay_qr):
            return None
        return qr_svg(self.order.pay_qr, title=self.order.order_no)


@router.get("/topups")
async def history(
    request: Request, pages: PagesDep, services: ServicesDep, me: SignedInDep
) -> HTMLResponse:
    form = FormState(dict(request.query_params))
    where = _history_filter(form)
    page = None
    if form.ok:
        page = await services.reads.read(
            lambda conn: topups.order_history(conn, subscriber_id=me.id, where=where),
            seen=me.seen,
        )
    context = {
        "form": form,
        "page": page,
        "states": list(OrderState),
        "older": _older_link(form, page.next_before) if page and page.next_before else None,
    }
    status = 200 if form.ok else 400
    return pages.render(
        request, "topups/history.html", context, status_code=status, viewer=me.viewer
    )


@router.get("/topups/{order_no}")
async def status_page(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    me: SignedInDep,
    order_no: str,
    refund: Annotated[str, Query(max_length=32)] = "",
) -> HTMLResponse:
    """The order's page; ``refund`` names a refund just asked, told above the order."""
    view = await _order_view(services, me.id, order_no)
    asked = next((r for r in view.refunds if refund and r.refund_no == refund), None)
    context = {"view": view, "refresh": REFRESH_SECONDS, "asked": asked}
    return pages.render(request, "topups/status.html", context, viewer=me.viewer)


@router.post("/topups/{order_no}")
async def returned_from_gateway(order_no: str) -> RedirectResponse:
    """Where a gateway that answers by form (UnionPay's ``frontUrl``) posts the payer back:
    on to the status page. What it posts is not read: only a verified notification or a
    query credits anything, and this changes nothing."""
    if not re.fullmatch(OUT_TRADE_NO_PATTERN, order_no):
        raise HTTPException(404)
    return RedirectResponse(f"/topups/{order_no}", status_code=303)


@router.get("/topups/{order_no}/state")
async def status_fragment(
    request: Request, pages: PagesDep, services: ServicesDep, me: SignedInDep, order_no: str
) -> JSONResponse:
    """What the status page's script asks: the state, and the status part of the page."""
    view = await _order_view(services, me.id, order_no)
    html = pages.fragment(request, "topups/_status.html", {"view": view})
    body = {"state": view.order.state.value, "waiting": view.order.waiting, "html": html}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


Read = tuple[Order, Plan, SimAccount | None, tuple[Applied, ...], tuple[Refund, ...]]


async def _order_view(services: Services, subscriber_id: int, order_no: str) -> OrderView:
    async def read(conn: AsyncConnection) -> Read | None:
        order = await topups.get_order(conn, order_no=order_no, subscriber_id=subscriber_id)
        if order is None:
            return None
        plan = await sims.plan_of_sim(conn, sim_id=order.sim_id)
        account = await sims.held_sim(conn, subscriber_id=subscriber_id, sim_id=order.sim_id)
        held = await promotions.held_by_order(conn, order_no=order_no)
        asked = await refund_queries.refunds_of_orders(conn, order_nos=[order.order_no])
        return order, plan, account, tuple(held), tuple(asked.get(order.order_no, []))

    found = await services.db.transaction(read)
    if found is None:
        raise HTTPException(404)
    order, plan, account, held, asked = found
    cashier = None
    if services.settings.simulators and order.channel is Channel.QR and order.pay_qr:
        cashier = scan_url(order.provider, order.order_no, order.pay_qr)
    return OrderView(order, plan, account, cashier, held, asked)


def _history_filter(form: FormState) -> HistoryFilter:
    """The filters typed, as the service takes them; bad ones mark the form."""
    options: dict[str, Any] = {}
    state = form.text("state")
    if state:
        try:
            options["state"] = OrderState(state)
        except ValueError:
            form.fail("state", FieldError("invalid"))
    if form.text("number"):
        try:
            options["msisdn"] = parse_number(form.text("number")).e164
        except InvalidNumber as error:
            form.fail("number", error)
    since = _hong_kong_day(form, "from")
    until = _hong_kong_day(form, "to")
    options["since"] = _start_of(since) if since else None
    options["until"] = _start_of(until + timedelta(days=1)) if until and until < date.max else None
    before = form.text("before")
    if before:
        options["before"] = _cursor(form, before)
    return HistoryFilter(**options)


def _hong_kong_day(form: FormState, name: str) -> date | None:
    """A Hong Kong calendar day typed as YYYY-MM-DD."""
    text = form.text(name)
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        form.fail(name, FieldError("bad_date"))
        return None


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=HONG_KONG)


def _cursor(form: FormState, text: str) -> int | None:
    """The order id the "older" link carries; anything else marks the link as broken."""
    if CURSOR.fullmatch(text) and 0 < int(text) <= MAX_ID:
        return int(text)
    form.fail("before", FieldError("bad_cursor"))
    return None


def _older_link(form: FormState, before: int) -> str:
    kept = [(name, form.text(name)) for name in ("state", "number", "from", "to")]
    return "/topups?" + urlencode([(k, v) for k, v in kept if v] + [("before", str(before))])
