"""Auto keep-alive under faults: people saving, signing and cancelling the agreements that
top their SIMs up by themselves.

Design overview
---------------
``KeepAliveRule`` is an operation class of the workload (``chaos.workload``). A person's
turn, once they hold a linked card without a rule, saves one for it —
``PUT /api/v1/sims/{id}/keep-alive`` with Alipay or WeChat Pay, a fixed amount (HK$/¥50
or 100) or "enough to stay active" — then opens the answer's ``sign_url`` (Alipay's
gateway sends the browser on to its signing page) and signs there with the payment
password, as a payer does. Now and then, instead, it cancels a rule signed at least
``CANCEL_AFTER`` seconds before (``DELETE``). Cards are taken in their order, so the cards
``chaos.setup`` made to lapse within two days (which come first) get their rules first, and
the worker's job charges them during the run.

Every step is recorded as one ``keep_alive`` attempt, its ``action`` in the data: ``save``,
``sign`` or ``cancel``. Recovery settles an unknown save or cancel by reading the SIM's
keep-alive back (``GET``: a rule, or none), and an unknown signing by opening the signing
page again: signed already, or signed now.

The figures that prove the charges are in ``chaos.keepalive_figures``.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

if TYPE_CHECKING:
    from chaos.workload import Answer, Attempt, Outcome, Person, World

PROVIDERS = ("alipay", "wechatpay")
AMOUNTS = (5_000, 10_000)
CANCEL_AFTER = 20.0  # seconds a rule is kept before its person may cancel it: time to charge
SIGN_STATE = re.compile(r"· (TEMP|NORMAL|STOP|UNSIGNED|SIGNED|TERMINATED)</p>")
SIGNED = ("NORMAL", "SIGNED", "STOP", "TERMINATED")  # signed (and perhaps ended since)


class KeepAliveRule:
    """A person saves a SIM's keep-alive rule and signs its agreement, or cancels one."""

    name: ClassVar[str] = "keep_alive"
    weight: ClassVar[int] = 25
    role: ClassVar[str] = "subscriber"

    def __init__(self) -> None:
        # (person, sim id) → "saved" (with the monotonic time), "refused", or "unsure" until
        # settled
        self.rules: dict[tuple[int, int], tuple[str, float]] = {}

    def _free(self, person: Person) -> list[int]:
        return [
            card.sim_id
            for card in person.linked
            if card.sim_id is not None and (person.index, card.sim_id) not in self.rules
        ]

    def _cancellable(self, person: Person) -> list[int]:
        old = time.monotonic() - CANCEL_AFTER
        return [
            sim_id
            for (who, sim_id), (state, at) in self.rules.items()
            if who == person.index and state == "saved" and at < old
        ]

    def ready(self, person: Person) -> bool:
        return person.token is not None and bool(self._free(person) or self._cancellable(person))

    async def attempt(self, person: Person, world: World) -> Attempt | None:
        free, old = self._free(person), self._cancellable(person)
        if free and (not old or person.rng.random() < 0.8):
            return await self._save(person, world, free[0])
        return await self._cancel(person, world, person.rng.choice(old))

    async def _save(self, person: Person, world: World, sim_id: int) -> Attempt:
        from chaos.workload import Outcome, _done, ask

        body: dict[str, Any] = {"provider": person.rng.choice(PROVIDERS), "mode": "enough"}
        if person.rng.random() < 0.5:
            body |= {"mode": "fixed", "amount": person.rng.choice(AMOUNTS)}
        started = time.monotonic()
        answer = await ask(world, "PUT", _url(world, sim_id), json=body, headers=person.auth())
        data = {"action": "save", "sim_id": sim_id, "body": body}
        attempt = world.record(_done(self.name, person, started, answer, **data))
        state = {Outcome.OK: "saved", Outcome.REFUSED: "refused"}.get(answer.outcome, "unsure")
        self.rules[(person.index, sim_id)] = (state, time.monotonic())
        if answer.outcome is Outcome.REFUSED:
            return attempt  # the SIM is not theirs any more, say: not asked again
        sign_url = answer.body.get("sign_url") if isinstance(answer.body, dict) else None
        if sign_url:
            await self._sign(person, world, sim_id, str(sign_url))
        return attempt

    async def _sign(self, person: Person, world: World, sim_id: int, sign_url: str) -> None:
        """Open the signing link (Alipay's gateway redirects to its page) and sign."""
        from chaos.workload import _done

        started = time.monotonic()
        page, answer = await _open_and_sign(world, sign_url)
        data = {"action": "sign", "sim_id": sim_id, "page": page or sign_url}
        world.record(_done(self.name, person, started, answer, **data))

    async def _cancel(self, person: Person, world: World, sim_id: int) -> Attempt:
        from chaos.workload import Outcome, _done, ask

        started = time.monotonic()
        answer = await ask(world, "DELETE", _url(world, sim_id), headers=person.auth())
        attempt = world.record(
            _done(self.name, person, started, answer, action="cancel", sim_id=sim_id)
        )
        if answer.outcome is Outcome.UNKNOWN:
            self.rules[(person.index, sim_id)] = ("unsure", time.monotonic())
        else:
            self.rules.pop((person.index, sim_id), None)  # cancelled, or it had none
        return attempt

    async def settle(self, attempt: Attempt, person: Person, world: World) -> Outcome:
        """A save or a cancel: read the rule back; a signing: open its page again."""
        from chaos.workload import Outcome, ask

        sim_id = int(attempt.data["sim_id"])
        if attempt.data["action"] == "sign":
            _, answer = await _open_and_sign(world, attempt.data["page"])
            return answer.outcome
        read = await ask(world, "GET", _url(world, sim_id), headers=person.auth())
        if read.outcome is Outcome.UNKNOWN:
            return Outcome.UNKNOWN
        exists = read.outcome is Outcome.OK
        if attempt.data["action"] == "save":
            if exists:
                self.rules[(person.index, sim_id)] = ("saved", time.monotonic())
            else:
                self.rules.pop((person.index, sim_id), None)
            return Outcome.OK if exists else Outcome.REFUSED
        if exists:
            self.rules[(person.index, sim_id)] = ("saved", time.monotonic())
            return Outcome.REFUSED
        self.rules.pop((person.index, sim_id), None)
        return Outcome.OK


async def _open_and_sign(world: World, url: str) -> tuple[str, Answer]:
    """The signing page's address, and the answer to signing there — ok at once when the
    page says it is signed already."""
    from chaos.workload import PAY_PASSWORD, Answer, Outcome, ask

    try:
        page = await world.http.get(url, follow_redirects=True)
    except httpx.HTTPError as error:
        return "", Answer(Outcome.UNKNOWN, 0, None, type(error).__name__)
    if page.status_code >= 400:
        outcome = Outcome.UNKNOWN if page.status_code >= 500 else Outcome.REFUSED
        return "", Answer(outcome, page.status_code, None, f"HTTP {page.status_code}")
    found = SIGN_STATE.search(page.text)
    at = str(page.url)
    if found is not None and found.group(1) in SIGNED:
        return at, Answer(Outcome.OK, page.status_code, None, "signed already")
    form = {"action": "sign", "password": PAY_PASSWORD, "account": ""}
    return at, await ask(world, "POST", at, data=form)


def _url(world: World, sim_id: int) -> str:
    return f"{world.app_url}/api/v1/sims/{sim_id}/keep-alive"
