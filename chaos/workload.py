"""The workload: people doing what they do with simkeep, over HTTP, each step recorded.

Design overview
---------------
``run_clients`` runs ``clients`` concurrent people until a deadline. Each person has a
phone and a few SIM cards of their own (issued by ``chaos.setup``) and, turn by turn, picks
one of the **operation classes** in ``OPERATIONS`` by weight among those it can do now.
Everything goes through the public surface: the ``/api/v1`` API (bearer tokens,
``Idempotency-Key``), the simulated phone's SMS page (``/_sim/sms``) for one-time codes, and
the providers' cashier pages, where the payer types a password and pays.

Every call made is recorded as an ``Attempt`` with its outcome, as the client saw it:
``ok`` (2xx/3xx), ``refused`` (4xx: the server said no and changed nothing), or ``unknown``
(a timeout, a reset connection, a 5xx: it may or may not have happened). The checker holds
the books against these records; the recovery phase settles every unknown one.

An operation class — the interface a new capability implements to join the workload:

* ``name`` and ``weight`` (how often a person picks it, among the classes ready);
* ``ready(person)``: whether this person can do it now (has an account, a SIM, an order);
* ``attempt(person, world)``: do it once and return the ``Attempt`` (or None when it chose
  not to act); it must carry the idempotency key and arguments it used in ``data``;
* ``settle(attempt, person, world)``: for an unknown attempt, once faults have stopped: ask
  again with the *same* idempotency key and arguments (or look the result up) and return
  the outcome — called until it is no longer unknown.

A capability that moves money (refunds, outlet top-ups, vouchers, fees) adds its class here
and the figure that proves it to ``chaos.checker``.
"""

from __future__ import annotations

import asyncio
import html
import os
import random
import re
import signal
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Protocol
from urllib.parse import unquote

import httpx

from chaos import pay_methods
from chaos.counter_ops import (
    CloseShift,
    CounterTopUp,
    CounterWorld,
    OpenShift,
    RedeemVoucher,
    SellVouchers,
)
from chaos.counter_setup import Clerk
from chaos.keepalive_ops import KeepAliveRule
from chaos.pay_methods import Pay
from chaos.refund_ops import AskRefund, DecideRefunds
from chaos.usage_ops import UsageBatch
from simkeep.clock import HONG_KONG

PASSWORD = "chaos horse 42"
PAY_PASSWORD = "123456"  # the wallets' cashiers print it
AMOUNTS = (5_000, 10_000)  # a top-up's credit, in the SIM's currency: HK$/¥50 or 100
CODE = re.compile(r"(?:code|碼|码)[^0-9]{0,60}(\d{6})")
TIMEOUT = httpx.Timeout(15.0, connect=5.0)


class Outcome(StrEnum):
    OK = "ok"
    REFUSED = "refused"
    UNKNOWN = "unknown"


@dataclass
class Attempt:
    """One operation as its client saw it."""

    op: str
    who: int  # the person's index
    outcome: Outcome
    started: float
    ended: float
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    settled_by: int = 0  # how many asks the recovery phase needed


@dataclass
class Card:
    """A SIM card a person holds: the number they link and top up."""

    number: str  # E.164
    currency: str
    sim_id: int | None = None  # known once linked
    # Made to lapse within two days: its holder leaves it to auto keep-alive (a top-up by
    # hand would keep it and cancel the charge the run must see)
    lapsing: bool = False


@dataclass
class Person:
    """One client: a phone, their cards, their account once registered, their orders."""

    index: int
    phone: str
    cards: list[Card]
    rng: random.Random
    token: str | None = None
    orders: list[dict[str, Any]] = field(default_factory=list)  # the API's answers
    browser: httpx.AsyncClient | None = None  # the web pages' cookies are this person's own
    signed_in: bool = False  # on the web pages
    role: str = "subscriber"  # or "operator" (the operator's jobs), or "clerk" (a counter's)
    counter: CounterWorld | None = None  # the vouchers the counters sell and people redeem
    clerk: Clerk | None = None  # a clerk's POS device and outlet
    shift: int | None = None  # a clerk's open shift

    @property
    def linked(self) -> list[Card]:
        return [card for card in self.cards if card.sim_id is not None]

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept-Language": "en"}


