"""The FPS simulator and our adapter for it, from keys kept in one directory.

Design overview
---------------
``build_simulator`` makes the simulated payer's app and receiving bank for the merchant
whose key pair is kept in ``keys_dir`` (``merchant``, shared with the other providers'
simulators), the bank's own key pair kept in ``keys_dir / "fps"``; ``simulator_adapter``
builds our adapter for it from the same kept keys. So any process given the same
``keys_dir`` is the same merchant and verifies the same bank. ``base_url`` is where the
simulator's router is mounted (``<public>/_sim/fps``): the adapter queries the bank there,
and the bank posts its webhooks to the app's FPS notify endpoint at the same public URL,
as a real bank posts to the URL the merchant registered with it.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from simkeep.clock import Clock
from simkeep.payments.providers.fps import FpsAdapter, FpsConfig
from simkeep.simulators.delivery import Deliver
from simkeep.simulators.fps import FpsBankSimulator
from simkeep.simulators.keys import kept_key_pair

NAME = "fps"
PROXY_ID = "1234567"  # the merchant's FPS ID at its receiving bank
MERCHANT_NAME = "SIMKEEP DEMO LTD"
CLIENT_ID = "SIMKEEP-FPS-0001"  # the merchant's client id at the bank's API
NOTIFY_PATH = "/api/v1/payments/fps/notify"


def build_simulator(
    keys_dir: Path,
    clock: Clock,
    *,
    base_url: str,
    deliver: Deliver,
    time_scale: float = 1.0,
) -> FpsBankSimulator:
    """The FPS simulator served at ``base_url``, its bank key kept in ``keys_dir / "fps"``."""
    return FpsBankSimulator(
        proxy_id=PROXY_ID,
        merchant_name=MERCHANT_NAME,
        client_id=CLIENT_ID,
        merchant_public_key_pem=kept_key_pair(keys_dir, "merchant").public_pem,
        notify_url=_public_url(base_url) + NOTIFY_PATH,
        clock=clock,
        key_dir=keys_dir / NAME,
        deliver=deliver,
        time_scale=time_scale,
    )


def simulator_adapter(
    keys_dir: Path, clock: Clock, *, base_url: str, http: httpx.AsyncClient
) -> FpsAdapter:
    """Our adapter for the simulated bank at ``base_url``, reached through ``http``."""
    return FpsAdapter(
        config=FpsConfig(
            proxy_id=PROXY_ID,
            merchant_name=MERCHANT_NAME,
            bank_client_id=CLIENT_ID,
            merchant_private_key_pem=kept_key_pair(keys_dir, "merchant").private_pem,
            bank_public_key_pem=kept_key_pair(keys_dir / NAME, NAME).public_pem,
            bank_api_url=base_url,
        ),
        client=http,
        clock=clock,
    )


def _public_url(base_url: str) -> str:
    return base_url.rstrip("/").removesuffix(f"/_sim/{NAME}")
