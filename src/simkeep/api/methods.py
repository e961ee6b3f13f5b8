"""``/api/v1/payment-methods``: the ways to pay a SIM of a currency, best first — the same
list, in the same order, as the wizard's (``payments.methods``): those charging in the SIM's
currency, then, when the operator has set a rate, those charging in the other one. Public:
it says nothing about anyone."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from simkeep.api import errors
from simkeep.api.deps import LanguageDep
from simkeep.api.schemas import ProviderOut
from simkeep.payment_methods import Channel
from simkeep.payments import methods
from simkeep.payments.methods import OTHER_CURRENCY
from simkeep.services import ServicesDep
from simkeep.topups import service as topups

router = APIRouter(prefix="/api/v1", tags=["topups"], responses=errors.documented(422))


class MethodOut(BaseModel):
    provider: ProviderOut
    channel: Channel = Field(description="`wap`: a phone's cashier; `page`: a desktop's; `qr`")
    pay_currency: str = Field(description="What it charges in", pattern="^(HKD|CNY)$")
    cross_currency: bool = Field(
        description="Charges in the other currency than the SIM's, at the operator's rate "
        "(see /quote)"
    )
    push: bool = Field(description="The payer sends the money with the order number (FPS)")


class MethodsOut(BaseModel):
    methods: list[MethodOut]


@router.get("/payment-methods", summary="The ways to pay a SIM of a currency, best first")
async def payment_methods(
    services: ServicesDep,
    locale: LanguageDep,
    home_currency: Annotated[Literal["HKD", "CNY"], Query(description="The SIM's currency")],
    device: Annotated[
        Literal["phone", "desktop"], Query(description="Where the payer pays")
    ] = "desktop",
) -> MethodsOut:
    other = OTHER_CURRENCY[home_currency]
    fx = await services.db.transaction(
        lambda conn: topups.current_fx(conn, base=home_currency, quote_currency=other)
    )
    found = methods.offered(
        home_currency=home_currency,
        pay_currencies=[home_currency, other] if fx else [home_currency],
        charges=services.charges,
        phone=device == "phone",
    )
    return MethodsOut(
        methods=[
            MethodOut(
                provider=ProviderOut.of(method.provider, locale),
                channel=method.channel,
                pay_currency=method.currency,
                cross_currency=method.currency != home_currency,
                push=method.spec.push,
            )
            for method in found
        ]
    )
