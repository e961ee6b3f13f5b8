"""The reconciliation pages through HTTP, on SQLite and PostgreSQL: AlipayHK's 25 November
2026 reconciled with a payment missing from the bill and one the provider has alone; an
operator reads the days and the day (in three languages), downloads its CSV, resolves a
difference with a note (written in the audit log) and is told when it was resolved already;
an auditor reads and resolves nothing; a provider or day that does not exist is refused."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from simkeep.app import create_app
from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.reconciliation import service as reconciliation
from simkeep.settings import load_settings
from simkeep.staff import audit
from simkeep.staff.model import code_at, time_step
from tests.agent_world import SECRETS, STAFF_PASSWORD, operator
from tests.e2e.site_world import csrf_of
from tests.e2e.test_app import serve
from tests.integration.reconciliation_world import (
    CARRY,
    DAY,
    PROVIDER,
    World,
    hk,
    make_world,
    stranger,
)

ROLES = {"olive": "operator", "ada": "auditor", "fiona": "finance"}
PAGE = f"/staff/reconciliation/{PROVIDER.value}/{DAY.isoformat()}"


@pytest.fixture
async def world(db: Database, clock: FixedClock) -> World:
    w = await make_world(db, clock)
    await w.order(hk(DAY, 15))  # missing from the bill
    w.bill(DAY, stranger("T9999NOPE", at=hk(DAY, 12)))
    w.clock.set(hk(DAY + timedelta(days=1), 10))
    await reconciliation.reconcile(
        db,
        provider=PROVIDER,
        day=DAY,
        source=w.provider,
        adapter=w.provider.adapter,
        by="job",
        clock=w.clock,
        carry=CARRY,
    )
    return w


@pytest.fixture
async def app_http(
    world: World, database_url: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(
        database_url=database_url,
        keys_dir=str(tmp_path / "keys"),
        public_url="http://127.0.0.1:9",
        environment="test",
        simulators=False,  # the pages ask no provider anything
    )
    async with serve(create_app(settings, db=world.db, clock=world.clock)) as http:
        yield http


async def log_in(w: World, http: httpx.AsyncClient, username: str) -> None:
    """Enrol ``username`` in their role and log them in."""
    await operator(w.db, username, now=w.clock.now(), role=ROLES[username])
    w.clock.advance(timedelta(seconds=30))  # each login its own TOTP step
    page = await http.get("/staff/login")
    code = code_at(SECRETS[username], time_step(w.clock.now()))
    data = {"username": username, "password": STAFF_PASSWORD, "code": code}
    answer = await http.post("/staff/login", data={"csrf": csrf_of(page), **data})
    assert answer.status_code == 303, answer.text[:500]


async def test_an_operator_reads_downloads_and_resolves(
    world: World, app_http: httpx.AsyncClient
) -> None:
    w, http = world, app_http
    await http.get("/", params={"lang": "en"})
    await log_in(w, http, "olive")

    days = await http.get("/staff/reconciliation")
    assert days.status_code == 200
    assert f'href="{PAGE}"' in days.text
    assert "AlipayHK" in days.text
    assert "Only at simkeep" in days.text
    page = await http.get(PAGE)
    assert page.status_code == 200
    assert "T9999NOPE" in page.text
    assert "Only at the provider" in page.text
    assert "simkeep has no such order or refund." in page.text
    assert "HK$100.00" in page.text
    assert page.text.count("/resolve") == 2  # both differences are open

    file = await http.get(f"{PAGE}.csv")
    assert file.status_code == 200
    assert file.headers["content-type"].startswith("text/csv")
    assert "simkeep-reconciliation-alipayhk-2026-11-25.csv" in file.headers["content-disposition"]
    assert file.text.startswith("\ufeffprovider,day,side,kind,class,action,")
    rows = list(csv.DictReader(io.StringIO(file.text.removeprefix("\ufeff"))))
    assert {row["class"] for row in rows} == {"provider_only", "local_only"}
    provider_only = next(row for row in rows if row["class"] == "provider_only")
    assert (provider_only["bill_amount"], provider_only["bill_currency"]) == ("100.00", "HKD")
    assert provider_only["bill_at"] == "2026-11-25T12:00:00+08:00"
    assert provider_only["simkeep_amount"] == ""

    (target,) = [
        chunk.split('"')[0] for chunk in page.text.split('id="row-')[1:] if "T9999NOPE" in chunk
    ]
    token = csrf_of(page)
    empty = await http.post(f"{PAGE}/{target}/resolve", data={"csrf": token, "note": " "})
    assert empty.status_code == 409
    assert "Write what was found or done" in empty.text
    done = await http.post(
        f"{PAGE}/{target}/resolve", data={"csrf": token, "note": "a test payment, refunded"}
    )
    assert done.status_code == 303, done.text[:500]
    assert done.headers["location"] == f"{PAGE}?resolved={target}"
    after = await http.get(done.headers["location"])
    assert f"Difference #{target} is resolved." in after.text
    assert "a test payment, refunded" in after.text
    assert after.text.count("/resolve") == 1
    twice = await http.post(f"{PAGE}/{target}/resolve", data={"csrf": token, "note": "again"})
    assert twice.status_code == 409
    assert "Someone resolved this difference already." in twice.text
    (entry,) = await w.db.read(lambda conn: audit.entries(conn, action="reconciliation.resolve"))
    assert entry.target.id == target
    assert entry.after["note"] == "a test payment, refunded"  # type: ignore[index]

    chinese = await http.get(PAGE, params={"lang": "zh_Hant_HK"})
    assert "只在支付機構" in chinese.text
    simplified = await http.get("/staff/reconciliation", params={"lang": "zh_Hans_CN"})
    assert "只在 simkeep" in simplified.text
    assert "对账" in simplified.text


async def test_an_auditor_reads_and_resolves_nothing(
    world: World, app_http: httpx.AsyncClient
) -> None:
    w, http = world, app_http
    await http.get("/", params={"lang": "en"})
    await log_in(w, http, "ada")
    page = await http.get(PAGE)
    assert page.status_code == 200
    assert "T9999NOPE" in page.text
    assert "/resolve" not in page.text
    target = page.text.split('id="row-')[1].split('"')[0]
    refused = await http.post(
        f"{PAGE}/{target}/resolve", data={"csrf": csrf_of(await http.get("/staff")), "note": "x"}
    )
    assert refused.status_code == 403
    assert await w.db.read(lambda conn: audit.entries(conn, action="reconciliation.resolve")) == []


async def test_finance_resolves_too(world: World, app_http: httpx.AsyncClient) -> None:
    w, http = world, app_http
    await log_in(w, http, "fiona")
    page = await http.get(PAGE)
    target = page.text.split('id="row-')[1].split('"')[0]
    done = await http.post(
        f"{PAGE}/{target}/resolve", data={"csrf": csrf_of(page), "note": "checked"}
    )
    assert done.status_code == 303


async def test_a_provider_or_day_that_does_not_exist_is_refused(
    world: World, app_http: httpx.AsyncClient
) -> None:
    await log_in(world, app_http, "olive")
    for path, status in (
        (f"/staff/reconciliation/outlet/{DAY.isoformat()}", 404),
        (f"/staff/reconciliation/nowhere/{DAY.isoformat()}", 404),
        (f"/staff/reconciliation/{PROVIDER.value}/2026-13-45", 400),
        (f"/staff/reconciliation/{PROVIDER.value}/yesterday", 400),
        (f"/staff/reconciliation/{PROVIDER.value}/2026-11-250", 404),
        (f"/staff/reconciliation/{PROVIDER.value}/2026-11-20", 404),
        (f"/staff/reconciliation/{PROVIDER.value}/2026-11-20.csv", 404),
    ):
        assert (await app_http.get(path)).status_code == status, path
    page = await app_http.get(PAGE)
    answer = await app_http.post(
        f"{PAGE}/999999/resolve", data={"csrf": csrf_of(page), "note": "no such row"}
    )
    assert answer.status_code == 404
