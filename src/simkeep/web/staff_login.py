"""Staff getting in and out: ``/staff/login``, ``/staff/enrol``, ``/staff/logout``.

Design overview
---------------
Username, password and the authenticator's code are asked on one form. Two steps (password
first, then a code) would need a half-signed-in state on the server with its own limit, and
would tell whoever guesses that the password alone was right; one form takes one attempt
of the account's limit for all three and says only "wrong" (``staff.service.login``). A
member of staff with no confirmed TOTP yet leaves the code empty: the right password opens a
short session that reaches only ``/staff/enrol``, which shows the QR code (and the secret,
to type in) and confirms with a code; the session then rotates to a full one. These routes
are not behind ``StaffGuard``: an auditor logs in and out too. Each POST is CSRF-checked
(``web.forms.read_form``) and answers a success with a 303.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from simkeep.errors import Refusal
from simkeep.services import Services, ServicesDep
from simkeep.staff import service as staff_service
from simkeep.staff.audit import Actor
from simkeep.staff.model import StaffLimits
from simkeep.staff.service import StaffSession
from simkeep.web.formats import qr_svg
from simkeep.web.forms import FormState, read_form
from simkeep.web.pages import PagesDep
from simkeep.web.session import local_path
from simkeep.web.staff_session import (
    STAFF_HOME,
    STAFF_PATHS,
    StaffViewerDep,
    end_staff_session,
    origin_of,
    staff_page,
    start_staff_session,
)

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
LIMITS = StaffLimits()
FIELD_OF = {"bad_credentials": "password", "bad_totp": "code", "locked_out": "username"}


def _next(target: str) -> str:
    path = local_path(target, STAFF_HOME)
    return path if path.startswith(STAFF_PATHS) else STAFF_HOME


def _signed_in(services: Services, session: StaffSession, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    now = services.clock.now()
    start_staff_session(response, session, now=now, secure=services.settings.https_only)
    return response


@router.get("/staff/login")
async def login_page(
    request: Request, pages: PagesDep, viewer: StaffViewerDep, next: str = ""
) -> Response:
    if viewer.member is not None:
        target = _next(next) if viewer.member.second_factor else "/staff/enrol"
        return RedirectResponse(target, status_code=303)
    form = FormState({"next": next[:500]})
    return staff_page(pages, request, "staff/login.html", viewer, {"form": form})


@router.post("/staff/login")
async def login(
    request: Request, pages: PagesDep, services: ServicesDep, viewer: StaffViewerDep
) -> Response:
    form = await read_form(request, viewer)
    try:
        session = await staff_service.login(
            services.db,
            username=form.text("username")[:64],
            password=form.secret("password"),
            code=form.text("code")[:16],
            limits=LIMITS,
            now=services.clock.now(),
        )
    except Refusal as error:
        form.fail(FIELD_OF.get(error.code, "username"), error)
        context = {"form": form}
        return staff_page(pages, request, "staff/login.html", viewer, context, status_code=400)
    target = _next(form.text("next")) if session.second_factor else "/staff/enrol"
    return _signed_in(services, session, target)


@router.get("/staff/enrol")
async def enrol_page(
    request: Request, pages: PagesDep, services: ServicesDep, viewer: StaffViewerDep
) -> Response:
    return await _enrol(request, pages, services, viewer, FormState())


async def _enrol(
    request: Request, pages: PagesDep, services: Services, viewer: StaffViewerDep, form: FormState
) -> Response:
    member = viewer.member
    if member is None:
        return RedirectResponse("/staff/login", status_code=303)
    if member.second_factor:
        return RedirectResponse(STAFF_HOME, status_code=303)
    secret, uri = await staff_service.enrolment(services.db, staff_id=member.id)
    context = {
        "form": form,
        "member": member,
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "qr": qr_svg(uri, title="otpauth"),
    }
    status = 200 if form.ok else 400
    return staff_page(pages, request, "staff/enrol.html", viewer, context, status_code=status)


@router.post("/staff/enrol")
async def enrol(
    request: Request, pages: PagesDep, services: ServicesDep, viewer: StaffViewerDep
) -> Response:
    form = await read_form(request, viewer)
    if viewer.member is None or viewer.token is None:
        return RedirectResponse("/staff/login", status_code=303)
    try:
        session = await staff_service.confirm_totp(
            services.db,
            token=viewer.token,
            code=form.text("code")[:16],
            actor=Actor(viewer.member.id, origin_of(request)),
            limits=LIMITS,
            now=services.clock.now(),
        )
    except Refusal as error:
        return await _enrol(request, pages, services, viewer, form.fail("code", error))
    return _signed_in(services, session, STAFF_HOME)


@router.post("/staff/logout")
async def logout(request: Request, services: ServicesDep, viewer: StaffViewerDep) -> Response:
    await read_form(request, viewer)
    if viewer.token is not None:
        await staff_service.logout(services.db, token=viewer.token, now=services.clock.now())
    response = RedirectResponse("/staff/login", status_code=303)
    end_staff_session(response, secure=services.settings.https_only)
    return response