@dataclass
class World:
    """What every operation reaches: the app, the simulators, the shared record."""

    app_url: str
    simulators_url: str
    http: httpx.AsyncClient
    attempts: list[Attempt] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)  # what a reader saw that must not be
    cli: tuple[str, ...] = ("simkeep",)  # the command line, for the operator's jobs
    cli_env: dict[str, str] = field(default_factory=dict)
    retention_day: date | None = None  # the day the operator's last retention run ran to
    network_token: str = ""  # the network client's, for usage (chaos.setup.network_token)
    retention_after: float = 0.0  # the first retention run waits until then (monotonic)
    counter: CounterWorld = field(default_factory=CounterWorld)

    def record(self, attempt: Attempt) -> Attempt:
        self.attempts.append(attempt)
        return attempt

    def browser(self, person: Person) -> httpx.AsyncClient:
        """The person's browser: a client of their own, so that cookies are theirs."""
        if person.browser is None:
            person.browser = httpx.AsyncClient(
                base_url=self.app_url, timeout=TIMEOUT, headers={"Accept-Language": "en"}
            )
        return person.browser


@dataclass(frozen=True, slots=True)
class Answer:
    outcome: Outcome
    status: int
    body: Any
    detail: str
    location: str = ""  # where a 303 sends the browser


async def ask(
    world: World, method: str, url: str, *, via: httpx.AsyncClient | None = None, **kwargs: Any
) -> Answer:
    """One HTTP call (through a person's browser ``via``, if given), classified: ok,
    refused or unknown. A 303's target is the answer's ``location``."""
    try:
        response = await (via or world.http).request(method, url, **kwargs)
    except httpx.HTTPError as error:
        return Answer(Outcome.UNKNOWN, 0, None, f"{type(error).__name__}")
    body: Any = response.text
    if "json" in response.headers.get("content-type", ""):
        try:
            body = response.json()
        except ValueError:
            body = response.text
    if response.status_code >= 500:
        return Answer(Outcome.UNKNOWN, response.status_code, body, f"HTTP {response.status_code}")
    if response.status_code >= 400:
        refusal = body.get("error", {}) if isinstance(body, dict) else {}
        code = refusal.get("code") or str(refusal.get("message", ""))[:80]
        detail = f"HTTP {response.status_code} {code}".strip()
        return Answer(Outcome.REFUSED, response.status_code, body, detail)
    return Answer(Outcome.OK, response.status_code, body, "", response.headers.get("location", ""))


def _done(op: str, person: Person, started: float, answer: Answer, **data: Any) -> Attempt:
    return Attempt(
        op, person.index, answer.outcome, started, time.monotonic(), answer.detail, dict(data)
    )


def _no_code(op: str, person: Person, started: float) -> Attempt:
    """The SMS never came: to the person, a refusal (they give up and try again later)."""
    return Attempt(op, person.index, Outcome.REFUSED, started, time.monotonic(), "no code came")


