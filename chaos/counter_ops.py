"""The counters under faults: clerks' shifts, top-ups and voucher sales through the POS API
with dropped connections, and people redeeming the vouchers sold — many at once.

Design overview
---------------
Clerks are people of the role ``clerk`` (``chaos.counter_setup``: a device token each, at
an outlet selling in HKD or yuan). In turn they open a shift, top up a number of someone's
(the people's cards of their outlet's currency; looked up first, the holder's ID checked
when the amount or the line's state asks for it), sell one to three vouchers — a customer
every 0.5 to 2.5 seconds at each counter — and now and
then close the shift with the cash counted (a little over or short) and open the next.
A sale goes out with an ``Idempotency-Key``; one in four has its connection dropped by the
POS itself after a few milliseconds, and the POS sends it again with the same key (up to
three times, then the recovery phase does), as ``pos.js`` does. Vouchers sold become PINs
the people can redeem (``world.counter.sold``): ``RedeemVoucher`` redeems one for one of the
person's own cards, and one time in five fires ``STORM`` redemptions of the same PIN at once,
each with a key of its own: exactly one may be credited. The figures that prove it all are
``chaos.counter_figures``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from chaos.counter_setup import Clerk
from simkeep.vouchers.model import PrintedVoucher

if TYPE_CHECKING:
    from chaos.workload import Answer, Attempt, Outcome, Person, World

ID_TYPE, ID_NUMBER = "hkid", "A123456(3)"  # every chaos SIM's holder (chaos.setup)
DROP_CHANCE = 0.25
CUSTOMER_EVERY = (0.5, 2.5)  # seconds between a counter's customers
RESENDS = 3
STORM = 8


@dataclass
class CounterWorld:
    """What the counters share: the vouchers printed and not sold yet, the PINs sold and not
    yet redeemed, and the numbers a clerk may top up, by currency."""

    unsold: dict[str, list[PrintedVoucher]] = field(default_factory=dict)
    sold: dict[str, list[PrintedVoucher]] = field(default_factory=dict)
    numbers: dict[str, list[str]] = field(default_factory=dict)


def clerk_of(person: Person) -> Clerk:
    assert person.clerk is not None, "a clerk's operation"
    return person.clerk


def _pos(person: Person) -> dict[str, str]:
    return {"Authorization": f"Bearer {clerk_of(person).token}", "Accept-Language": "en"}


async def _send(
    world: World, person: Person, path: str, body: dict[str, Any], key: str
) -> tuple[Answer, int]:
    """POST a sale; the POS drops the connection now and then and sends it again with the
    same key. Returns the last answer and how many times it was sent."""
    from chaos.workload import Answer, Outcome, ask

    headers = {**_pos(person), "Idempotency-Key": key}
    url = f"{world.app_url}/api/v1/pos{path}"
    for sent in range(1, RESENDS + 2):
        dropped = sent <= RESENDS and person.rng.random() < DROP_CHANCE
        call = ask(world, "POST", url, json=body, headers=headers)
        if not dropped:
            return await call, sent
        try:
            await asyncio.wait_for(call, timeout=person.rng.uniform(0.001, 0.05))
        except TimeoutError:
            continue  # the connection dropped: send it again with the same key
        else:
            continue  # it came back before the drop; the POS sends it again all the same
    return Answer(Outcome.UNKNOWN, 0, None, "dropped every time"), RESENDS + 1


class OpenShift:
    name: ClassVar[str] = "open_shift"
    weight: ClassVar[int] = 100
    role: ClassVar[str] = "clerk"

    def ready(self, person: Person) -> bool:
        return person.shift is None

    async def attempt(self, person: Person, world: World) -> Attempt | None:
        from chaos.workload import Outcome, _done, ask

        started = time.monotonic()
        body = {"opening_cash_minor": person.rng.choice((0, 50_000, 100_000))}
        answer = await ask(
            world, "POST", f"{world.app_url}/api/v1/pos/shifts", json=body, headers=_pos(person)
        )
        if answer.outcome is Outcome.OK:
            person.shift = int(answer.body["id"])
        return world.record(_done(self.name, person, started, answer))

    async def settle(self, attempt: Attempt, person: Person, world: World) -> Outcome:
        """Ask for the clerk's open shift: there is one, or the opening did not happen."""
        from chaos.workload import Outcome, ask

        answer = await ask(world, "GET", f"{world.app_url}/api/v1/pos/shift", headers=_pos(person))
        if answer.outcome is Outcome.OK:
            person.shift = int(answer.body["id"])
            return Outcome.OK
        return Outcome.REFUSED if answer.status == 404 else Outcome.UNKNOWN


