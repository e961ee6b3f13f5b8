"""Exports of orders, refunds and reconciliation as CSV, through the real app and the
command line, on SQLite and PostgreSQL (docs/staff.md).

陳 (+852 6123 4567) tops up the world's HKD SIM (+852 9201 0037), as the services of the app
do it: HK$50.00 by FPS at 23:59 on 19 November (Hong Kong time), HK$100.00 by FPS at 00:30
on the 20th, HK$50.00 paid ¥46.00 by Alipay at noon on the 22nd, HK$200.00 by FPS at 23:59
on the 25th never paid, and HK$50.00 by FPS at midnight on the 26th. A refund of the
HK$100.00 top-up is asked at 18:00 on the 20th (a wrong number: approved by the rule), one
of the Alipay top-up at 13:00 on the 22nd, with a note that a spreadsheet would run as a
formula. FPS's bill of the 20th has the HK$100.00 top-up and a payment simkeep never saw,
and lacks the top-up paid at midnight.

The export of the 20th to the 25th holds exactly the three orders created on those Hong Kong
days, the two refunds and the two differences of FPS's day, cell for cell, after a byte
order mark and a header; it is written in the audit log with who asked for it; bad choices
are a 400 page and no entry; a range of a year of many orders streams whole, a batch at a
time; the command line writes the same files."""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection
from typer.testing import CliRunner

from simkeep.cli.main import app
from simkeep.clock import FixedClock
from simkeep.days import DayRange
from simkeep.db import Database
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.reconciliation import service as reconciliation
from simkeep.reconciliation.bill import Bill, BillRow, RowKind
from simkeep.refunds import service as refunds
from simkeep.refunds.model import AutoRule, Reason
from simkeep.refunds.service import Asking
from simkeep.settings import load_settings
from simkeep.sims.model import Sim
from simkeep.staff import audit, exports
from simkeep.staff.exports import Export
from simkeep.staff.model import code_at, time_step
from simkeep.subscribers import service as subscribers
from simkeep.topups import service as topups
from simkeep.topups import tables as topup_tables
from simkeep.topups.model import Order, OrderRequest
from tests.agent_world import SECRETS, STAFF_PASSWORD, operator
from tests.e2e.site_world import Site, csrf_of, site
from tests.factories import issue_sim, seed_books

__all__ = ["site"]

HOLDER = "+85261234567"
RULE = AutoRule(max_credit=30_000, within=timedelta(hours=24))
NO_RULE = AutoRule(max_credit=0, within=timedelta(0))
DAYS = {"from": "2026-11-20", "to": "2026-11-25"}
ORDER_HEADER = (
    "order_no,created_at,state,provider,channel,number,credit_amount,credit_currency,"
    "pay_amount,pay_currency,fx_rate,paid_at,credited_at,provider_trade_no,receipt_no"
)
REFUND_HEADER = (
    "refund_no,order_no,requested_at,state,reason,requested_by,provider,credit_amount,"
    "credit_currency,pay_amount,pay_currency,full,decided_at,decided_by,paid_at,"
    "provider_refund_no,note,decision_note"
)
RECONCILIATION_HEADER = (
    "provider,day,side,kind,class,action,order_no,refund_no,trade_no,bill_amount,"
    "bill_currency,bill_fee,bill_fee_currency,bill_at,simkeep_amount,simkeep_currency,"
    "simkeep_state,simkeep_at,other_day,answer,acted_by,acted_at,note"
)
runner = CliRunner()


def hk(day: int, hour: int, minute: int = 0) -> datetime:
    """An instant of November 2026 given in Hong Kong time (UTC+8)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


@dataclass
class Planted:
    holder: int
    orders: dict[str, Order]
    refund_nos: dict[str, str]


async def plant(db: Database, sim: Sim, clock: FixedClock) -> Planted:
    holder = await subscribers.enroll(
        db, phone=HOLDER, password="correct horse", language="en", now=hk(1, 9)
    )
    p = Planted(holder, {}, {})
    hkd, fps, qr = "HKD", Provider.FPS, Channel.QR
    for key, at, credit, provider, channel, pay_currency, pay in [
        ("before", hk(19, 23, 59), 5_000, fps, qr, hkd, True),
        ("first", hk(20, 0, 30), 10_000, fps, qr, hkd, True),
        ("alipay", hk(22, 12), 5_000, Provider.ALIPAY, Channel.WAP, "CNY", True),
        ("unpaid", hk(25, 23, 59), 20_000, fps, qr, hkd, False),
        ("after", hk(26, 0), 5_000, fps, qr, hkd, True),
    ]:
        request = OrderRequest.of(
            subscriber_id=holder,
            idempotency_key=key,
            number=sim.hk_number.e164,
            confirm_number=sim.hk_number.e164,
            credit=Money(credit, hkd),
            pay_currency=pay_currency,
            provider=provider,
            channel=channel,
        )
        p.orders[key] = await db.transaction(_order(request, at, pay))
    for key, at, note, rule in [
        ("first", hk(20, 18), "打錯號碼，請退款", RULE),
        ("alipay", hk(22, 13), '=HYPERLINK("http://example.com")', NO_RULE),
    ]:
        refund = await db.transaction(_refund(p, key, at, note, rule))
        p.refund_nos[key] = refund.refund_no
    await reconcile(db, p, clock)
    return p


@dataclass
class Bills:
    """FPS's bills, as its console hands them out."""

    bills: dict[date, Bill]

    async def bill(self, day: date) -> Bill:
        return self.bills[day]


