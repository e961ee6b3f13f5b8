"""The subscriber API through HTTP, on SQLite and PostgreSQL: register and log in with a
code read from the SMS outbox, link a SIM, check a number, quote, order with an
Idempotency-Key, pay at the simulator, get credited (by the poll of the provider), read the
order and the history — and never see another subscriber's SIM or order; fifty wrong
passwords sent at once are checked five times."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any

import httpx
import pytest

from simkeep.clock import HONG_KONG, in_hong_kong
from simkeep.retention import service as retention
from tests.e2e.api_world import PASSWORD, Api, cn100
from tests.factories import last_code


def hk50(api: Api, **extra: Any) -> dict[str, Any]:
    return {
        "number": api.hk_sim.hk_number.e164,
        "confirm_number": api.hk_sim.hk_number.e164,
        "amount": {"minor": 5000, "currency": "HKD"},
        "pay_currency": "CNY",
        "provider": "alipay",
        "channel": "page",
        **extra,
    }


async def test_a_subscriber_tops_up_and_sees_the_credit(api: Api) -> None:
    auth = await api.signup("+85261234567")
    me = await api.http.get("/api/v1/me", headers=auth)
    assert me.json()["phone"] == "+85261234567"

    number = api.hk_sim.hk_number.e164
    preview = await api.http.get(f"/api/v1/numbers/{number}", headers=auth)
    assert preview.status_code == 200
    assert preview.json() | {"number": number} == {
        "number": number,
        "holder_masked": "陳*明",
        "plan": {"code": "HK-VALID", "name": "香港有效期卡"},
        "state": "active",
        "home_currency": "HKD",
        "must_confirm": True,
    }
    priced = await api.http.get(
        "/api/v1/quote",
        params={"number": number, "amount_minor": 5000, "pay_currency": "CNY"},
        headers=auth,
    )
    assert priced.json()["pay"] == {"minor": 4600, "currency": "CNY"}
    assert priced.json()["fx_rate"] == "0.92"

    created = await api.order(auth, "key-hk50-0001", **hk50(api))
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["state"] == "awaiting_payment"
    assert order["pay"] == {"minor": 4600, "currency": "CNY"}
    assert order["payment"]["pay_url"].startswith("http")

    pay_url = httpx.URL(order["payment"]["pay_url"])
    cashier = await api.http.get(pay_url.raw_path.decode(), follow_redirects=True)
    assert cashier.status_code == 200, cashier.text
    paid = await api.http.post(
        f"/_sim/alipay/pay/{order['order_no']}", params={"outcome": "success"}
    )
    assert paid.status_code == 200, paid.text
    assert await api.poll() == 1

    credited = (await api.http.get(f"/api/v1/topups/{order['order_no']}", headers=auth)).json()
    assert credited["state"] == "credited"
    assert credited["receipt_no"].startswith("R")
    assert credited["validity_until"] is not None

    await api.http.post("/api/v1/sims/link-codes", json={"number": number}, headers=auth)
    linked = await api.http.post(
        "/api/v1/sims/links",
        json={"number": number, "code": await last_code(api.db, number)},
        headers=auth,
    )
    assert linked.status_code == 201, linked.text
    assert linked.json()["balance"] == {"minor": 5000, "currency": "HKD"}
    mine = (await api.http.get("/api/v1/sims", headers=auth)).json()
    assert [sim["id"] for sim in mine] == [api.hk_sim.id]
    again = await api.http.get(f"/api/v1/numbers/{number}", headers=auth)
    assert again.json()["must_confirm"] is False


async def test_wechat_native_order_carries_the_qr_to_scan(api: Api) -> None:
    auth = await api.signup("+8613912345678")
    number = api.cn_sim.cn_number.e164
    created = await api.order(
        auth,
        "key-cn100-0001",
        **cn100(number),
    )
    assert created.status_code == 201, created.text
    assert created.json()["payment"]["qr"].startswith("weixin://")
    order_no = created.json()["order_no"]
    await api.http.post(f"/_sim/wechatpay/pay/{order_no}", params={"outcome": "success"})
    assert await api.poll() == 1
    order = (await api.http.get(f"/api/v1/topups/{order_no}", headers=auth)).json()
    assert order["state"] == "credited"


async def test_order_and_receipt_numbers_follow_the_order_ids(api: Api) -> None:
    """``T`` + Hong Kong date + id, and the receipt ``R`` + date + the same id; a signed
    redirect is written with the order, which awaits payment from the start."""
    auth = await api.signup("+85261234570")
    day = in_hong_kong(api.clock.now())
    numbers, links = [], []
    for key in ("key-serial-0001", "key-serial-0002"):
        created = await api.order(auth, key, **hk50(api, channel="wap"))
        assert created.status_code == 201, created.text
        assert created.json()["state"] == "awaiting_payment"
        numbers.append(created.json()["order_no"])
        links.append(httpx.URL(created.json()["payment"]["pay_url"]))
    first, second = numbers
    assert re.fullmatch(rf"T{day:%Y%m%d}\d{{10}}", first), first
    assert int(second[-10:]) == int(first[-10:]) + 1

    cashier = await api.http.get(links[1].raw_path.decode(), follow_redirects=True)
    assert cashier.status_code == 200, cashier.text
    await api.http.post(f"/_sim/alipay/pay/{second}", params={"outcome": "success"})
    assert await api.poll() == 1
    credited = (await api.http.get(f"/api/v1/topups/{second}", headers=auth)).json()
    assert credited["receipt_no"] == f"R{day:%y%m%d}{second[-10:]}"


async def test_idempotency_key_replays_and_conflicts(api: Api) -> None:
    auth = await api.signup("+85261234568")
    first = await api.order(auth, "key-replay-0001", **hk50(api))
    replay = await api.order(auth, "key-replay-0001", **hk50(api))
    assert replay.status_code == 201
    assert replay.json()["order_no"] == first.json()["order_no"]
    assert replay.json()["payment"] == first.json()["payment"]

    other = await api.order(
        auth, "key-replay-0001", **hk50(api, amount={"minor": 10000, "currency": "HKD"})
    )
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"

    missing = await api.http.post("/api/v1/topups", json=hk50(api), headers=auth)
    assert missing.status_code == 422
    assert "Idempotency-Key" in missing.json()["error"]["message"]
    history = (await api.http.get("/api/v1/topups", headers=auth)).json()
    assert len(history["orders"]) == 1


async def test_concurrent_requests_with_one_key_make_one_order(api: Api) -> None:
    auth = await api.signup("+85261234571")
    answers = await asyncio.gather(
        *(api.order(auth, "key-race-0001", **hk50(api, channel="wap")) for _ in range(8))
    )
    assert [answer.status_code for answer in answers] == [201] * 8
    assert len({answer.json()["order_no"] for answer in answers}) == 1
    assert len({answer.json()["payment"]["pay_url"] for answer in answers}) == 1
    history = (await api.http.get("/api/v1/topups", headers=auth)).json()
    assert len(history["orders"]) == 1


async def test_the_wrong_number_guard_refuses_before_payment(api: Api) -> None:
    auth = await api.signup("+85261234569")
    unknown = await api.order(auth, "key-guard-0001", **hk50(api, number="+85251234567"))
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "unknown_number"

    recycled = api.recycled.hk_number.e164
    refused = await api.order(
        auth, "key-guard-0002", **hk50(api, number=recycled, confirm_number=recycled)
    )
    assert refused.json()["error"]["code"] == "number_not_eligible"

    unconfirmed = await api.order(auth, "key-guard-0003", **hk50(api, confirm_number=None))
    assert unconfirmed.status_code == 422
    assert unconfirmed.json()["error"]["code"] == "confirm_number"
    another = api.cn_sim.hk_number.e164  # a valid number, a SIM's, but not the one to top up
    mistyped = await api.order(auth, "key-guard-0004", **hk50(api, confirm_number=another))
    assert mistyped.status_code == 422
    assert mistyped.json()["error"]["code"] == "confirm_number"
    assert (await api.http.get("/api/v1/topups", headers=auth)).json()["orders"] == []

    spelled = api.hk_sim.hk_number.e164.removeprefix("+852")  # the same number, typed locally
    same = await api.order(auth, "key-guard-0005", **hk50(api, confirm_number=spelled))
    assert same.status_code == 201, same.text


async def test_no_one_reads_another_subscribers_sim_or_order(api: Api) -> None:
    owner = await api.signup("+85261234570")
    other = await api.signup("+85261234571")
    number = api.hk_sim.hk_number.e164
    order_no = (await api.order(owner, "key-owner-0001", **hk50(api))).json()["order_no"]
    await api.http.post("/api/v1/sims/link-codes", json={"number": number}, headers=owner)
    code = await last_code(api.db, number)
    await api.http.post("/api/v1/sims/links", json={"number": number, "code": code}, headers=owner)

    assert (await api.http.get(f"/api/v1/topups/{order_no}", headers=owner)).status_code == 200
    stolen = await api.http.get(f"/api/v1/topups/{order_no}", headers=other)
    assert stolen.status_code == 404
    assert stolen.json()["error"]["code"] == "not_found"
    assert (await api.http.get(f"/api/v1/sims/{api.hk_sim.id}", headers=owner)).status_code == 200
    assert (await api.http.get(f"/api/v1/sims/{api.hk_sim.id}", headers=other)).status_code == 404
    assert (await api.http.get("/api/v1/topups", headers=other)).json()["orders"] == []
    assert (await api.http.get("/api/v1/sims", headers=other)).json() == []


async def test_linking_needs_the_code_sent_to_the_sim(api: Api) -> None:
    auth = await api.signup("+85261234572")
    number = api.cn_sim.hk_number.e164
    await api.http.post("/api/v1/sims/link-codes", json={"number": number}, headers=auth)
    wrong = await api.http.post(
        "/api/v1/sims/links", json={"number": number, "code": "000000"}, headers=auth
    )
    assert wrong.status_code == 422
    assert wrong.json()["error"]["code"] == "bad_code"
    assert (await api.http.get("/api/v1/sims", headers=auth)).json() == []
    recycled = await api.http.post(
        "/api/v1/sims/link-codes", json={"number": api.recycled.cn_number.e164}, headers=auth
    )
    assert recycled.json()["error"]["code"] == "not_linkable"


async def test_tokens_log_in_and_out(api: Api) -> None:
    await api.signup("+85261234573")
    bad = await api.http.post(
        "/api/v1/auth/login", json={"phone": "+85261234573", "password": "wrong password 1"}
    )
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "bad_credentials"
    good = await api.http.post(
        "/api/v1/auth/login", json={"phone": "+852 6123 4573", "password": "correct horse 42"}
    )
    auth = {"Authorization": f"Bearer {good.json()['token']}"}
    assert (await api.http.get("/api/v1/me", headers=auth)).status_code == 200
    assert (await api.http.post("/api/v1/auth/logout", headers=auth)).status_code == 204
    after = await api.http.get("/api/v1/me", headers=auth)
    assert after.status_code == 401
    assert after.headers["www-authenticate"] == "Bearer"
    assert (await api.http.get("/api/v1/sims")).json()["error"]["code"] == "unauthorized"


async def test_fifty_wrong_logins_at_once_get_five_checks_then_429(api: Api) -> None:
    await api.signup("+85261234578")
    attempts = [
        api.http.post(
            "/api/v1/auth/login", json={"phone": "+85261234578", "password": f"wrong {n:04d}"}
        )
        for n in range(50)
    ]

    answers = await asyncio.gather(*attempts)

    codes = Counter((a.status_code, a.json()["error"]["code"]) for a in answers)
    assert codes == {(401, "bad_credentials"): 5, (429, "locked_out"): 45}
    right = await api.http.post(
        "/api/v1/auth/login", json={"phone": "+85261234578", "password": PASSWORD}
    )
    assert right.status_code == 429  # not checked while the number is locked
    assert "try again after" in right.json()["error"]["message"]


async def test_history_filters_and_pages(api: Api) -> None:
    auth = await api.signup("+85261234574")
    for n in range(3):
        response = await api.order(auth, f"key-history-{n:04d}", **hk50(api))
        assert response.status_code == 201
        api.clock.advance(timedelta(minutes=1))
    cn = api.cn_sim.cn_number.e164
    await api.order(
        auth,
        "key-history-cn00",
        **cn100(cn),
    )
    first = (await api.http.get("/api/v1/topups", params={"limit": 2}, headers=auth)).json()
    assert len(first["orders"]) == 2
    assert first["orders"][0]["number"] == cn
    rest = (
        await api.http.get(
            "/api/v1/topups", params={"limit": 2, "before": first["next_before"]}, headers=auth
        )
    ).json()
    assert len(rest["orders"]) == 2
    assert rest["next_before"] is None
    by_number = (
        await api.http.get(
            "/api/v1/topups", params={"number": api.hk_sim.hk_number.e164}, headers=auth
        )
    ).json()
    assert len(by_number["orders"]) == 3
    credited = (
        await api.http.get("/api/v1/topups", params={"state": "credited"}, headers=auth)
    ).json()
    assert credited["orders"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-01-01"}, "query.since"),
        ({"until": "2026-01-01T00:00:00"}, "query.until"),
        ({"until": "0.5"}, "query.until"),  # not read as a Unix time
        ({"before": str(2**63)}, "query.before"),
        ({"before": "0"}, "query.before"),
    ],
)
async def test_odd_history_filters_are_refused_naming_the_field(
    api: Api, params: dict[str, str], field: str
) -> None:
    auth = await api.signup("+85261234575")

    refused = await api.http.get("/api/v1/topups", params=params, headers=auth)

    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "invalid_request"
    assert field in error["message"]


async def test_history_from_the_first_to_the_last_day_of_the_calendar(api: Api) -> None:
    auth = await api.signup("+85261234576")
    assert (await api.order(auth, "key-calendar-0001", **hk50(api))).status_code == 201
    ends = {"since": "0001-01-01T00:00:00+14:00", "until": "9999-12-31T23:59:59-12:00"}

    everything = await api.http.get("/api/v1/topups", params=ends, headers=auth)

    assert everything.status_code == 200, everything.text
    assert len(everything.json()["orders"]) == 1


async def test_receipt_of_a_credited_order_and_its_public_check(api: Api) -> None:
    owner = await api.signup("+85261234575")
    other = await api.signup("+85261234576")
    number = api.cn_sim.cn_number.e164
    created = await api.order(
        owner,
        "key-receipt-0001",
        **cn100(number),
    )
    order_no = created.json()["order_no"]
    early = await api.http.get(f"/api/v1/topups/{order_no}/receipt", headers=owner)
    assert early.status_code == 404  # no receipt before the money is in
    await api.http.post(f"/_sim/wechatpay/pay/{order_no}", params={"outcome": "success"})
    assert await api.poll() == 1

    receipt = (await api.http.get(f"/api/v1/topups/{order_no}/receipt", headers=owner)).json()
    assert receipt["order_no"] == order_no
    assert receipt["credit"] == {"minor": 10000, "currency": "CNY"}
    assert receipt["holder_masked"] == "陳*明"
    assert receipt["provider"] == {"code": "wechatpay", "name": "微信支付"}
    assert receipt["provider_trade_no"]
    verify_path = httpx.URL(receipt["verify_url"]).path
    assert verify_path.startswith(f"/r/{receipt['receipt_no']}/")
    signature = verify_path.rsplit("/", 1)[1]

    pdf = await api.http.get(
        f"/api/v1/topups/{order_no}/receipt.pdf", params={"lang": "en"}, headers=owner
    )
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    stolen = await api.http.get(f"/api/v1/topups/{order_no}/receipt.pdf", headers=other)
    assert stolen.status_code == 404

    public = await api.http.get(f"/api/v1/receipts/{receipt['receipt_no']}/{signature}")
    assert public.status_code == 200
    assert public.json() | {"credited_at": None} == {
        "genuine": True,
        "receipt_no": receipt["receipt_no"],
        "state": "credited",
        "credited_at": None,
        "number_masked": api.cn_sim.cn_number.masked(),
        "credit": {"minor": 10000, "currency": "CNY"},
        "pay": {"minor": 10000, "currency": "CNY"},
    }
    forged = signature[:-1] + ("a" if signature[-1] != "a" else "b")
    refused = await api.http.get(f"/api/v1/receipts/{receipt['receipt_no']}/{forged}")
    assert refused.status_code == 404


async def test_the_openapi_document_describes_the_api(api: Api) -> None:
    document = (await api.http.get("/api/v1/openapi.json")).json()
    paths = document["paths"]
    for path, method in [
        ("/api/v1/auth/codes", "post"),
        ("/api/v1/auth/register", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/sims", "get"),
        ("/api/v1/sims/links", "post"),
        ("/api/v1/numbers/{number}", "get"),
        ("/api/v1/quote", "get"),
        ("/api/v1/topups", "post"),
        ("/api/v1/topups/{order_no}", "get"),
        ("/api/v1/topups/{order_no}/receipt.pdf", "get"),
        ("/api/v1/receipts/{receipt_no}/{signature}", "get"),
        ("/api/v1/payments/{provider}/notify", "post"),
    ]:
        assert method in paths.get(path, {}), path
    create = paths["/api/v1/topups"]["post"]
    assert {"name": "Idempotency-Key", "in": "header"}.items() <= create["parameters"][0].items()
    assert create["security"] == [{"HTTPBearer": []}]
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "security" not in paths["/api/v1/receipts/{receipt_no}/{signature}"]["get"]


async def test_a_changed_price_or_a_currency_the_provider_does_not_take_is_refused(
    api: Api,
) -> None:
    auth = await api.signup("+85261234577")
    hkd = await api.order(auth, "key-currency-0001", **hk50(api, pay_currency="HKD"))
    assert hkd.status_code == 422
    assert hkd.json()["error"]["code"] == "currency_not_accepted"

    shown = {"minor": 4500, "currency": "CNY"}  # what an older quote said
    stale = await api.order(auth, "key-quote-0001", **hk50(api, expected_pay=shown))
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "quote_changed"
    assert (await api.http.get("/api/v1/topups", headers=auth)).json()["orders"] == []

    current = {"minor": 4600, "currency": "CNY"}
    fresh = await api.order(auth, "key-quote-0002", **hk50(api, expected_pay=current))
    assert fresh.status_code == 201, fresh.text
    assert fresh.json()["pay"] == current


async def test_a_sims_keeping_history_and_what_it_owes(api: Api) -> None:
    auth = await api.signup("+85261234581")
    number = api.cn_sim.hk_number.e164  # CN-KEEP, ¥8 a month, nothing on it
    await api.http.post("/api/v1/sims/link-codes", json={"number": number}, headers=auth)
    code = await last_code(api.db, number)
    linked = await api.http.post(
        "/api/v1/sims/links", json={"number": number, "code": code}, headers=auth
    )
    sim = linked.json()
    assert sim["lapses_on"] == sim["next_fee_on"]  # nothing on it: it lapses at its first fee
    due = date.fromisoformat(sim["next_fee_on"])
    api.clock.set(datetime.combine(due, time(0, 10), tzinfo=HONG_KONG))

    await retention.run_until(api.db, day=due, clock=api.clock)

    after = (await api.http.get(f"/api/v1/sims/{sim['id']}", headers=auth)).json()
    assert (after["state"], after["lapses_on"]) == ("grace", None)
    assert after["arrears"] == {"minor": 800, "currency": "CNY"}
    keeping = await api.http.get(f"/api/v1/sims/{sim['id']}/keeping", headers=auth)
    assert keeping.status_code == 200
    assert [(e["kind"], e["state"], e["reason"]) for e in keeping.json()] == [
        ("state", "grace", "fee_unpaid")
    ]
    stranger = await api.signup("+85261234582")
    other = await api.http.get(f"/api/v1/sims/{sim['id']}/keeping", headers=stranger)
    assert other.status_code == 404
