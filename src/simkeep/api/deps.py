"""The API's own request dependencies: the subscriber behind a request's bearer token, and
the language a request reads (``Accept-Language``, else the server's default locale)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from simkeep.i18n import locale_for_accept_language
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


async def request_language(
    services: ServicesDep,
    accept_language: Annotated[
        str | None,
        Header(
            alias="Accept-Language",
            description="zh-HK, zh-CN or en (any tag of those): the language of names in the"
            " answer and of the SMS the request causes; the server's default otherwise",
        ),
    ] = None,
) -> str:
    """The locale a request reads: the first of ours in ``Accept-Language``, else the default."""
    chosen = locale_for_accept_language(accept_language) if accept_language else None
    return chosen or services.settings.default_locale


LanguageDep = Annotated[str, Depends(request_language)]
