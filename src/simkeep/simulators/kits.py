"""The simulators built on one shape: each a ``Kit`` that the embedded default, the
simulators' own process and the demo data wire alike.

Design overview
---------------
A kit says, for one provider, how to build its simulator for the merchant kept in
``keys_dir`` (``build``), the routes that serve it (``router``, mounted at
``/_sim/<provider>``), our adapter for it from the same kept keys (``adapter``, so any
process on the same ``keys_dir`` is the same merchant), how to read the merchant's reply to a
notification (``accepted``), and where a person's phone would land after scanning one of its
QR codes (``scan``: a path under the kit's prefix). A provider that is told the merchant's
notify URL once (a bank's webhook) rather than with each payment is given the merchant's,
from its public URL (``registered_webhook``). Their notifications all go through
``simulators.delivery``. The older Alipay and WeChat Pay simulators keep their own wiring
(``simulators.embedded``); everything after them is a kit, so adding a provider is a row in
``KITS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
from fastapi import APIRouter

from simkeep.clock import Clock
from simkeep.payment_methods import Provider
from simkeep.payments.model import PaymentProviderAdapter
from simkeep.simulators import (
    alipayplus_payments,
    alipayplus_routes,
    alipayplus_setup,
    fps_routes,
    fps_setup,
    fps_transfers,
    unionpay_routes,
    unionpay_setup,
    unionpay_trades,
    wechatpay_global_routes,
    wechatpay_global_setup,
    wechatpay_trades,
)
from simkeep.simulators.delivery import Deliver, Reply


class Simulated(Protocol):
    """What every kit's simulator does for its process."""

    async def deliver_due(self, *, now: datetime | None = None) -> object:
        """Send the notification attempts that are due."""
        ...

    def records(self) -> list[dict[str, Any]]:
        """Every trade as the provider records it (``GET /_sim/records``)."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """What it must remember across restarts, as plain records (``simulators.records``)."""
        ...

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Take back a ``snapshot``, just after being built."""
        ...


class Build(Protocol):
    def __call__(
        self,
        keys_dir: Path,
        clock: Clock,
        *,
        base_url: str,
        deliver: Deliver,
        time_scale: float = 1.0,
    ) -> Any: ...


class Adapter(Protocol):
    def __call__(
        self, keys_dir: Path, clock: Clock, *, base_url: str, http: httpx.AsyncClient
    ) -> PaymentProviderAdapter: ...


@dataclass(frozen=True, slots=True)
class Kit:
    provider: Provider
    build: Build
    router: Callable[[Any], APIRouter]
    adapter: Adapter
    accepted: Callable[[Reply], bool]
    # Where a phone that scanned one of its QR codes lands (order number, QR payload → URL)
    scan: Callable[[str, str], str] | None = None
    # The merchant registers its notify URL with the provider once (a bank's webhook), rather
    # than sending it with each payment: the simulator is told the merchant's (``notify_url``)
    registered_webhook: bool = False

    @property
    def name(self) -> str:
        """Its path under ``/_sim``."""
        return self.provider.value


KITS: tuple[Kit, ...] = (
    Kit(
        Provider.FPS,
        fps_setup.build_simulator,
        fps_routes.router,
        fps_setup.simulator_adapter,
        fps_transfers.accepted,
        scan=lambda order_no, qr: f"/_sim/fps{fps_routes.scan_path(order_no, qr)}",  # bank app
        registered_webhook=True,
    ),
    Kit(
        Provider.UNIONPAY,
        unionpay_setup.build_simulator,
        unionpay_routes.router,
        unionpay_setup.simulator_adapter,
        unionpay_trades.accepted,
    ),
    Kit(
        Provider.ALIPAYHK,
        alipayplus_setup.build_simulator,
        alipayplus_routes.router,
        alipayplus_setup.simulator_adapter,
        alipayplus_payments.accepted,
        scan=lambda order_no, qr: qr,  # the code is the cashier's address
    ),
    Kit(
        Provider.WECHATPAY_HK,
        wechatpay_global_setup.build_simulator,
        wechatpay_global_routes.router,
        wechatpay_global_setup.simulator_adapter,
        wechatpay_trades.accepted,
        scan=lambda order_no, qr: f"/_sim/wechatpay_hk/cashier/{order_no}",
    ),
)
KIT_BY_PROVIDER = {kit.provider: kit for kit in KITS}


def scan_url(provider: Provider, order_no: str, qr_payload: str) -> str | None:
    """Where a phone scanning the order's QR code lands in the simulators: a kit's page for
    it, else the older simulators' cashier for the order."""
    kit = KIT_BY_PROVIDER.get(provider)
    if kit is None:
        return f"/_sim/{provider.value}/cashier/{order_no}"
    return kit.scan(order_no, qr_payload) if kit.scan else None
