"""FPS, both halves over HTTP: our adapter against the simulated payer's app and receiving
bank (ASGI, no network). Signatures are checked against ``openssl`` and webhooks forged here
with ``cryptography`` alone, independent of the signing code under test."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from fastapi import FastAPI

from simkeep.clock import FixedClock
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.payments.model import (
    CurrencyNotSupported,
    NotificationRejected,
    ProviderError,
    RawNotification,
    TradeStatus,
)
from simkeep.payments.providers.fps import (
    FpsAdapter,
    real_adapter,
)
from simkeep.payments.providers.fps_qr import FpsQr, build_payload, parse_payload
from simkeep.payments.signing import KeyPair
from simkeep.settings import Settings
from simkeep.simulators.delivery import Reply
from simkeep.simulators.fps import FpsBankSimulator, accepted
from simkeep.simulators.fps_routes import router, scan_path
from simkeep.simulators.fps_setup import build_simulator, simulator_adapter
from simkeep.simulators.fps_transfers import DEMO_PIN, RETRY_SCHEDULE_SECONDS
from tests.e2e.bill_world import recorded
from tests.e2e.fps_world import (
    CLIENT,
    HOST,
    NAME,
    NOTIFY_URL,
    OTN,
    PREFIX,
    PROXY,
    START,
    TAKEN,
    Merchant,
    World,
    bank_dir,
    config,
    merchant_keys,
    payment_request,
    scanned,
    world,
)

__all__ = ["bank_dir", "merchant_keys", "world"]  # fixtures used here


def _form_action(page: httpx.Response) -> str:
    match = re.search(r'<form method=post action="([^"]+)">', page.text)
    assert match is not None, page.text
    return str(page.url.join(match[1]).path)


def _event(world: World, index: int = -1) -> dict[str, Any]:
    return dict(json.loads(world.merchant.received[index].body))


# --- starting a payment: a QR code made here ------------------------------------------


async def test_the_qr_code_is_made_without_asking_the_bank(world: World) -> None:
    assert world.adapter.signs_locally(Channel.QR)
    start = await world.adapter.start(payment_request())
    assert start.qr_payload is not None
    assert start.redirect_url is None
    qr = parse_payload(start.qr_payload)
    assert (qr.proxy, qr.merchant_name, qr.reference) == (PROXY, NAME, OTN)
    assert qr.amount == Money(12345, "HKD")
    assert world.sim.transfers == {}
    assert world.adapter.provider is Provider.FPS
    assert world.adapter.currencies == frozenset({"HKD"})


async def test_only_hkd_and_the_qr_channel_are_taken(world: World) -> None:
    with pytest.raises(CurrencyNotSupported):
        await world.adapter.start(payment_request(currency="CNY"))
    with pytest.raises(ValueError, match="no wap channel"):
        await world.adapter.start(replace(payment_request(), channel=Channel.WAP))


# --- the payer's app ------------------------------------------------------------------


async def test_a_person_scans_checks_and_pays_in_the_app(world: World) -> None:
    empty = await world.client.get(f"{PREFIX}/app")
    assert empty.status_code == 200
    assert "<textarea name=payload" in empty.text
    page = await scanned(world)
    for shown in (NAME, PROXY, "HK$123.45", f'value="{OTN}"', DEMO_PIN):
        assert shown in page.text
    assert "<script" not in page.text.lower()
    action = _form_action(page)
    wrong = await world.client.post(action, data={"pin": "000000", "reference": OTN})
    assert wrong.status_code == 400
    assert "PIN" in wrong.text
    assert world.merchant.received == []
    paid = await world.client.post(
        str(wrong.url.join(_form_action(wrong))), data={"pin": DEMO_PIN, "reference": OTN}
    )
    assert paid.status_code == 200
    assert "Paid" in paid.text
    assert len(world.merchant.received) == 1
    notice = world.adapter.verify_notification(world.merchant.received[0], now=world.clock.now())
    assert notice.provider is Provider.FPS
    assert (notice.out_trade_no, notice.status) == (OTN, TradeStatus.PAID)
    assert notice.amount == Money(12345, "HKD")
    assert notice.provider_trade_no.startswith("FRN20261125PAYC")
    assert notice.provider_trade_no in paid.text
    assert notice.notification_id == _event(world)["event_id"]
    assert notice.payer_account == "012:+852-9***1234"
    assert notice.merchant_id == PROXY
    assert world.sim.records() == [
        {
            "out_trade_no": OTN,
            "paid": True,
            "state": "SETTLED",
            "amount_minor": 12345,
            "currency": "HKD",
            "attempts": 1,
            "acknowledged": True,
            "fee_minor": 0,  # the bank's fee on an incoming FPS payment
            "refunded_minor": 0,
            "refunds": [],
        }
    ]


async def test_a_pasted_payload_is_read_like_an_opened_link(world: World) -> None:
    start = await world.adapter.start(payment_request())
    page = await world.client.get(f"{PREFIX}/app", params={"payload": start.qr_payload})
    assert page.status_code == 200
    assert "HK$123.45" in page.text


async def test_the_payer_may_clear_the_reference_and_the_credit_still_verifies(
    world: World,
) -> None:
    page = await scanned(world)
    await world.client.post(_form_action(page), data={"pin": DEMO_PIN, "reference": ""})
    notice = world.adapter.verify_notification(world.merchant.received[0], now=world.clock.now())
    assert notice.out_trade_no == ""
    assert notice.amount == Money(12345, "HKD")
    assert world.sim.records()[0]["out_trade_no"] == ""


async def test_a_cancelled_transfer_pays_nothing_and_cannot_be_paid_after(world: World) -> None:
    page = await scanned(world)
    action = _form_action(page)
    cancelled = await world.client.post(action, data={"action": "cancel"})
    assert "Cancelled" in cancelled.text
    again = await world.client.post(action, data={"pin": DEMO_PIN, "reference": OTN})
    assert again.status_code == 409
    assert world.merchant.received == []
    assert world.sim.records()[0]["state"] == "CANCELLED"


async def test_a_damaged_or_foreign_code_is_not_paid(world: World) -> None:
    payload = str((await world.adapter.start(payment_request())).qr_payload)
    damaged = await world.client.get(
        f"{PREFIX}/app", params={"payload": payload.replace("123.45", "923.45")}
    )
    assert damaged.status_code == 400
    assert "CRC" in damaged.text
    start = await world.adapter.start(payment_request())
    assert start.qr_payload is not None
    foreign = build_payload(
        FpsQr(proxy="1111111", merchant_name="OTHER", amount=Money(100, "HKD"), reference=OTN)
    )
    other = await world.client.get(f"{PREFIX}/app", params={"payload": foreign})
    assert other.status_code == 404
    assert world.sim.transfers == {}


# --- the test hook ----------------------------------------------------------------------


async def test_the_hook_pays_the_scanned_code_or_an_amount_given(world: World) -> None:
    unknown = await world.client.post(f"{PREFIX}/pay/{OTN}", params={"outcome": "success"})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_scanned")
    await scanned(world)
    paid = await world.client.post(f"{PREFIX}/pay/{OTN}", params={"outcome": "success"})
    assert paid.json()["state"] == "SETTLED"
    assert paid.json()["amount_minor"] == 12345
    direct = await world.client.post(
        f"{PREFIX}/pay/T2", params={"outcome": "success", "amount_minor": 500}
    )
    assert direct.json()["amount_minor"] == 500
    assert [_event(world, i)["data"]["amount"]["value"] for i in (0, 1)] == [12345, 500]


async def test_wrong_amounts_and_references_reach_the_merchant_as_paid(world: World) -> None:
    await scanned(world)
    await world.client.post(
        f"{PREFIX}/pay/{OTN}",
        params={"outcome": "success", "amount_minor": 100, "reference": "T999"},
    )
    notice = world.adapter.verify_notification(world.merchant.received[0], now=world.clock.now())
    assert (notice.out_trade_no, notice.amount) == ("T999", Money(100, "HKD"))
    assert [r["out_trade_no"] for r in world.sim.records()] == ["T999"]
    assert (await world.adapter.query(OTN)).status is TradeStatus.UNPAID
    assert (await world.adapter.query("T999")).amount == Money(100, "HKD")


async def test_a_failed_transfer_is_rejected_and_never_notified(world: World) -> None:
    await scanned(world)
    failed = await world.client.post(f"{PREFIX}/pay/{OTN}", params={"outcome": "fail"})
    assert failed.json()["state"] == "REJECTED"
    assert world.merchant.received == []
    assert world.sim.records()[0]["paid"] is False
    again = await world.client.post(f"{PREFIX}/pay/{OTN}", params={"outcome": "success"})
    assert again.status_code == 404


# --- the bank's query API -------------------------------------------------------------


async def test_a_query_finds_the_credit_that_carries_the_order_number(world: World) -> None:
    assert (await world.adapter.query(OTN)).status is TradeStatus.UNPAID
    await scanned(world)
    await world.client.post(f"{PREFIX}/pay/{OTN}", params={"outcome": "success"})
    trade = await world.adapter.query(OTN)
    data = _event(world)["data"]
    assert (trade.out_trade_no, trade.status) == (OTN, TradeStatus.PAID)
    assert trade.amount == Money(12345, "HKD")
    assert trade.provider_trade_no == data["fps_txn_id"]
    assert trade.paid_at == datetime.fromisoformat(data["settled_at"]) == START
    assert (await world.adapter.query("T202611250000000043")).status is TradeStatus.UNPAID


async def test_the_bank_answers_only_requests_our_key_signed_just_now(world: World) -> None:
    bare = await world.client.get(f"{PREFIX}/v1/fps/credits", params={"bill_reference": OTN})
    assert bare.status_code == 401
    assert bare.json()["error"]["code"] == "unknown_client"
    assert "X-Bank-Signature" in bare.headers
    stranger = FpsAdapter(
        config=config(KeyPair.generate(), world.sim.bank_keys.public_pem),
        client=world.client,
        clock=world.clock,
    )
    with pytest.raises(ProviderError, match="401"):
        await stranger.query(OTN)
    late = FpsAdapter(
        config=config(world.merchant_keys, world.sim.bank_keys.public_pem),
        client=world.client,
        clock=FixedClock(START + timedelta(minutes=6)),
    )
    with pytest.raises(ProviderError, match="401"):
        await late.query(OTN)


async def test_an_answer_not_signed_by_the_bank_is_not_believed(world: World) -> None:
    impostor = FpsAdapter(
        config=config(world.merchant_keys, KeyPair.generate().public_pem),
        client=world.client,
        clock=world.clock,
    )
    with pytest.raises(ProviderError, match="bad_signature"):
        await impostor.query(OTN)


# --- signatures, checked with openssl -------------------------------------------------


def _openssl_sign(tmp_path: Path, private_pem: bytes, message: bytes) -> str:
    (tmp_path / "key.pem").write_bytes(private_pem)
    (tmp_path / "message").write_bytes(message)
    signature = subprocess.run(
        [
            "openssl",
            "dgst",
            "-sha256",
            "-sign",
            str(tmp_path / "key.pem"),
            str(tmp_path / "message"),
        ],
        check=True,
        capture_output=True,
    ).stdout
    return base64.b64encode(signature).decode()


async def test_the_webhook_signature_is_what_openssl_makes_with_the_bank_key(
    world: World, tmp_path: Path
) -> None:
    await scanned(world)
    await world.client.post(f"{PREFIX}/pay/{OTN}", params={"outcome": "success"})
    webhook = world.merchant.received[0]
    timestamp = webhook.headers["X-Bank-Timestamp"]
    assert timestamp == "2026-11-25T17:00:00+08:00"
    assert webhook.headers["X-Bank-Client-Id"] == CLIENT
    expected = _openssl_sign(
        tmp_path, world.sim.bank_keys.private_pem, f"{timestamp}\n".encode() + webhook.body
    )
    assert webhook.headers["X-Bank-Signature"] == expected


async def test_our_query_signature_is_what_openssl_makes_with_our_key(
    world: World, tmp_path: Path
) -> None:
    sent = recorded(world.client)
    await world.adapter.query(OTN)
    request = sent[0]
    path = f"{PREFIX}/v1/fps/credits?bill_reference={OTN}"
    assert request.url.raw_path.decode() == path
    assert (request.headers["X-Client-Id"], request.headers["X-Timestamp"]) == (
        CLIENT,
        "2026-11-25T17:00:00+08:00",
    )
    message = f"GET\n{path}\n2026-11-25T17:00:00+08:00\n".encode()
    expected = _openssl_sign(tmp_path, world.merchant_keys.private_pem, message)
    assert request.headers["X-Signature"] == expected


# --- webhooks refused -----------------------------------------------------------------


def _sign(private_pem: bytes, message: bytes) -> str:
    key = load_pem_private_key(private_pem, password=None)
    signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr, call-arg]
    return base64.b64encode(signature).decode()


def _webhook(
    world: World,
    *,
    data: Mapping[str, Any] | None = None,
    event: Mapping[str, Any] | None = None,
    body: bytes | None = None,
    timestamp: str = "2026-11-25T17:00:00+08:00",
    client_id: str = CLIENT,
    key_pem: bytes | None = None,
    tamper: bool = False,
) -> RawNotification:
    """A webhook signed here with ``cryptography`` alone, by the bank's key unless told."""
    credit = {
        "fps_txn_id": "FRN20261125PAYC000000000001",
        "amount": {"value": 12345, "currency": "HKD"},
        "payee_proxy": PROXY,
        "bill_reference": OTN,
        "payer": {"proxy": "+852-9***1234", "bank_code": "012", "name": "CHAN T** M**"},
        "settled_at": "2026-11-25T17:00:00+08:00",
        **(data or {}),
    }
    whole = {
        "event_id": "EVT-0001",
        "event_type": "fps.credit",
        "created_at": "2026-11-25T17:00:00+08:00",
        "data": credit,
        **(event or {}),
    }
    raw = json.dumps(whole).encode() if body is None else body
    key = key_pem or world.sim.bank_keys.private_pem
    signature = _sign(key, timestamp.encode() + b"\n" + raw)
    if tamper:
        raw = raw.replace(b"12345", b"12346")
    headers = {
        "X-Bank-Client-Id": client_id,
        "X-Bank-Timestamp": timestamp,
        "X-Bank-Signature": signature,
    }
    return RawNotification(headers=headers, body=raw)


