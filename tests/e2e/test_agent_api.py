"""The agent's API through HTTP, on SQLite and PostgreSQL: with its device's bearer token an
agent's system reads its floats and commission, its outlets' sales of a day (a page at a
time, with totals) and shifts; no token or a revoked one is a 401, a clerk's device a 403,
another agent's outlet a 404, a day out of range a 422; all of it in the OpenAPI document."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from simkeep.clock import HONG_KONG
from simkeep.counter import devices
from simkeep.money import Money
from simkeep.outlets import floats
from simkeep.staff.audit import CLI
from tests.agent_world import Agency, agency, agent_member, sale, shift
from tests.e2e.api_world import Api

AGENT = "GOLDEN"


@dataclass
class Devices:
    api: Api
    golden: Agency
    agent: dict[str, str]  # the agent's device's header
    clerk: dict[str, str]
    shift_id: int


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def world(api: Api) -> Devices:
    now = api.clock.now()
    golden = await agency(api.db, now=now, code=AGENT, books=False)
    abby = await agent_member(api.db, "abby", agent_id=golden.agent_id, now=now)
    carl = await agent_member(
        api.db, "carl", agent_id=golden.agent_id, outlet_id=golden.mong_kok, now=now
    )
    agent_device = await devices.issue_device(
        api.db, staff_id=abby, label="back office", actor=CLI, now=now
    )
    clerk_device = await devices.issue_device(
        api.db, staff_id=carl, label="till 1", actor=CLI, now=now
    )
    deposit = await floats.enter_deposit(
        api.db,
        agent_id=golden.agent_id,
        amount=Money(1_000_000, "HKD"),
        reference="HSBC-1",
        actor=golden.maker,
        now=now,
    )
    await floats.approve_deposit(api.db, deposit_id=deposit.id, actor=golden.checker, now=now)
    shift_id = await shift(api.db, outlet_id=golden.mong_kok, clerk_id=carl, at=now)
    for amount in (10_000, 20_000, 30_000):
        await sale(api.db, golden, shift_id=shift_id, clerk_id=carl, amount=amount, at=now)
    late = datetime(2026, 11, 25, 23, 59, tzinfo=HONG_KONG)  # the last minute of the day
    await sale(api.db, golden, shift_id=shift_id, clerk_id=carl, amount=5_000, at=late)
    after = late + timedelta(minutes=2)  # the next day
    await sale(api.db, golden, shift_id=shift_id, clerk_id=carl, amount=7_000, at=after)
    return Devices(api, golden, bearer(agent_device.token), bearer(clerk_device.token), shift_id)


async def test_the_floats_of_the_devices_agent(world: Devices) -> None:
    answer = await world.api.http.get(
        "/api/v1/agent/floats", headers={**world.agent, "Accept-Language": "zh-HK"}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["agent"] == {"code": AGENT, "name": "金門代理"}
    assert body["commission_bp"] == 150
    hkd, cny = body["floats"]
    assert hkd == {
        "currency": "HKD",
        "float": {"minor": 1_000_000, "currency": "HKD"},
        "floor": {"minor": 0, "currency": "HKD"},
        "commission_payable": {"minor": 0, "currency": "HKD"},  # the rows were written alone
    }
    assert cny["float"] == {"minor": 0, "currency": "CNY"}


async def test_the_sales_of_a_day_page_by_page_with_totals(world: Devices) -> None:
    http = world.api.http
    first = await http.get(
        "/api/v1/agent/sales", params={"day": "2026-11-25", "limit": 3}, headers=world.agent
    )
    assert first.status_code == 200, first.text
    body = first.json()
    assert [s["amount"]["minor"] for s in body["sales"]] == [10_000, 20_000, 30_000]
    assert body["sales"][0]["outlet"] == "GOLDE-MK"
    assert body["sales"][0]["commission"] == {"minor": 150, "currency": "HKD"}
    (totals,) = body["totals"]
    assert totals["sales"] == 4  # the day's: 23:59 in Hong Kong is in it, 00:01 is not
    assert totals["total"] == {"minor": 65_000, "currency": "HKD"}
    assert totals["cash"] == {"minor": 65_000, "currency": "HKD"}
    assert totals["commission"] == {"minor": 975, "currency": "HKD"}
    rest = await http.get(
        "/api/v1/agent/sales",
        params={"day": "2026-11-25", "limit": 3, "after": body["next_after"]},
        headers=world.agent,
    )
    assert [s["amount"]["minor"] for s in rest.json()["sales"]] == [5_000]
    assert rest.json()["next_after"] is None
    at_shenzhen = await http.get(
        "/api/v1/agent/sales",
        params={"day": "2026-11-25", "outlet": "GOLDE-SZ"},
        headers=world.agent,
    )
    assert at_shenzhen.json()["sales"] == []


async def test_the_shifts_of_a_day(world: Devices) -> None:
    answer = await world.api.http.get(
        "/api/v1/agent/shifts", params={"day": "2026-11-25"}, headers=world.agent
    )
    assert answer.status_code == 200, answer.text
    (only,) = answer.json()["shifts"]
    assert only["id"] == world.shift_id
    assert only["clerk"] == "carl"
    assert only["state"] == "closed"
    assert only["sales"] == 5
    assert only["difference"] == {"minor": -1_000, "currency": "HKD"}
    assert only["z_report"] == f"/pos/shifts/{world.shift_id}/z-report"
    the_day_before = await world.api.http.get(
        "/api/v1/agent/shifts", params={"day": "2026-11-24"}, headers=world.agent
    )
    assert the_day_before.json()["shifts"] == []


@pytest.mark.parametrize(
    "path", ["/api/v1/agent/floats", "/api/v1/agent/sales", "/api/v1/agent/shifts"]
)
async def test_who_may_read(world: Devices, path: str) -> None:
    http = world.api.http
    nobody = await http.get(path)
    assert nobody.status_code == 401
    assert nobody.json()["error"]["code"] == "unauthorized"
    assert (await http.get(path, headers=bearer("skd_not-a-device"))).status_code == 401
    clerk = await http.get(path, headers=world.clerk)
    assert clerk.status_code == 403
    assert clerk.json()["error"]["code"] == "forbidden"
    subscriber = await world.api.signup("+85261234501")
    assert (await http.get(path, headers=subscriber)).status_code == 401


async def test_refused_questions(world: Devices) -> None:
    http = world.api.http
    for params, status in [
        ({"outlet": "SILVE-MK"}, 404),  # not one of the agent's
        ({"day": "2026-11-26"}, 422),  # tomorrow in Hong Kong
        ({"day": "2019-12-31"}, 422),
        ({"day": "25/11/2026"}, 422),
        ({"outlet": "lower-case"}, 422),
    ]:
        answer = await http.get("/api/v1/agent/sales", params=params, headers=world.agent)
        assert answer.status_code == status, (params, answer.text)
        assert "error" in answer.json()


async def test_a_revoked_device_reads_nothing(world: Devices) -> None:
    listed = await devices.list_devices(world.api.db)
    agent_device = next(d for d in listed if d.label == "back office")
    await devices.revoke_device(
        world.api.db, device_id=agent_device.id, actor=CLI, now=world.api.clock.now()
    )
    answer = await world.api.http.get("/api/v1/agent/floats", headers=world.agent)
    assert answer.status_code == 401


async def test_the_routes_are_in_the_openapi_document(world: Devices) -> None:
    document = (await world.api.http.get("/api/v1/openapi.json")).json()
    for path in ("/api/v1/agent/floats", "/api/v1/agent/sales", "/api/v1/agent/shifts"):
        operation = document["paths"][path]["get"]
        assert {"401", "403", "200"} <= set(operation["responses"]), path
        assert operation["security"] == [{"DeviceToken": []}]
