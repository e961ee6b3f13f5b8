"""Pages to get in and out: ``/register``, ``/login``, ``/logout``, ``/reset-password``.

Design overview
---------------
Registering and resetting a password take two steps on one page: the phone number (a
one-time code goes to it by SMS), then the code and the password. Sending the code answers
with a 303 to the code step, a GET page of its own (``/register?phone=…&step=code``), so
Back and reload never send a second code. Each step calls one ``subscribers.service``
function; a refusal shows the same step again with the field marked (4xx). A successful
registration, login or reset starts a new session (``session.start_session``) and
redirects to ``next`` if it is a local path, else ``/my``; logging out redirects home.

The page's language is the language a new account reads, and the language of a code's SMS
to a number that is nobody's login (``subscribers.languages``).
"""

from __future__ import annotations

from contextlib import suppress
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from simkeep.errors import Refusal
from simkeep.phone import InvalidNumber, parse_number
from simkeep.services import Services, ServicesDep
from simkeep.subscribers import service as subscribers
from simkeep.subscribers.model import CodePurpose
from simkeep.subscribers.service import Session
from simkeep.web.forms import FormState, read_form, see_other
from simkeep.web.pages import Pages, PagesDep
from simkeep.web.session import (
    Viewer,
    ViewerDep,
    end_session,
    local_path,
    start_session,
)

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

# Which field a refusal belongs to, by its code; anything else marks the phone number.
FIELD_OF = {
    "weak_password": "password",
    "bad_code": "code",
    "bad_credentials": "password",
}
Kind = Literal["register", "reset"]
TEMPLATES: dict[Kind, str] = {
    "register": "account/register.html",
    "reset": "account/reset_password.html",
}
PATHS: dict[Kind, str] = {"register": "/register", "reset": "/reset-password"}
PURPOSES: dict[Kind, CodePurpose] = {
    "register": CodePurpose.REGISTER,
    "reset": CodePurpose.RESET_PASSWORD,
}


def _fail(form: FormState, error: Refusal) -> FormState:
    return form.fail(FIELD_OF.get(error.code, "phone"), error)


def _signed_in(services: Services, session: Session, next_path: str) -> Response:
    response = RedirectResponse(local_path(next_path), status_code=303)
    start_session(response, session, now=services.clock.now(), secure=services.settings.https_only)
    return response


def _show(
    request: Request, pages: Pages, who: Viewer, kind: Kind, form: FormState, step: str
) -> HTMLResponse:
    status = 200 if form.ok else 400
    context = {"form": form, "step": step}
    return pages.render(request, TEMPLATES[kind], context, status_code=status, viewer=who)


def _step(phone: str, step: str, next_path: str = "") -> tuple[FormState, str]:
    """The step a GET asks for: the code step for a valid number, else the number step."""
    form = FormState({"phone": phone, "next": next_path})
    if step == "code":
        with suppress(InvalidNumber):
            form.values["phone"] = parse_number(phone).e164
            return form, "code"
    return form, "phone"


@router.get("/login")
async def login_page(request: Request, pages: PagesDep, who: ViewerDep, next: str = "") -> Response:
    if who.subscriber is not None:
        return RedirectResponse(local_path(next), status_code=303)
    form = FormState({"next": next})
    return pages.render(request, "account/login.html", {"form": form}, viewer=who)


@router.post("/login")
async def login(
    request: Request, pages: PagesDep, services: ServicesDep, who: ViewerDep
) -> Response:
    form = await read_form(request, who)
    try:
        session = await subscribers.login(
            services.db,
            phone=form.text("phone"),
            password=form.secret("password"),
            limits=services.limits,
            now=services.clock.now(),
        )
    except Refusal as error:
        context = {"form": _fail(form, error)}
        return pages.render(request, "account/login.html", context, status_code=400, viewer=who)
    return _signed_in(services, session, form.text("next"))


@router.post("/logout")
async def logout(request: Request, services: ServicesDep, who: ViewerDep) -> Response:
    await read_form(request, who)
    if who.session_token is not None:
        await subscribers.logout(services.db, token=who.session_token, now=services.clock.now())
    response = RedirectResponse("/", status_code=303)
    end_session(response, secure=services.settings.https_only)
    return response


@router.get("/register")
async def register_page(
    request: Request,
    pages: PagesDep,
    who: ViewerDep,
    next: str = "",
    phone: str = "",
    step: str = "",
) -> Response:
    if who.subscriber is not None:
        return RedirectResponse(local_path(next), status_code=303)
    return _show(request, pages, who, "register", *_step(phone, step, next))


@router.post("/register")
async def register(
    request: Request, pages: PagesDep, services: ServicesDep, who: ViewerDep
) -> Response:
    form = await read_form(request, who)
    if form.text("step") != "create":
        return await _send_code(request, pages, services, who, form, "register")
    try:
        session = await subscribers.register(
            services.db,
            phone=form.text("phone"),
            code=form.text("code"),
            password=form.secret("password"),
            language=pages.choose(request).language.code,
            key=services.auth_key,
            limits=services.limits,
            now=services.clock.now(),
        )
    except Refusal as error:
        return _show(request, pages, who, "register", _fail(form, error), "code")
    return _signed_in(services, session, form.text("next"))


@router.get("/reset-password")
async def reset_page(
    request: Request, pages: PagesDep, who: ViewerDep, phone: str = "", step: str = ""
) -> Response:
    return _show(request, pages, who, "reset", *_step(phone, step))


@router.post("/reset-password")
async def reset_password(
    request: Request, pages: PagesDep, services: ServicesDep, who: ViewerDep
) -> Response:
    form = await read_form(request, who)
    if form.text("step") != "create":
        return await _send_code(request, pages, services, who, form, "reset")
    try:
        session = await subscribers.reset_password(
            services.db,
            phone=form.text("phone"),
            code=form.text("code"),
            new_password=form.secret("password"),
            key=services.auth_key,
            limits=services.limits,
            now=services.clock.now(),
        )
    except Refusal as error:
        return _show(request, pages, who, "reset", _fail(form, error), "code")
    return _signed_in(services, session, "")


async def _send_code(
    request: Request,
    pages: Pages,
    services: Services,
    who: Viewer,
    form: FormState,
    kind: Kind,
) -> Response:
    """Step one: a code to the number typed, then off to step two, which shows where it went."""
    try:
        phone = parse_number(form.text("phone")).e164
        await subscribers.request_code(
            services.db,
            phone=phone,
            purpose=PURPOSES[kind],
            language=pages.choose(request).language.code,
            key=services.auth_key,
            limits=services.limits,
            now=services.clock.now(),
        )
    except Refusal as error:
        return _show(request, pages, who, kind, _fail(form, error), "phone")
    return see_other(PATHS[kind], phone=phone, next=form.text("next"), step="code")
