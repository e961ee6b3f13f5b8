"""Simulator keys kept in ``keys_dir``: every worker process is the same merchant and provider.

Several uvicorn workers build the embedded providers on one ``keys_dir``; they must end with
the same keys (the first to write wins, even when they start together on an empty
directory) and the same WeChat Pay key id, so that what one signs another verifies.
"""

from __future__ import annotations

import multiprocessing
import stat
from collections.abc import Mapping
from datetime import UTC, datetime
from multiprocessing.queues import SimpleQueue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from simkeep.clock import FixedClock
from simkeep.payment_methods import Provider
from simkeep.payments.model import RawNotification
from simkeep.payments.providers.wechatpay_signing import PUBLIC_KEY_ID_PREFIX
from simkeep.payments.signing import (
    KeyPair,
    load_private_key,
    load_public_key,
    sign_sha256_rsa,
    verify_sha256_rsa,
)
from simkeep.settings import Settings, load_settings
from simkeep.simulators.alipay import AlipaySimulator
from simkeep.simulators.embedded import (
    ALIPAY_APP_ID,
    ALIPAY_SELLER_ID,
    WECHAT_APIV3_KEY,
    WECHAT_APPID,
    WECHAT_MCHID,
    WECHAT_SERIAL,
    EmbeddedProviders,
)
from simkeep.simulators.keys import kept_key_pair, write_once
from simkeep.simulators.wechatpay import WeChatPaySimulator
from simkeep.simulators.wechatpay_trades import Deliver, http_deliver

CLOCK = FixedClock(datetime(2025, 3, 1, 4, 0, tzinfo=UTC))
MERCHANT = KeyPair.generate()
RACERS = 4


def _wechatpay(
    key_dir: Path, merchant: KeyPair = MERCHANT, deliver: Deliver = http_deliver
) -> WeChatPaySimulator:
    return WeChatPaySimulator(
        mchid=WECHAT_MCHID,
        appid=WECHAT_APPID,
        merchant_public_key_pem=merchant.public_pem,
        merchant_serial_no=WECHAT_SERIAL,
        apiv3_key=WECHAT_APIV3_KEY,
        clock=CLOCK,
        key_dir=key_dir,
        deliver=deliver,
    )


def _alipay(key_dir: Path) -> AlipaySimulator:
    return AlipaySimulator(
        app_id=ALIPAY_APP_ID,
        seller_id=ALIPAY_SELLER_ID,
        merchant_public_key_pem=MERCHANT.public_pem,
        clock=CLOCK,
        key_dir=key_dir,
    )


def test_a_key_pair_is_made_once_and_read_back(tmp_path: Path) -> None:
    first = kept_key_pair(tmp_path / "keys", "merchant")
    again = kept_key_pair(tmp_path / "keys", "merchant")

    assert again == first
    signature = sign_sha256_rsa(load_private_key(first.private_pem), b"top-up")
    assert verify_sha256_rsa(load_public_key(first.public_pem), b"top-up", signature)
    private = tmp_path / "keys" / "merchant_private_key.pem"
    public = tmp_path / "keys" / "merchant_public_key.pem"
    assert private.read_bytes() == first.private_pem
    assert public.read_bytes() == first.public_pem
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == [private.name, public.name]


def test_private_key_files_are_for_the_owner_only(tmp_path: Path) -> None:
    providers = EmbeddedProviders.build(_settings(tmp_path), CLOCK)
    keys = tmp_path / "keys"
    private = [
        keys / "merchant_private_key.pem",
        keys / "alipay" / "alipay_private_key.pem",
        keys / "wechatpay" / "wechatpay_private_key.pem",
    ]

    assert [stat.S_IMODE(path.stat().st_mode) for path in private] == [0o600] * 3
    public = keys / "wechatpay" / "wechatpay_public_key.pem"
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    assert public.read_bytes() == providers.wechatpay.platform_keys.public_pem


