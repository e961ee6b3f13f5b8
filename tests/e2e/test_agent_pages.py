"""The agents' pages through HTTP, on SQLite and PostgreSQL: who may open which (operator,
auditor, an agent's user, a clerk, nobody), every page in three languages, a float deposit
entered by one operator and approved by another (never by its maker) and refused when its
form is wrong, the credit limit, adding a clerk (the key shown once), and the agent's own
page with its outlets' shifts and sales of a day."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.money import Money
from simkeep.outlets import floats
from simkeep.outlets import tables as ot
from simkeep.outlets.float_model import DepositState
from simkeep.staff import service as staff
from simkeep.staff import tables as staff_tables
from simkeep.staff.model import code_at, time_step
from tests.agent_world import (
    SECRETS,
    STAFF_PASSWORD,
    Agency,
    agency,
    agent_member,
    sale,
    shift,
)
from tests.agent_world import operator as add_operator
from tests.e2e.site_world import Site, csrf_of

AGENT = "GOLDEN"
CONSOLE = ["/staff/agents", f"/staff/agents/{AGENT}", "/staff/agents/deposits"]
MARK = {  # words of the console's pages (the agent's page, the others) and of the agent's
    "zh_Hant_HK": ("預付金額及佣金", "待核對的預付金存款", "網點及銷售"),
    "zh_Hans_CN": ("预付金额及佣金", "待核对的预付金存款", "网点及销售"),
    "en": ("Floats and commission", "Float deposits to check", "Outlets and sales"),
}


@dataclass
class Agents:
    site: Site
    agency: Agency
    abby: int  # the agent's user
    carl: int  # a clerk at its Mong Kok outlet


@pytest.fixture
async def agents(site: Site) -> Agents:
    now = site.clock.now()
    golden = await agency(site.db, now=now, code=AGENT, books=False)
    await add_operator(site.db, "ada", now=now, role="auditor")
    await add_operator(site.db, "fay", now=now, role="finance")
    abby = await agent_member(site.db, "abby", agent_id=golden.agent_id, now=now)
    carl = await agent_member(
        site.db, "carl", agent_id=golden.agent_id, outlet_id=golden.mong_kok, now=now
    )
    return Agents(site, golden, abby, carl)


async def log_in(site: Site, http: httpx.AsyncClient, username: str) -> httpx.Response:
    site.clock.advance(timedelta(seconds=30))  # each login its own TOTP step
    page = await http.get("/staff/login")
    code = code_at(SECRETS[username], time_step(site.clock.now()))
    data = {"username": username, "password": STAFF_PASSWORD, "code": code}
    return await http.post("/staff/login", data={"csrf": csrf_of(page), **data})


def marked(page: httpx.Response, field: str) -> bool:
    return re.search(rf'id="f-{field}[^"]*"[^>]*aria-invalid="true"', page.text) is not None


async def count(site: Site, table: object) -> int:
    async def read(conn: AsyncConnection) -> int:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]

    return await site.db.read(read)


async def post(
    http: httpx.AsyncClient, page_url: str, action: str, data: dict[str, str]
) -> httpx.Response:
    page = await http.get(page_url)
    assert page.status_code == 200, page.text[:300]
    return await http.post(action, data={"csrf": csrf_of(page), **data})


async def test_who_opens_which_page(agents: Agents) -> None:
    site = agents.site
    async with site.browser() as nobody:
        for path in [*CONSOLE, "/agent"]:
            answer = await nobody.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/staff/login?next="), path
    for username, console, own in [
        ("olive", 200, 403),
        ("ada", 200, 403),
        ("abby", "/agent", 200),
        ("carl", "/pos", 403),
    ]:
        async with site.browser() as http:
            await log_in(site, http, username)
            for path in CONSOLE:
                answer = await http.get(path)
                if isinstance(console, int):
                    assert answer.status_code == console, (username, path)
                else:
                    assert answer.status_code == 303, (username, path)
                    assert answer.headers["location"] == console
            assert (await http.get("/agent")).status_code == own, username


async def test_an_auditor_reads_and_changes_nothing(agents: Agents) -> None:
    site = agents.site
    async with site.browser() as http:
        await log_in(site, http, "ada")
        page = await http.get(f"/staff/agents/{AGENT}")
        assert "Enter the deposit" not in page.text
        refused = await http.post(
            f"/staff/agents/{AGENT}/deposits",
            data={"csrf": csrf_of(page), "amount": "100", "currency": "HKD", "reference": "R"},
        )
        assert refused.status_code == 403
    assert await count(site, ot.float_deposits) == 0


@pytest.mark.parametrize("language", sorted(MARK))
async def test_the_pages_in_three_languages(agents: Agents, language: str) -> None:
    site = agents.site
    one_agent, console_mark, agent_mark = MARK[language]
    async with site.browser() as operator, site.browser() as agent:
        await log_in(site, operator, "olive")
        for path in CONSOLE:
            page = await operator.get(path, params={"lang": language})
            assert page.status_code == 200, page.text[:300]
            assert (one_agent if path == CONSOLE[1] else console_mark) in page.text, path
        await log_in(site, agent, "abby")
        own = await agent.get("/agent", params={"lang": language})
        assert own.status_code == 200
        assert agent_mark in own.text


async def test_a_deposit_is_entered_by_an_operator_and_approved_by_finance(
    agents: Agents,
) -> None:
    site = agents.site
    page_url = f"/staff/agents/{AGENT}"
    async with site.browser() as olive, site.browser() as fay:
        await log_in(site, olive, "olive")
        entered = await post(
            olive,
            page_url,
            f"{page_url}/deposits",
            {"amount": "10000.00", "currency": "HKD", "reference": "HSBC-0001"},
        )
        assert entered.status_code == 303, entered.text[:500]
        (deposit,) = await site.db.read(lambda conn: floats.deposits(conn))
        queue = await olive.get("/staff/agents/deposits", params={"lang": "en"})
        assert "Entered by you: someone else checks it." in queue.text
        assert f"/staff/agents/deposits/{deposit.id}/approve" not in queue.text
        own = await olive.post(
            f"/staff/agents/deposits/{deposit.id}/approve",
            data={"csrf": csrf_of(queue)},
            params={"lang": "en"},
        )
        assert own.status_code == 400
        assert "not the one who entered it" in own.text

        await log_in(site, fay, "fay")
        approved = await post(
            fay,
            "/staff/agents/deposits",
            f"/staff/agents/deposits/{deposit.id}/approve",
            {},
        )
        assert approved.status_code == 303
        again = await post(
            fay, "/staff/agents/deposits", f"/staff/agents/deposits/{deposit.id}/approve", {}
        )
        assert again.status_code == 400

        listed = await fay.get("/staff/agents", params={"lang": "en"})
        assert "HK$10,000.00" in listed.text
    (done,) = await site.db.read(lambda conn: floats.deposits(conn))
    assert done.state is DepositState.APPROVED
    actions = await site.db.read(lambda conn: conn.execute(select(staff_tables.audit.c.action)))
    assert {"float_deposit.enter", "float_deposit.approve"} <= set(actions.scalars())


async def test_a_deposit_is_rejected_with_a_reason(agents: Agents) -> None:
    site = agents.site
    deposit = await floats.enter_deposit(
        site.db,
        agent_id=agents.agency.agent_id,
        amount=Money(50_000, "HKD"),
        reference="BOC-9",
        actor=agents.agency.maker,
        now=site.clock.now(),
    )
    async with site.browser() as fiona:
        await log_in(site, fiona, "fiona")
        action = f"/staff/agents/deposits/{deposit.id}/reject"
        empty = await post(fiona, "/staff/agents/deposits", action, {"reason": " "})
        assert empty.status_code == 400
        assert marked(empty, "reason")
        rejected = await post(fiona, "/staff/agents/deposits", action, {"reason": "not paid"})
        assert rejected.status_code == 303
    (done,) = await site.db.read(lambda conn: floats.deposits(conn))
    assert (done.state, done.reason) == (DepositState.REJECTED, "not paid")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"amount": "ten", "currency": "HKD", "reference": "R1"}, "amount"),
        ({"amount": "0.50", "currency": "HKD", "reference": "R1"}, "amount"),
        ({"amount": "100.001", "currency": "HKD", "reference": "R1"}, "amount"),
        ({"amount": "100", "currency": "USD", "reference": "R1"}, "currency"),
        ({"amount": "100", "currency": "HKD", "reference": "x" * 65}, "reference"),
    ],
)
async def test_a_refused_deposit_marks_its_field_and_changes_nothing(
    agents: Agents, data: dict[str, str], field: str
) -> None:
    site = agents.site
    audited = await count(site, staff_tables.audit)
    async with site.browser() as http:
        await log_in(site, http, "olive")
        page_url = f"/staff/agents/{AGENT}"
        refused = await post(http, page_url, f"{page_url}/deposits", data)
        assert refused.status_code == 400, refused.text[:300]
        assert marked(refused, field), field
    assert await count(site, ot.float_deposits) == 0
    assert await count(site, staff_tables.audit) == audited


async def test_the_credit_limit_is_set_and_refused_when_malformed(agents: Agents) -> None:
    site = agents.site
    page_url = f"/staff/agents/{AGENT}"
    async with site.browser() as http:
        await log_in(site, http, "olive")
        for wrong in ("-5", "lots", "1000000000.01"):
            refused = await post(
                http, page_url, f"{page_url}/credit-limit", {"credit_limit": wrong}
            )
            assert refused.status_code == 400, wrong
            assert marked(refused, "credit_limit")
        saved = await post(http, page_url, f"{page_url}/credit-limit", {"credit_limit": "5000"})
        assert saved.status_code == 303
        page = await http.get(page_url, params={"lang": "en"})
        assert "-HK$5,000.00" in page.text


async def test_an_operator_adds_a_clerk_and_sees_the_key_once(agents: Agents) -> None:
    site = agents.site
    page_url = f"/staff/agents/{AGENT}"
    form = {
        "kind": "clerk",
        "outlet": "GOLDE-MK",
        "username": "mandy",
        "display_name": "Mandy Wong",
        "password": "counter pass 1",
    }
    async with site.browser() as http:
        await log_in(site, http, "olive")
        other = await post(http, page_url, f"{page_url}/staff", {**form, "outlet": "NOPE-1"})
        assert other.status_code == 400
        assert re.search(r'id="f-outlet"[^>]*aria-invalid="true"', other.text)
        taken = await post(http, page_url, f"{page_url}/staff", {**form, "username": "abby"})
        assert taken.status_code == 400
        assert marked(taken, "username")
        added = await post(http, page_url, f"{page_url}/staff", form)
        assert added.status_code == 200, added.text[:300]
        assert "otpauth://totp/" in added.text
        assert added.headers["cache-control"] == "no-store"
        listed = await http.get(page_url)
        assert "mandy" in listed.text
    members = {m.username: m for m in await staff.list_staff(site.db)}
    assert members["mandy"].role == "clerk"
    assert (members["mandy"].agent_id, members["mandy"].outlet_id) == (
        agents.agency.agent_id,
        agents.agency.mong_kok,
    )
    assert not members["mandy"].enrolled


async def test_an_agent_logs_in_to_its_own_page_with_the_days_shifts_and_sales(
    agents: Agents,
) -> None:
    site = agents.site
    golden = agents.agency
    shift_id = await shift(
        site.db, outlet_id=golden.mong_kok, clerk_id=agents.carl, at=site.clock.now()
    )
    await sale(
        site.db, golden, shift_id=shift_id, clerk_id=agents.carl, amount=30000, at=site.clock.now()
    )
    await sale(
        site.db,
        golden,
        shift_id=shift_id,
        clerk_id=agents.carl,
        amount=5000,
        at=site.clock.now(),
        kind="voucher",
        payment="card",
    )
    async with site.browser() as http:
        signed_in = await log_in(site, http, "abby")
        assert signed_in.status_code == 303
        landed = await http.get(signed_in.headers["location"])
        assert landed.headers["location"] == "/agent"
        page = await http.get("/agent", params={"lang": "en"})
        assert "Golden Gate Agency" in page.text
        assert "HK$350.00" in page.text  # the day's total at Mong Kok
        assert "HK$5.25" in page.text  # its commission
        assert f"/pos/shifts/{shift_id}/z-report" in page.text
        z_report = await http.get(f"/pos/shifts/{shift_id}/z-report")  # the POS serves it
        assert z_report.status_code == 200, z_report.text[:300]
        yesterday = await http.get("/agent", params={"day": "2026-11-24", "lang": "en"})
        assert "HK$350.00" not in yesterday.text
        for wrong in ("2026-13-01", "2099-01-01", "tomorrow"):
            assert (await http.get("/agent", params={"day": wrong})).status_code == 400
