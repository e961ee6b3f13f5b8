"""Refunds under faults: people asking for a top-up's money back, the operator deciding on
the staff pages, and the workers paying them back through the providers.

Design overview
---------------
``AskRefund`` is an operation class of the workload (``chaos.workload``): a person's turn
reads their top-ups (``GET /api/v1/topups``), takes one credited (or partly refunded) online
one and asks ``POST /api/v1/topups/{order_no}/refunds`` with a new ``Idempotency-Key`` —
mostly ``wrong_number`` (the automatic rule approves an untouched one at once: the app runs
with ``AUTO_MAX`` and ``AUTO_HOURS``), sometimes ``not_needed`` (it waits for staff), now
and then for a part only (``amount``: half of the credit). One time in ten the client asks
again with the same key, as after a lost answer (``refund_replay``); an unknown request is
settled by asking again with its key. A replay must answer the same refund: anything else is
an anomaly.

``DecideRefunds`` is the operator's: signed in on the staff pages as ``STAFF_USER`` (made at
setup by ``prepare_refund_staff``, its authenticator's secret known here), it opens
``/staff/refunds`` and approves (three in four) or refuses what waits there, as an operator
does, each decision one attempt; an unknown one is settled by reading the page again (the
refund no longer waits: decided) or deciding it again. Requests still waiting at the end
stay so: their money is held on the SIM, and the figures count holds as the SIM's.

The figures that prove the refunds are in ``chaos.refund_figures``.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import pyotp

from simkeep.db import Database
from simkeep.payment_methods import ONLINE_PROVIDERS, Channel
from simkeep.staff import accounts
from simkeep.staff.audit import CLI

if TYPE_CHECKING:
    from chaos.workload import Answer, Attempt, Outcome, Person, World

AUTO_MAX, AUTO_HOURS = 30_000, 24  # the automatic rule the app runs with: on
STAFF_USER = "chaos-refunds"
STAFF_PASSWORD = "chaos refunds 42"  # the harness' own throwaway account
STAFF_TOTP = "CHAOSREFUNDSKEYCHAOSREFUNDSKEY23"  # its authenticator's secret (base32)
REFUNDABLE = ("credited", "partially_refunded")
ONLINE = frozenset(provider.value for provider in ONLINE_PROVIDERS)
WAITING = re.compile(r'action="/staff/refunds/([A-Za-z0-9]+)/approve"')


async def prepare_refund_staff(db: Database, *, now: datetime) -> None:
    """The operator's staff account for the refund pages, enrolled with ``STAFF_TOTP``."""
    await accounts.add_staff(
        db,
        username=STAFF_USER,
        display_name="Chaos refunds",
        role="operator",
        password=STAFF_PASSWORD,
        actor=CLI,
        now=now,
        totp_secret=STAFF_TOTP,
        enrolled=True,
    )


def refund_settings() -> dict[str, str]:
    """The app's settings for the run: the automatic rule on."""
    return {"SIMKEEP_REFUND_AUTO_MAX": str(AUTO_MAX), "SIMKEEP_REFUND_AUTO_HOURS": str(AUTO_HOURS)}


