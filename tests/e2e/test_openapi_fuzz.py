"""The API against its own OpenAPI document: schemathesis, in process, on PostgreSQL.

Schemathesis's engine (what its command line runs) calls every operation of
``/api/v1/openapi.json`` on the real app through ASGI — the document's examples, the edges
of every field, then random inputs, valid and invalid — and then follows the document's
links from one answer to the next call (an order placed, then read back by its number).
Every check is on: no server error, and every status, content type, header and body as
documented. The caller is a subscriber registered through the API, on a seeded database
(the books, an FX rate, an HKD SIM, a CNY SIM, a recycled one); when a call ends its
session (a log-out) the next one logs in again.

PostgreSQL, not SQLite: it is what production runs, and it is the stricter of the two — it
refuses a NUL character in text, a timestamp without an offset or an integer over 64 bits
where SQLite stores or converts them — so a 500 that only production would show shows here.

The run is repeatable (``deterministic``: the same inputs every time) and short: a few
examples per operation, a few short scenarios.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.engine import Status
from schemathesis.engine.events import (
    EngineEvent,
    FatalError,
    NonFatalError,
    PhaseFinished,
    ScenarioFinished,
)
from schemathesis.engine.run import PhaseName
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.schemas import OpenApiSchema
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.app import OPENAPI_URL, create_app
from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.settings import load_settings
from simkeep.sims.model import Sim, SimState
from simkeep.subscribers.model import Limits
from tests.conftest import START, empty_database
from tests.e2e.api_world import PASSWORD
from tests.factories import issue_sim, last_code, seed_books

T = TypeVar("T")
PHONE = "+85261234599"
# Valid by the document, refused all the same: 422 is a rule the document cannot state (a
# number no SIM has, a code other than the one sent, an amount that is no denomination); on
# the notify routes (payments and keep-alive agreements), 400 is WeChat Pay's "not taken" to a
# notification nobody signed.
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "422"]
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"max-examples": 30, "deterministic": True},
        "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}},
        "operations": [
            {
                "include-operation-id": operation,
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}},
            }
            for operation in ("notify", "agreement_notify")
        ],
    }
)


def _on_database(url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` on a database of its own, outside the app (which has its own loop)."""

    async def run() -> T:
        db = Database.from_settings(load_settings(database_url=url))
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


async def _seed(conn: AsyncConnection) -> list[Sim]:
    """The books, an FX rate and three SIMs: HKD, CNY, recycled."""
    await seed_books(conn, now=START)
    return [
        await issue_sim(conn, n=1, plan="HK-VALID", now=START),
        await issue_sim(conn, n=2, plan="CN-KEEP", now=START),
        await issue_sim(conn, n=3, plan="HK-KEEP", now=START, state=SimState.RECYCLED),
    ]


@dataclass
class Seeded:
    app: FastAPI
    url: str
    clock: FixedClock
    sims: list[Sim]


@pytest.fixture
def seeded(postgres_url: str, tmp_path: Path) -> Seeded:
    """The real app on a freshly seeded database; it opens the database itself, on the event
    loop schemathesis runs it on."""
    empty_database(postgres_url)
    sims = _on_database(postgres_url, lambda db: db.transaction(_seed))
    settings = load_settings(
        database_url=postgres_url,
        keys_dir=str(tmp_path / "keys"),
        public_url="http://127.0.0.1:9",
        environment="test",
    )
    clock = FixedClock(START)
    return Seeded(create_app(settings, clock=clock), postgres_url, clock, sims)


def _register(schema: OpenApiSchema, url: str) -> None:
    """A subscriber, registered through the API with the code its phone was sent."""
    sent = schema["/api/v1/auth/codes"]["POST"].Case(body={"phone": PHONE, "purpose": "register"})
    assert sent.call().status_code == 202
    code = _on_database(url, lambda db: last_code(db, PHONE))
    register = schema["/api/v1/auth/register"]["POST"].Case(
        body={"phone": PHONE, "code": code, "password": PASSWORD}
    )
    registered = register.call()
    assert registered.status_code == 201, registered.text


