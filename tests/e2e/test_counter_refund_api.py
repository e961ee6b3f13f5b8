"""Refunds of counter top-ups through the POS API, on SQLite and PostgreSQL: a clerk's device
finds a top-up by its receipt number, refunds it in cash with an ``Idempotency-Key`` (a
retry answers the same refund, another body with the key is refused), the Z-report counts
it, its receipt prints; a top-up of another agent is refused; a refund the SIM's holder
asked through the subscribers' API, approved by staff, waits at the agent's counters and
is paid out once. Everything is in the OpenAPI document."""

from __future__ import annotations

import io

from pypdf import PdfReader

from simkeep.counter import service as counter
from simkeep.refunds import service as refunds
from simkeep.sims import service as sims
from simkeep.staff.audit import CLI, Actor
from simkeep.subscribers import service as subscribers
from tests.agent_world import operator
from tests.counter_world import place
from tests.e2e.api_world import PASSWORD, Api
from tests.e2e.test_pos_api import keyed, placed_device


async def test_a_device_refunds_a_counter_top_up_in_cash_once_per_key(api: Api) -> None:
    _where, auth = await placed_device(api)
    http, hk = api.http, api.hk_sim.hk_number.e164
    opened = await http.post(
        "/api/v1/pos/shifts", json={"opening_cash_minor": 50_000}, headers=auth
    )
    shift_id = opened.json()["id"]
    body = {"number": hk, "amount_minor": 20_000, "payment": "cash"}
    sold = await http.post("/api/v1/pos/topups", json=body, headers=keyed(auth, "key-sale-01"))
    receipt_no, order_no = sold.json()["receipt_no"], sold.json()["order_no"]

    preview = await http.get(f"/api/v1/pos/topups/{receipt_no}/refund", headers=auth)
    assert preview.status_code == 200, preview.text
    assert preview.json()["order_no"] == order_no
    assert preview.json()["pay"] == {"minor": 20_000, "currency": "HKD"}
    assert preview.json()["payment"] == "cash"
    assert preview.json()["number_masked"].startswith("+852 9***")
    assert preview.json()["holder"]["id_check_needed"] is False

    ask = {"topup": receipt_no, "reason": "not_needed", "payment": "cash", "amount_minor": 20_000}
    unkeyed = await http.post("/api/v1/pos/refunds", json=ask, headers=auth)
    to_card = {**ask, "payment": "card", "terminal_ref": "T-1"}
    wrong_way = await http.post(
        "/api/v1/pos/refunds", json=to_card, headers=keyed(auth, "key-refund-00")
    )
    made = await http.post("/api/v1/pos/refunds", json=ask, headers=keyed(auth, "key-refund-01"))
    again = await http.post("/api/v1/pos/refunds", json=ask, headers=keyed(auth, "key-refund-01"))
    other = {**ask, "reason": "other"}
    clash = await http.post("/api/v1/pos/refunds", json=other, headers=keyed(auth, "key-refund-01"))
    twice = await http.post("/api/v1/pos/refunds", json=ask, headers=keyed(auth, "key-refund-02"))

    assert unkeyed.status_code == 422
    assert (wrong_way.status_code, wrong_way.json()["error"]["code"]) == (422, "invalid_payment")
    assert made.status_code == 201, made.text
    refund_no = made.json()["refund_no"]
    assert (made.json()["state"], made.json()["payout"]) == ("paid", "cash")
    assert made.json()["commission_back"] == {"minor": 300, "currency": "HKD"}
    assert (again.status_code, again.json()["refund_no"], again.json()["replayed"]) == (
        200,
        refund_no,
        True,
    )
    assert (clash.status_code, clash.json()["error"]["code"]) == (409, "idempotency_conflict")
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "not_refundable")

    went = await http.get("/api/v1/pos/refunds", params={"key": "key-refund-01"}, headers=auth)
    assert went.json()["refund_no"] == refund_no
    lost = await http.get("/api/v1/pos/refunds", params={"key": "key-refund-99"}, headers=auth)
    assert lost.status_code == 404

    report = await http.get(f"/api/v1/pos/shifts/{shift_id}", headers=auth)
    assert report.json()["expected_cash"] == {"minor": 50_000, "currency": "HKD"}
    assert report.json()["refund_totals"][0] == {
        "payment": "cash",
        "count": 1,
        "total": {"minor": 20_000, "currency": "HKD"},
    }
    assert [found["refund_no"] for found in report.json()["refunds"]] == [refund_no]
    pdf = await http.get(f"/api/v1/pos/refunds/{refund_no}/receipt.pdf?lang=en", headers=auth)
    assert pdf.headers["content-type"] == "application/pdf", pdf.text
    printed = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert refund_no in printed
    flat = "".join(printed.split())  # paid out at this counter, by its clerk, in cash
    assert "Clerk" in flat
    assert "TenderCash" in flat

    unknown = await http.get("/api/v1/pos/topups/R2611259999999999/refund", headers=auth)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "unknown_topup")