class AskRefund:
    """A person asks for a credited top-up's money back, now and then twice with one key."""

    name: ClassVar[str] = "refund"
    weight: ClassVar[int] = 4
    role: ClassVar[str] = "subscriber"

    def ready(self, person: Person) -> bool:
        return person.token is not None and bool(person.linked)

    async def attempt(self, person: Person, world: World) -> Attempt | None:
        from chaos.workload import Outcome, _done

        order = await _refundable(person, world)
        if order is None:
            return None  # nothing of theirs to refund now: another turn
        body: dict[str, Any] = {"reason": "wrong_number", "note": "chaos"}
        if person.rng.random() < 0.25:
            body["reason"] = "not_needed"
        if person.rng.random() < 0.2:  # a part: half of the credit
            credit = order["credit"]
            body["amount"] = {"minor": int(credit["minor"]) // 2, "currency": credit["currency"]}
        key = str(uuid.uuid4())
        started = time.monotonic()
        answer = await _ask(person, world, order["order_no"], key, body)
        data = {"key": key, "order_no": order["order_no"], "body": body}
        attempt = world.record(_done(self.name, person, started, answer, **data))
        if answer.outcome is Outcome.OK:
            attempt.data |= {"refund_no": answer.body["refund_no"], "state": answer.body["state"]}
            if person.rng.random() < 0.1:  # the answer was lost: the client asks again
                replay = world.record(_done("refund_replay", person, started, answer, **data))
                replay.data["refund_no"] = attempt.data["refund_no"]
                replay.outcome = await self.settle(replay, person, world)
        return attempt

    async def settle(self, attempt: Attempt, person: Person, world: World) -> Outcome:
        """Ask again with the same key and body: the same refund must come back."""
        from chaos.workload import Outcome

        data = attempt.data
        answer = await _ask(person, world, data["order_no"], data["key"], data["body"])
        if answer.outcome is Outcome.OK:
            known, got = data.get("refund_no"), answer.body["refund_no"]
            if known is not None and known != got:
                world.anomalies.append(f"refund key {data['key']} answered {known} and {got}")
            data["refund_no"] = got
        return answer.outcome


async def _refundable(person: Person, world: World) -> dict[str, Any] | None:
    """One of the person's top-ups that may be refunded online, read through the API."""
    from chaos.workload import Outcome, ask

    url = f"{world.app_url}/api/v1/topups"
    read = await ask(world, "GET", url, params={"limit": 100}, headers=person.auth())
    orders = read.body.get("orders") if isinstance(read.body, dict) else None
    if read.outcome is not Outcome.OK or not orders:
        return None
    found = [
        order
        for order in orders
        if order["state"] in REFUNDABLE
        and order["provider"] in ONLINE
        and order["channel"] != Channel.AUTO.value  # keep-alive's charges stay its figures'
    ]
    return person.rng.choice(found) if found else None


async def _ask(
    person: Person, world: World, order_no: str, key: str, body: dict[str, Any]
) -> Answer:
    from chaos.workload import ask

    url = f"{world.app_url}/api/v1/topups/{order_no}/refunds"
    headers = {**person.auth(), "Idempotency-Key": key}
    return await ask(world, "POST", url, json=body, headers=headers)


class DecideRefunds:
    """The operator approves or refuses the refunds waiting on ``/staff/refunds``."""

    name: ClassVar[str] = "refund_decision"
    weight: ClassVar[int] = 3
    role: ClassVar[str] = "operator"

    def ready(self, person: Person) -> bool:
        return True

    async def attempt(self, person: Person, world: World) -> Attempt | None:
        from chaos.workload import _done

        await asyncio.sleep(person.rng.uniform(1.0, 4.0))  # a look at the queue now and then
        waiting, csrf = await self._waiting(person, world)
        if not waiting:
            return None
        refund_no = person.rng.choice(waiting)
        action = "approve" if person.rng.random() < 0.75 else "refuse"
        started = time.monotonic()
        answer = await self._decide(person, world, refund_no, action, csrf)
        data = {"refund_no": refund_no, "action": action}
        return world.record(_done(self.name, person, started, answer, **data))

    async def settle(self, attempt: Attempt, person: Person, world: World) -> Outcome:
        """Decided if it no longer waits; else decide it again."""
        from chaos.workload import Outcome

        waiting, csrf = await self._waiting(person, world)
        if csrf is None:
            return Outcome.UNKNOWN
        if attempt.data["refund_no"] not in waiting:
            return Outcome.OK
        data = attempt.data
        return (await self._decide(person, world, data["refund_no"], data["action"], csrf)).outcome

    async def _decide(
        self, person: Person, world: World, refund_no: str, action: str, csrf: str | None
    ) -> Answer:
        from chaos.workload import ask

        form = {"csrf": csrf or "", "note": f"chaos: {action}d"}
        path = f"/staff/refunds/{refund_no}/{action}"
        return await ask(world, "POST", path, via=world.browser(person), data=form)

    async def _waiting(self, person: Person, world: World) -> tuple[list[str], str | None]:
        """The refunds waiting on the staff page and its CSRF token (None: not read)."""
        from chaos.workload import HIDDEN, Outcome, ask

        if not person.signed_in and not await self._log_in(person, world):
            return [], None
        page = await ask(world, "GET", "/staff/refunds", via=world.browser(person))
        if page.outcome is not Outcome.OK or page.location:
            person.signed_in = not page.location  # sent to the login page: the session is gone
            return [], None
        return WAITING.findall(str(page.body)), dict(HIDDEN.findall(str(page.body))).get("csrf")

    async def _log_in(self, person: Person, world: World) -> bool:
        """The login form with the password and the authenticator's code (each code once:
        a login refused for a used code waits for the next)."""
        from chaos.workload import HIDDEN, Outcome, ask

        browser = world.browser(person)
        page = await ask(world, "GET", "/staff/login", via=browser)
        csrf = dict(HIDDEN.findall(str(page.body))).get("csrf")
        if page.outcome is not Outcome.OK or csrf is None:
            return False
        code = pyotp.TOTP(STAFF_TOTP).now()
        form = {"username": STAFF_USER, "password": STAFF_PASSWORD, "code": code, "csrf": csrf}
        form["next"] = "/staff/refunds"
        answer = await ask(world, "POST", "/staff/login", via=browser, data=form)
        person.signed_in = answer.outcome is Outcome.OK and bool(answer.location)
        return person.signed_in
