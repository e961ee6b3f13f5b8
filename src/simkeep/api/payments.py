"""``/api/v1/payments/{provider}/notify``: where every provider of the registry sends its
notifications (a bank its credit webhooks). Thin: the raw request goes to
``payments.service.receive_notification``, whose answer (``success`` / 204, or a refusal)
goes back as is. A body over the notify cap never gets here: the edge refuses it, in the
provider's own failure format (``too_large``)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request, Response

from simkeep.api.errors import ErrorOut
from simkeep.payment_methods import Provider
from simkeep.payments import service as payments
from simkeep.payments.model import PaymentProviderAdapter, RawNotification
from simkeep.services import ServicesDep

router = APIRouter(prefix="/api/v1/payments", tags=["payments"])

NOTIFY_PATH = re.compile(r"/api/v1/payments/(?P<provider>[^/]+)/notify")


# Each provider answers in its own words: text (Alipay, UnionPay) or a JSON object (WeChat
# Pay's ``{"code": "FAIL", …}``, the FPS bank's, Alipay+'s ``result``).
REPLY: dict[str, Any] = {
    "text/plain": {"schema": {"type": "string"}},
    "application/json": {"schema": {"type": "object"}},
}
NOTIFY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Taken, in the provider's words: Alipay `success` (`fail`: send it "
        'again), UnionPay `ok`, the FPS bank `{"received": true}`, AlipayHK the Alipay+ '
        "`result` object",
        "content": REPLY,
    },
    204: {"description": "WeChat Pay and WeChat Pay HK: taken"},
    400: {
        "description": "Not taken, to be sent again, in the provider's words (WeChat Pay: "
        '`{"code": "FAIL", "message": …}`)',
        "content": REPLY,
    },
    404: {"description": "This provider is not configured", "model": ErrorOut},
    413: {"description": "Over the notify cap: the provider's failure reply", "content": REPLY},
    422: {"description": "No such provider", "model": ErrorOut},
}


@router.post(
    "/{provider}/notify",
    summary="A payment provider's signed notification",
    response_class=Response,
    responses=NOTIFY_RESPONSES,
)
async def notify(provider: Provider, request: Request, services: ServicesDep) -> Response:
    adapter = services.adapter(provider)
    raw = RawNotification(
        headers=dict(request.headers),
        body=await request.body(),
        query=dict(request.query_params),
    )
    ack = await payments.receive_notification(
        services.db, adapter=adapter, raw=raw, now=services.clock.now()
    )
    return Response(ack.body, status_code=ack.status, media_type=ack.content_type)


def is_notify_path(path: str) -> bool:
    return NOTIFY_PATH.fullmatch(path) is not None


def too_large(request: Request, path: str) -> Response | None:
    """413 for a notification over the cap, in its provider's failure format (Alipay: the text
    ``fail``; WeChat Pay: ``{"code": "FAIL", …}``); None unless ``path`` is a notify route of
    a provider that is configured."""
    match = NOTIFY_PATH.fullmatch(path)
    if match is None or match["provider"] not in set(Provider):
        return None
    adapters: dict[Provider, PaymentProviderAdapter] = request.app.state.payment_adapters
    adapter = adapters.get(Provider(match["provider"]))
    if adapter is None:
        return None
    refusal = replace(adapter.acknowledge(False), status=413)
    return Response(refusal.body, status_code=refusal.status, media_type=refusal.content_type)