async def reconcile(db: Database, p: Planted, clock: FixedClock) -> None:
    """FPS's bill of 20 November: the HK$100.00 top-up, and a payment simkeep never saw; it
    lacks the top-up paid at midnight."""
    day, hkd, fee = date(2026, 11, 20), Money(10_000, "HKD"), Money(0, "HKD")
    rows = (
        BillRow(RowKind.PAY, p.orders["first"].order_no, "", "T-first", hkd, fee, hk(20, 0, 31)),
        BillRow(RowKind.PAY, "NOT-OURS-1", "", "P-NOT-OURS", hkd, fee, hk(20, 15)),
    )
    await reconciliation.reconcile(
        db,
        provider=Provider.FPS,
        day=day,
        source=Bills({day: Bill(Provider.FPS, day, rows)}),
        adapter=None,
        by="cli",
        clock=clock,
        carry=timedelta(minutes=10),
    )


def _order(request: OrderRequest, at: datetime, pay: bool) -> Any:
    async def run(conn: AsyncConnection) -> Order:
        order = await topups.create_order(conn, request=request, now=at)
        if not pay:
            return order
        paid = await topups.credit_paid_order(
            conn,
            order_no=order.order_no,
            paid=order.pay,
            provider_trade_no=f"T-{request.idempotency_key}",
            now=at + timedelta(minutes=1),
        )
        return paid.order

    return run


def _refund(p: Planted, key: str, at: datetime, note: str, rule: AutoRule) -> Any:
    async def run(conn: AsyncConnection) -> Any:
        return await refunds.request_refund(
            conn,
            order_no=p.orders[key].order_no,
            asking=Asking(p.holder),
            reason=Reason.WRONG_NUMBER,
            note=note,
            asked=None,
            rule=rule,
            now=at,
        )

    return run


def expected_orders(p: Planted) -> list[list[str]]:
    first, alipay, unpaid = p.orders["first"], p.orders["alipay"], p.orders["unpaid"]
    number = "+852 9***0037"
    return [
        [
            first.order_no, "2026-11-20T00:30:00+08:00", "refund_requested", "fps", "qr",
            number, "100.00", "HKD", "100.00", "HKD", "", "2026-11-20T00:31:00+08:00",
            "2026-11-20T00:31:00+08:00", "T-first", str(first.receipt_no),
        ],
        [
            alipay.order_no, "2026-11-22T12:00:00+08:00", "refund_requested", "alipay", "wap",
            number, "50.00", "HKD", "46.00", "CNY", "0.92", "2026-11-22T12:01:00+08:00",
            "2026-11-22T12:01:00+08:00", "T-alipay", str(alipay.receipt_no),
        ],
        [
            unpaid.order_no, "2026-11-25T23:59:00+08:00", "created", "fps", "qr", number,
            "200.00", "HKD", "200.00", "HKD", "", "", "", "", "",
        ],
    ]  # fmt: skip


def expected_refunds(p: Planted) -> list[list[str]]:
    by = f"subscriber:{p.holder}"
    return [
        [
            p.refund_nos["first"], p.orders["first"].order_no, "2026-11-20T18:00:00+08:00",
            "approved", "wrong_number", by, "fps", "100.00", "HKD", "100.00", "HKD", "yes",
            "2026-11-20T18:00:00+08:00", "rule:wrong_number_unused", "", "",
            "打錯號碼，請退款", "",
        ],
        [
            p.refund_nos["alipay"], p.orders["alipay"].order_no, "2026-11-22T13:00:00+08:00",
            "requested", "wrong_number", by, "alipay", "50.00", "HKD", "46.00", "CNY", "yes",
            "", "", "", "", '\'=HYPERLINK("http://example.com")', "",
        ],
    ]  # fmt: skip


def expected_reconciliation(p: Planted) -> list[list[str]]:
    before = p.orders["before"].order_no
    return [
        [
            "fps", "2026-11-20", "bill", "pay", "provider_only", "none", "NOT-OURS-1", "",
            "P-NOT-OURS", "100.00", "HKD", "0.00", "HKD", "2026-11-20T15:00:00+08:00",
            "", "", "", "", "", "", "", "", "",
        ],
        [
            "fps", "2026-11-20", "local", "pay", "local_only", "none", before, "", "T-before",
            "", "", "", "", "", "50.00", "HKD", "credited", "2026-11-20T00:00:00+08:00",
            "", "", "", "", "",
        ],
    ]  # fmt: skip


