"""The test hooks of a simulated provider's bills, one shape for every kit, mounted under the
simulator's prefix.

Design overview
---------------
``POST /bills/differences?kind=…`` plants a difference (``bill_rules.Difference``) in every
bill the simulator makes from then on:

* ``amount_mismatch`` — the trade ``out_trade_no`` (one the simulator knows) shifted by
  ``shift`` minor units in the bill (100 unless given, either way, never to nothing);
* ``provider_only`` — a trade of ``amount`` (major units of the kit's currency, 0.01 unless
  given) paid now that the merchant never created, and is never told of; the answer names
  its order number;
* ``bad_digest`` — the provider vouches for a file that is not the one it hands over;
* ``bad_totals`` — the bill's summary or trailer is one minor unit off its rows;
* ``early`` — a day's bill is made before the day is over, with what is booked so far.

A kit whose bills cannot carry a kind says so (``kinds``: Alipay's have no digest, WeChat
Pay's no totals). ``DELETE /bills/differences`` clears them all. A refusal is 400 with the
reason, in the kit's own shape (``refused``): FastAPI's ``{"detail": …}`` unless the kit
answers errors its own way, as WeChat Pay's ``{"code", "message"}``, which also answers an
unknown trade 404.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Protocol

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from simkeep.money import InvalidAmount, Money
from simkeep.simulators.bill_rules import BillDifferences, Difference

MAX_MINOR = 10**8  # what a planted difference may shift or pay, in minor units


class Billed(Protocol):
    """A simulator's bills, as the hooks plant differences in them."""

    differences: BillDifferences

    def knows(self, out_trade_no: str) -> bool:
        """Whether the provider has a trade of that order number."""
        ...

    async def plant_provider_only(self, amount: Money) -> str:
        """Pay a trade the merchant never created, without telling it; its order number."""
        ...


class Refused(Exception):
    """A difference the hooks will not plant: why, and whether for want of the trade."""

    def __init__(self, message: str, *, unknown_trade: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.unknown_trade = unknown_trade


def detail_refusal(refused: Refused) -> JSONResponse:
    """A refusal as FastAPI answers an ``HTTPException``: 400 ``{"detail": …}``."""
    return JSONResponse({"detail": refused.message}, 400)


def bill_hooks(
    bills: Billed,
    *,
    currency: str,
    kinds: Collection[Difference] = tuple(Difference),
    refused: Callable[[Refused], JSONResponse] = detail_refusal,
) -> APIRouter:
    """``/bills/differences`` for ``bills``, planting ``kinds``; a provider-only trade is paid
    in ``currency``; a refusal is answered by ``refused``."""
    routes = APIRouter(tags=["simulator: bills"])

    @routes.post("/bills/differences")
    async def plant(
        kind: Difference, out_trade_no: str = "", shift: int = 100, amount: str = "0.01"
    ) -> JSONResponse:
        try:
            if kind not in kinds:
                raise Refused(f"these bills have no {kind}: only {', '.join(kinds)}")
            out_trade_no = await _plant(bills, kind, out_trade_no, shift, amount, currency)
        except Refused as refusal:
            return refused(refusal)
        return JSONResponse({"planted": kind.value, "out_trade_no": out_trade_no})

    @routes.delete("/bills/differences")
    async def clear() -> JSONResponse:
        bills.differences.clear()
        return JSONResponse({"planted": ""})

    return routes


def billed_amount(differences: BillDifferences, out_trade_no: str, amount_minor: int) -> int:
    """A trade's amount as the bill states it: shifted if planted so, never below 1."""
    return max(differences.shift(out_trade_no, amount_minor), 1)


async def _plant(
    bills: Billed, kind: Difference, out_trade_no: str, shift: int, amount: str, currency: str
) -> str:
    """Plant ``kind``; the trade it is about (a provider-only one: the new trade's)."""
    differences = bills.differences
    if kind is Difference.AMOUNT_MISMATCH:
        if not bills.knows(out_trade_no):
            raise Refused(f"no trade {out_trade_no!r} to shift", unknown_trade=True)
        if not 0 < abs(shift) <= MAX_MINOR:
            raise Refused(f"shift is 1 to {MAX_MINOR} minor units, either way")
        differences.shifted[out_trade_no] = shift
    elif kind is Difference.PROVIDER_ONLY:
        out_trade_no = await bills.plant_provider_only(_amount(amount, currency))
    elif kind is Difference.BAD_DIGEST:
        differences.bad_digest = True
    elif kind is Difference.BAD_TOTALS:
        differences.bad_totals = True
    else:
        differences.early = True
    return out_trade_no


def _amount(text: str, currency: str) -> Money:
    try:
        amount = Money.parse(text, currency)
    except InvalidAmount as error:
        raise Refused(str(error)) from error
    if not 0 < amount.minor <= MAX_MINOR:
        raise Refused(f"amount is 0.01 to 1000000.00 {currency}")
    return amount
