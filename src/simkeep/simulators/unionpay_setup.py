"""The UnionPay simulator and our adapter for it, from keys and certificates kept on disk.

Design overview
---------------
``build_simulator`` makes the simulator for the merchant whose key pair is kept in
``keys_dir`` (``merchant``, shared with the other simulators), with UnionPay's certificates
and signing key kept in ``keys_dir / "unionpay"`` (``unionpay_pki``); ``simulator_adapter``
builds our adapter for a simulator served at ``base_url`` from those same kept files — the
merchant key, and UnionPay's root and middle certificates as the trust anchors, and the
file host at ``/filedownload`` under ``base_url`` — so any process on the same ``keys_dir``
is the same merchant and trusts the same UnionPay. The
simulated acquirer settles both CNY and HKD. Refunds are notified to ``notify_url``; unless
told, it is our notify path on the origin the simulators are mounted on (``…/_sim``), which
is the app itself in the embedded default.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from simkeep.clock import Clock
from simkeep.payments.providers.unionpay import NOTIFY_PATH, UnionPayAdapter, UnionPayConfig
from simkeep.simulators.delivery import Deliver
from simkeep.simulators.keys import kept_key_pair
from simkeep.simulators.unionpay import UnionPaySimulator
from simkeep.simulators.unionpay_pki import kept_pki
from simkeep.simulators.unionpay_routes import FILE_PATH

MER_ID = "777290058110048"  # the merchant's merId at the simulated gateway
MERCHANT_CERT_ID = "69629715588"  # the serial of the merchant's signing certificate
MERCHANT_NAME = "simkeep"
CURRENCIES = frozenset({"CNY", "HKD"})
KEYS = "unionpay"  # the folder of keys_dir holding UnionPay's certificates and key


def build_simulator(
    keys_dir: Path, clock: Clock, *, base_url: str, deliver: Deliver, time_scale: float = 1.0
) -> UnionPaySimulator:
    """UnionPay's gateway for the merchant kept in ``keys_dir``, served at ``base_url``."""
    return UnionPaySimulator(
        mer_id=MER_ID,
        merchant_name=MERCHANT_NAME,
        merchant_public_key_pem=kept_key_pair(keys_dir, "merchant").public_pem,
        merchant_cert_id=MERCHANT_CERT_ID,
        clock=clock,
        key_dir=keys_dir / KEYS,
        public_base_url=base_url,
        deliver=deliver,
        time_scale=time_scale,
    )


def simulator_adapter(
    keys_dir: Path,
    clock: Clock,
    *,
    base_url: str,
    http: httpx.AsyncClient,
    notify_url: str = "",
) -> UnionPayAdapter:
    """Our adapter for the simulator at ``base_url``, from the files kept in ``keys_dir``."""
    pki = kept_pki(keys_dir / KEYS, now=clock.now())
    config = UnionPayConfig(
        mer_id=MER_ID,
        merchant_private_key_pem=kept_key_pair(keys_dir, "merchant").private_pem,
        cert_id=MERCHANT_CERT_ID,
        root_cert_pem=pki.root_pem,
        middle_cert_pem=pki.middle_pem,
        gateway_url=base_url,
        currencies=CURRENCIES,
        notify_url=notify_url or base_url.split("/_sim/", 1)[0].rstrip("/") + NOTIFY_PATH,
        file_url=base_url.rstrip("/") + FILE_PATH,
    )
    return UnionPayAdapter(config=config, http=http, clock=clock)