async def test_a_webhook_signed_by_the_bank_for_us_is_taken(world: World) -> None:
    notice = world.adapter.verify_notification(_webhook(world), now=START)
    assert (notice.out_trade_no, notice.amount) == (OTN, Money(12345, "HKD"))
    assert notice.provider_trade_no == "FRN20261125PAYC000000000001"
    assert notice.notification_id == "EVT-0001"
    lowered = RawNotification(
        headers={k.lower(): v for k, v in _webhook(world).headers.items()},
        body=_webhook(world).body,
    )
    assert world.adapter.verify_notification(lowered, now=START).notification_id == "EVT-0001"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"key_pem": KeyPair.generate().private_pem}, "bad_signature"),
        ({"tamper": True}, "bad_signature"),
        ({"timestamp": "2026-11-25T16:54:59+08:00"}, "stale"),
        ({"timestamp": "2026-11-25T17:05:01+08:00"}, "stale"),
        ({"timestamp": "2026-11-25T17:00:00"}, "stale"),
        ({"client_id": "SOMEONE-ELSE"}, "wrong_client"),
        ({"data": {"payee_proxy": "1111111"}}, "wrong_payee"),
        ({"data": {"amount": {"value": 12345, "currency": "CNY"}}}, "wrong_currency"),
        ({"data": {"amount": {"value": "123.45", "currency": "HKD"}}}, "malformed"),
        ({"data": {"amount": {"value": 123.45, "currency": "HKD"}}}, "malformed"),
        ({"data": {"amount": {"value": True, "currency": "HKD"}}}, "malformed"),
        ({"data": {"amount": {"value": 0, "currency": "HKD"}}}, "bad_amount"),
        ({"data": {"amount": {"value": -100, "currency": "HKD"}}}, "bad_amount"),
        ({"data": {"fps_txn_id": ""}}, "malformed"),
        ({"data": {"payer": None}}, "malformed"),
        ({"data": {"settled_at": "2026-11-25 17:00"}}, "malformed"),
        ({"event": {"event_type": "fps.debit"}}, "not_a_credit"),
        ({"event": {"event_id": ""}}, "malformed"),
        ({"event": {"data": []}}, "malformed"),
        ({"body": b"not json"}, "malformed"),
        ({"body": b"[]"}, "malformed"),
    ],
)
async def test_a_webhook_that_is_not_right_is_refused(
    world: World, changes: dict[str, Any], code: str
) -> None:
    with pytest.raises(NotificationRejected) as refused:
        world.adapter.verify_notification(_webhook(world, **changes), now=START)
    assert refused.value.code == code