def read_csv(body: bytes) -> tuple[str, list[list[str]]]:
    """The header line and the rows of a CSV file that starts with a byte order mark."""
    assert body.startswith("\ufeff".encode())
    text = body.decode("utf-8-sig")
    assert text.count("\n") == text.count("\r\n") > 0  # rows end with CRLF (RFC 4180)
    header, _, _ = text.partition("\r\n")
    return header, list(csv.reader(io.StringIO(text)))[1:]


@pytest.fixture
async def planted(site: Site) -> Planted:
    return await plant(site.db, site.hk_sim, site.clock)


async def signed_in(site: Site, username: str, role: str) -> httpx.AsyncClient:
    """A browser signed in as a new member of staff in ``role``."""
    await operator(site.db, username, now=site.clock.now(), role=role)
    http = site.browser()
    page = await http.get("/staff/login")
    code = code_at(SECRETS[username], time_step(site.clock.now()))
    data = {"csrf": csrf_of(page), "username": username, "password": STAFF_PASSWORD}
    assert (await http.post("/staff/login", data={**data, "code": code})).status_code == 303
    return http


async def audit_entries(db: Database) -> list[audit.Entry]:
    return await db.read(lambda conn: audit.entries(conn, limit=10))


async def test_the_orders_of_the_days_cell_for_cell(site: Site, planted: Planted) -> None:
    http = await signed_in(site, "olive", "operator")
    answer = await http.get("/staff/exports/csv", params={"what": "orders", **DAYS})
    await http.aclose()

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == (
        'attachment; filename="simkeep-orders-2026-11-20-2026-11-25.csv"'
    )
    assert answer.headers["cache-control"] == "no-store"
    header, rows = read_csv(answer.content)
    assert header == ORDER_HEADER
    assert rows == expected_orders(planted)


async def test_the_reconciliation_of_the_days(site: Site, planted: Planted) -> None:
    http = await signed_in(site, "olive", "operator")
    answer = await http.get("/staff/exports/csv", params={"what": "reconciliation", **DAYS})
    await http.aclose()

    header, rows = read_csv(answer.content)
    assert header == RECONCILIATION_HEADER
    assert rows == expected_reconciliation(planted)


async def test_the_refunds_of_the_days_with_their_notes(site: Site, planted: Planted) -> None:
    http = await signed_in(site, "olive", "operator")
    answer = await http.get("/staff/exports/csv", params={"what": "refunds", **DAYS})
    await http.aclose()

    header, rows = read_csv(answer.content)
    assert header == REFUND_HEADER
    assert rows == expected_refunds(planted)


@pytest.mark.parametrize(("role", "username"), [("auditor", "ada"), ("finance", "fiona")])
async def test_an_export_is_written_in_the_audit_log_with_who_asked(
    site: Site, planted: Planted, role: str, username: str
) -> None:
    http = await signed_in(site, username, role)
    answer = await http.get("/staff/exports/csv", params={"what": "refunds", **DAYS})
    await http.aclose()

    assert answer.status_code == 200
    entry = (await audit_entries(site.db))[0]
    assert (entry.username, entry.action) == (username, "export.refunds")
    assert (entry.target.type, entry.target.id) == ("export", "2026-11-20/2026-11-25")
    assert entry.after == {"what": "refunds", "from": "2026-11-20", "to": "2026-11-25"}
    assert entry.before is None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"what": "secrets", **DAYS}, "what"),
        ({"what": "orders", "from": "2025-11-01", "to": "2026-11-25"}, "from"),
        ({"what": "orders", "from": "2026-11-25", "to": "2026-11-20"}, "to"),
        ({"what": "orders", "from": "20/11/2026", "to": "2026-11-25"}, "from"),
    ],
)
async def test_bad_choices_show_the_form_again_and_export_nothing(
    site: Site, query: dict[str, str], field: str
) -> None:
    http = await signed_in(site, "olive", "operator")
    before = len(await audit_entries(site.db))
    answer = await http.get("/staff/exports/csv", params={**query, "lang": "en"})
    await http.aclose()

    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("text/html")
    assert f'id="f-{field}"' in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert len(await audit_entries(site.db)) == before


async def test_the_form_offers_the_last_30_days(site: Site) -> None:
    http = await signed_in(site, "olive", "operator")
    page = await http.get("/staff/exports", params={"lang": "zh_Hans_CN"})
    await http.aclose()

    assert page.status_code == 200
    assert 'value="2026-10-27"' in page.text
    assert 'value="2026-11-25"' in page.text
    assert "<h1>导出</h1>" in page.text
    assert 'action="/staff/exports/csv"' in page.text


