"""The API's own request dependency: the subscriber behind a request's bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from simkeep.services import ServicesDep
from simkeep.subscribers import service as subscribers
from simkeep.subscribers.service import Subscriber

bearer_credentials = HTTPBearer(auto_error=False, description="A token from /api/v1/auth/login")


async def bearer_subscriber(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_credentials)],
) -> Subscriber:
    """The subscriber whose session token is in ``Authorization: Bearer …``; 401 otherwise."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise HTTPException(401, "log in first: send Authorization: Bearer <token>", challenge)
    subscriber = await subscribers.authenticate(
        services.db, token=credentials.credentials, now=services.clock.now()
    )
    if subscriber is None:
        raise HTTPException(401, "this token is unknown or has expired: log in again", challenge)
    return subscriber


SubscriberDep = Annotated[Subscriber, Depends(bearer_subscriber)]
