"""The pages' world for end-to-end tests: the real app (embedded simulators, no worker loop)
on a seeded database of each kind, a browser-like client with a cookie jar, and helpers that
fill in forms with their CSRF token: register, link a SIM, go through the top-up wizard."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.app import create_app
from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.payments import service as payments
from simkeep.settings import load_settings
from simkeep.sims.model import Sim, SimState
from simkeep.topups import tables as topup_tables
from simkeep.web.session import SESSION_COOKIE
from tests.e2e.test_app import serve
from tests.factories import issue_sim, last_code, seed_books

PASSWORD = "correct horse 42"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Site:
    app: FastAPI
    http: httpx.AsyncClient
    db: Database
    clock: FixedClock
    hk_sim: Sim  # HKD, HK-VALID, in grace
    cn_sim: Sim  # CNY, CN-KEEP
    recycled: Sim

    def browser(self) -> httpx.AsyncClient:
        """Another browser on the same app: its own cookie jar."""
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url="http://simkeep.test")

    async def with_session(self, token: str, path: str) -> httpx.Response:
        """``GET path`` from a browser that holds only this session token."""
        async with self.browser() as other:
            other.cookies.set(SESSION_COOKIE, token)
            return await other.get(path)

    async def poll(self) -> int:
        """What the worker does: ask the providers about unpaid orders."""
        self.clock.advance(timedelta(seconds=31))
        adapters = self.app.state.payment_adapters
        return await payments.poll_unpaid(self.db, adapters=adapters, now=self.clock.now())


@pytest.fixture
async def site(
    database_url: str, db: Database, clock: FixedClock, tmp_path: Path
) -> AsyncIterator[Site]:
    async def setup(conn: AsyncConnection) -> tuple[Sim, Sim, Sim]:
        now = clock.now()
        await seed_books(conn, now=now)
        return (
            await issue_sim(conn, n=1, plan="HK-VALID", now=now, state=SimState.GRACE),
            await issue_sim(conn, n=2, plan="CN-KEEP", now=now),
            await issue_sim(conn, n=3, plan="HK-KEEP", now=now, state=SimState.RECYCLED),
        )

    hk_sim, cn_sim, recycled = await db.transaction(setup)
    settings = load_settings(
        database_url=database_url,
        keys_dir=str(tmp_path / "keys"),
        public_url="http://127.0.0.1:9",  # notifications cannot arrive: the poll credits
        environment="test",
    )
    app = create_app(settings, db=db, clock=clock)
    async with serve(app) as http:
        yield Site(app, http, db, clock, hk_sim, cn_sim, recycled)


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


async def register(site: Site, http: httpx.AsyncClient, phone: str) -> httpx.Response:
    sent = await post_form(http, "/register", {"step": "send", "phone": phone})
    assert sent.status_code == 200, sent.text
    code = await last_code(site.db, phone)
    return await http.post(
        "/register",
        data={
            "csrf": csrf_of(sent),
            "step": "create",
            "phone": phone,
            "code": code,
            "password": PASSWORD,
        },
    )


async def link(site: Site, http: httpx.AsyncClient, number: str) -> httpx.Response:
    sent = await post_form(http, "/my/sims/link", {"step": "send", "number": number})
    assert sent.status_code == 200, sent.text
    code = await last_code(site.db, number)
    return await http.post(
        "/my/sims/link",
        data={"csrf": csrf_of(sent), "step": "link", "number": number, "code": code},
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
    """Go through the three steps; returns the order number."""
    amounts = await post_form(http, "/topup", {"step": "number", "number": number})
    assert amounts.status_code == 200, amounts.text
    review = await http.post(
        "/topup",
        data={
            "csrf": csrf_of(amounts),
            "step": "amount",
            "number": number,
            "confirm": number,
            "amount": amount,
            "pay_currency": pay_currency,
        },
    )
    assert review.status_code == 200, review.text
    paid = await http.post("/topup", data=review_fields(review, method=method))
    assert paid.status_code == 303, paid.text
    return await newest_order_no(site)


def review_fields(review: httpx.Response, **extra: str) -> dict[str, str]:
    hidden = r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">'
    fields = dict(re.findall(hidden, review.text))
    return {**fields, "step": "pay", **extra}


async def newest_order_no(site: Site) -> str:
    async def read(conn: AsyncConnection) -> str:
        query = select(topup_tables.orders.c.order_no).order_by(topup_tables.orders.c.id.desc())
        return str((await conn.execute(query.limit(1))).scalar_one())

    return await site.db.transaction(read)
