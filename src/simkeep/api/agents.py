"""``/api/v1/agent``: what an agent's own systems read — its floats and commission, and its
outlets' sales and shifts of a Hong Kong day.

Every route takes the bearer token of a device that belongs to a member of staff with the
agent role (``simkeep pos add-device``): no token, or an unknown or revoked one, is a 401; a
clerk's device is a 403. The agent is the device's, never one named in the request; an
outlet code that is not one of its outlets is a 404. Nothing here changes anything.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from simkeep.api import errors
from simkeep.api.deps import LanguageDep
from simkeep.api.devices import AgentDeviceDep
from simkeep.api.schemas import Balance
from simkeep.counter.reports import MAX_SALES_PAGE, OutletTotals, Sale, ShiftReport
from simkeep.money import Money
from simkeep.outlets import agent_console
from simkeep.outlets.agent_console import AgentFloats
from simkeep.outlets.model import Outlet, UnknownOutlet
from simkeep.retention.model import day_of
from simkeep.services import Services, ServicesDep
from simkeep.sqltypes import MAX_ID

router = APIRouter(
    prefix="/api/v1/agent",
    tags=["agents"],
    responses={
        **errors.documented(401, 404, 422),
        403: {"model": errors.ErrorOut, "description": "The device is not an agent's"},
    },
)
FIRST_DAY = date(2020, 1, 1)
Day = Annotated[
    date | None,
    Query(description="A Hong Kong day, 2026-11-25; today (in Hong Kong) if left out"),
]
OutletCode = Annotated[
    str | None,
    Query(max_length=16, pattern=r"^[A-Z0-9][A-Z0-9-]+$", description="One of the agent's outlets"),
]


class NameOut(BaseModel):
    code: str
    name: str = Field(description="In the request's language (Accept-Language)")


class BookOut(BaseModel):
    currency: str = Field(examples=["HKD"])
    float: Balance = Field(description="The prepaid value left; each sale draws it down")
    floor: Balance = Field(description="How low the float may go: zero, or minus the credit limit")
    commission_payable: Balance = Field(description="Earned at the outlets and not yet paid")


class FloatsOut(BaseModel):
    agent: NameOut
    commission_bp: int = Field(description="Basis points of each sale: 150 is 1.5 %")
    floats: list[BookOut]

    @classmethod
    def of(cls, found: AgentFloats, locale: str) -> FloatsOut:
        agent = found.agent
        return cls(
            agent=NameOut(code=agent.code, name=agent.names.pick(locale)),
            commission_bp=agent.commission_bp,
            floats=[
                BookOut(
                    currency=book.currency,
                    float=Balance.of(book.float),
                    floor=Balance.of(book.floor),
                    commission_payable=Balance.of(book.commission),
                )
                for book in found.books
            ],
        )


class SaleOut(BaseModel):
    id: int
    receipt_no: str
    outlet: str = Field(description="The outlet's code")
    shift_id: int
    kind: str = Field(description="topup or voucher")
    payment: str = Field(description="cash or card")
    amount: Balance
    commission: Balance
    created_at: datetime

    @classmethod
    def of(cls, sale: Sale, outlets: dict[int, Outlet]) -> SaleOut:
        return cls(
            id=sale.id,
            receipt_no=sale.receipt_no,
            outlet=outlets[sale.outlet_id].code,
            shift_id=sale.shift_id,
            kind=sale.kind,
            payment=sale.payment,
            amount=Balance.of(sale.amount),
            commission=Balance.of(sale.commission),
            created_at=sale.created_at,
        )


class OutletTotalsOut(BaseModel):
    outlet: str
    sales: int
    topups: Balance
    vouchers: Balance
    refunds: Balance = Field(description="Paid out at the outlet's counters")
    cash: Balance = Field(description="Cash sales less the refunds paid out in cash")
    card: Balance = Field(description="Card sales less the refunds back to cards")
    total: Balance = Field(description="Every sale less every refund paid out")
    commission: Balance = Field(description="Earned by the sales, less what refunds took back")

    @classmethod
    def of(cls, totals: OutletTotals, outlets: dict[int, Outlet]) -> OutletTotalsOut:
        amount = totals.amount
        return cls(
            outlet=outlets[totals.outlet_id].code,
            sales=totals.sales,
            topups=Balance.of(amount("topup")),
            vouchers=Balance.of(amount("voucher")),
            refunds=Balance.of(amount("refund")),
            cash=Balance.of(amount("cash")),
            card=Balance.of(amount("card")),
            total=Balance.of(amount("total")),
            commission=Balance.of(amount("commission")),
        )


class SalesOut(BaseModel):
    day: date
    sales: list[SaleOut] = Field(description="Oldest first")
    totals: list[OutletTotalsOut] = Field(description="The whole day's, per outlet")
    next_after: int | None = Field(description="Pass as `after` for the next page; null: last")


class ShiftOut(BaseModel):
    id: int
    outlet: str
    clerk: str = Field(description="The clerk's username")
    state: str = Field(description="open or closed")
    opened_at: datetime
    closed_at: datetime | None
    opening_cash: Balance
    sales: int
    takings: Balance
    expected_cash: Balance | None
    expected_card: Balance | None
    counted_cash: Balance | None
    difference: Balance | None = Field(description="Counted less expected cash")
    z_report: str | None = Field(description="The Z-report page of a closed shift")

    @classmethod
    def of(cls, shift: ShiftReport, outlets: dict[int, Outlet], clerks: dict[int, str]) -> ShiftOut:
        return cls(
            id=shift.id,
            outlet=outlets[shift.outlet_id].code,
            clerk=clerks.get(shift.clerk_id, str(shift.clerk_id)),
            state=shift.state,
            opened_at=shift.opened_at,
            closed_at=shift.closed_at,
            opening_cash=Balance.of(shift.opening_cash),
            sales=shift.sales,
            takings=Balance.of(shift.takings),
            expected_cash=_maybe(shift.expected_cash),
            expected_card=_maybe(shift.expected_card),
            counted_cash=_maybe(shift.counted_cash),
            difference=_maybe(shift.difference),
            z_report=f"/pos/shifts/{shift.id}/z-report" if shift.state == "closed" else None,
        )


def _maybe(money: Money | None) -> Balance | None:
    return None if money is None else Balance.of(money)


class ShiftsOut(BaseModel):
    day: date
    shifts: list[ShiftOut] = Field(description="In the order they opened")


def _day(services: Services, day: date | None) -> date:
    today = day_of(services.clock.now())
    chosen = day or today
    if not FIRST_DAY <= chosen <= today:
        raise HTTPException(422, "choose a day from 2020-01-01 to today (Hong Kong)")
    return chosen


@router.get("/floats", summary="The agent's floats and commission payable, per currency")
async def get_floats(
    services: ServicesDep, device: AgentDeviceDep, locale: LanguageDep
) -> FloatsOut:
    agent_id = device.member.agent_id
    assert agent_id is not None  # an agent's member always names the agent
    return FloatsOut.of(await agent_console.agent_floats(services.db, agent_id=agent_id), locale)


@router.get("/sales", summary="The agent's sales of a day, a page at a time, with totals")
async def get_sales(
    services: ServicesDep,
    device: AgentDeviceDep,
    day: Day = None,
    outlet: OutletCode = None,
    after: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_SALES_PAGE)] = 100,
) -> SalesOut:
    chosen = _day(services, day)
    agent_id = device.member.agent_id
    assert agent_id is not None
    try:
        found = await agent_console.agent_sales(
            services.db, agent_id=agent_id, day=chosen, outlet_code=outlet, after=after, limit=limit
        )
    except UnknownOutlet as error:
        raise HTTPException(404, str(error)) from error
    return SalesOut(
        day=chosen,
        sales=[SaleOut.of(sale, found.outlets) for sale in found.page.sales],
        totals=[OutletTotalsOut.of(totals, found.outlets) for totals in found.totals],
        next_after=found.page.next_after,
    )


@router.get("/shifts", summary="The shifts opened on a day at the agent's outlets")
async def get_shifts(
    services: ServicesDep, device: AgentDeviceDep, day: Day = None, outlet: OutletCode = None
) -> ShiftsOut:
    chosen = _day(services, day)
    agent_id = device.member.agent_id
    assert agent_id is not None
    try:
        found = await agent_console.agent_shifts(
            services.db, agent_id=agent_id, day=chosen, outlet_code=outlet
        )
    except UnknownOutlet as error:
        raise HTTPException(404, str(error)) from error
    return ShiftsOut(
        day=chosen,
        shifts=[ShiftOut.of(shift, found.outlets, found.clerks) for shift in found.shifts],
    )
