"""``/api/v1/auth``: one-time codes, register, log in and out, passwords, and ``/api/v1/me``
with the language the subscriber reads. Thin: each route calls one ``subscribers.service``
function; a session token comes back for the ``Authorization: Bearer`` header.

A code's SMS goes out in the language of the number's subscriber, or — for a number that is
nobody's login yet — in the request's language (``Accept-Language``). A new account reads
the ``language`` of the register body, else the request's language; ``PUT /me/language``
changes it (the site changes it when the subscriber switches language there)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.security import HTTPAuthorizationCredentials

from simkeep.api import errors
from simkeep.api.deps import LanguageDep, SubscriberDep, bearer_credentials
from simkeep.api.schemas import (
    ChangePasswordRequest,
    CodeRequest,
    LanguageRequest,
    LoginRequest,
    MeOut,
    RegisterRequest,
    ResetPasswordRequest,
    SessionOut,
)
from simkeep.services import ServicesDep
from simkeep.subscribers import service as subscribers
from simkeep.subscribers.model import CodePurpose

router = APIRouter(
    prefix="/api/v1", tags=["auth"], responses=errors.documented(400, 401, 409, 413, 422, 429)
)


@router.post(
    "/auth/codes",
    status_code=202,
    response_class=Response,
    summary="Send a one-time code by SMS",
)
async def send_code(body: CodeRequest, services: ServicesDep, language: LanguageDep) -> Response:
    await subscribers.request_code(
        services.db,
        phone=body.phone,
        purpose=CodePurpose(body.purpose),
        language=language,
        key=services.auth_key,
        limits=services.limits,
        now=services.clock.now(),
    )
    return Response(status_code=202)


@router.post("/auth/register", status_code=201, summary="Register with a code and a password")
async def register(
    body: RegisterRequest, services: ServicesDep, language: LanguageDep
) -> SessionOut:
    session = await subscribers.register(
        services.db,
        phone=body.phone,
        code=body.code,
        password=body.password,
        language=body.language or language,
        key=services.auth_key,
        limits=services.limits,
        now=services.clock.now(),
    )
    return SessionOut.of(session)


@router.post("/auth/login", summary="Log in: a new session token")
async def login(body: LoginRequest, services: ServicesDep) -> SessionOut:
    session = await subscribers.login(
        services.db,
        phone=body.phone,
        password=body.password,
        limits=services.limits,
        now=services.clock.now(),
    )
    return SessionOut.of(session)


@router.post("/auth/logout", status_code=204, response_class=Response, summary="End this session")
async def logout(
    _: SubscriberDep,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_credentials)],
) -> Response:
    assert credentials is not None  # SubscriberDep has refused a request without one
    await subscribers.logout(services.db, token=credentials.credentials, now=services.clock.now())
    return Response(status_code=204)


@router.post("/auth/password/reset", summary="Set a new password with a code sent by SMS")
async def reset_password(body: ResetPasswordRequest, services: ServicesDep) -> SessionOut:
    session = await subscribers.reset_password(
        services.db,
        phone=body.phone,
        code=body.code,
        new_password=body.new_password,
        key=services.auth_key,
        limits=services.limits,
        now=services.clock.now(),
    )
    return SessionOut.of(session)


@router.post("/auth/password", summary="Change the password: every other session ends")
async def change_password(
    body: ChangePasswordRequest, subscriber: SubscriberDep, services: ServicesDep
) -> SessionOut:
    session = await subscribers.change_password(
        services.db,
        subscriber_id=subscriber.id,
        old_password=body.old_password,
        new_password=body.new_password,
        limits=services.limits,
        now=services.clock.now(),
    )
    return SessionOut.of(session)


@router.get("/me", summary="Who this token belongs to")
async def me(subscriber: SubscriberDep) -> MeOut:
    return MeOut.of(subscriber)


@router.put("/me/language", summary="The language my SMS are written in", status_code=204)
async def set_language(
    body: LanguageRequest, subscriber: SubscriberDep, services: ServicesDep
) -> Response:
    await subscribers.set_language(services.db, subscriber_id=subscriber.id, language=body.language)
    return Response(status_code=204)