def test_two_simulators_on_one_directory_are_one_provider(tmp_path: Path) -> None:
    wechat_a, wechat_b = _wechatpay(tmp_path / "wechatpay"), _wechatpay(tmp_path / "wechatpay")
    alipay_a, alipay_b = _alipay(tmp_path / "alipay"), _alipay(tmp_path / "alipay")

    assert wechat_b.platform_keys == wechat_a.platform_keys
    assert wechat_b.public_key_id == wechat_a.public_key_id
    assert wechat_a.public_key_id.startswith(PUBLIC_KEY_ID_PREFIX)
    assert wechat_a.public_key_id.removeprefix(PUBLIC_KEY_ID_PREFIX).isdigit()
    assert alipay_b.keys == alipay_a.keys
    other = _wechatpay(tmp_path / "elsewhere")
    assert other.public_key_id != wechat_a.public_key_id  # the id follows the key


def test_two_builds_on_one_keys_dir_are_the_same_merchant_and_providers(tmp_path: Path) -> None:
    first = EmbeddedProviders.build(_settings(tmp_path), CLOCK)
    merchant = (tmp_path / "keys" / "merchant_private_key.pem").read_bytes()
    second = EmbeddedProviders.build(_settings(tmp_path), CLOCK)

    assert (tmp_path / "keys" / "merchant_private_key.pem").read_bytes() == merchant
    assert second.alipay.keys == first.alipay.keys
    assert second.wechatpay.platform_keys == first.wechatpay.platform_keys
    assert second.wechatpay.public_key_id == first.wechatpay.public_key_id
    assert second.wechatpay.platform_keys != first.alipay.keys  # one pair per provider


async def test_a_wechat_notification_signed_elsewhere_verifies_in_the_app(tmp_path: Path) -> None:
    providers = EmbeddedProviders.build(_settings(tmp_path), CLOCK)
    received: list[RawNotification] = []

    async def merchant(url: str, headers: Mapping[str, str], body: bytes) -> int:
        received.append(RawNotification(headers=dict(headers), body=body))
        return 204

    # Another process on the same keys_dir, e.g. a load generator signing for WeChat Pay.
    outside = _wechatpay(
        tmp_path / "keys" / "wechatpay",
        merchant=kept_key_pair(tmp_path / "keys", "merchant"),
        deliver=merchant,
    )
    order = {
        "appid": WECHAT_APPID,
        "mchid": WECHAT_MCHID,
        "description": "Top-up",
        "out_trade_no": "T20250301000001",
        "notify_url": "http://127.0.0.1:9/api/v1/payments/wechatpay/notify",
        "amount": {"total": 10_000, "currency": "CNY"},
    }
    outside.create_trade(kind="native", order=order)
    await outside.pay("T20250301000001", success=True)

    adapter = providers.adapters[Provider.WECHATPAY]
    (notification,) = received
    verified = adapter.verify_notification(notification, now=CLOCK.now())
    assert verified.out_trade_no == "T20250301000001"
    await providers.close()


def test_racing_processes_on_an_empty_directory_all_read_the_first_key(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(RACERS)
    results: SimpleQueue[bytes] = context.SimpleQueue()
    racers = [
        context.Process(target=_race, args=(start, tmp_path / "keys", results))
        for _ in range(RACERS)
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=60)
    assert [racer.exitcode for racer in racers] == [0] * RACERS

    seen = {results.get() for _ in range(RACERS)}
    assert seen == {(tmp_path / "keys" / "merchant_private_key.pem").read_bytes()}
    assert len(list((tmp_path / "keys").iterdir())) == 2  # no temporary file left behind


def test_a_file_written_meanwhile_wins_over_ours(tmp_path: Path) -> None:
    path = tmp_path / "merchant_private_key.pem"

    def written_meanwhile() -> bytes:
        path.write_bytes(b"theirs")  # another process links its file first
        return b"ours"

    write_once(path, written_meanwhile, mode=0o600)
    write_once(path, lambda: pytest.fail("a kept file is never made again"), mode=0o600)

    assert path.read_bytes() == b"theirs"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def _race(start: Barrier, directory: Path, results: SimpleQueue[bytes]) -> None:
    start.wait()
    results.put(kept_key_pair(directory, "merchant").private_pem)


def _settings(tmp_path: Path) -> Settings:
    return load_settings(keys_dir=str(tmp_path / "keys"), public_url="http://127.0.0.1:9")
