"""The network's API through HTTP, on SQLite and PostgreSQL: its own tokens (added by
``simkeep network add-client``), refused on the subscribers' routes, as subscribers' tokens
are on its routes; a line's state and barring by either number; a batch of usage records
answered record by record; and the edges a batch is refused at."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from typer.testing import CliRunner

from simkeep.cli.main import app
from simkeep.db import Database
from simkeep.ledger import chart
from simkeep.ledger import service as ledger
from simkeep.settings import load_settings
from simkeep.sims.model import SimState
from simkeep.usage import clients
from tests.e2e.api_world import Api
from tests.factories import set_sim_state

USAGE = "/api/v1/network/usage"


async def network_auth(api: Api, name: str = "carrier") -> dict[str, str]:
    _, token = await clients.add_client(api.db, name=name, now=api.clock.now())
    return {"Authorization": f"Bearer {token}"}


def record(api: Api, record_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": record_id,
        "number": api.hk_sim.hk_number.e164,
        "kind": "voice",
        "zone": "hk",
        "quantity": 2,
        "occurred_at": (api.clock.now() - timedelta(minutes=5)).isoformat(),
        **extra,
    }


async def test_each_kind_of_token_is_refused_on_the_others_routes(api: Api) -> None:
    network = await network_auth(api)
    subscriber = await api.signup("+85261234567")
    line = f"/api/v1/network/lines/{api.hk_sim.hk_number.e164}"

    assert (await api.http.get(line, headers=network)).status_code == 200
    for headers in (subscriber, {}, {"Authorization": "Bearer snk_not-a-token"}):
        refused = await api.http.get(line, headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorized"
        posted = await api.http.post(USAGE, json={"records": [record(api, "t-1")]}, headers=headers)
        assert posted.status_code == 401
    for path in ("/api/v1/me", "/api/v1/sims", "/api/v1/topups"):
        assert (await api.http.get(path, headers=network)).status_code == 401
        assert (await api.http.get(path, headers=subscriber)).status_code == 200


async def test_a_line_by_either_number_with_its_barring(api: Api) -> None:
    auth = await network_auth(api)
    spaced = api.hk_sim.hk_number.e164.replace("+852", "+852 ")
    active = await api.http.get(f"/api/v1/network/lines/{spaced}", headers=auth)
    assert active.json() == {
        "number": api.hk_sim.hk_number.e164,
        "state": "active",
        "plan": "HK-VALID",
        "barred": {
            "outgoing_voice": False,
            "outgoing_sms": False,
            "data": False,
            "incoming_voice": False,
            "incoming_sms": False,
        },
    }
    await api.db.transaction(
        lambda conn: set_sim_state(conn, sim_id=api.cn_sim.id, state=SimState.GRACE)
    )
    grace = await api.http.get(f"/api/v1/network/lines/{api.cn_sim.cn_number.e164}", headers=auth)
    assert grace.json()["state"] == "grace"
    assert grace.json()["barred"]["outgoing_voice"] is True
    assert grace.json()["barred"]["incoming_sms"] is False
    for gone in (api.recycled.hk_number.e164, "+85298765432"):
        missing = await api.http.get(f"/api/v1/network/lines/{gone}", headers=auth)
        assert missing.status_code == 404
    bad = await api.http.get("/api/v1/network/lines/12345678901234", headers=auth)
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_number"


async def test_a_batch_is_answered_record_by_record(api: Api) -> None:
    auth = await network_auth(api)
    records = [
        record(api, "cdr-1"),
        record(api, "cdr-2", quantity=-3),
        record(api, "cdr-3", kind="video"),
        record(api, "cdr-4", zone="macau"),
        record(api, "cdr-1"),
    ]
    answer = await api.http.post(USAGE, json={"records": records}, headers=auth)
    assert answer.status_code == 200, answer.text
    outcomes = answer.json()["outcomes"]
    assert [(o["index"], o["id"], o["status"]) for o in outcomes] == [
        (0, "cdr-1", "unpaid"),
        (1, "cdr-2", "refused"),
        (2, "cdr-3", "refused"),
        (3, "cdr-4", "refused"),
        (4, "cdr-1", "duplicate"),
    ]
    assert [o["error"]["code"] for o in outcomes[1:4]] == [
        "invalid_quantity",
        "unknown_kind",
        "unknown_zone",
    ]
    # nothing on the balance: HK$0.50 wholly unpaid
    assert outcomes[0]["charge"] == {
        "currency": "HKD",
        "rate_minor": 25,
        "bucket_units": 0,
        "amount_minor": 50,
        "bonus_minor": 0,
        "balance_minor": 0,
        "unpaid_minor": 50,
        "barred": False,
    }
    assert outcomes[4]["charge"] == outcomes[0]["charge"]
    again = await api.http.post(USAGE, json={"records": records[:1]}, headers=auth)
    assert again.json()["outcomes"][0]["status"] == "duplicate"
    report = await api.db.transaction(ledger.check_books)
    assert report.ok


async def test_the_edges_of_a_batch(api: Api) -> None:
    auth = await network_auth(api)
    many = [record(api, f"e-{n}") for n in range(501)]
    for body in ({"records": many}, {"records": []}, {"records": "x"}, [record(api, "e")]):
        refused = await api.http.post(USAGE, json=body, headers=auth)
        assert refused.status_code == 422, body
    huge = json.dumps({"records": [record(api, "h", pad="x" * 300_000)]})
    too_large = await api.http.post(
        USAGE, content=huge, headers={**auth, "Content-Type": "application/json"}
    )
    assert too_large.status_code == 413
    five_hundred = [record(api, f"ok-{n}", quantity=1 + n % 5) for n in range(500)]
    taken = await api.http.post(USAGE, json={"records": five_hundred}, headers=auth)
    assert taken.status_code == 200
    assert {o["status"] for o in taken.json()["outcomes"]} == {"unpaid"}

    async def balance(conn: AsyncConnection) -> int:
        account = await ledger.get_account_by_code(
            conn, code=chart.sim_balance(api.hk_sim.id, "HKD").code
        )
        assert account is not None
        return (await ledger.get_balance(conn, account_id=account.id)).posted

    assert await api.db.transaction(balance) == 0


def test_add_client_prints_its_token_once(database_url: str) -> None:
    result = CliRunner().invoke(
        app, ["network", "add-client", "HKT"], env={"SIMKEEP_DATABASE_URL": database_url}
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("snk_")

    async def find() -> clients.NetworkClient | None:
        db = Database.from_settings(load_settings(database_url=database_url))
        try:
            return await clients.authenticate(db, token=token)
        finally:
            await db.dispose()

    found = asyncio.run(find())
    assert found is not None
    assert found.name == "HKT"
    again = CliRunner().invoke(
        app, ["network", "add-client", "HKT"], env={"SIMKEEP_DATABASE_URL": database_url}
    )
    assert again.exit_code == 2