async def read_code(world: World, phone: str, *, since: int, wait: float = 20.0) -> str | None:
    """The newest one-time code the simulated phone ``phone`` received, beyond the ``since``
    codes it had: SMS go out through the outbox, so the code may take a worker's turn."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        codes = await _codes(world, phone)
        if codes is not None and len(codes) > since:
            return codes[0]
        await asyncio.sleep(0.5)
    return None


async def _codes(world: World, phone: str) -> list[str] | None:
    answer = await ask(world, "GET", f"{world.app_url}/_sim/sms", params={"to": phone})
    if answer.outcome is not Outcome.OK:
        return None
    return CODE.findall(str(answer.body))


class Operation(Protocol):
    name: ClassVar[str]
    weight: ClassVar[int]
    role: ClassVar[str]

    def ready(self, person: Person) -> bool: ...

    async def attempt(self, person: Person, world: World) -> Attempt | None: ...

    async def settle(self, attempt: Attempt, person: Person, world: World) -> Outcome: ...


class Register:
    """Sign up: a code by SMS to the phone, then the code and a password."""

    name: ClassVar[str] = "register"
    weight: ClassVar[int] = 100  # first of all, for whoever has no account
    role: ClassVar[str] = "subscriber"

    def ready(self, person: Person) -> bool:
        return person.token is None

    async def attempt(self, person: Person, world: World) -> Attempt | None:
        started = time.monotonic()
        had = await _codes(world, person.phone)
        if had is None:
            return None  # the phone's page is unreachable: try again next turn
        body = {"phone": person.phone, "purpose": "register"}
        sent = await ask(world, "POST", f"{world.app_url}/api/v1/auth/codes", json=body)
        if sent.outcome is not Outcome.OK:
            return world.record(_done(self.name, person, started, sent, phone=person.phone))
        code = await read_code(world, person.phone, since=len(had))
        if code is None:
            return world.record(_no_code(self.name, person, started))
        registration = {"phone": person.phone, "code": code, "password": PASSWORD}
        answer = await ask(
            world, "POST", f"{world.app_url}/api/v1/auth/register", json=registration
        )
        if answer.outcome is Outcome.OK:
            person.token = answer.body["token"]
        return world.record(_done(self.name, person, started, answer, phone=person.phone))

    async def settle(self, attempt: Attempt, person: Person, world: World) -> Outcome:
        """Log in: the account exists (and was made) or it does not."""
        login = {"phone": person.phone, "password": PASSWORD}
        answer = await ask(world, "POST", f"{world.app_url}/api/v1/auth/login", json=login)
        if answer.outcome is Outcome.OK:
            person.token = answer.body["token"]
        return answer.outcome


class LinkSim:
    """Link one of the person's cards to their account with the code sent to the card."""

    name: ClassVar[str] = "link_sim"
    weight: ClassVar[int] = 30
    role: ClassVar[str] = "subscriber"

    def ready(self, person: Person) -> bool:
        return person.token is not None and len(person.linked) < len(person.cards)

    async def attempt(self, person: Person, world: World) -> Attempt | None:
        card = next(card for card in person.cards if card.sim_id is None)
        started = time.monotonic()
        had = await _codes(world, card.number)
        if had is None:
            return None
        sent = await ask(
            world,
            "POST",
            f"{world.app_url}/api/v1/sims/link-codes",
            json={"number": card.number},
            headers=person.auth(),
        )
        if sent.outcome is not Outcome.OK:
            return world.record(_done(self.name, person, started, sent, number=card.number))
        code = await read_code(world, card.number, since=len(had))
        if code is None:
            return world.record(_no_code(self.name, person, started))
        answer = await ask(
            world,
            "POST",
            f"{world.app_url}/api/v1/sims/links",
            json={"number": card.number, "code": code},
            headers=person.auth(),
        )
        if answer.outcome is Outcome.OK:
            card.sim_id = int(answer.body["id"])
        return world.record(_done(self.name, person, started, answer, number=card.number))

    async def settle(self, attempt: Attempt, person: Person, world: World) -> Outcome:
        """Look the card up among the account's SIMs."""
        answer = await ask(world, "GET", f"{world.app_url}/api/v1/sims", headers=person.auth())
        if answer.outcome is not Outcome.OK:
            return Outcome.UNKNOWN
        for sim in _items(answer.body):
            for card in person.cards:
                if card.number in (sim.get("hk_number"), sim.get("cn_number")):
                    card.sim_id = int(sim["id"])
        number = attempt.data.get("number")
        linked = any(card.number == number and card.sim_id for card in person.cards)
        return Outcome.OK if linked else Outcome.REFUSED


