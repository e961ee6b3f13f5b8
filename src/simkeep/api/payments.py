"""``/api/v1/payments/{provider}/notify``: where Alipay and WeChat Pay send their
notifications. Thin: the raw request goes to ``payments.service.receive_notification``,
whose answer (``success`` / 204, or a refusal) goes back as is."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from simkeep.payment_methods import Provider
from simkeep.payments import service as payments
from simkeep.payments.model import RawNotification
from simkeep.services import ServicesDep

router = APIRouter(prefix="/api/v1/payments", tags=["payments"])


@router.post("/{provider}/notify", summary="A payment provider's signed notification")
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