class CounterTopUp:
    name: ClassVar[str] = "counter_topup"
    weight: ClassVar[int] = 40
    role: ClassVar[str] = "clerk"

    def ready(self, person: Person) -> bool:
        return person.shift is not None

    async def attempt(self, person: Person, world: World) -> Attempt | None:
        from chaos.workload import Outcome, _done, ask

        numbers = world.counter.numbers.get(clerk_of(person).currency, [])
        if not numbers:
            return None
        await asyncio.sleep(person.rng.uniform(*CUSTOMER_EVERY))
        number = person.rng.choice(numbers)
        amount = person.rng.choice((1_000, 5_000, 10_000, 30_000, 50_000, 60_000))
        started = time.monotonic()
        looked = await ask(
            world, "GET", f"{world.app_url}/api/v1/pos/numbers/{number}", headers=_pos(person)
        )
        if looked.outcome is not Outcome.OK:
            return world.record(_done(self.name, person, started, looked, number=number))
        if looked.body["always_check"] or amount >= looked.body["id_check_from"]["minor"]:
            check = {"number": number, "id_type": ID_TYPE, "id_number": ID_NUMBER}
            checked = await ask(
                world,
                "POST",
                f"{world.app_url}/api/v1/pos/id-checks",
                json=check,
                headers=_pos(person),
            )
            if checked.outcome is not Outcome.OK or not checked.body["matched"]:
                if checked.outcome is Outcome.OK:
                    world.anomalies.append(f"the holder's own ID did not match {number}")
                return world.record(_done(self.name, person, started, checked, number=number))
        body = {"number": number, "amount_minor": amount, **_payment(person)}
        key = f"chaos-{uuid.uuid4().hex}"
        answer, sent = await _send(world, person, "/topups", body, key)
        attempt = _done(self.name, person, started, answer, key=key, body=body, sent=sent)
        _heard(attempt, answer)
        return world.record(attempt)

    async def settle(self, attempt: Attempt, person: Person, world: World) -> Outcome:
        from chaos.workload import Outcome

        if "key" not in attempt.data:  # lost at the look-up or the ID check: no sale sent
            return Outcome.REFUSED
        return await _resend(attempt, person, world, "/topups")


class SellVouchers:
    name: ClassVar[str] = "sell_vouchers"
    weight: ClassVar[int] = 20
    role: ClassVar[str] = "clerk"

    def ready(self, person: Person) -> bool:
        unsold = person.counter.unsold if person.counter else {}
        return person.shift is not None and bool(unsold.get(clerk_of(person).currency))

    async def attempt(self, person: Person, world: World) -> Attempt | None:
        from chaos.workload import Outcome, _done

        await asyncio.sleep(person.rng.uniform(*CUSTOMER_EVERY))
        unsold = world.counter.unsold[clerk_of(person).currency]
        if not unsold:
            return None
        vouchers = [unsold.pop() for _ in range(min(len(unsold), person.rng.randint(1, 3)))]
        body = {"serials": [v.serial for v in vouchers], **_payment(person)}
        key = f"chaos-{uuid.uuid4().hex}"
        started = time.monotonic()
        answer, sent = await _send(world, person, "/voucher-sales", body, key)
        attempt = _done(self.name, person, started, answer, key=key, body=body, sent=sent)
        attempt.data["vouchers"] = vouchers
        _heard(attempt, answer)
        if answer.outcome is Outcome.OK:
            world.counter.sold.setdefault(vouchers[0].face.currency, []).extend(vouchers)
        return world.record(attempt)

    async def settle(self, attempt: Attempt, person: Person, world: World) -> Outcome:
        from chaos.workload import Outcome

        outcome = await _resend(attempt, person, world, "/voucher-sales")
        if outcome is Outcome.OK:
            vouchers: list[PrintedVoucher] = attempt.data["vouchers"]
            world.counter.sold.setdefault(vouchers[0].face.currency, []).extend(vouchers)
        return outcome


