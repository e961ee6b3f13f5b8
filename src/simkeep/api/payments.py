"""``/api/v1/payments/{provider}/notify``: where Alipay and WeChat Pay send their
notifications. Thin: the raw request goes to ``payments.service.receive_notification``,
whose answer (``success`` / 204, or a refusal) goes back as is."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from simkeep.api.deps import DatabaseDep
from simkeep.payments import service as payments
from simkeep.payments.model import Provider, RawNotification

router = APIRouter(prefix="/api/v1/payments", tags=["payments"])


@router.post("/{provider}/notify", summary="A payment provider's signed notification")
async def notify(provider: Provider, request: Request, db: DatabaseDep) -> Response:
    adapter = request.app.state.payment_adapters.get(provider)
    if adapter is None:
        raise HTTPException(404, f"{provider.value} is not configured")
    raw = RawNotification(
        headers=dict(request.headers),
        body=await request.body(),
        query=dict(request.query_params),
    )
    ack = await payments.receive_notification(
        db, adapter=adapter, raw=raw, now=request.app.state.clock.now()
    )
    return Response(ack.body, status_code=ack.status, media_type=ack.content_type)