class TopUp:
    """Order a top-up with an ``Idempotency-Key`` (any online provider of the registry, any
    of its channels, in a currency it charges in), now and then send the same request again
    as a client does after a lost answer, then pay at the provider's cashier — or walk away
    and let it expire, or come back after it did."""

    name: ClassVar[str] = "topup"
    weight: ClassVar[int] = 40
    role: ClassVar[str] = "subscriber"

    def ready(self, person: Person) -> bool:
        return person.token is not None and bool(person.linked)

    async def attempt(self, person: Person, world: World) -> Attempt | None:
        card = person.rng.choice(_by_hand(person))
        provider = pay_methods.provider_for(person.rng, turn=person.index + len(person.orders))
        channel = person.rng.choice(pay_methods.channels(provider))
        body = {
            "number": card.number,
            "confirm_number": card.number,  # typed twice, as the wrong-number guard asks
            "amount": {"minor": person.rng.choice(AMOUNTS), "currency": card.currency},
            "pay_currency": pay_methods.pay_currency(person.rng, provider),
            "provider": provider,
            "channel": channel,
        }
        key = str(uuid.uuid4())
        started = time.monotonic()
        answer = await self._create(person, world, key, body)
        attempt = world.record(_done(self.name, person, started, answer, key=key, body=body))
        if answer.outcome is not Outcome.OK:
            return attempt
        order = answer.body
        attempt.data["order_no"] = order["order_no"]
        person.orders.append(order)
        if person.rng.random() < 0.1:  # the answer was lost: the client asks again
            await self._replay(person, world, key, body, order["order_no"])
        fate = person.rng.random()
        if fate < 0.7:
            await Pay().pay(person, world, order)
        elif fate < 0.8:
            person.orders[-1] = {**order, "pay_after": time.monotonic() + _ttl_seconds(order)}
        return attempt

    async def _create(self, person: Person, world: World, key: str, body: dict[str, Any]) -> Answer:
        return await ask(
            world,
            "POST",
            f"{world.app_url}/api/v1/topups",
            json=body,
            headers={**person.auth(), "Idempotency-Key": key},
        )

    async def _replay(
        self, person: Person, world: World, key: str, body: dict[str, Any], order_no: str
    ) -> None:
        started = time.monotonic()
        answer = await self._create(person, world, key, body)
        replay = world.record(_done("topup_replay", person, started, answer, key=key, body=body))
        if answer.outcome is Outcome.OK and answer.body["order_no"] != order_no:
            world.anomalies.append(f"key {key} answered {order_no} and {answer.body['order_no']}")
        replay.data["order_no"] = order_no

    async def settle(self, attempt: Attempt, person: Person, world: World) -> Outcome:
        """Send the same request with the same key until it is answered."""
        answer = await self._create(person, world, attempt.data["key"], attempt.data["body"])
        if answer.outcome is Outcome.OK:
            known = attempt.data.get("order_no")
            if known is not None and known != answer.body["order_no"]:
                world.anomalies.append(f"key {attempt.data['key']} answered two orders")
            attempt.data["order_no"] = answer.body["order_no"]
        return answer.outcome


HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"')
ORDER_NO = re.compile(r"T\d{18}")
METHOD = re.compile(r'<input type="radio" name="method" value="([a-z_]+-[a-z]+)"')
PAY_FORM = re.compile(r'<form method="post" action="([^"]+)" class="pay-form".*?</form>', re.S)
ALERT = re.compile(r'role="alert">([^<]*)<')
FIELD = re.compile(r'<input type="hidden" name="([A-Za-z0-9_]+)" value="([^"]*)"')


