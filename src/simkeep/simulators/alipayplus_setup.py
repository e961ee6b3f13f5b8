"""The AlipayHK (Alipay+) simulator and our adapter for it, from keys kept on disk.

Design overview
---------------
``build_simulator`` makes the simulator for the merchant whose key pair is kept in
``keys_dir`` (``merchant``, shared with the other simulators), with the Alipay+ platform key
pair kept in ``keys_dir / "alipayhk"``; ``simulator_adapter`` builds our adapter for a
simulator served at ``base_url`` from those same kept keys, so any process on the same
``keys_dir`` is the same merchant and verifies the same Alipay+. Its notify path is the
default one (a public URL without a path of its own).
"""

from __future__ import annotations

from pathlib import Path

import httpx

from simkeep.clock import Clock
from simkeep.payments.providers.alipayplus import AlipayPlusAdapter, AlipayPlusConfig
from simkeep.simulators.alipayplus import AlipayPlusSimulator
from simkeep.simulators.delivery import Deliver
from simkeep.simulators.keys import kept_key_pair

CLIENT_ID = "5J5Y3P2N3Z0HK0001"  # the merchant's AMS Client-Id at the simulator
KEY_VERSION = "1"
KEYS = "alipayhk"  # the folder of keys_dir holding the Alipay+ platform key pair


def build_simulator(
    keys_dir: Path, clock: Clock, *, base_url: str, deliver: Deliver, time_scale: float = 1.0
) -> AlipayPlusSimulator:
    """Alipay+ for the merchant kept in ``keys_dir``, served at ``base_url``."""
    return AlipayPlusSimulator(
        client_id=CLIENT_ID,
        merchant_public_key_pem=kept_key_pair(keys_dir, "merchant").public_pem,
        clock=clock,
        public_base_url=base_url,
        key_dir=keys_dir / KEYS,
        key_version=KEY_VERSION,
        deliver=deliver,
        time_scale=time_scale,
    )


def simulator_adapter(
    keys_dir: Path, clock: Clock, *, base_url: str, http: httpx.AsyncClient
) -> AlipayPlusAdapter:
    """Our adapter for the simulator at ``base_url``, from the keys kept in ``keys_dir``."""
    config = AlipayPlusConfig(
        client_id=CLIENT_ID,
        merchant_private_key_pem=kept_key_pair(keys_dir, "merchant").private_pem,
        alipayplus_public_key_pem=kept_key_pair(keys_dir / KEYS, "alipayplus").public_pem,
        key_version=KEY_VERSION,
        gateway_url=base_url,
    )
    return AlipayPlusAdapter(config=config, http=http, clock=clock)
