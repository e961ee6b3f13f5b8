"""The POS API against its OpenAPI document, as a clerk's device: schemathesis, in process,
on PostgreSQL.

The whole API is fuzzed as a subscriber by ``test_openapi_fuzz``, where every POS route
answers 401. Here the same engine calls only ``/api/v1/pos/…`` with the bearer token of a
clerk's device at a funded outlet whose shift is open, on a seeded database (the books,
SIMs, vouchers), so the counter's own rules are reached: every check on, no server error,
every status as documented. Every other valid top-up body becomes a real top-up of a seeded
SIM, and valid voucher bodies real sales of seeded vouchers (each with a key of its own), so
sales are made and the links from them followed (a sale, then its receipt); the test then
finds both kinds sold. The run is deterministic and short.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.engine.run import PhaseName
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.schemas import OpenApiSchema
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.app import OPENAPI_URL, create_app
from simkeep.clock import FixedClock
from simkeep.counter import service as counter
from simkeep.counter import tables as ct
from simkeep.db import Database
from simkeep.settings import load_settings
from simkeep.sims.model import Sim
from simkeep.staff.audit import CLI
from tests.conftest import START, empty_database
from tests.counter_world import open_shift, place, vouchers
from tests.e2e.test_openapi_fuzz import ACCEPTED, _on_database, _problems, _seed

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"max-examples": 30, "deterministic": True},
        "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}},
    }
)


@dataclass
class Counter:
    app: FastAPI
    url: str
    token: str
    sims: list[Sim]
    serials: list[str]


async def _counter(db: Database) -> tuple[str, list[Sim], list[str]]:
    """The seeded world, a clerk with an open shift and a device: its token."""
    sims = await db.transaction(_seed)
    where = await place(db, now=START, books=False)
    await open_shift(db, where, now=START)
    serials = await vouchers(db, face_minor=5_000, count=10, now=START)
    new = await counter.issue_device(
        db, staff_id=where.clerk.id, label="Fuzz till", actor=CLI, now=START
    )
    return new.token, sims, serials


@pytest.fixture
def till(postgres_url: str, tmp_path: Path) -> Counter:
    empty_database(postgres_url)
    token, sims, serials = _on_database(postgres_url, _counter)
    settings = load_settings(
        database_url=postgres_url,
        keys_dir=str(tmp_path / "keys"),
        public_url="http://127.0.0.1:9",
        environment="test",
    )
    app = create_app(settings, clock=FixedClock(START))
    return Counter(app, postgres_url, token, sims, serials)


def _as_the_clerks_device(schema: OpenApiSchema, token: str) -> None:
    class Device:
        def get(self, case: schemathesis.Case, context: object) -> str:
            return token

        def set(self, case: schemathesis.Case, data: str, context: object) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    schema.auth()(Device)


def _sales_now_and_then(schema: OpenApiSchema, till: Counter) -> None:
    """Every other valid top-up or voucher body becomes a real sale."""
    hkd = till.sims[0].hk_number.e164
    topups = itertools.cycle([None, {"number": hkd, "amount_minor": 10_000, "payment": "cash"}])
    cards = iter(till.serials)

    @schema.hook("map_case").apply_to(path="/api/v1/pos/topups", method="POST")
    def a_real_top_up(context: object, case: schemathesis.Case) -> schemathesis.Case:
        if case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE:
            body = next(topups)
            if body is not None:
                case.body = dict(body)
        return case

    @schema.hook("map_case").apply_to(path="/api/v1/pos/voucher-sales", method="POST")
    def a_real_voucher(context: object, case: schemathesis.Case) -> schemathesis.Case:
        if case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE:
            serial = next(cards, None)
            if serial is not None:
                case.body = {"serials": [serial], "payment": "cash"}
                case.headers = {**(case.headers or {}), "Idempotency-Key": f"fuzz-{serial}"}
        return case


def test_the_pos_api_answers_as_its_openapi_document_says(till: Counter) -> None:
    schema = schemathesis.openapi.from_asgi(OPENAPI_URL, till.app, config=CONFIG).include(
        path_regex=r"^/api/v1/pos/"
    )
    _as_the_clerks_device(schema, till.token)
    _sales_now_and_then(schema, till)

    problems, ran = _problems(schemathesis.engine.from_schema(schema).execute())

    assert not problems, "\n\n".join(problems)
    assert {PhaseName.COVERAGE, PhaseName.FUZZING} <= ran
    kinds = _on_database(till.url, _kinds_sold)
    assert kinds == {"topup", "voucher"}  # the counter's rules were reached, not only 4xx


async def _kinds_sold(db: Database) -> set[str]:
    async def read(conn: AsyncConnection) -> set[str]:
        return set((await conn.execute(select(ct.sales.c.kind))).scalars())

    return await db.read(read)