class PageTopUp:
    """The same top-up through the web pages: log in with the form, the wizard's review
    step (its form carries the order's key), then Pay — and, like a browser whose answer
    was lost, sometimes Pay again with the same form; then off to the cashier it was sent
    to, or to the order's page for a QR code."""

    name: ClassVar[str] = "page_topup"
    weight: ClassVar[int] = 15
    role: ClassVar[str] = "subscriber"

    def ready(self, person: Person) -> bool:
        return person.token is not None and bool(person.linked)

    async def attempt(self, person: Person, world: World) -> Attempt | None:
        browser = world.browser(person)
        started = time.monotonic()
        if not person.signed_in and not await self._log_in(person, world, browser):
            return None
        card = person.rng.choice(_by_hand(person))
        query = {
            "number": card.number,
            "confirm": card.number,
            "amount": str(person.rng.choice(AMOUNTS)),
            "pay_currency": person.rng.choice(("HKD", "CNY")),
            "step": "review",
        }
        review = await ask(world, "GET", "/topup", via=browser, params=query)
        if review.outcome is not Outcome.OK:
            person.signed_in = review.outcome is not Outcome.REFUSED and person.signed_in
            return None
        form = dict(HIDDEN.findall(str(review.body)))
        offered = METHOD.findall(str(review.body))
        if not offered:
            return None  # no way to pay in that currency here: another turn, another choice
        form["method"] = person.rng.choice(offered)
        answer = _refused_if_asked_again(await ask(world, "POST", "/topup", via=browser, data=form))
        attempt = world.record(
            _done(self.name, person, started, answer, key=form.get("key"), form=form)
        )
        if answer.outcome is not Outcome.OK:
            return attempt
        attempt.data["location"] = answer.location
        provider = form["method"].split("-")[0]
        attempt.data["order_no"] = await _order_of(answer, person, world, provider)
        if not attempt.data["order_no"]:  # made, but its number unread: asked again later
            attempt.outcome = Outcome.UNKNOWN
            return attempt
        if person.rng.random() < 0.1:
            again = await ask(world, "POST", "/topup", via=browser, data=form)
            world.record(_done("page_topup_replay", person, started, again, form=form))
            if again.outcome is Outcome.OK and _page_order_no(again) != _page_order_no(answer):
                world.anomalies.append(f"page key {form.get('key')} answered two orders")
        if person.rng.random() < 0.7:
            await self._pay(person, world, answer, attempt.data["order_no"], provider=provider)
        return attempt

    async def _log_in(self, person: Person, world: World, browser: httpx.AsyncClient) -> bool:
        page = await ask(world, "GET", "/login", via=browser)
        token = dict(HIDDEN.findall(str(page.body))).get("csrf")
        if page.outcome is not Outcome.OK or token is None:
            return False
        form = {"phone": person.phone, "password": PASSWORD, "csrf": token, "next": "/my"}
        answer = await ask(world, "POST", "/login", via=browser, data=form)
        person.signed_in = answer.outcome is Outcome.OK
        return person.signed_in

    async def _pay(
        self, person: Person, world: World, answer: Answer, order_no: str, *, provider: str
    ) -> None:
        """Where the Pay button led: a provider's cashier, a page whose button posts a
        gateway's signed form, or the order's page with its QR code (read, as the page's
        poll does, through the API)."""
        order: dict[str, Any] = {"order_no": order_no, "provider": provider}
        gateway = PAY_FORM.search(str(answer.body)) if not answer.location else None
        if answer.location.startswith(world.simulators_url):
            order["payment"] = {"pay_url": answer.location}
        elif gateway is not None:
            fields = {name: html.unescape(value) for name, value in FIELD.findall(gateway[0])}
            order["payment"] = {"pay_url": html.unescape(gateway[1]), "form": fields}
        else:
            url = f"{world.app_url}/api/v1/topups/{order_no}"
            read = await ask(world, "GET", url, headers=person.auth())
            if read.outcome is not Outcome.OK or read.body.get("state") != "awaiting_payment":
                return
            order = read.body
        await Pay().pay(person, world, order)

    async def settle(self, attempt: Attempt, person: Person, world: World) -> Outcome:
        """Press Pay again with the same form (the same key); if the session is gone, log
        in again and send the same form with the new session's CSRF token."""
        browser = world.browser(person)
        form = dict(attempt.data["form"])
        answer = await ask(world, "POST", "/topup", via=browser, data=form)
        if answer.status == 403:
            person.signed_in = False
            if not await self._log_in(person, world, browser):
                return Outcome.UNKNOWN
            page = await ask(world, "GET", "/my", via=browser)
            form["csrf"] = dict(HIDDEN.findall(str(page.body))).get("csrf", "")
            answer = await ask(world, "POST", "/topup", via=browser, data=form)
        answer = _refused_if_asked_again(answer)
        if answer.outcome is Outcome.OK:
            provider = form["method"].split("-")[0]
            attempt.data["order_no"] = await _order_of(answer, person, world, provider)
            if not attempt.data["order_no"]:
                return Outcome.UNKNOWN
        return answer.outcome