async def test_an_unsigned_webhook_is_refused(world: World) -> None:
    raw = _webhook(world)
    for name in raw.headers:
        headers = {k: v for k, v in raw.headers.items() if k != name}
        with pytest.raises(NotificationRejected) as refused:
            world.adapter.verify_notification(RawNotification(headers, raw.body), now=START)
        assert refused.value.code == "unsigned"


async def test_a_webhook_replayed_after_the_window_is_refused(world: World) -> None:
    await scanned(world)
    await world.client.post(f"{PREFIX}/pay/{OTN}", params={"outcome": "success"})
    webhook = world.merchant.received[0]
    world.adapter.verify_notification(webhook, now=START + timedelta(minutes=5))
    with pytest.raises(NotificationRejected) as refused:
        world.adapter.verify_notification(webhook, now=START + timedelta(minutes=5, seconds=1))
    assert refused.value.code == "stale"


# --- the notifier ---------------------------------------------------------------------


async def _pay(world: World) -> None:
    await scanned(world)
    await world.client.post(f"{PREFIX}/pay/{OTN}", params={"outcome": "success"})


async def _after(world: World, seconds: float) -> int:
    world.clock.advance(timedelta(seconds=seconds))
    await world.sim.deliver_due()
    return len(world.merchant.received)


async def test_an_unanswered_webhook_is_sent_again_on_the_schedule(world: World) -> None:
    world.merchant.status, world.merchant.body = 500, b""
    await _pay(world)
    assert len(world.merchant.received) == 1
    assert await _after(world, 29) == 1
    assert await _after(world, 1) == 2
    assert await _after(world, 119) == 2
    world.merchant.body = b"OK"  # a 200 without {"received": true} is not taken either
    world.merchant.status = 200
    assert await _after(world, 1) == 3
    world.merchant.body = TAKEN
    assert await _after(world, 600) == 4
    assert await _after(world, 86400) == 4
    latest, sent_at = world.merchant.received[-1], START + timedelta(seconds=750)
    assert world.adapter.verify_notification(latest, now=sent_at).out_trade_no == OTN
    assert len({json.loads(r.body)["event_id"] for r in world.merchant.received}) == 1
    record = world.sim.records()[0]
    assert (record["attempts"], record["acknowledged"]) == (4, True)