async def test_another_agents_device_is_refused_and_a_holders_refund_is_paid_out_once(
    api: Api,
) -> None:
    _where, auth = await placed_device(api)
    http, hk = api.http, api.hk_sim.hk_number.e164
    await http.post("/api/v1/pos/shifts", json={"opening_cash_minor": 0}, headers=auth)
    body = {"number": hk, "amount_minor": 10_000, "payment": "cash"}
    sold = await http.post("/api/v1/pos/topups", json=body, headers=keyed(auth, "key-sale-02"))
    order_no = sold.json()["order_no"]

    other = await place(api.db, now=api.clock.now(), code="QUIK", username="clerk.qk", books=False)
    device = await counter.issue_device(
        api.db, staff_id=other.clerk.id, label="Till 9", actor=CLI, now=api.clock.now()
    )
    theirs = {"Authorization": f"Bearer {device.token}"}
    await http.post("/api/v1/pos/shifts", json={"opening_cash_minor": 0}, headers=theirs)
    ask = {"topup": order_no, "reason": "not_needed", "payment": "cash"}
    refused = await http.post("/api/v1/pos/refunds", json=ask, headers=keyed(theirs, "key-qk-1"))
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "other_agent")

    holder = await subscribers.enroll(
        api.db, phone="+85261110000", password=PASSWORD, language="en", now=api.clock.now()
    )
    await api.db.transaction(
        lambda conn: sims.assign_sim(
            conn, subscriber_id=holder, sim_id=api.hk_sim.id, now=api.clock.now()
        )
    )
    mine = await api.login("+85261110000")
    asked = await http.post(
        f"/api/v1/topups/{order_no}/refunds",
        json={"reason": "not_needed"},
        headers={**mine, "Idempotency-Key": "holder-key-1"},
    )
    assert asked.status_code == 201, asked.text
    refund_no = asked.json()["refund_no"]
    assert asked.json()["state"] == "requested"
    olive = Actor(await operator(api.db, "olive", now=api.clock.now()), "127.0.0.1")
    await api.db.transaction(
        lambda conn: refunds.approve(
            conn, refund_no=refund_no, actor=olive, note="", now=api.clock.now()
        )
    )

    waiting = await http.get("/api/v1/pos/refunds/waiting", headers=auth)
    assert [found["refund_no"] for found in waiting.json()] == [refund_no]
    assert (await http.get("/api/v1/pos/refunds/waiting", headers=theirs)).json() == []
    path = f"/api/v1/pos/refunds/{refund_no}/pay-out"
    cash = {"payment": "cash"}
    paid = await http.post(path, json=cash, headers=keyed(auth, "key-payout-1"))
    replay = await http.post(path, json=cash, headers=keyed(auth, "key-payout-1"))
    again = await http.post(path, json=cash, headers=keyed(auth, "key-payout-2"))
    not_theirs = await http.post(path, json=cash, headers=keyed(theirs, "key-payout-3"))

    assert paid.status_code == 200, paid.text
    assert (paid.json()["payout"], paid.json()["replayed"]) == ("cash", False)
    assert (replay.status_code, replay.json()["replayed"]) == (200, True)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "refund_paid_out")
    assert (not_theirs.status_code, not_theirs.json()["error"]["code"]) == (404, "unknown_refund")

    followed = await http.get(f"/api/v1/refunds/{refund_no}", headers=mine)
    assert (followed.status_code, followed.json()["state"]) == (200, "paid"), followed.text
    listed = await http.get(f"/api/v1/topups/{order_no}/refunds", headers=mine)
    assert [found["refund_no"] for found in listed.json()] == [refund_no]
    assert (await http.get(f"/api/v1/topups/{order_no}", headers=mine)).status_code == 200
    await subscribers.enroll(
        api.db, phone="+85261110001", password=PASSWORD, language="en", now=api.clock.now()
    )
    stranger = await api.login("+85261110001")
    for path in (f"/api/v1/refunds/{refund_no}", f"/api/v1/topups/{order_no}/refunds"):
        assert (await http.get(path, headers=stranger)).status_code == 404


async def test_the_counters_refunds_are_in_the_openapi_document(api: Api) -> None:
    document = (await api.http.get("/api/v1/openapi.json")).json()
    paths = document["paths"]

    for path in (
        "/api/v1/pos/topups/{topup}/refund",
        "/api/v1/pos/refunds",
        "/api/v1/pos/refunds/waiting",
        "/api/v1/pos/refunds/{refund_no}/pay-out",
        "/api/v1/pos/refund-id-checks",
        "/api/v1/pos/refunds/{refund_no}/receipt.pdf",
    ):
        assert path in paths, path
    made = paths["/api/v1/pos/refunds"]["post"]
    assert {"200", "201", "409", "422"} <= set(made["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in made["parameters"])