async def test_a_year_of_many_orders_streams_whole_a_batch_at_a_time(
    site: Site, planted: Planted
) -> None:
    """2,500 orders over a year (copies of a real one, for the volume) come out whole, in
    the order they were made, read 1,000 at a time."""
    model = planted.orders["first"]
    start = hk(26, 0) - timedelta(days=365)

    async def copy(conn: AsyncConnection) -> None:
        row = (
            await conn.execute(
                select(topup_tables.orders).where(topup_tables.orders.c.order_no == model.order_no)
            )
        ).one()
        values = {k: v for k, v in row._mapping.items() if k != "id"}
        await conn.execute(
            insert(topup_tables.orders),
            [
                {
                    **values,
                    "order_no": f"BULK{n:06d}",
                    "idempotency_key": f"bulk-{n}",
                    "receipt_no": f"RB{n:06d}",
                    "created_at": start + timedelta(minutes=210 * n),
                }
                for n in range(2_500)
            ],
        )

    await site.db.transaction(copy)
    year = DayRange.ending(hk(25, 12).date(), days=366)
    chunks = [c async for c in exports.csv_text(site.db, what=Export.ORDERS, days=year)]
    assert len(chunks) == 1 + 3  # the header, then 1,000 + 1,000 + 503 rows

    http = await signed_in(site, "olive", "operator")
    query = {"what": "orders", "from": year.first.isoformat(), "to": year.last.isoformat()}
    answer = await http.get("/staff/exports/csv", params=query)
    await http.aclose()

    assert answer.content.decode("utf-8") == "".join(chunks)
    _, rows = read_csv(answer.content)
    bulk = [row[0] for row in rows if row[0].startswith("BULK")]
    assert bulk == [f"BULK{n:06d}" for n in range(2_500)]
    assert len(rows) == 2_500 + 4  # and the planted orders but the one of the 26th


async def test_small_batches_read_every_row_once_in_order(site: Site, planted: Planted) -> None:
    days = DayRange.of(hk(20, 12).date(), hk(25, 12).date())
    chunks = [c async for c in exports.csv_text(site.db, what=Export.ORDERS, days=days, batch=2)]
    assert len(chunks) == 1 + 2  # the header, then 2 + 1 rows
    _, rows = read_csv("".join(chunks).encode())
    assert rows == expected_orders(planted)


def test_the_command_line_writes_the_same_file(
    database_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    async def setup() -> Planted:
        db = Database.from_settings(load_settings(database_url=database_url))
        try:

            async def books(conn: AsyncConnection) -> Sim:
                await seed_books(conn, now=clock.now())
                return await issue_sim(conn, n=1, plan="HK-VALID", now=clock.now())

            return await plant(db, await db.transaction(books), clock)
        finally:
            await db.dispose()

    planted = asyncio.run(setup())
    out = tmp_path / "orders.csv"
    result = runner.invoke(
        app,
        ["export", "orders", "--from", DAYS["from"], "--to", DAYS["to"], "--out", str(out)],
        env={"SIMKEEP_DATABASE_URL": database_url},
    )
    assert result.exit_code == 0, result.output
    header, rows = read_csv(out.read_bytes())
    assert (header, rows) == (ORDER_HEADER, expected_orders(planted))

    to_stdout = runner.invoke(
        app,
        ["export", "refunds", "--from", DAYS["from"], "--to", DAYS["to"]],
        env={"SIMKEEP_DATABASE_URL": database_url},
    )
    assert to_stdout.exit_code == 0
    assert read_csv(to_stdout.stdout_bytes) == (REFUND_HEADER, expected_refunds(planted))
    reconciled = runner.invoke(
        app,
        ["export", "reconciliation", "--from", DAYS["from"], "--to", DAYS["to"]],
        env={"SIMKEEP_DATABASE_URL": database_url},
    )
    assert read_csv(reconciled.stdout_bytes) == (
        RECONCILIATION_HEADER,
        expected_reconciliation(planted),
    )

    refused = runner.invoke(
        app,
        ["export", "orders", "--from", "2025-01-01", "--to", DAYS["to"]],
        env={"SIMKEEP_DATABASE_URL": database_url},
    )
    assert refused.exit_code == 2
    assert "range_too_long" in refused.output

    async def actions() -> list[tuple[str, int | None, str]]:
        db = Database.from_settings(load_settings(database_url=database_url))
        try:
            entries = await audit_entries(db)
            return [(e.action, e.staff_id, e.origin) for e in entries if e.target.type == "export"]
        finally:
            await db.dispose()

    assert asyncio.run(actions()) == [
        ("export.reconciliation", None, "cli"),
        ("export.refunds", None, "cli"),
        ("export.orders", None, "cli"),
    ]
