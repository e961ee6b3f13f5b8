"""``simkeep serve --port`` in a child process, with no public URL set: everything that
names this server names the port it serves on — the cashier link and the notify URL in an
order's way to pay, the address the simulator's notification is posted to (it arrives and
credits the order, with the worker loop running), and the receipt's link. ``SIMKEEP_PORT``
points elsewhere, where nothing listens: the command's option wins."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import SystemClock
from simkeep.db import Database
from simkeep.payments import tables as payment_tables
from simkeep.settings import load_settings
from simkeep.sims.model import Sim
from tests.factories import issue_sim, last_code, seed_books

pytestmark = pytest.mark.slow

HOST = "127.0.0.1"
PHONE = "+85261236001"
PASSWORD = "correct horse 42"
TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def simkeep_serve(workdir: Path, database_url: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("SIMKEEP_")} | {
        "SIMKEEP_ENVIRONMENT": "test",
        "SIMKEEP_DATABASE_URL": database_url,
        "SIMKEEP_PORT": str(free_port()),  # not where it serves: nothing listens there
        "SIMKEEP_KEYS_DIR": str(workdir / "keys"),
        "SIMKEEP_RUN_JOBS": "true",
    }
    command = [str(Path(sys.executable).with_name("simkeep")), "serve", "--port", str(port)]
    with (workdir / "server.log").open("wb") as log:
        server = subprocess.Popen(command, env=env, cwd=workdir, stdout=log, stderr=log)
    try:
        yield server
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@dataclass
class Books:
    url: str
    db: Database
    sim: Sim  # HKD


@pytest.fixture
async def books(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Books]:
    """A copy of the migrated template with the books and one HKD SIM."""
    url = f"sqlite:///{tmp_path / 'simkeep.db'}"
    shutil.copy(sqlite_template, tmp_path / "simkeep.db")
    db = Database.from_settings(load_settings(database_url=url))

    async def setup(conn: AsyncConnection) -> Sim:
        now = SystemClock().now()
        await seed_books(conn, now=now)
        return await issue_sim(conn, n=1, plan="HK-VALID", now=now)

    try:
        yield Books(url, db, await db.transaction(setup))
    finally:
        await db.dispose()


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + TIMEOUT_S
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"{what}: not within {TIMEOUT_S} s")
        await asyncio.sleep(0.2)


async def test_serve_on_another_port_names_that_port(books: Books, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://{HOST}:{port}"
    with simkeep_serve(tmp_path, books.url, port) as server:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:

            async def healthy() -> bool:
                assert server.poll() is None, (tmp_path / "server.log").read_text()
                try:
                    return (await http.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await until(healthy, "simkeep serve answering /healthz")
            await http.post("/api/v1/auth/codes", json={"phone": PHONE, "purpose": "register"})
            code = await last_code(books.db, PHONE)
            registered = await http.post(
                "/api/v1/auth/register", json={"phone": PHONE, "code": code, "password": PASSWORD}
            )
            auth = {"Authorization": f"Bearer {registered.json()['token']}"}
            number = books.sim.hk_number.e164
            created = await http.post(
                "/api/v1/topups",
                json={
                    "number": number,
                    "confirm_number": number,
                    "amount": {"minor": 5000, "currency": "HKD"},
                    "pay_currency": "CNY",
                    "provider": "alipay",
                    "channel": "page",
                },
                headers={**auth, "Idempotency-Key": "key-port-0001"},
            )
            assert created.status_code == 201, created.text
            order_no = created.json()["order_no"]
            pay_url = created.json()["payment"]["pay_url"]
            assert pay_url.startswith(f"{base}/_sim/alipay/gateway.do?")
            asked = parse_qs(urlsplit(pay_url).query)
            assert asked["notify_url"] == [f"{base}/api/v1/payments/alipay/notify"]
            assert asked["return_url"] == [f"{base}/topups/{order_no}"]

            assert (await http.get(pay_url)).status_code == 200  # the cashier opens
            paid = await http.post(f"/_sim/alipay/pay/{order_no}")
            assert paid.status_code == 200, paid.text

            async def credited() -> bool:
                order = await http.get(f"/api/v1/topups/{order_no}", headers=auth)
                return bool(order.json()["state"] == "credited")

            await until(credited, "the notification reaching the server")
            assert await kept(books.db, order_no) == [("credited", "notification")]
            receipt = await http.get(f"/api/v1/topups/{order_no}/receipt", headers=auth)
            assert receipt.json()["verify_url"].startswith(f"{base}/r/")


async def kept(db: Database, order_no: str) -> list[tuple[str, str]]:
    inbox = payment_tables.inbox.c

    async def read(conn: AsyncConnection) -> list[tuple[str, str]]:
        query = select(inbox.status, inbox.source).where(inbox.order_no == order_no)
        return [(row.status, row.source) for row in await conn.execute(query)]

    return await db.transaction(read)