def _log_in_as_the_subscriber(schema: OpenApiSchema, clock: FixedClock) -> None:
    """Every call carries a bearer token of the subscriber: one session for all calls, and a
    session of its own for each log-out, which would end the shared one. When the fuzzer's
    password guesses have locked the number, as they should, the lockout is waited out on the
    clock."""

    def log_in() -> str:
        login = schema["/api/v1/auth/login"]["POST"].Case(
            body={"phone": PHONE, "password": PASSWORD}
        )
        answer = login.call()
        if answer.status_code == 429:
            clock.advance(Limits().lockout)
            answer = login.call()
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["token"]
        return token

    class Subscriber:
        def get(self, case: schemathesis.Case, context: object) -> str:
            return log_in()

        def set(self, case: schemathesis.Case, data: str, context: object) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    logout = {"path": "/api/v1/auth/logout", "method": "POST"}
    schema.auth().skip_for(**logout)(Subscriber)
    schema.auth(refresh_interval=None).apply_to(**logout)(Subscriber)


def _orders_now_and_then(schema: OpenApiSchema, sims: list[Sim]) -> None:
    """Every other valid body made for ``POST /topups`` becomes a real order of a seeded SIM,
    so that orders are placed and the links from them followed (a generated number is no
    SIM's); invalid bodies stay as generated."""
    hkd, cny = sims[0].hk_number.e164, sims[1].cn_number.e164
    real = itertools.cycle(
        [
            None,
            {
                "number": hkd,
                "confirm_number": hkd,
                "amount": {"minor": 5000, "currency": "HKD"},
                "pay_currency": "CNY",
                "provider": "wechatpay",
                "channel": "qr",
            },
            None,
            {
                "number": cny,
                "confirm_number": cny,
                "amount": {"minor": 10000, "currency": "CNY"},
                "pay_currency": "CNY",
                "provider": "alipay",
                "channel": "qr",
            },
        ]
    )

    @schema.hook("map_case").apply_to(path="/api/v1/topups", method="POST")
    def now_and_then_a_real_order(context: object, case: schemathesis.Case) -> schemathesis.Case:
        if case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE:
            body = next(real)
            if body is not None:
                case.body = dict(body)
        return case


def _problems(events: Iterable[EngineEvent]) -> tuple[list[str], set[PhaseName]]:
    """Every failed check and engine error, readable; and the phases that ran."""
    problems: list[str] = []
    ran: set[PhaseName] = set()
    for event in events:
        if isinstance(event, PhaseFinished) and event.status is not Status.SKIP:
            ran.add(event.phase.name)
        elif isinstance(event, ScenarioFinished) and event.status is not Status.SUCCESS:
            for checks in event.recorder.checks.values():
                problems += [
                    f"[{event.phase.value}] {event.label} · {check.name}: "
                    f"{check.failure_info.failure.title}\n{check.failure_info.failure.message}\n"
                    f"{check.failure_info.code_sample}"
                    for check in checks
                    if check.failure_info is not None
                ]
        elif isinstance(event, NonFatalError | FatalError):
            problems.append(repr(event))
    return problems, ran


def test_the_api_answers_as_its_openapi_document_says(seeded: Seeded) -> None:
    schema = schemathesis.openapi.from_asgi(OPENAPI_URL, seeded.app, config=CONFIG)
    _register(schema, seeded.url)
    _log_in_as_the_subscriber(schema, seeded.clock)
    _orders_now_and_then(schema, seeded.sims)

    problems, ran = _problems(schemathesis.engine.from_schema(schema).execute())

    assert not problems, "\n\n".join(problems)
    assert {PhaseName.COVERAGE, PhaseName.FUZZING, PhaseName.STATEFUL_TESTING} <= ran