async def test_the_bank_gives_up_after_the_last_attempt(world: World) -> None:
    world.merchant.status = 503
    await _pay(world)
    for delay in RETRY_SCHEDULE_SECONDS[1:]:
        await _after(world, delay)
    assert len(world.merchant.received) == len(RETRY_SCHEDULE_SECONDS)
    assert await _after(world, 7 * 86400) == len(RETRY_SCHEDULE_SECONDS)
    assert world.sim.records()[0]["acknowledged"] is False


async def test_the_schedule_is_scaled_by_time_scale(merchant_keys: KeyPair) -> None:
    clock, merchant = FixedClock(START), Merchant(status=500)
    sim = FpsBankSimulator(
        proxy_id=PROXY,
        merchant_name=NAME,
        client_id=CLIENT,
        merchant_public_key_pem=merchant_keys.public_pem,
        notify_url=NOTIFY_URL,
        clock=clock,
        deliver=merchant,
        time_scale=0.1,
    )
    await sim.pay(OTN, success=True, amount_minor=100)
    clock.advance(timedelta(seconds=2.9))
    await sim.deliver_due()
    assert len(merchant.received) == 1
    await sim.deliver_due(START + timedelta(seconds=3))
    assert len(merchant.received) == 2


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("bad_signature", "bad_signature"),
        ("tampered_amount", "bad_signature"),
        ("stale_timestamp", "stale"),
    ],
)
async def test_injected_faults_are_refused_by_the_adapter(
    world: World, fault: str, code: str
) -> None:
    setattr(world.sim.faults, fault, True)
    await _pay(world)
    with pytest.raises(NotificationRejected) as refused:
        world.adapter.verify_notification(world.merchant.received[0], now=world.clock.now())
    assert refused.value.code == code
    if fault == "tampered_amount":
        assert _event(world)["data"]["amount"]["value"] == 123