class ReadAccount:
    """Read balances and history, as a person checks their card: a balance is never below
    zero, and an order once seen credited never reads otherwise again."""

    name: ClassVar[str] = "read"
    weight: ClassVar[int] = 25
    role: ClassVar[str] = "subscriber"

    def ready(self, person: Person) -> bool:
        return person.token is not None

    async def attempt(self, person: Person, world: World) -> Attempt | None:
        started = time.monotonic()
        sims = await ask(world, "GET", f"{world.app_url}/api/v1/sims", headers=person.auth())
        if sims.outcome is Outcome.OK:
            for sim in _items(sims.body):
                if int(sim["balance"]["minor"]) < 0:
                    world.anomalies.append(f"SIM {sim['id']} read below zero: {sim['balance']}")
        history = await ask(world, "GET", f"{world.app_url}/api/v1/topups", headers=person.auth())
        if history.outcome is Outcome.OK:
            self._monotonic(person, world, _items(history.body))
        worst = max((sims, history), key=lambda a: list(Outcome).index(a.outcome))
        return world.record(_done(self.name, person, started, worst))

    def _monotonic(self, person: Person, world: World, rows: list[dict[str, Any]]) -> None:
        seen = {order["order_no"]: order for order in person.orders}
        for row in rows:
            before = seen.get(row["order_no"])
            if before is not None and before.get("state") == "credited" != row["state"]:
                world.anomalies.append(
                    f"order {row['order_no']} read credited, then {row['state']}"
                )
            if before is not None:
                before["state"] = row["state"]

    async def settle(self, attempt: Attempt, person: Person, world: World) -> Outcome:
        return Outcome.OK  # a read changes nothing: nothing to settle


class RetentionRun:
    """The operator's daily retention run, as cron starts it: ``simkeep retention run
    --date D`` as a process of its own, every 5–15 s, for days further and further ahead
    (5–20 days at a time), so that within minutes fees fall due, validity ends, SIMs lapse,
    are suspended and recycled while people top them up. Three runs in ten are killed
    (SIGKILL) 0.1–1.5 s in; the next run resumes the day. The first waits for
    ``world.retention_after``: a day ahead lapses the SIMs auto keep-alive charges today."""

    name: ClassVar[str] = "retention_run"
    weight: ClassVar[int] = 1
    role: ClassVar[str] = "operator"

    def ready(self, person: Person) -> bool:
        return True

    async def attempt(self, person: Person, world: World) -> Attempt | None:
        await asyncio.sleep(max(world.retention_after - time.monotonic(), 0.0))
        await asyncio.sleep(person.rng.uniform(5.0, 15.0))
        today = datetime.now(HONG_KONG).date()
        day = max(world.retention_day or today, today) + timedelta(person.rng.randint(5, 20))
        world.retention_day = day
        kill_after = person.rng.uniform(0.1, 1.5) if person.rng.random() < 0.3 else None
        started = time.monotonic()
        outcome, detail = await self._run(world, day, kill_after)
        attempt = Attempt(self.name, person.index, outcome, started, time.monotonic(), detail)
        attempt.data["day"] = day.isoformat()
        return world.record(attempt)

    async def _run(self, world: World, day: date, kill_after: float | None) -> tuple[Outcome, str]:
        with tempfile.TemporaryFile() as errors:
            process = await asyncio.create_subprocess_exec(
                *world.cli,
                *("retention", "run", "--date", day.isoformat()),
                env=world.cli_env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,
            )
            try:
                await asyncio.wait_for(process.wait(), timeout=kill_after or 300.0)
            except TimeoutError:
                os.killpg(process.pid, signal.SIGKILL)  # its own session: only what it started
                await process.wait()
                return Outcome.UNKNOWN, "killed -9 mid-run"
            if process.returncode == 0:
                return Outcome.OK, ""
            errors.seek(0)
            said = errors.read().decode(errors="replace").strip().splitlines()
            return Outcome.UNKNOWN, f"exit {process.returncode}: {said[-1] if said else ''}"

    async def settle(self, attempt: Attempt, person: Person, world: World) -> Outcome:
        """Run it again to the same day: it resumes where the killed run stopped."""
        outcome, _ = await self._run(world, date.fromisoformat(attempt.data["day"]), None)
        return outcome


OPERATIONS: tuple[Operation, ...] = (
    Register(),
    LinkSim(),
    TopUp(),
    PageTopUp(),
    Pay(),
    ReadAccount(),
    RetentionRun(),
    UsageBatch(),
    KeepAliveRule(),
    OpenShift(),
    CounterTopUp(),
    SellVouchers(),
    CloseShift(),
    RedeemVoucher(),
    AskRefund(),
    DecideRefunds(),
)
REPLAYS: dict[str, Operation] = {
    "topup_replay": TopUp(),
    "page_topup_replay": PageTopUp(),
    "refund_replay": AskRefund(),
}
BY_NAME: dict[str, Operation] = {op.name: op for op in OPERATIONS} | REPLAYS


