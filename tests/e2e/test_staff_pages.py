"""The staff pages through HTTP, on SQLite and PostgreSQL: logging in with password and TOTP
(a wrong code marked, cookie flags), enrolling a first TOTP from the QR page, every page in
three languages for operators and auditors, every state-changing staff route refused to an
auditor (found by walking the app's routes, so a new one is covered) with nothing changed,
CSRF refused, plan edits checked and audited with before and after, and staff and
subscriber sessions that do not open each other's pages."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.sims import tables as sim_tables
from simkeep.staff import audit
from simkeep.staff import service as staff
from simkeep.staff import tables as staff_tables
from simkeep.staff.audit import CLI
from simkeep.staff.model import code_at, time_step
from simkeep.usage import rates as usage_rates
from simkeep.usage.model import Kind, Zone
from simkeep.web.session import SESSION_COOKIE
from simkeep.web.staff_session import STAFF_COOKIE
from tests.e2e.site_world import Site, csrf_of, register

PASSWORD = "staff password 1"
SECRETS = {
    "olive": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    "ada": "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU",
}
ROLES = {"olive": "operator", "ada": "auditor"}
# Routes that act on the member's own session, open to every role: logging in and out,
# enrolling one's own second factor.
OWN_SESSION = {"/staff/login", "/staff/logout", "/staff/enrol"}
PAGES = [
    "/staff",
    "/staff/plans",
    "/staff/plans/HK-KEEP",
    "/staff/lines",
    "/staff/lines?state=grace",
    "/staff/lines?state=suspended",
    "/staff/runs",
    "/staff/payments",
    "/staff/refunds",
    "/staff/audit",
]
PATH_VALUES = {"code": "HK-KEEP"}  # a real value for each path parameter; any other: 1
LANGUAGE_MARK = {"zh_Hant_HK": "營運控制台", "zh_Hans_CN": "运营控制台", "en": "Operator console"}


@pytest.fixture
async def staffed(site: Site) -> Site:
    """The site with an operator (olive) and an auditor (ada), both enrolled."""
    for username, secret in SECRETS.items():
        await staff.add_staff(
            site.db,
            username=username,
            display_name=username.title(),
            role=ROLES[username],
            password=PASSWORD,
            actor=CLI,
            now=site.clock.now(),
            totp_secret=secret,
            enrolled=True,
        )
    return site


def code_now(site: Site, username: str) -> str:
    return code_at(SECRETS[username], time_step(site.clock.now()))


async def log_in(site: Site, http: httpx.AsyncClient, username: str) -> httpx.Response:
    site.clock.advance(timedelta(seconds=30))  # each login its own TOTP step
    page = await http.get("/staff/login")
    data = {"username": username, "password": PASSWORD, "code": code_now(site, username)}
    return await http.post("/staff/login", data={"csrf": csrf_of(page), **data})


def marked(page: httpx.Response, field: str) -> bool:
    return re.search(rf'<input id="f-{field}" [^>]*aria-invalid="true"', page.text) is not None


async def plan_row(site: Site, code: str) -> dict[str, Any]:
    async def read(conn: AsyncConnection) -> dict[str, Any]:
        query = select(sim_tables.plans).where(sim_tables.plans.c.code == code)
        return dict((await conn.execute(query)).one()._mapping)

    return await site.db.read(read)


async def audit_count(site: Site) -> int:
    async def read(conn: AsyncConnection) -> int:
        return int(
            (await conn.execute(select(func.count()).select_from(staff_tables.audit))).scalar_one()
        )

    return await site.db.read(read)


async def test_login_with_password_and_code(staffed: Site) -> None:
    site = staffed
    async with site.browser() as http:
        page = await http.get("/staff/login")
        wrong = await http.post(
            "/staff/login",
            data={
                "csrf": csrf_of(page),
                "username": "olive",
                "password": PASSWORD,
                "code": "000000",
            },
        )
        assert wrong.status_code == 400
        assert marked(wrong, "code")
        assert STAFF_COOKIE not in wrong.cookies

        signed_in = await log_in(site, http, "olive")

        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/staff"
        cookies = [
            c for c in signed_in.headers.get_list("set-cookie") if c.startswith(STAFF_COOKIE)
        ]
        assert [c for c in cookies if "Path=/staff" in c] == [cookies[0]]
        assert "Path=/pos" in cookies[1]  # the counter's POS reads the same session
        for cookie in cookies:
            assert "HttpOnly" in cookie
            assert "SameSite=strict" in cookie
        home = await http.get("/staff")
        assert home.status_code == 200
        assert "Olive" in home.text
        logged_out = await http.post("/staff/logout", data={"csrf": csrf_of(home)})
        assert logged_out.status_code == 303
        assert (await http.get("/staff")).headers["location"].startswith("/staff/login")


async def test_a_first_login_enrols_the_authenticator(site: Site) -> None:
    new = await staff.add_staff(
        site.db,
        username="nina",
        display_name="Nina",
        role="operator",
        password=PASSWORD,
        actor=CLI,
        now=site.clock.now(),
    )
    async with site.browser() as http:
        page = await http.get("/staff/login")
        first = await http.post(
            "/staff/login",
            data={"csrf": csrf_of(page), "username": "nina", "password": PASSWORD, "code": ""},
        )
        assert first.headers["location"] == "/staff/enrol"
        assert (await http.get("/staff")).headers["location"] == "/staff/enrol"
        enrol = await http.get("/staff/enrol")
        assert enrol.status_code == 200
        assert "<svg" in enrol.text
        assert new.totp_secret[:4] in enrol.text

        code = code_at(new.totp_secret, time_step(site.clock.now()))
        done = await http.post("/staff/enrol", data={"csrf": csrf_of(enrol), "code": code})

        assert done.status_code == 303
        assert done.headers["location"] == "/staff"
        assert (await http.get("/staff")).status_code == 200
        assert (await http.get("/staff/enrol")).headers["location"] == "/staff"


@pytest.mark.parametrize("username", ["olive", "ada"])
@pytest.mark.parametrize("locale", list(LANGUAGE_MARK))
async def test_every_staff_page_renders_in_each_language(
    staffed: Site, username: str, locale: str
) -> None:
    async with staffed.browser() as http:
        await log_in(staffed, http, username)
        for path in PAGES:
            joiner = "&" if "?" in path else "?"
            page = await http.get(f"{path}{joiner}lang={locale}")
            assert page.status_code == 200, (path, page.text[:300])
            assert LANGUAGE_MARK[locale] in page.text, path
            assert page.headers["cache-control"] == "no-store"


def changing_routes(site: Site) -> list[tuple[str, str]]:
    """Every staff route that changes something: its method and a path to call it at."""
    found = []
    for route in iter_route_contexts(site.app.routes):
        path, methods = route.path or "", route.methods or set()
        if not path.startswith("/staff") or path in OWN_SESSION:
            continue
        for method in sorted(methods - {"GET", "HEAD"}):
            called = re.sub(r"{(\w+)(:\w+)?}", lambda m: PATH_VALUES.get(m.group(1), "1"), path)
            found.append((method, called))
    return found


async def test_an_auditor_changes_nothing_on_any_staff_route(staffed: Site) -> None:
    site = staffed
    routes = changing_routes(site)
    assert ("POST", "/staff/plans/HK-KEEP") in routes
    plan_before, entries_before = await plan_row(site, "HK-KEEP"), await audit_count(site)
    async with site.browser() as http:
        await log_in(site, http, "ada")
        token = csrf_of(await http.get("/staff/plans/HK-KEEP"))
        for method, path in routes:
            answer = await http.request(
                method, path, data={"csrf": token, "monthly_fee": "1.00", "grace_days": "1"}
            )
            assert answer.status_code == 403, (method, path, answer.status_code)
    assert await plan_row(site, "HK-KEEP") == plan_before
    assert await audit_count(site) == entries_before


async def test_a_form_without_its_csrf_token_is_refused(staffed: Site) -> None:
    site = staffed
    before = await plan_row(site, "HK-KEEP")
    async with site.browser() as http:
        await log_in(site, http, "olive")
        fields = {
            "name_zh_hant_hk": "甲",
            "name_zh_hans_cn": "甲",
            "name_en": "A",
            "monthly_fee": "9.00",
            "grace_days": "10",
            "suspension_days": "20",
        }
        for token in ({}, {"csrf": "forged"}):
            answer = await http.post("/staff/plans/HK-KEEP", data={**fields, **token})
            assert answer.status_code == 403
    async with site.browser() as other:
        page = await other.get("/staff/login")  # a visitor's token, from another browser
        await log_in(site, http := other, "olive")
        answer = await http.post("/staff/plans/HK-KEEP", data={**fields, "csrf": csrf_of(page)})
        assert answer.status_code == 403
    assert await plan_row(site, "HK-KEEP") == before


async def test_a_plan_edit_is_saved_and_audited_with_before_and_after(staffed: Site) -> None:
    site = staffed
    async with site.browser() as http:
        await log_in(site, http, "olive")
        page = await http.get("/staff/plans/HK-KEEP")
        fields = {
            "name_zh_hant_hk": "香港保號 HK$9",
            "name_zh_hans_cn": "香港保号 HK$9",
            "name_en": "Hong Kong keeper, HK$9",
            "monthly_fee": "9.00",
            "grace_days": "20",
            "suspension_days": "45",
        }

        saved = await http.post("/staff/plans/HK-KEEP", data={"csrf": csrf_of(page), **fields})

        assert saved.status_code == 303
        assert saved.headers["location"] == "/staff/plans/HK-KEEP?saved=1"
        log = await http.get("/staff/audit", params={"action": "plan.update"})
        assert "香港保號 HK$9" in log.text  # the after, as people read it
        assert "香港保號月租 HK$8" in log.text  # the before
        assert "staff.add" not in log.text.split("</select>")[-1]  # filtered by action
    row = await plan_row(site, "HK-KEEP")
    assert (row["monthly_fee"], row["grace_days"], row["suspension_days"]) == (900, 20, 45)
    assert row["name_en"] == "Hong Kong keeper, HK$9"
    (entry,) = await site.db.read(lambda conn: audit.entries(conn, action="plan.update"))
    assert entry.username == "olive"
    assert entry.target == audit.Target("plan", "HK-KEEP")
    assert entry.before["monthly_fee"] == 800
    assert entry.before["grace_days"] == 30
    assert entry.after["monthly_fee"] == 900
    assert entry.after["names"]["name_en"] == "Hong Kong keeper, HK$9"
    assert entry.after["rates"] == entry.before["rates"]  # not sent: as they were
    assert entry.origin  # the client's address


async def test_a_plans_usage_rates_are_edited_with_it_and_audited(staffed: Site) -> None:
    site = staffed
    async with site.browser() as http:
        await log_in(site, http, "olive")
        page = await http.get("/staff/plans/HK-KEEP")
        fields = dict(
            re.findall(
                r'<input id="f-\w+" name="(\w+)" type="text" autocomplete="off" value="([^"]*)"',
                page.text,
            )
        )
        assert fields["rate_hk_voice"] == "0.25"
        assert fields["rate_mainland_sms"] == "1.00"

        saved = await http.post(
            "/staff/plans/HK-KEEP",
            data={"csrf": csrf_of(page), **fields, "rate_hk_voice": "0.30", "rate_hk_data": "0"},
        )

        assert saved.status_code == 303
    rates = await site.db.read(lambda conn: usage_rates.rates_of(conn, plan_code="HK-KEEP"))
    assert rates[(Zone.HK, Kind.VOICE)] == 30
    assert rates[(Zone.HK, Kind.DATA)] == 0
    assert rates[(Zone.MAINLAND, Kind.SMS)] == 100
    (entry,) = await site.db.read(lambda conn: audit.entries(conn, action="plan.update"))
    assert (entry.before["rates"]["rate_hk_voice"], entry.after["rates"]["rate_hk_voice"]) == (
        25,
        30,
    )


@pytest.mark.parametrize(
    ("code", "changes", "field"),
    [
        ("HK-KEEP", {"monthly_fee": "-1.00"}, "monthly_fee"),
        ("HK-KEEP", {"monthly_fee": "eight"}, "monthly_fee"),
        ("HK-KEEP", {"monthly_fee": "8.001"}, "monthly_fee"),
        ("HK-KEEP", {"grace_days": "0"}, "grace_days"),
        ("HK-KEEP", {"suspension_days": "0"}, "suspension_days"),
        ("HK-KEEP", {"suspension_days": "-3"}, "suspension_days"),
        ("HK-KEEP", {"grace_days": "9999999"}, "grace_days"),
        ("HK-VALID", {"monthly_fee": "8.00"}, "monthly_fee"),
        ("HK-KEEP", {"rate_hk_voice": "-0.25"}, "rate_hk_voice"),
        ("HK-KEEP", {"rate_mainland_data": ""}, "rate_mainland_data"),
        ("HK-KEEP", {"rate_hk_sms": "0.001"}, "rate_hk_sms"),
        ("CN-KEEP", {"rate_hk_voice": "10000.01"}, "rate_hk_voice"),
    ],
)
async def test_a_bad_plan_edit_is_refused_and_changes_nothing(
    staffed: Site, code: str, changes: dict[str, str], field: str
) -> None:
    site = staffed
    before, entries = await plan_row(site, code), await audit_count(site)
    async with site.browser() as http:
        await log_in(site, http, "olive")
        page = await http.get(f"/staff/plans/{code}")
        fields = dict(
            re.findall(
                r'<input id="f-\w+" name="(\w+)" type="text" autocomplete="off" value="([^"]*)"',
                page.text,
            )
        )
        assert set(fields) >= {"monthly_fee", "grace_days", "suspension_days", "name_en"}

        refused = await http.post(
            f"/staff/plans/{code}", data={"csrf": csrf_of(page), **fields, **changes}
        )

        assert refused.status_code == 400
        assert marked(refused, field)
    assert await plan_row(site, code) == before
    assert await audit_count(site) == entries


async def test_an_empty_name_is_refused(staffed: Site) -> None:
    site = staffed
    before = await plan_row(site, "HK-KEEP")
    async with site.browser() as http:
        await log_in(site, http, "olive")
        page = await http.get("/staff/plans/HK-KEEP")
        fields = {
            "name_zh_hant_hk": " ",
            "name_zh_hans_cn": "x",
            "name_en": "x",
            "monthly_fee": "8.00",
            "grace_days": "30",
            "suspension_days": "60",
        }
        refused = await http.post("/staff/plans/HK-KEEP", data={"csrf": csrf_of(page), **fields})
        assert refused.status_code == 400
    assert await plan_row(site, "HK-KEEP") == before


async def test_bad_choices_in_the_address_are_4xx(staffed: Site) -> None:
    async with staffed.browser() as http:
        await log_in(staffed, http, "ada")
        assert (await http.get("/staff/lines?state=recycled")).status_code == 400
        assert (await http.get("/staff/lines?page=0")).status_code == 400
        assert (await http.get("/staff/audit?member=abc")).status_code == 400
        assert (await http.get("/staff/plans/NOPE")).status_code == 404


async def test_staff_and_subscriber_sessions_do_not_open_each_others_pages(
    staffed: Site,
) -> None:
    site = staffed
    async with site.browser() as http:
        signed_in = await log_in(site, http, "olive")
        staff_token = signed_in.cookies.get(STAFF_COOKIE, path="/staff")
        assert staff_token is not None
    async with site.browser() as http:
        await register(site, http, "+85291234567")
        subscriber_token = http.cookies[SESSION_COOKIE]

    async with site.browser() as other:
        other.cookies.set(STAFF_COOKIE, staff_token)
        other.cookies.set(SESSION_COOKIE, staff_token)
        assert (await other.get("/my")).headers["location"].startswith("/login")
    async with site.browser() as other:
        other.cookies.set(SESSION_COOKIE, subscriber_token)
        other.cookies.set(STAFF_COOKIE, subscriber_token)
        assert (await other.get("/staff")).headers["location"].startswith("/staff/login")
        assert (await other.get("/staff/audit")).headers["location"].startswith("/staff/login")