async def test_a_dropped_webhook_is_never_sent_and_a_duplicated_one_twice(world: World) -> None:
    world.sim.faults.drop = True
    await _pay(world)
    assert world.merchant.received == []
    assert world.sim.records()[0]["attempts"] == 0
    assert (await world.adapter.query(OTN)).status is TradeStatus.PAID  # polling finds it
    world.sim.faults.drop, world.sim.faults.duplicate = False, True
    await world.sim.pay("T2", success=True, amount_minor=100)
    assert [_event(world, i)["event_id"] for i in (0, 1)] == [_event(world, 0)["event_id"]] * 2
    assert world.sim.records()[1]["attempts"] == 2


def test_the_merchant_reply_that_means_taken(world: World) -> None:
    assert accepted(Reply(200, b'{"received": true}'))
    assert FpsBankSimulator.accepted(Reply(200, TAKEN))
    for reply in (Reply(200, b""), Reply(204), Reply(200, b'{"received":false}'), Reply(0)):
        assert not accepted(reply)
    taken, refused = world.adapter.acknowledge(True), world.adapter.acknowledge(False)
    assert accepted(Reply(taken.status, taken.body))
    assert not accepted(Reply(refused.status, refused.body))
    assert refused.status == 400


async def test_close_asks_the_bank_nothing(world: World) -> None:
    sent = recorded(world.client)
    await world.adapter.close(OTN)
    assert sent == []


