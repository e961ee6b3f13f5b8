"""The WeChat Pay HK simulator and our adapter for it, from keys kept in one directory.

Design overview
---------------
``build_simulator`` makes the simulator for the merchant whose key pair is kept in
``keys_dir`` (``merchant``, shared with the other providers' simulators), with its own
platform key pair kept in ``keys_dir / "wechatpay_hk"``; ``simulator_adapter`` builds our
adapter for it from the same kept keys. So any process given the same ``keys_dir`` is the
same merchant and verifies the same platform. ``base_url`` is where the simulator's router
is mounted (``<public>/_sim/wechatpay_hk``): the adapter calls it there and the H5 cashier
links point there.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from simkeep.clock import Clock
from simkeep.payments.providers.wechatpay import WeChatPayConfig
from simkeep.payments.providers.wechatpay_global import WeChatPayGlobalAdapter
from simkeep.simulators.delivery import Deliver
from simkeep.simulators.keys import kept_key_pair, public_key_id
from simkeep.simulators.wechatpay_global import WeChatPayGlobalSimulator

NAME = "wechatpay_hk"
MCHID, APPID = "1900006811", "wx5f3a9c2e8b7d4a61"  # an HK merchant and its app
SERIAL = "6B2E1A5F0C3D9E8B7A6F5E4D3C2B1A0F9E8D7C6B"  # the merchant's certificate serial
APIV3_KEY = "simkeep-embedded-hk-apiv3-key-01"


def build_simulator(
    keys_dir: Path,
    clock: Clock,
    *,
    base_url: str,
    deliver: Deliver,
    time_scale: float = 1.0,
) -> WeChatPayGlobalSimulator:
    """The WeChat Pay HK simulator served at ``base_url``, its platform key kept in
    ``keys_dir / "wechatpay_hk"``."""
    return WeChatPayGlobalSimulator(
        mchid=MCHID,
        appid=APPID,
        merchant_public_key_pem=kept_key_pair(keys_dir, "merchant").public_pem,
        merchant_serial_no=SERIAL,
        apiv3_key=APIV3_KEY,
        clock=clock,
        public_base_url=base_url,
        key_dir=keys_dir / NAME,
        deliver=deliver,
        time_scale=time_scale,
    )


def simulator_adapter(
    keys_dir: Path, clock: Clock, *, base_url: str, http: httpx.AsyncClient
) -> WeChatPayGlobalAdapter:
    """Our adapter for the simulator at ``base_url``, reached through ``http``."""
    platform_public = kept_key_pair(keys_dir / NAME, NAME).public_pem
    return WeChatPayGlobalAdapter(
        config=WeChatPayConfig(
            mchid=MCHID,
            appid=APPID,
            merchant_private_key_pem=kept_key_pair(keys_dir, "merchant").private_pem,
            merchant_serial_no=SERIAL,
            apiv3_key=APIV3_KEY,
            platform_public_key_pem=platform_public,
            platform_public_key_id=public_key_id(platform_public),
            base_url=base_url,
        ),
        client=http,
        clock=clock,
    )