async def person_loop(person: Person, world: World, *, until: float) -> None:
    """One client's turns until the deadline."""
    while time.monotonic() < until:
        ready = [op for op in OPERATIONS if op.role == person.role and op.ready(person)]
        if not ready:
            await asyncio.sleep(0.5)
            continue
        op = person.rng.choices(ready, weights=[op.weight for op in ready])[0]
        attempt = await op.attempt(person, world)
        if attempt is None or attempt.outcome is Outcome.UNKNOWN:
            await asyncio.sleep(person.rng.uniform(0.2, 1.0))  # a person waits a moment


async def run_clients(people: list[Person], world: World, *, seconds: float) -> None:
    until = time.monotonic() + seconds
    await asyncio.gather(*(person_loop(person, world, until=until) for person in people))


async def settle_unknown(people: list[Person], world: World, *, seconds: float) -> list[Attempt]:
    """The recovery phase: ask again about every unknown attempt until it has an answer;
    returns those still unknown at the deadline."""
    deadline = time.monotonic() + seconds
    pending = [a for a in world.attempts if a.outcome is Outcome.UNKNOWN]
    while pending and time.monotonic() < deadline:
        still = []
        for attempt in pending:
            attempt.settled_by += 1
            outcome = await BY_NAME[attempt.op].settle(attempt, people[attempt.who], world)
            if outcome is Outcome.UNKNOWN:
                still.append(attempt)
            else:
                attempt.outcome = outcome
                attempt.detail += f" → settled {outcome.value}"
        pending = still
        if pending:
            await asyncio.sleep(1.0)
    return pending


def _by_hand(person: Person) -> list[Card]:
    """The linked cards a person tops up by hand: not those left to auto keep-alive."""
    return [card for card in person.linked if not card.lapsing] or person.linked


def order_no_in(url: str) -> str:
    """The order number in a link simkeep gave out: the order's page, a cashier's address,
    or an Alipay gateway link (in its URL-encoded ``biz_content``)."""
    found = ORDER_NO.search(unquote(url))
    return found.group(0) if found else ""


def _refused_if_asked_again(answer: Answer) -> Answer:
    """The wizard's answer to Pay as the person reads it: an order (a link to it, or the
    page that posts a gateway's form), or its form shown again with why — a refusal."""
    if answer.outcome is not Outcome.OK or answer.location or _page_order_no(answer):
        return answer  # a 303 is an order: to its page, or to a cashier that may not name it
    why = ALERT.search(str(answer.body))
    detail = f"asked again: {html.unescape(why.group(1)) if why else 'no order'}"
    return Answer(Outcome.REFUSED, answer.status, answer.body, detail)


async def _order_of(answer: Answer, person: Person, world: World, provider: str) -> str:
    """The order a wizard's Pay made: named by where it sent the browser or on the page;
    else (a cashier whose address names only its own payment id, as AlipayHK's) the
    person's newest order with that provider, read through the API — a person's turns come
    one after another, and auto keep-alive charges through other providers. Empty when
    that read fails."""
    if found := _page_order_no(answer):
        return found
    read = await ask(world, "GET", f"{world.app_url}/api/v1/topups", headers=person.auth())
    orders = read.body.get("orders") if isinstance(read.body, dict) else None
    if read.outcome is not Outcome.OK or not orders:
        return ""
    return next((str(o["order_no"]) for o in orders if o.get("provider") == provider), "")


def _page_order_no(answer: Answer) -> str:
    """The order a wizard's Pay made: in the link it sent the browser to, or on the page
    that posts a gateway's form."""
    if answer.location:
        return order_no_in(answer.location)
    found = ORDER_NO.search(str(answer.body))
    return found.group(0) if found else ""


def _items(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict) and isinstance(body.get("items"), list):
        return list(body["items"])
    return list(body) if isinstance(body, list) else []


def _ttl_seconds(order: dict[str, Any]) -> float:
    """Seconds from the order's creation to a little after its expiry, from its own times."""
    created = datetime.fromisoformat(order["created_at"])
    expires = datetime.fromisoformat(order["expires_at"])
    return (expires - created).total_seconds() + 2.0