# --- wiring ---------------------------------------------------------------------------


async def test_processes_on_the_same_keys_are_the_same_merchant_and_bank(tmp_path: Path) -> None:
    clock, merchant = FixedClock(START), Merchant(url=f"{HOST}/api/v1/payments/fps/notify")
    base_url = f"{HOST}{PREFIX}"
    sim = build_simulator(tmp_path, clock, base_url=base_url, deliver=merchant)
    again = build_simulator(tmp_path, clock, base_url=base_url, deliver=merchant)
    assert sim.bank_keys == again.bank_keys
    assert sim.notify_url == f"{HOST}/api/v1/payments/fps/notify"
    app = FastAPI()
    app.include_router(router(sim), prefix=PREFIX)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=HOST) as client:
        adapter = simulator_adapter(tmp_path, clock, base_url=base_url, http=client)
        start = await adapter.start(payment_request())
        page = await client.get(PREFIX + scan_path(OTN, str(start.qr_payload)))
        assert page.status_code == 200
        await client.post(f"{PREFIX}/pay/{OTN}", params={"outcome": "success"})
        received = merchant.received[0]
        assert adapter.verify_notification(received, now=START).amount == Money(12345, "HKD")
        assert (await adapter.query(OTN)).status is TradeStatus.PAID


def test_the_real_adapter_is_built_from_the_settings(
    tmp_path: Path, merchant_keys: KeyPair
) -> None:
    (tmp_path / "merchant.pem").write_bytes(merchant_keys.private_pem)
    (tmp_path / "bank.pem").write_bytes(KeyPair.generate().public_pem)
    settings = Settings(
        fps_proxy_id=PROXY,
        fps_merchant_name=NAME,
        fps_bank_client_id=CLIENT,
        fps_private_key_file=str(tmp_path / "merchant.pem"),
        fps_bank_public_key_file=str(tmp_path / "bank.pem"),
        fps_bank_api_url="https://bank.example/api",
    )
    adapter = real_adapter(settings, FixedClock(START), httpx.AsyncClient())
    assert adapter.provider is Provider.FPS
    assert adapter._config.bank_api_url == "https://bank.example/api"
    missing = settings.model_copy(update={"fps_bank_public_key_file": str(tmp_path / "no")})
    with pytest.raises(ValueError, match="cannot read"):
        real_adapter(missing, FixedClock(START), httpx.AsyncClient())
