"""The refunds API: ask for a top-up's money back, replay and conflict by Idempotency-Key,
follow the refund, and nobody else's (docs/refunds.md)."""

from __future__ import annotations

import asyncio
from typing import Any

from simkeep.refunds import sending
from simkeep.sims import service as sims
from simkeep.subscribers import service as subscribers
from tests.e2e.api_world import PASSWORD, Api, api, cn100

__all__ = ["api"]


async def credited(api: Api, auth: dict[str, str]) -> str:
    """A ¥100 top-up of the CNY SIM (not the payer's: a wrong number), paid and credited."""
    created = await api.order(auth, "order-key-0001", **cn100(api.cn_sim.cn_number.e164))
    assert created.status_code == 201, created.text
    order_no: str = created.json()["order_no"]
    await api.http.post(f"/_sim/wechatpay/pay/{order_no}", params={"outcome": "success"})
    assert await api.poll() == 1
    return order_no


async def ask(
    api: Api, auth: dict[str, str], order_no: str, key: str, **body: Any
) -> tuple[int, dict[str, Any]]:
    answer = await api.http.post(
        f"/api/v1/topups/{order_no}/refunds",
        json={"reason": "wrong_number", **body},
        headers={**auth, "Idempotency-Key": key},
    )
    return answer.status_code, answer.json()


async def test_a_wrong_number_top_up_is_refunded_and_followed(api: Api) -> None:
    auth = await api.signup("+85261234567")
    order_no = await credited(api, auth)
    status, refund = await ask(api, auth, order_no, "refund-key-0001", note="one digit wrong")
    assert status == 201, refund
    assert refund["state"] == "approved"
    assert refund["pay"] == {"minor": 10000, "currency": "CNY"}
    assert refund["refunded"] == {"minor": 10000, "currency": "CNY"}
    assert refund["deducted"] is None
    assert (await ask(api, auth, order_no, "refund-key-0001", note="one digit wrong"))[1][
        "refund_no"
    ] == refund["refund_no"]  # a replay: the same refund
    status, conflict = await ask(api, auth, order_no, "refund-key-0001", note="other")
    assert (status, conflict["error"]["code"]) == (409, "idempotency_conflict")

    order = (await api.http.get(f"/api/v1/topups/{order_no}", headers=auth)).json()
    assert order["state"] == "refund_requested"
    adapters = api.app.state.payment_adapters
    for _ in range(6):  # the worker's rounds; WeChat Pay pays back a minute later
        await sending.send_due(api.db, adapters=adapters, now=api.clock.now())
        await api.poll()
    followed = await api.http.get(f"/api/v1/refunds/{refund['refund_no']}", headers=auth)
    assert followed.json()["state"] == "paid"
    assert followed.json()["paid_at"] is not None
    listed = await api.http.get(f"/api/v1/topups/{order_no}/refunds", headers=auth)
    assert [r["refund_no"] for r in listed.json()] == [refund["refund_no"]]
    order = (await api.http.get(f"/api/v1/topups/{order_no}", headers=auth)).json()
    assert order["state"] == "refunded"
    status, done = await ask(api, auth, order_no, "refund-key-0002")
    assert (status, done["error"]["code"]) == (409, "not_refundable")


async def test_nobody_else_asks_or_reads_a_refund(api: Api) -> None:
    """Not even the holder of the SIM topped up: an order paid online is its payer's."""
    auth = await api.signup("+85261234567")
    now = api.clock.now()
    holder = await subscribers.enroll(
        api.db, phone="+85261234568", password=PASSWORD, language="en", now=now
    )
    await api.db.transaction(
        lambda conn: sims.assign_sim(conn, subscriber_id=holder, sim_id=api.cn_sim.id, now=now)
    )
    other = await api.login("+85261234568")
    order_no = await credited(api, auth)
    assert (await api.http.get(f"/api/v1/topups/{order_no}", headers=other)).status_code == 404
    status, refused = await ask(api, other, order_no, "refund-key-0003")
    assert (status, refused["error"]["code"]) == (404, "unknown_refund")
    _, refund = await ask(api, auth, order_no, "refund-key-0004", reason="not_needed")
    assert refund["state"] == "requested"
    for path in (f"/api/v1/refunds/{refund['refund_no']}", f"/api/v1/topups/{order_no}/refunds"):
        assert (await api.http.get(path, headers=other)).status_code == 404
        assert (await api.http.get(path)).status_code == 401


async def test_odd_requests_are_refused_and_change_nothing(api: Api) -> None:
    auth = await api.signup("+85261234567")
    order_no = await credited(api, auth)
    odd: list[tuple[dict[str, Any], int, str]] = [
        ({"reason": "because"}, 422, "invalid_request"),
        ({"note": "x" * 501}, 422, "invalid_request"),
        ({"amount": {"minor": 10001, "currency": "CNY"}}, 422, "above_refundable"),
        ({"amount": {"minor": 100, "currency": "HKD"}}, 422, "above_refundable"),
        ({"amount": {"minor": 0, "currency": "CNY"}}, 422, "invalid_request"),
    ]
    for n, (body, status, code) in enumerate(odd):
        got, answer = await ask(api, auth, order_no, f"odd-key-{n:04d}", **body)
        assert (got, answer["error"]["code"]) == (status, code), (body, answer)
    missing_key = await api.http.post(
        f"/api/v1/topups/{order_no}/refunds", json={"reason": "wrong_number"}, headers=auth
    )
    assert missing_key.status_code == 422
    bad_number = await api.http.get("/api/v1/refunds/F-1", headers=auth)
    assert bad_number.status_code == 422
    order = (await api.http.get(f"/api/v1/topups/{order_no}", headers=auth)).json()
    assert order["state"] == "credited"  # nothing was asked


async def test_fifty_requests_at_once_open_one_refund(api: Api) -> None:
    auth = await api.signup("+85261234567")
    order_no = await credited(api, auth)
    answers = await asyncio.gather(
        *(
            ask(api, auth, order_no, f"race-key-{n:04d}", reason="not_needed", note=str(n))
            for n in range(50)
        )
    )
    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] + [409] * 49, statuses
    assert {body["error"]["code"] for status, body in answers if status == 409} == {"refund_open"}
