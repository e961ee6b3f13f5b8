"""``/api/v1/quote`` and ``/api/v1/topups``: price a top-up, place an order (with an
``Idempotency-Key``: the same key and body give the same order, another body is a 409), read
one order or the history. Orders of other subscribers are not found."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, HTTPException, Query, Request

from simkeep.api import errors
from simkeep.api.deps import LanguageDep, SubscriberDep
from simkeep.api.schemas import Instant, link_to
from simkeep.api.topup_schemas import AppliedOut, OrderOut, OrderPage, QuoteOut, TopupRequest
from simkeep.payment_methods import Channel, OnlineProvider
from simkeep.payments import service as payments
from simkeep.phone import parse_number
from simkeep.promotions import service as promotions
from simkeep.services import Services, ServicesDep
from simkeep.sqltypes import MAX_ID
from simkeep.topups import service as topups
from simkeep.topups.model import DENOMINATIONS, Order, OrderState

router = APIRouter(
    prefix="/api/v1",
    tags=["topups"],
    responses=errors.documented(400, 401, 404, 409, 413, 422, 502),
)

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=128,
        description="Chosen by the client, one per order: a retry sends the same key",
    ),
]


@router.get(
    "/quote",
    summary="What a top-up costs, with the FX rate locked at order time, and the promotions "
    "that apply",
)
async def quote(
    services: ServicesDep,
    _: SubscriberDep,
    locale: LanguageDep,
    number: Annotated[str, Query(max_length=32)],
    amount_minor: Annotated[int, Query(description=f"One of {DENOMINATIONS}")],
    pay_currency: Literal["HKD", "CNY"],
    provider: Annotated[
        OnlineProvider | None, Query(description="The provider to pay with: its promotions too")
    ] = None,
    channel: Annotated[Channel | None, Query(description="How the payer reaches it")] = None,
) -> QuoteOut:
    priced = await services.db.transaction(
        lambda conn: topups.quote_topup(
            conn,
            number=number,
            amount_minor=amount_minor,
            pay_currency=pay_currency,
            now=services.clock.now(),
            provider=provider,
            channel=channel or (Channel.QR if provider else None),
        )
    )
    return QuoteOut.of(priced, locale)


@router.post(
    "/topups",
    status_code=201,
    summary="Top up a number: the order and how to pay",
    responses={201: link_to("get_topup", order_no="$response.body#/order_no")},
)
async def create_topup(
    body: TopupRequest,
    idempotency_key: IdempotencyKey,
    subscriber: SubscriberDep,
    services: ServicesDep,
    request: Request,
    locale: LanguageDep,
) -> OrderOut:
    order = await payments.checkout(
        services.db,
        adapter=services.checkout_adapter(body.provider),
        request=body.order_request(subscriber_id=subscriber.id, idempotency_key=idempotency_key),
        urls=services.urls,
        payer_ip=request.client.host if request.client else "127.0.0.1",
        now=services.clock.now(),
        ttl=services.order_ttl,
    )
    return await _with_promotions(services, order, locale)


@router.get(
    "/topups",
    summary="My orders, newest first, with filters",
    responses={200: link_to("get_topup", order_no="$response.body#/orders/0/order_no")},
)
async def list_topups(
    subscriber: SubscriberDep,
    services: ServicesDep,
    state: OrderState | None = None,
    number: Annotated[str | None, Query(max_length=32)] = None,
    since: Annotated[Instant | None, Query(description="With its UTC offset")] = None,
    until: Annotated[Instant | None, Query(description="With its UTC offset")] = None,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="`next_before` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> OrderPage:
    where = topups.HistoryFilter(
        state=state,
        msisdn=parse_number(number).e164 if number else None,
        since=since,
        until=until,
        before=before,
        limit=limit,
    )
    page = await services.reads.read(
        lambda conn: topups.order_history(conn, subscriber_id=subscriber.id, where=where),
        seen=subscriber.seen,
    )
    return OrderPage(
        orders=[OrderOut.of(order) for order in page.orders], next_before=page.next_before
    )


@router.get("/topups/{order_no}", summary="One of my orders: poll it until it is credited")
async def get_topup(
    order_no: str, subscriber: SubscriberDep, services: ServicesDep, locale: LanguageDep
) -> OrderOut:
    order = await services.db.transaction(
        lambda conn: topups.get_order(conn, order_no=order_no, subscriber_id=subscriber.id)
    )
    if order is None:
        raise HTTPException(404, "you have no order with this number")
    return await _with_promotions(services, order, locale)


async def _with_promotions(services: Services, order: Order, locale: str) -> OrderOut:
    """One order, with the promotions it holds (or was granted)."""
    held = await services.db.transaction(
        lambda conn: promotions.held_by_order(conn, order_no=order.order_no)
    )
    currency = order.credit.currency
    answer = OrderOut.of(order)
    answer.promotions = [AppliedOut.of(applied, locale, currency) for applied in held]
    return answer
