"""``POST /api/v1/vouchers/redeem`` through HTTP, on SQLite and PostgreSQL: a subscriber
redeems a sold voucher for a number and gets the credited top-up; the same key answers the
same top-up, another PIN with it is a 409; a PIN that cannot be used, a malformed one, an
unknown number are 422 with their codes; five failures lock the number (429, Retry-After);
the PIN appears in no log line; the OpenAPI document describes it all."""

from __future__ import annotations

import logging

import pytest

from simkeep.money import Money
from simkeep.vouchers.model import pin_key
from tests.e2e.api_world import Api
from tests.integration.voucher_world import shop, sold_cards

PHONE = "+85261234567"
HK100 = Money(10_000, "HKD")
WRONG = "0000-0000-0000-0000"


async def cards(api: Api, count: int = 2) -> list[str]:
    where = await shop(api.db, now=api.clock.now())
    key = pin_key(api.app.state.settings.secret_key)
    sold = await sold_cards(api.db, where, face=HK100, count=count, now=api.clock.now(), key=key)
    return [card.pin for card in sold]


async def test_a_subscriber_redeems_a_voucher_for_a_number(
    api: Api, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pin, other = await cards(api)
    auth = await api.signup(PHONE)
    number = api.hk_sim.hk_number.e164
    body = {"pin": f"{pin[:4]} {pin[4:8]} {pin[8:12]} {pin[12:]}", "number": number}
    headers = {**auth, "Idempotency-Key": "redeem-0001"}

    asked = await api.http.post("/api/v1/vouchers/redeem", json=body, headers=headers)
    assert asked.status_code == 422
    assert asked.json()["error"]["code"] == "confirm_number"

    body["confirm_number"] = number
    done = await api.http.post("/api/v1/vouchers/redeem", json=body, headers=headers)
    assert done.status_code == 201, done.text
    answer = done.json()
    assert answer["credit"] == {"minor": 10_000, "currency": "HKD"}
    assert answer["receipt_no"]
    assert answer["validity_until"]
    assert answer["replayed"] is False

    again = await api.http.post("/api/v1/vouchers/redeem", json=body, headers=headers)
    assert again.status_code == 201
    assert again.json()["order_no"] == answer["order_no"]
    assert again.json()["replayed"] is True

    reused = {**body, "pin": other}
    conflict = await api.http.post("/api/v1/vouchers/redeem", json=reused, headers=headers)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_conflict"

    order = await api.http.get(f"/api/v1/topups/{answer['order_no']}", headers=auth)
    assert order.json()["provider"] == "voucher"
    assert order.json()["channel"] == "voucher"
    assert order.json()["state"] == "credited"

    logged = capfd.readouterr()
    everything = logged.out + logged.err + caplog.text
    for secret in (pin, other, body["pin"]):
        assert secret not in everything


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"pin": WRONG}, 422, "pin_refused"),
        ({"pin": "1234 5678 9012 345x"}, 422, "invalid_pin"),
        ({"pin": "12345678"}, 422, "invalid_request"),  # too short for the schema
        ({"pin": WRONG, "number": "+852 6999 0000"}, 422, "unknown_number"),
    ],
)
async def test_refusals_have_their_codes_and_never_echo_the_pin(
    api: Api, body: dict[str, str], status: int, code: str
) -> None:
    auth = await api.signup(PHONE)
    number = api.hk_sim.hk_number.e164
    sent = {"number": number, "confirm_number": number, **body}
    answer = await api.http.post(
        "/api/v1/vouchers/redeem", json=sent, headers={**auth, "Idempotency-Key": "refused-01"}
    )
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    assert body["pin"] not in answer.text


async def test_five_failed_pins_lock_the_number_with_retry_after(api: Api) -> None:
    (pin,) = await cards(api, count=1)
    auth = await api.signup(PHONE)
    number = api.hk_sim.hk_number.e164
    for n in range(5):
        failed = await api.http.post(
            "/api/v1/vouchers/redeem",
            json={"pin": WRONG, "number": number, "confirm_number": number},
            headers={**auth, "Idempotency-Key": f"wrong-{n:04d}"},
        )
        assert failed.status_code == 422
    locked = await api.http.post(
        "/api/v1/vouchers/redeem",
        json={"pin": pin, "number": number, "confirm_number": number},
        headers={**auth, "Idempotency-Key": "right-0001"},
    )
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "too_many_attempts"
    assert locked.headers["retry-after"] == str(24 * 3600)


async def test_no_token_is_401(api: Api) -> None:
    answer = await api.http.post(
        "/api/v1/vouchers/redeem",
        json={"pin": WRONG, "number": api.hk_sim.hk_number.e164},
        headers={"Idempotency-Key": "no-token-01"},
    )
    assert answer.status_code == 401


async def test_the_openapi_document_describes_the_redemption(api: Api) -> None:
    document = (await api.http.get("/api/v1/openapi.json")).json()
    operation = document["paths"]["/api/v1/vouchers/redeem"]["post"]
    assert operation["operationId"] == "redeem_voucher"
    assert {"201", "401", "409", "422", "429"} <= set(operation["responses"])
    schema = document["components"]["schemas"]["RedemptionOut"]
    assert {"receipt_no", "credit", "validity_until"} <= set(schema["properties"])
