"""The POS API end to end, on SQLite and PostgreSQL: a clerk's device token opens a shift,
looks numbers up, checks an ID, tops up (a retry with the same key — twenty at once — makes
one sale; another body with it is refused), sells vouchers, reads receipts and the
Z-report, and closes the shift; anyone else's token is refused."""

from __future__ import annotations

import asyncio
import io

from pypdf import PdfReader

from simkeep.counter import service as counter
from simkeep.sims.model import digest_key
from simkeep.staff import service as staff
from simkeep.staff.audit import CLI
from tests.counter_world import Place, place, sim_under_key, vouchers
from tests.e2e.api_world import Api

RIGHT_ID = {"id_type": "hkid", "id_number": "A123456(3)"}
AT_ONCE = 20


async def device(api: Api, *, float_minor: int = 1_000_000) -> dict[str, str]:
    """A clerk's device at a funded outlet: its bearer header."""
    return (await placed_device(api, float_minor=float_minor))[1]


async def placed_device(api: Api, *, float_minor: int = 1_000_000) -> tuple[Place, dict[str, str]]:
    where = await place(api.db, now=api.clock.now(), books=False, float_minor=float_minor)
    new = await counter.issue_device(
        api.db, staff_id=where.clerk.id, label="Till 1", actor=CLI, now=api.clock.now()
    )
    return where, {"Authorization": f"Bearer {new.token}"}


def keyed(auth: dict[str, str], key: str) -> dict[str, str]:
    return {**auth, "Idempotency-Key": key}


async def test_a_clerks_device_works_the_counter_from_shift_to_close(api: Api) -> None:
    auth = await device(api)
    http, hk = api.http, api.hk_sim.hk_number.e164

    opened = await http.post(
        "/api/v1/pos/shifts", json={"opening_cash_minor": 50_000}, headers=auth
    )
    assert opened.status_code == 201, opened.text
    shift_id = opened.json()["id"]
    again = await http.post("/api/v1/pos/shifts", json={"opening_cash_minor": 0}, headers=auth)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "shift_open")

    found = await http.get(f"/api/v1/pos/numbers/{hk}", headers={**auth, "Accept-Language": "en"})
    assert found.status_code == 200, found.text
    assert found.json()["holder_masked"] == "陳*明"
    assert found.json()["id_check_from"] == {"minor": 50_000, "currency": "HKD"}

    body = {"number": hk, "amount_minor": 10_000, "payment": "cash"}
    first = await http.post("/api/v1/pos/topups", json=body, headers=keyed(auth, "key-api-0001"))
    assert first.status_code == 201, first.text
    replay = await http.post("/api/v1/pos/topups", json=body, headers=keyed(auth, "key-api-0001"))
    assert replay.status_code == 200
    assert replay.json()["id"] == first.json()["id"]
    assert replay.json()["replayed"] is True
    other = {**body, "amount_minor": 20_000}
    clash = await http.post("/api/v1/pos/topups", json=other, headers=keyed(auth, "key-api-0001"))
    assert (clash.status_code, clash.json()["error"]["code"]) == (409, "idempotency_conflict")

    went = await http.get("/api/v1/pos/sales", params={"key": "key-api-0001"}, headers=auth)
    assert went.json()["receipt_no"] == first.json()["receipt_no"]
    lost = await http.get("/api/v1/pos/sales", params={"key": "key-api-none"}, headers=auth)
    assert lost.status_code == 404

    sale_id = first.json()["id"]
    receipt = await http.get(f"/api/v1/pos/sales/{sale_id}/receipt", headers=auth)
    assert receipt.status_code == 200, receipt.text
    assert receipt.json()["topup"]["validity_until"] is not None
    assert receipt.json()["clerk"] == "Mandy Clerk"
    pdf = await http.get(f"/api/v1/pos/sales/{sale_id}/receipt.pdf?lang=en", headers=auth)
    assert pdf.headers["content-type"] == "application/pdf"
    assert "Wan Chai shop" in PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()

    closed = await http.post(
        f"/api/v1/pos/shifts/{shift_id}/close", json={"counted_cash_minor": 60_000}, headers=auth
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["expected_cash"] == {"minor": 60_000, "currency": "HKD"}
    assert closed.json()["difference"] == {"minor": 0, "currency": "HKD"}
    twice = await http.post(
        f"/api/v1/pos/shifts/{shift_id}/close", json={"counted_cash_minor": 1}, headers=auth
    )
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "shift_closed")
    report = await http.get(f"/api/v1/pos/shifts/{shift_id}", headers=auth)
    assert report.json()["cash_sales"] == {"minor": 10_000, "currency": "HKD"}
    z = await http.get(f"/api/v1/pos/shifts/{shift_id}/z-report.pdf", headers=auth)
    assert z.headers["content-type"] == "application/pdf"


async def test_an_id_check_opens_a_large_top_up(api: Api) -> None:
    auth = await device(api)
    key = digest_key(api.app.state.settings.secret_key)
    card = await sim_under_key(api.db, n=9, now=api.clock.now(), id_key=key)
    http, hk = api.http, card.hk_number.e164
    await http.post("/api/v1/pos/shifts", json={"opening_cash_minor": 0}, headers=auth)
    body = {"number": hk, "amount_minor": 60_000, "payment": "card", "terminal_ref": "T-77"}

    needs = await http.post("/api/v1/pos/topups", json=body, headers=keyed(auth, "key-big-0001"))
    assert (needs.status_code, needs.json()["error"]["code"]) == (409, "id_check_required")
    wrong = {"number": hk, "id_type": "hkid", "id_number": "B765432(1)"}
    no = await http.post("/api/v1/pos/id-checks", json=wrong, headers=auth)
    assert no.json() == {"matched": False}
    yes = await http.post("/api/v1/pos/id-checks", json={"number": hk, **RIGHT_ID}, headers=auth)
    assert yes.json() == {"matched": True}
    done = await http.post("/api/v1/pos/topups", json=body, headers=keyed(auth, "key-big-0001"))

    assert done.status_code == 201, done.text
    assert (done.json()["payment"], done.json()["terminal_ref"]) == ("card", "T-77")


