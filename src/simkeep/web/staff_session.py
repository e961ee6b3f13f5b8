"""Who is looking at a staff page, and what they may do: the API for every staff page.

Design overview
---------------
* A staff session lives on the server (``staff.service``); the browser holds its token in
  the ``simkeep_staff`` cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure`` when
  ``settings.https_only``, path ``/staff``), a cookie apart from the subscribers'
  ``simkeep_session``: a staff session opens no subscriber page, a subscriber's no staff
  page. It is set at login and at enrolment (each a new session) and deleted at logout,
  for each path of ``STAFF_PATHS`` (the staff pages, the counter's POS at ``/pos`` and an
  agent's own page at ``/agent``).
  A member whose role reads no staff page is sent to their role's own home (a clerk to
  ``/pos``, an agent's user to ``/agent``).
* CSRF as on the subscriber side (``web.session``): a signed-in member's forms carry an
  HMAC of their session token; the login form an HMAC of a random value in the
  ``simkeep_staff_csrf`` cookie. ``web.forms.read_form`` checks either.
* Adding a staff page: make the router with ``staff_router()`` and take ``StaffDep``::

      router = staff_router()

      @router.get("/staff/things")
      async def things(request: Request, pages: PagesDep, staff: StaffDep) -> Response:
          return staff_page(pages, request, "staff/things.html", staff, {...})

      @router.post("/staff/things")
      async def add_thing(request: Request, services: ServicesDep, staff: StaffDep) -> Response:
          form = await read_form(request, staff.viewer)
          ...  # the change and audit.record(conn, actor=staff.actor, …) in one transaction
          return see_other("/staff/things")

  ``StaffDep`` is a signed-in member of staff who passed the second factor and may read
  staff pages (anyone else is sent to ``/staff/login``, or to ``/staff/enrol`` to finish
  enrolling). ``staff_router(changes)`` puts its guard (``StaffGuard``) on every route: a
  request by any method but GET and HEAD needs the permission the router declares —
  ``Permission.CHANGE`` (the operator role) unless it names a narrower one, as the refunds'
  router names ``Permission.REFUND`` (operators and support) and the adjustments'
  ``Permission.ADJUST`` (operators and finance) — else 403 before the route runs: one
  dependency for every state-changing staff route, present or future, whose permission the
  role matrix test reads back from the route. ``OperatorDep`` asks for
  ``Permission.CHANGE`` on a single route. Every guard of a member (the staff pages', the
  counter's, an agent's page's) starts with ``signed_in``: past the second factor, whatever
  the role.
* ``staff_page`` hands templates what the member may do (``can``: their permissions), so a
  form is shown to those whose POST the guard lets through.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import HTMLResponse

from simkeep.services import ServicesDep
from simkeep.staff import service as staff_service
from simkeep.staff.audit import MAX_ORIGIN, Actor
from simkeep.staff.model import Permission, Role, may, permissions
from simkeep.staff.service import StaffMember, StaffSession
from simkeep.web.pages import Pages
from simkeep.web.session import FormTokens, SeeOther, csrf_key

STAFF_COOKIE = "simkeep_staff"
STAFF_CSRF_COOKIE = "simkeep_staff_csrf"
STAFF_PATH = "/staff"
STAFF_PATHS = (STAFF_PATH, "/pos", "/agent")  # where the staff cookie goes: staff pages, the
# POS and the agent's own page
STAFF_HOME = "/staff"
SAFE_METHODS = frozenset({"GET", "HEAD"})
ROLE_HOMES = {  # roles that read no staff page, and their page
    Role.CLERK.value: "/pos",
    Role.AGENT.value: "/agent",
}


class StaffViewer(FormTokens):
    """The person behind a staff request: a member of staff (with their token) or nobody."""

    KINDS = ("staff-session", "staff-visitor")

    def __init__(
        self,
        *,
        member: StaffMember | None,
        token: str | None,
        csrf_cookie: str | None,
        key: bytes,
        secure: bool,
    ) -> None:
        super().__init__(
            token=token if member else None, csrf_cookie=csrf_cookie, key=key, secure=secure
        )
        self.member = member

    @property
    def token(self) -> str | None:
        return self._token

    def finish(self, response: Response) -> None:
        """Keep staff pages out of caches; hand over a new CSRF cookie."""
        response.headers["Cache-Control"] = "no-store"
        if self._new_cookie is not None:
            _set_cookie(response, STAFF_CSRF_COOKIE, self._new_cookie, secure=self.secure)


@dataclass(frozen=True, slots=True)
class SignedInStaff:
    """A signed-in member of staff, the viewer pages are rendered for, and the actor the
    audit log records for their changes."""

    member: StaffMember
    viewer: StaffViewer
    actor: Actor

    @property
    def role(self) -> str:
        return self.member.role

    @property
    def seen(self) -> int | None:
        """Where the primary was after their last write (``replicas``)."""
        return self.member.seen

    def may(self, permission: Permission) -> bool:
        return may(self.member.role, permission)


def _set_cookie(
    response: Response,
    name: str,
    value: str,
    *,
    secure: bool,
    max_age: int | None = None,
    path: str = STAFF_PATH,
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def start_staff_session(
    response: Response, session: StaffSession, *, now: datetime, secure: bool
) -> None:
    """Hand the browser its new staff session token (a fresh one at every login)."""
    max_age = max(int((session.expires_at - now).total_seconds()), 0)
    for path in STAFF_PATHS:
        _set_cookie(
            response, STAFF_COOKIE, session.token, secure=secure, max_age=max_age, path=path
        )


def end_staff_session(response: Response, *, secure: bool) -> None:
    for path in STAFF_PATHS:
        response.delete_cookie(
            STAFF_COOKIE, path=path, httponly=True, samesite="strict", secure=secure
        )


def origin_of(request: Request) -> str:
    """Where a request came from, for the audit log."""
    return (request.client.host if request.client else "unknown")[:MAX_ORIGIN]


async def staff_viewer(request: Request, services: ServicesDep) -> StaffViewer:
    token = request.cookies.get(STAFF_COOKIE)
    member = None
    if token and len(token) <= 128:
        member = await staff_service.authenticate(
            services.db, token=token, now=services.clock.now()
        )
    return StaffViewer(
        member=member,
        token=token,
        csrf_cookie=request.cookies.get(STAFF_CSRF_COOKIE),
        key=csrf_key(services.settings.secret_key),
        secure=services.settings.https_only,
    )


StaffViewerDep = Annotated[StaffViewer, Depends(staff_viewer)]


async def signed_in(request: Request, viewer: StaffViewerDep) -> SignedInStaff:
    """A member of staff past the second factor, whatever the role (the narrower guards
    start here); the login and back for anyone else."""
    member = viewer.member
    if member is None:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SeeOther(f"/staff/login?next={quote(here, safe='/')}")
    if not member.second_factor:
        raise SeeOther("/staff/enrol")
    return SignedInStaff(member, viewer, Actor(member.id, origin_of(request)))


async def signed_in_staff(request: Request, viewer: StaffViewerDep) -> SignedInStaff:
    """A member of staff past the second factor who may read staff pages."""
    staff = await signed_in(request, viewer)
    if not staff.may(Permission.READ):
        if staff.role in ROLE_HOMES:
            raise SeeOther(ROLE_HOMES[staff.role])
        raise HTTPException(403, "this role may not read staff pages")
    return staff


StaffDep = Annotated[SignedInStaff, Depends(signed_in_staff)]


@dataclass(frozen=True, slots=True)
class StaffGuard:
    """Every route of a staff router: a signed-in member who may read; a request that
    changes something needs ``changes``."""

    changes: Permission

    async def __call__(self, request: Request, staff: StaffDep) -> None:
        if request.method not in SAFE_METHODS and not staff.may(self.changes):
            raise HTTPException(403, f"this role may not do this (it needs {self.changes})")


async def operator(staff: StaffDep) -> SignedInStaff:
    if not staff.may(Permission.CHANGE):
        raise HTTPException(403, "this role reads and changes nothing")
    return staff


OperatorDep = Annotated[SignedInStaff, Depends(operator)]


def staff_router(changes: Permission = Permission.CHANGE) -> APIRouter:
    """A router for staff pages: every route behind a ``StaffGuard`` whose changes need
    ``changes``."""
    return APIRouter(
        include_in_schema=False,
        default_response_class=HTMLResponse,
        dependencies=[Depends(StaffGuard(changes))],
    )


def staff_page(
    pages: Pages,
    request: Request,
    template: str,
    staff: SignedInStaff | StaffViewer,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """A staff page in the request's language, in the staff layout (``staff/base.html``)."""
    viewer = staff.viewer if isinstance(staff, SignedInStaff) else staff
    member = viewer.member if viewer.member and viewer.member.second_factor else None
    can = permissions(member.role) if member else frozenset()
    full = {"me": viewer, "staff": member, "can": can, **(context or {})}
    response = pages.render(request, template, full, status_code=status_code)
    viewer.finish(response)
    return response
