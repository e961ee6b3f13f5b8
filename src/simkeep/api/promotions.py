"""``GET /api/v1/promotions``: what is on offer now, to anyone; and, to a signed-in subscriber,
``GET /api/v1/numbers/{number}/promotions``: only what that number's SIM may still get — of
its currency and plan, a first top-up's only before its first, under its cap."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.api import errors
from simkeep.api.deps import LanguageDep, SubscriberDep
from simkeep.api.schemas import Amount
from simkeep.money import Money
from simkeep.payment_methods import Provider
from simkeep.promotions import service as promotions
from simkeep.promotions.model import Promotion
from simkeep.services import ServicesDep
from simkeep.sims import service as sims

router = APIRouter(prefix="/api/v1", tags=["promotions"], responses=errors.documented(401, 404))


class PromotionOut(BaseModel):
    """A promotion on offer: its conditions, and what it gives this SIM's top-ups."""

    id: int
    code: str
    name: str = Field(description="In the request's language (Accept-Language)")
    min_credit: Amount | None = Field(description="Top-ups of at least this much")
    sales_channel: str | None = Field(description="Only orders placed this way: web or api")
    provider: Provider | None = Field(description="Only paid with this provider")
    first_topup: bool = Field(description="Only a SIM's first top-up")
    plan_code: str | None
    starts_at: datetime | None
    ends_at: datetime | None = Field(description="Exclusive")
    stackable: bool = Field(description="Given on top of the best one that does not stack")
    remaining: int | None = Field(description="Grants left in the budget; null: no limit")
    per_sim_cap: int | None = Field(description="Grants per SIM; null: no limit")

    @classmethod
    def of(cls, promotion: Promotion, locale: str) -> PromotionOut:
        c = promotion.conditions
        least = None
        if c.min_credit_minor is not None and c.currency is not None:
            least = Amount.of(Money(c.min_credit_minor, c.currency))
        return cls(
            id=promotion.id,
            code=promotion.code,
            name=promotion.names.pick(locale),
            min_credit=least,
            sales_channel=c.sales_channel.value if c.sales_channel else None,
            provider=c.provider,
            first_topup=c.first_topup,
            plan_code=c.plan_code,
            starts_at=c.starts_at,
            ends_at=c.ends_at,
            stackable=promotion.stackable,
            remaining=None if promotion.budget is None else promotion.budget - promotion.used,
            per_sim_cap=promotion.per_sim_cap,
        )


class PromotionList(BaseModel):
    promotions: list[PromotionOut]


@router.get("/promotions", summary="Promotions on offer now, to anyone")
async def list_promotions(services: ServicesDep, locale: LanguageDep) -> PromotionList:
    offered = await services.db.transaction(
        lambda conn: promotions.on_offer(conn, now=services.clock.now(), sim_id=None)
    )
    return PromotionList(promotions=[PromotionOut.of(p, locale) for p in offered])


@router.get(
    "/numbers/{number}/promotions",
    summary="The promotions on offer that this number's SIM may still get",
)
async def promotions_for_number(
    services: ServicesDep,
    _: SubscriberDep,
    locale: LanguageDep,
    number: Annotated[str, Path(max_length=32)],
) -> PromotionList:
    async def read(conn: AsyncConnection) -> list[Promotion]:
        sim = await sims.find_by_number(conn, number=number)
        if sim is None:
            raise HTTPException(404, "no China–Hong Kong SIM has this number: check it")
        return await promotions.on_offer(conn, now=services.clock.now(), sim_id=sim.id)

    offered = await services.db.transaction(read)
    return PromotionList(promotions=[PromotionOut.of(p, locale) for p in offered])