async def test_twenty_retries_at_once_make_one_sale(api: Api) -> None:
    auth = await device(api)
    http, hk = api.http, api.hk_sim.cn_number.e164
    await http.post("/api/v1/pos/shifts", json={"opening_cash_minor": 0}, headers=auth)
    body = {"number": hk, "amount_minor": 5_000, "payment": "cash"}

    answers = await asyncio.gather(
        *(
            http.post("/api/v1/pos/topups", json=body, headers=keyed(auth, "key-storm-001"))
            for _ in range(AT_ONCE)
        )
    )

    assert sorted(answer.status_code for answer in answers) == [200] * (AT_ONCE - 1) + [201]
    assert len({answer.json()["id"] for answer in answers}) == 1


async def test_refusals_of_the_counter_are_clear(api: Api) -> None:
    auth = await device(api, float_minor=1_000)
    http = api.http
    body = {"number": api.hk_sim.hk_number.e164, "amount_minor": 5_000, "payment": "cash"}

    no_shift = await http.post("/api/v1/pos/topups", json=body, headers=keyed(auth, "key-ref-001"))
    assert no_shift.json()["error"]["code"] == "no_open_shift"
    await http.post("/api/v1/pos/shifts", json={"opening_cash_minor": 0}, headers=auth)
    low = await http.post("/api/v1/pos/topups", json=body, headers=keyed(auth, "key-ref-002"))
    assert (low.status_code, low.json()["error"]["code"]) == (409, "float_too_low")
    cny = {**body, "number": api.cn_sim.hk_number.e164}
    other = await http.post("/api/v1/pos/topups", json=cny, headers=keyed(auth, "key-ref-003"))
    assert (other.status_code, other.json()["error"]["code"]) == (422, "wrong_currency")
    gone = await http.get(f"/api/v1/pos/numbers/{api.recycled.hk_number.e164}", headers=auth)
    assert gone.json()["error"]["code"] == "number_not_eligible"
    card = {**body, "payment": "card"}
    no_ref = await http.post("/api/v1/pos/topups", json=card, headers=keyed(auth, "key-ref-004"))
    assert (no_ref.status_code, no_ref.json()["error"]["code"]) == (422, "invalid_payment")
    odd = {**body, "amount_minor": 5_050}
    cents = await http.post("/api/v1/pos/topups", json=odd, headers=keyed(auth, "key-ref-005"))
    assert cents.status_code == 422
    bad_key = await http.post("/api/v1/pos/topups", json=body, headers=keyed(auth, "short"))
    assert bad_key.status_code == 422


async def test_only_a_live_clerks_device_gets_in(api: Api) -> None:
    where, auth = await placed_device(api)
    http = api.http
    assert (await http.get("/api/v1/pos/shift")).status_code == 401
    assert (
        await http.get("/api/v1/pos/shift", headers={"Authorization": "Bearer skd_x"})
    ).status_code == 401
    agent = await staff.add_staff(
        api.db,
        username="agent.handy",
        display_name="Handy",
        role="agent",
        password="agent password",
        actor=CLI,
        now=api.clock.now(),
        agent_id=where.agent_id,
    )
    agents = await counter.issue_device(
        api.db, staff_id=agent.id, label="ERP", actor=CLI, now=api.clock.now()
    )
    refused = await http.get(
        "/api/v1/pos/shift", headers={"Authorization": f"Bearer {agents.token}"}
    )
    assert refused.status_code == 403
    assert (await http.get("/api/v1/pos/shift", headers=auth)).status_code == 404  # no shift yet

    [mine] = [d for d in await counter.list_devices(api.db) if d.label == "Till 1"]
    await counter.revoke_device(api.db, device_id=mine.id, actor=CLI, now=api.clock.now())
    assert (await http.get("/api/v1/pos/shift", headers=auth)).status_code == 401


async def test_vouchers_are_sold_and_their_receipt_lists_them(api: Api) -> None:
    auth = await device(api)
    http = api.http
    serials = await vouchers(api.db, face_minor=5_000, count=2, now=api.clock.now())
    await http.post("/api/v1/pos/shifts", json={"opening_cash_minor": 0}, headers=auth)
    body = {"serials": serials, "payment": "cash"}

    sold = await http.post(
        "/api/v1/pos/voucher-sales", json=body, headers=keyed(auth, "key-vs-0001")
    )

    assert sold.status_code == 201, sold.text
    assert sold.json()["amount"] == {"minor": 10_000, "currency": "HKD"}
    assert sold.json()["commission"] == {"minor": 150, "currency": "HKD"}
    receipt = await http.get(f"/api/v1/pos/sales/{sold.json()['id']}/receipt", headers=auth)
    assert [v["serial"] for v in receipt.json()["vouchers"]] == serials
    again = await http.post(
        "/api/v1/pos/voucher-sales", json=body, headers=keyed(auth, "key-vs-0002")
    )
    assert (again.status_code, again.json()["error"]["code"]) == (422, "voucher_not_for_sale")


async def test_the_pos_api_is_in_the_openapi_document(api: Api) -> None:
    document = (await api.http.get("/api/v1/openapi.json")).json()

    topups = document["paths"]["/api/v1/pos/topups"]["post"]
    assert {"200", "201", "401", "403", "409", "422", "429"} <= set(topups["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in topups["parameters"])
    assert "/api/v1/pos/sales/{sale_id}/receipt.pdf" in document["paths"]
