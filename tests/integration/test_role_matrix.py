"""The role matrix, generated from the app's routes (docs/staff.md, "Roles").

Every route under ``/staff``, ``/pos``, ``/agent`` and ``/api/v1`` is called by every kind
of caller — a member of staff of each role (operator, support, auditor, finance, an agent's
user, a clerk), a subscriber, the network's client, and nobody — and its answer is checked
against what the route needs, read back from the route itself:

* a staff page's router declares the permission its changes need (``StaffGuard``): a GET
  needs ``read``, any other method the router's permission (``change``, ``refund``,
  ``adjust`` …), and ``staff.model.may`` says which roles have it;
* the counter's pages need a clerk, an agent's page an agent's user, the papers of a sale or
  shift any member of staff; the API's routes a subscriber's token, a clerk's or an agent's
  device, or the network's client — each by the dependency it is behind (``GATES``).

Allowed is anything but 401, 403 or a redirect to the login or to another role's home (an
id that exists nowhere is a 404, a form left empty a 400: the route ran). Routes behind no
gate at all must be declared here (``PUBLIC``, ``OWN_SESSION``): a new route that is behind
nothing the test knows fails it, as does a route whose wiring lets the wrong role in or
keeps the right one out. Each POST carries the caller's own CSRF token, so a refusal is the
role's, never the form's. One database suffices: it is the wiring that is tested.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts

from simkeep.api.deps import bearer_subscriber
from simkeep.api.devices import agent_device, clerk_device
from simkeep.api.network import network_client
from simkeep.counter import devices
from simkeep.staff import service as staff
from simkeep.staff.audit import CLI
from simkeep.staff.model import Permission, Role, code_at, may, time_step
from simkeep.subscribers import service as subscribers
from simkeep.subscribers.model import Limits
from simkeep.usage import clients
from simkeep.web.agent_pages import signed_in_agent
from simkeep.web.pos_session import signed_in, signed_in_clerk
from simkeep.web.session import SESSION_COOKIE
from simkeep.web.staff_session import ROLE_HOMES, StaffGuard, staff_viewer
from tests.agent_world import SECRETS, STAFF_PASSWORD, agency, agent_member
from tests.e2e.site_world import Site, csrf_of, site

__all__ = ["site"]

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PREFIXES = ("/staff", "/pos", "/agent", "/api/v1")
# Routes behind no gate: open to anyone, each for a reason.
PUBLIC = {
    ("GET", "/api/v1/openapi.json"),  # the API's description
    ("POST", "/api/v1/payments/{provider}/notify"),  # providers: signed, checked by the route
    ("POST", "/api/v1/keep-alive/{provider}/notify"),  # providers: signed, checked by the route
    ("POST", "/api/v1/auth/codes"),  # getting in: a code by SMS, rate-limited per number
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/password/reset"),
    ("GET", "/api/v1/payment-methods"),  # what the public pages show
    ("GET", "/api/v1/promotions"),
    ("GET", "/api/v1/outlets"),
    ("GET", "/api/v1/outlets/{code}"),
    ("GET", "/api/v1/receipts/{receipt_no}/{signature}"),  # a receipt's signed public check
}
# Staff routes that act on the caller's own session: logging in and out, enrolling.
OWN_SESSION = {"/staff/login", "/staff/logout", "/staff/enrol"}
STAFF_SECRETS = {
    "operator": "OPERATOROPERATOROPERATOROPERATOR",
    "support": "SUPPORTSUPPORTSUPPORTSUPPORTSUPP",
    "auditor": "AUDITORAUDITORAUDITORAUDITORAUDI",
    "finance": "FINANCEFINANCEFINANCEFINANCEFINA",
}
AGENT, CLERK = "abby", "carl"  # the agent's user and the clerk (tests.agent_world)
CALLERS = [r.value for r in Role] + ["subscriber", "network", "nobody"]


@dataclass(frozen=True)
class Needs:
    """What a route needs, as its dependencies say."""

    gate: str  # staff | pos | paper | agent | own | subscriber | clerk_device | ...
    changes: Permission | None = None  # a staff router's permission for its changes


GATES: list[tuple[Callable[..., Any], str]] = [  # what lets a caller in, narrowest first
    (signed_in_clerk, "pos"),  # a clerk: itself behind ``signed_in``
    (signed_in_agent, "agent"),
    (signed_in, "paper"),  # any member of staff
    (bearer_subscriber, "subscriber"),
    (clerk_device, "clerk_device"),  # each device gate is behind ``bearer_device``
    (agent_device, "agent_device"),
    (network_client, "network"),
]


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def needs_of(method: str, path: str, dependant: Dependant) -> Needs:
    calls = list(_calls(dependant))
    guards = [call for call in calls if isinstance(call, StaffGuard)]
    if guards:
        return Needs("staff", guards[0].changes)
    for gate, name in GATES:
        if gate in calls:
            return Needs(name)
    if path in OWN_SESSION and staff_viewer in calls:
        return Needs("own")
    assert (method, path) in PUBLIC, (
        f"{method} {path} is behind no gate: put it behind one, or declare it in PUBLIC"
    )
    return Needs("public")


def expected(needs: Needs, caller: str, method: str) -> str:
    """``allowed``, ``login``, ``home``, ``401`` or ``403``; ``open`` for a route on the
    caller's own session (logging out, enrolling), which may send anyone to the login but
    refuses nobody."""
    is_staff = caller in {r.value for r in Role}
    if needs.gate == "own":
        return "open"
    if needs.gate == "public":
        return "allowed"
    if needs.gate in ("staff", "pos", "paper", "agent"):
        if not is_staff:
            return "login"
        if needs.gate == "paper":
            return "allowed"
        if needs.gate == "pos":
            return "allowed" if may(caller, Permission.POS) else "403"
        if needs.gate == "agent":
            return "allowed" if may(caller, Permission.AGENT_VIEW) else "403"
        if not may(caller, Permission.READ):
            return "home" if caller in ROLE_HOMES else "403"
        if method in ("GET", "HEAD"):
            return "allowed"
        assert needs.changes is not None
        return "allowed" if may(caller, needs.changes) else "403"
    device_roles = {"clerk_device": Role.CLERK.value, "agent_device": Role.AGENT.value}
    if needs.gate in device_roles:
        if caller == device_roles[needs.gate]:
            return "allowed"
        return "403" if caller in device_roles.values() else "401"
    return "allowed" if caller == needs.gate else "401"  # subscriber | network


def observed(answer: httpx.Response) -> str:
    if answer.is_redirect:
        location = answer.headers["location"]
        if location.startswith("/staff/login"):
            return "login"
        if location in ROLE_HOMES.values():
            return "home"
        return "allowed"
    return str(answer.status_code) if answer.status_code in (401, 403) else "allowed"


@dataclass
class Caller:
    name: str
    http: httpx.AsyncClient
    csrf: str
    bearer: str | None = None


async def _staff_members(site: Site) -> None:
    now = site.clock.now()
    for role, secret in STAFF_SECRETS.items():
        await staff.add_staff(
            site.db,
            username=role,
            display_name=role.title(),
            role=role,
            password=STAFF_PASSWORD,
            actor=CLI,
            now=now,
            totp_secret=secret,
            enrolled=True,
        )
    agency_ = await agency(site.db, now=now, books=False)
    await agent_member(site.db, AGENT, agent_id=agency_.agent_id, now=now)
    await agent_member(
        site.db, CLERK, agent_id=agency_.agent_id, outlet_id=agency_.mong_kok, now=now
    )


async def _caller(site: Site, name: str) -> Caller:
    http = site.browser()
    now = site.clock.now()
    if name in (*STAFF_SECRETS, "agent", "clerk"):
        username = {"agent": AGENT, "clerk": CLERK}.get(name, name)
        secret = STAFF_SECRETS.get(name) or SECRETS[username]
        site.clock.advance(timedelta(seconds=30))  # each login its own TOTP step
        login = await http.get("/staff/login")
        code = code_at(secret, time_step(site.clock.now()))
        data = {"username": username, "password": STAFF_PASSWORD, "code": code}
        answer = await http.post("/staff/login", data={"csrf": csrf_of(login), **data})
        assert answer.status_code == 303, (name, answer.text[:300])
        home = {"agent": "/agent", "clerk": "/pos"}.get(name, "/staff")
        csrf = csrf_of(await http.get(home))
        bearer = None
        if name in ("agent", "clerk"):
            member = await devices.member_id(site.db, username=username)
            device = await devices.issue_device(
                site.db, staff_id=member, label=f"{name}'s tablet", actor=CLI, now=now
            )
            bearer = device.token
        return Caller(name, http, csrf, bearer)
    csrf = csrf_of(await http.get("/staff/login"))  # a visitor's token
    if name == "subscriber":
        phone, password = "+85261234567", "correct horse 42"
        await subscribers.enroll(site.db, phone=phone, password=password, language="en", now=now)
        session = await subscribers.login(
            site.db, phone=phone, password=password, limits=Limits(), now=now
        )
        http.cookies.set(SESSION_COOKIE, session.token)
        return Caller(name, http, csrf, session.token)
    if name == "network":
        _, token = await clients.add_client(site.db, name="carrier", now=now)
        return Caller(name, http, csrf, token)
    return Caller(name, http, csrf)


def _routes(site: Site) -> list[tuple[str, str, Needs]]:
    found = []
    for route in iter_route_contexts(site.app.routes):
        path, dependant = route.path or "", getattr(route, "dependant", None)
        if not path.startswith(PREFIXES) or dependant is None:
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            found.append((method, path, needs_of(method, path, dependant)))
    # a session's own logout last: every other route is tried while it is open
    return sorted(found, key=lambda r: (r[1].endswith("/logout"), r[1], r[0]))


async def _call(caller: Caller, method: str, path: str) -> httpx.Response:
    called = re.sub(r"{(\w+)(:\w+)?}", "1", path)
    if path.startswith("/api/"):
        headers = {"Authorization": f"Bearer {caller.bearer}"} if caller.bearer else {}
        body = None if method in ("GET", "DELETE") else {}
        return await caller.http.request(method, called, json=body, headers=headers)
    data = None if method == "GET" else {"csrf": caller.csrf}
    return await caller.http.request(method, called, data=data)


async def test_every_role_gets_what_each_route_declares(site: Site) -> None:
    await _staff_members(site)
    routes = _routes(site)
    gates = {needs.gate for _, _, needs in routes}
    assert {"staff", "pos", "paper", "agent", "own", "public", "subscriber"} <= gates
    assert {"clerk_device", "agent_device", "network"} <= gates
    declared = {(m, p): n.changes for m, p, n in routes if n.gate == "staff"}
    assert declared[("POST", "/staff/refunds/{refund_no}/approve")] is Permission.REFUND
    assert declared[("POST", "/staff/adjustments/{adjustment_id}/approve")] is Permission.ADJUST
    assert declared[("POST", "/staff/agents/deposits/{deposit_id}/approve")] is Permission.ADJUST
    assert declared[("POST", "/staff/agents/{code}/deposits")] is Permission.ADJUST
    assert declared[("POST", "/staff/agents/{code}/credit-limit")] is Permission.CHANGE
    assert declared[("POST", "/staff/plans/{code}")] is Permission.CHANGE

    wrong = []
    for name in CALLERS:
        caller = await _caller(site, name)
        try:
            for method, path, needs in routes:
                answer = await _call(caller, method, path)
                want, got = expected(needs, name, method), observed(answer)
                if want != got and not (want == "open" and got in ("allowed", "login")):
                    wrong.append(f"{name} {method} {path}: wanted {want}, got {answer.status_code}")
        finally:
            await caller.http.aclose()
    assert not wrong, "\n".join(wrong)
