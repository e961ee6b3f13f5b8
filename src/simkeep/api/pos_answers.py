"""What every route of the POS API (``api.pos``, ``api.pos_refunds``) takes, and how it
answers: the errors it may answer, the ``Idempotency-Key`` header and a replayed answer, a
paper's language and the paper as a PDF, the device's member as the actor, and the holder's
ID document as an ID check takes it."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Protocol

from fastapi import Depends, Header, Query, Request, Response
from pydantic import BaseModel

from simkeep.api import errors
from simkeep.api.deps import LanguageDep
from simkeep.counter.service import Device, IdDocument
from simkeep.services import Services
from simkeep.sims.model import IdType
from simkeep.staff.audit import Actor

POS_ERRORS: dict[int | str, dict[str, Any]] = {
    **errors.documented(400, 401, 404, 409, 413, 422, 429),
    403: {"model": errors.ErrorOut, "description": "The device is not a clerk's"},
}
KEY_PATTERN = r"^[A-Za-z0-9_.:-]{8,128}$"
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        pattern=KEY_PATTERN,
        description="Made by the POS once per sale or refund (a UUID): a retry sends the same key",
    ),
]
Language = Literal["zh_Hant_HK", "zh_Hans_CN", "en"]
PDF: dict[int | str, dict[str, Any]] = {200: {"content": {"application/pdf": {}}}}


class Replayable(Protocol):
    @property
    def replayed(self) -> bool: ...


class TypedId(Protocol):
    @property
    def id_type(self) -> IdType: ...

    @property
    def id_number(self) -> str: ...


async def paper_language(
    language: LanguageDep,
    lang: Annotated[
        Language | None, Query(description="The paper's language; Accept-Language otherwise")
    ] = None,
) -> str:
    """The language a paper is printed in: ``lang``, else the request's."""
    return lang or language


PaperLanguageDep = Annotated[str, Depends(paper_language)]


def replayed(model: type[BaseModel], what: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route whose key, sent again, answers what it made before."""
    return {200: {"model": model, "description": f"This key's {what}, made before: nothing new"}}


def replay_status(made: Replayable, response: Response) -> None:
    """A key's answer given again is a 200, not a 201: nothing new was made."""
    if made.replayed:
        response.status_code = 200


def pdf_answer(pdf: bytes, name: str) -> Response:
    """A paper as a PDF download."""
    disposition = f'attachment; filename="{name}.pdf"'
    headers = {"Content-Disposition": disposition, "Cache-Control": "no-store"}
    return Response(pdf, media_type="application/pdf", headers=headers)


def actor(device: Device, request: Request) -> Actor:
    return Actor(device.member.id, request.client.host if request.client else "unknown")


def typed_document(
    body: TypedId, device: Device, request: Request, services: Services
) -> IdDocument:
    """The ID document the body carries, as an ID check takes it."""
    return IdDocument(
        clerk=device.member,
        id_type=body.id_type.value,
        id_number=body.id_number,
        id_key=services.id_key,
        limits=services.id_policy.limits,
        actor=actor(device, request),
        now=services.clock.now(),
    )