class CloseShift:
    name: ClassVar[str] = "close_shift"
    weight: ClassVar[int] = 3
    role: ClassVar[str] = "clerk"

    def ready(self, person: Person) -> bool:
        return person.shift is not None

    async def attempt(self, person: Person, world: World) -> Attempt | None:
        from chaos.workload import Outcome, _done, ask

        shift = person.shift
        started = time.monotonic()
        url = f"{world.app_url}/api/v1/pos/shifts/{shift}"
        report = await ask(world, "GET", url, headers=_pos(person))
        if report.outcome is not Outcome.OK:
            return world.record(_done(self.name, person, started, report, shift=shift))
        expected = int(report.body["expected_cash"]["minor"])
        counted = max(expected + person.rng.choice((0, 0, 0, -1_000, 500)), 0)
        answer = await ask(
            world,
            "POST",
            f"{url}/close",
            json={"counted_cash_minor": counted},
            headers=_pos(person),
        )
        if answer.outcome is not Outcome.UNKNOWN:
            person.shift = None  # closed now, or before: the next turn opens one
        return world.record(_done(self.name, person, started, answer, shift=shift))

    async def settle(self, attempt: Attempt, person: Person, world: World) -> Outcome:
        """Read the shift: closed (by this close, or a retry of it) or still open."""
        from chaos.workload import Outcome, ask

        url = f"{world.app_url}/api/v1/pos/shifts/{attempt.data['shift']}"
        report = await ask(world, "GET", url, headers=_pos(person))
        if report.outcome is not Outcome.OK:
            return Outcome.UNKNOWN
        if report.body["shift"]["state"] == "closed":
            person.shift = None
            return Outcome.OK
        return Outcome.REFUSED


class RedeemVoucher:
    """Redeem a sold voucher's PIN for one of the person's cards; now and then a storm of
    ``STORM`` redemptions of the same PIN at once, each with its own key."""

    name: ClassVar[str] = "redeem_voucher"
    weight: ClassVar[int] = 10
    role: ClassVar[str] = "subscriber"

    def ready(self, person: Person) -> bool:
        sold = person.counter.sold if person.counter else {}
        return person.token is not None and any(
            sold.get(card.currency) and not card.lapsing for card in person.cards
        )

    async def attempt(self, person: Person, world: World) -> Attempt | None:
        cards = [c for c in person.cards if world.counter.sold.get(c.currency) and not c.lapsing]
        card = person.rng.choice(cards)
        voucher = world.counter.sold[card.currency].pop()
        copies = STORM if person.rng.random() < 0.2 else 1
        started = time.monotonic()
        attempts = await asyncio.gather(
            *(self._redeem(person, world, voucher, card.number, started) for _ in range(copies))
        )
        credited = {a.data["order_no"] for a in attempts if a.data.get("order_no")}
        if len(credited) > 1:
            world.anomalies.append(f"PIN of {voucher.serial} redeemed as {sorted(credited)}")
        return attempts[0]

    async def _redeem(
        self, person: Person, world: World, voucher: PrintedVoucher, number: str, started: float
    ) -> Attempt:
        from chaos.workload import _done

        body = {"pin": voucher.pin, "number": number, "confirm_number": number}
        key = f"chaos-{uuid.uuid4().hex}"
        answer = await _redeem_call(world, person, body, key)
        attempt = _done(self.name, person, started, answer, key=key, serial=voucher.serial)
        attempt.data["body"] = body
        _heard_redemption(attempt, answer)
        return world.record(attempt)

    async def settle(self, attempt: Attempt, person: Person, world: World) -> Outcome:
        """The same request with the same key: the redemption it made, or a refusal."""
        answer = await _redeem_call(world, person, attempt.data["body"], attempt.data["key"])
        _heard_redemption(attempt, answer)
        return answer.outcome


async def _redeem_call(world: World, person: Person, body: dict[str, Any], key: str) -> Answer:
    from chaos.workload import ask

    headers = {**person.auth(), "Idempotency-Key": key}
    return await ask(
        world, "POST", f"{world.app_url}/api/v1/vouchers/redeem", json=body, headers=headers
    )


def _heard_redemption(attempt: Attempt, answer: Answer) -> None:
    from chaos.workload import Outcome

    if answer.outcome is Outcome.OK:
        attempt.data["order_no"] = answer.body["order_no"]


def _payment(person: Person) -> dict[str, str]:
    if person.rng.random() < 0.5:
        return {"payment": "cash"}
    return {"payment": "card", "terminal_ref": f"T{person.rng.randrange(10**8):08d}"}


def _heard(attempt: Attempt, answer: Answer) -> None:
    from chaos.workload import Outcome

    if answer.outcome is Outcome.OK:
        attempt.data["sale_id"] = int(answer.body["id"])
        attempt.data["receipt_no"] = answer.body["receipt_no"]


async def _resend(attempt: Attempt, person: Person, world: World, path: str) -> Outcome:
    """Send the sale again with its key and body, as the POS does when it comes back."""
    from chaos.workload import ask

    headers = {**_pos(person), "Idempotency-Key": attempt.data["key"]}
    url = f"{world.app_url}/api/v1/pos{path}"
    answer = await ask(world, "POST", url, json=attempt.data["body"], headers=headers)
    _heard(attempt, answer)
    return answer.outcome
