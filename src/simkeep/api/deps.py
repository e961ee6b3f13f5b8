"""Request dependencies shared by the API routers and the pages: what the composition root
put on ``app.state`` (database, clock, settings, auth keys, payment adapters), and the
subscriber behind an API request's bearer token."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from gettext import GNUTranslations
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from simkeep.clock import Clock
from simkeep.db import Database
from simkeep.payments.model import PaymentProviderAdapter, Provider
from simkeep.payments.service import CheckoutUrls
from simkeep.receipts.service import ReceiptSigning
from simkeep.settings import Settings
from simkeep.subscribers import service as subscribers
from simkeep.subscribers.model import Limits, auth_key
from simkeep.subscribers.service import Subscriber


@dataclass(frozen=True, slots=True)
class Services:
    """What every entry point needs, made once at start-up."""

    settings: Settings
    db: Database
    clock: Clock
    auth_key: bytes
    receipts: ReceiptSigning
    catalogs: Mapping[str, GNUTranslations]  # per language code, for documents (PDF)
    limits: Limits
    adapters: Mapping[Provider, PaymentProviderAdapter]
    urls: CheckoutUrls

    @classmethod
    def build(
        cls,
        *,
        settings: Settings,
        db: Database,
        clock: Clock,
        adapters: Mapping[Provider, PaymentProviderAdapter],
        catalogs: Mapping[str, GNUTranslations],
    ) -> Services:
        return cls(
            settings=settings,
            db=db,
            clock=clock,
            auth_key=auth_key(settings.secret_key),
            receipts=ReceiptSigning(settings.secret_key.encode(), settings.public_url),
            catalogs=catalogs,
            limits=Limits(),
            adapters=adapters,
            urls=CheckoutUrls(settings.public_url),
        )

    def adapter(self, provider: Provider) -> PaymentProviderAdapter:
        adapter = self.adapters.get(provider)
        if adapter is None:
            raise HTTPException(404, f"{provider.value} is not available")
        return adapter


# Dependencies are coroutines: FastAPI runs a plain function in a worker thread, a hop that
# costs more than the lookup itself on every request.
async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


ServicesDep = Annotated[Services, Depends(get_services)]
DatabaseDep = Annotated[Database, Depends(get_database)]

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
