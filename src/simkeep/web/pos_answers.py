"""How the counter's forms answer: a sale, a refund or a payout made or refused, a number or
a top-up looked up, and the holder's ID check.

Design overview
---------------
A POST that makes a paper (a sale's receipt, a refund's) carries an idempotency key and is
sent by ``static/pos.js`` asking for JSON (``Accept: application/json``), or posted as any
form without scripts; ``answer`` serves all of them. Made, it is ``{"done": true,
"receipt_no", "url"}`` or a 303 to the paper (``?new=1``). Refused, the field the refusal
names is marked, and it is ``{"done": false, "code", "message"}`` — the message as the page
words it — with the refusal's status (``refusal_status``: not found, a conflict with the
counter's state or with what exists, or bad input), or the page again. How it is paid is
read by ``typed_payer``. ``looked_up`` reads what a page's find form names (a number, a
top-up, a refund waiting), marking the field when it is refused. An ID check reads the
document typed (``typed_document``) into what every check takes and never writes its number
back (``untyped``); its result comes back to the page as ``?id=match`` or ``?id=no_match``
(``id_answer``, ``id_checked``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from simkeep.counter.model import Payer, check_payer
from simkeep.counter.service import IdDocument, Sale
from simkeep.errors import Refusal
from simkeep.refunds.queries import Refund
from simkeep.services import Services
from simkeep.web.forms import FormState, see_other
from simkeep.web.pages import Pages
from simkeep.web.staff_session import SignedInStaff

T = TypeVar("T")
JSON = "application/json"
ID_ANSWERS = ("match", "no_match")
NOT_FOUND = frozenset({"unknown_topup", "unknown_refund"})
CONFLICTS = frozenset(
    {
        "no_open_shift",
        "outlet_not_selling",
        "id_check_required",
        "float_too_low",
        "idempotency_conflict",
        "refund_open",
        "refund_paid_out",
        "not_refundable",
        "not_outlet_topup",
        "other_agent",
        "nothing_to_refund",
    }
)


@dataclass(frozen=True, slots=True)
class Paper:
    """What a POST at the counter made: the number its paper prints, and the paper's page."""

    number: str
    url: str

    @classmethod
    def of_sale(cls, sale: Sale) -> Paper:
        return cls(sale.receipt_no, f"/pos/sales/{sale.id}")

    @classmethod
    def of_refund(cls, refund: Refund) -> Paper:
        return cls(refund.refund_no, f"/pos/refunds/{refund.refund_no}")


def wants_json(request: Request) -> bool:
    """Whether the POS script sent the request (``Accept: application/json``)."""
    return JSON in request.headers.get("accept", "")


async def answer(
    request: Request,
    pages: Pages,
    making: Awaitable[Paper],
    *,
    form: FormState,
    field: Callable[[Refusal], str],
    again: Callable[[Refusal], Awaitable[Response]],
) -> Response:
    """A sale's, refund's or payout's POST answered: where its paper is; refused, the
    refusal marked on ``form`` at ``field(error)`` and the page shown ``again`` (or, asked
    for JSON, the refusal in the page's language)."""
    try:
        paper = await making
    except Refusal as error:
        name = field(error)
        form.fail(name, error)
        if not wants_json(request):
            return await again(error)
        message = pages.fragment(request, "pos/_refusal.html", {"error": form.errors[name]})
        body = {"done": False, "code": error.code, "message": message.strip()}
        return JSONResponse(body, status_code=refusal_status(error.code))
    if wants_json(request):
        return JSONResponse({"done": True, "receipt_no": paper.number, "url": paper.url})
    return see_other(paper.url, new="1")


def refusal_status(code: str) -> int:
    """A refusal's status: what it names was not found, it conflicts with the counter's
    state or with what exists, or its input is bad."""
    if code in NOT_FOUND:
        return 404
    return 409 if code in CONFLICTS else 422


async def looked_up(form: FormState, field: str, look: Callable[[str], Awaitable[T]]) -> T | None:
    """What ``form``'s ``field`` names, looked up; None when it names nothing, or when the
    look-up is refused (the field is then marked)."""
    text = form.text(field)
    if not text:
        return None
    try:
        return await look(text)
    except Refusal as error:
        form.fail(field, error)
        return None


def typed_payer(form: FormState, prefix: str = "") -> Payer:
    """How the form says it is paid: cash, or a card with the terminal's reference (its
    fields named ``<prefix>payment`` and ``<prefix>terminal_ref``)."""
    return check_payer(
        form.text(f"{prefix}payment"), form.text(f"{prefix}terminal_ref")[:80] or None
    )


def typed_document(form: FormState, services: Services, clerk: SignedInStaff) -> IdDocument:
    """The ID document the clerk typed, as an ID check takes it."""
    return IdDocument(
        clerk=clerk.member,
        id_type=form.text("id_type")[:24],
        id_number=form.secret("id_number")[:40],
        id_key=services.id_key,
        limits=services.id_policy.limits,
        actor=clerk.actor,
        now=services.clock.now(),
    )


def untyped(form: FormState, error: Refusal) -> FormState:
    """An ID check's form refused: the document's number marked, never written back."""
    form.values.pop("id_number", None)
    return form.fail("id_number", error)


def id_answer(matched: bool) -> str:
    """An ID check's result, for the page's address."""
    return "match" if matched else "no_match"


def id_checked(request: Request) -> dict[str, FormState]:
    """The ID check's form with the result the page's address carries, if any."""
    result = request.query_params.get("id", "")
    return {"id": FormState({"result": result})} if result in ID_ANSWERS else {}
