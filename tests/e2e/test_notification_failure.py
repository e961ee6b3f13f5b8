"""A genuine notification whose crediting fails (here: the SIM has no account in the books)
credits nothing, leaves the order waiting, is kept as ``failed`` with the reason, and is not
acknowledged — so the provider delivers it again once the fault is mended."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.payments import tables as payment_tables
from simkeep.sims import tables as sim_tables
from tests.e2e.api_world import Api

HK, CN = "+85292501850", "+8613900502650"


async def sim_without_books(conn: AsyncConnection, now: datetime) -> None:
    """A SIM written straight into its tables, without the ledger accounts issuing opens."""
    sim_id = (
        await conn.execute(
            sim_tables.sims.insert()
            .values(
                iccid="89852000000000099999",
                home_currency="HKD",
                plan_code="HK-KEEP",
                state="active",
                holder_masked="陳*明",
                id_type="hkid",
                id_digest="0" * 64,
                id_masked="A12****(3)",
                created_at=now,
            )
            .returning(sim_tables.sims.c.id)
        )
    ).scalar_one()
    await conn.execute(
        sim_tables.lines.insert(),
        [
            {"e164": HK, "sim_id": sim_id, "region": "HK"},
            {"e164": CN, "sim_id": sim_id, "region": "CN"},
        ],
    )


async def test_a_notification_that_cannot_be_credited_is_kept_as_failed(api: Api) -> None:
    await api.db.transaction(lambda conn: sim_without_books(conn, api.clock.now()))
    auth = await api.signup("+85261234590")
    created = await api.order(
        auth,
        "key-failure-0001",
        number=HK,
        confirm_number=HK,
        amount={"minor": 5000, "currency": "HKD"},
        pay_currency="CNY",
        provider="alipay",
        channel="qr",
    )
    assert created.status_code == 201, created.text
    order_no = created.json()["order_no"]
    assert (await api.http.post(f"/_sim/alipay/pay/{order_no}")).status_code == 200
    form = api.app.state.providers.alipay.deliveries[-1].form

    answer = await api.http.post(
        "/api/v1/payments/alipay/notify",
        content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code >= 400
    assert answer.text != "success"  # not acknowledged: Alipay will deliver it again

    async def kept(conn: AsyncConnection) -> list[tuple[str, str | None]]:
        inbox = payment_tables.inbox.c
        rows = await conn.execute(
            select(inbox.status, inbox.error).where(inbox.order_no == order_no)
        )
        return [(row.status, row.error) for row in rows]

    [(status, error)] = await api.db.transaction(kept)
    assert status == "failed"
    assert error is not None
    assert "no account" in error
    order = (await api.http.get(f"/api/v1/topups/{order_no}", headers=auth)).json()
    assert order["state"] == "awaiting_payment"
    assert order["receipt_no"] is None
