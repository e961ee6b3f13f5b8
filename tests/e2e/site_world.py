"""The pages' world for end-to-end tests: the real app (embedded simulators, no worker loop)
on a seeded database of each kind, a browser-like client with a cookie jar, and helpers that
fill in forms with their CSRF token: register, link a SIM, go through the top-up wizard."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.sims.model import SimState
from simkeep.topups import tables as topup_tables
from simkeep.web.session import SESSION_COOKIE
from tests.e2e.world import World, running_world
from tests.factories import last_code

PASSWORD = "correct horse 42"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Site(World):
    """The world seen through the pages: a cookie jar, forms with CSRF tokens. Its HKD SIM
    is in grace."""

    def browser(self) -> httpx.AsyncClient:
        """Another browser on the same app: its own cookie jar."""
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url="https://simkeep.test")

    async def with_session(self, token: str, path: str) -> httpx.Response:
        """``GET path`` from a browser that holds only this session token."""
        async with self.browser() as other:
            other.cookies.set(SESSION_COOKIE, token)
            return await other.get(path)


@pytest.fixture
async def site(
    database_url: str, db: Database, clock: FixedClock, tmp_path: Path
) -> AsyncIterator[Site]:
    async with running_world(
        Site,
        database_url=database_url,
        db=db,
        clock=clock,
        tmp_path=tmp_path,
        hk_state=SimState.GRACE,
    ) as world:
        yield world


def csrf_of(page: httpx.Response) -> str:
    match = CSRF.search(page.text)
    assert match, page.text[:500]
    return match.group(1)


async def post_form(
    http: httpx.AsyncClient, page_url: str, data: dict[str, str], *, action: str | None = None
) -> httpx.Response:
    """Open ``page_url``, then submit its form with ``data`` and the page's CSRF token."""
    page = await http.get(page_url)
    assert page.status_code == 200, page.text[:500]
    return await http.post(action or page_url.split("?")[0], data={"csrf": csrf_of(page), **data})


async def send_code(http: httpx.AsyncClient, page_url: str, data: dict[str, str]) -> httpx.Response:
    """Submit a form that sends an SMS code; it answers 303, and this opens the code step."""
    sent = await post_form(http, page_url, {"step": "send", **data})
    assert sent.status_code == 303, sent.text
    code_step = await http.get(sent.headers["location"])
    assert code_step.status_code == 200, code_step.text
    return code_step


async def register(site: Site, http: httpx.AsyncClient, phone: str) -> httpx.Response:
    code_step = await send_code(http, "/register", {"phone": phone})
    code = await last_code(site.db, phone)
    return await http.post(
        "/register",
        data={
            "csrf": csrf_of(code_step),
            "step": "create",
            "phone": phone,
            "code": code,
            "password": PASSWORD,
        },
    )


async def link(site: Site, http: httpx.AsyncClient, number: str) -> httpx.Response:
    code_step = await send_code(http, "/my/sims/link", {"number": number})
    code = await last_code(site.db, number)
    return await http.post(
        "/my/sims/link",
        data={"csrf": csrf_of(code_step), "step": "link", "number": number, "code": code},
    )


async def order_by_wizard(
    site: Site,
    http: httpx.AsyncClient,
    number: str,
    method: str,
    *,
    amount: str = "10000",
    pay_currency: str = "CNY",  # what Alipay and WeChat Pay charge in
) -> str:
    """Go through the steps — two GET pages, then Pay — and return the order number."""
    amounts = await http.get("/topup", params={"number": number})
    assert amounts.status_code == 200, amounts.text
    review = await http.get("/topup", params=review_query(number, amount, pay_currency))
    assert review.status_code == 200, review.text
    paid = await http.post("/topup", data=review_fields(review, method=method))
    assert paid.status_code == 303, paid.text
    return await newest_order_no(site)


def review_query(number: str, amount: str = "10000", pay_currency: str = "CNY") -> dict[str, str]:
    """The review step's query: what the amount step's form sends."""
    return {
        "number": number,
        "confirm": number,
        "amount": amount,
        "pay_currency": pay_currency,
        "step": "review",
    }


def review_fields(review: httpx.Response, **extra: str) -> dict[str, str]:
    """What the review page's Pay form sends: its hidden fields (CSRF token, idempotency
    key, the choices, the amount shown) and ``extra``."""
    hidden = r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">'
    return {**dict(re.findall(hidden, review.text)), **extra}


async def newest_order_no(site: Site) -> str:
    async def read(conn: AsyncConnection) -> str:
        query = select(topup_tables.orders.c.order_no).order_by(topup_tables.orders.c.id.desc())
        return str((await conn.execute(query.limit(1))).scalar_one())

    return await site.db.transaction(read)
