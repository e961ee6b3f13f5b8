"""What every entry point needs, made once at start-up by the composition root.

Design overview
---------------
``Services`` holds the database, the clock, the settings and what is derived from them
once (keys for codes, receipt links and ID digests, the limits, the counter's ID check
policy, the payment adapters, the URLs providers reach us at). ``create_app`` builds it in
its lifespan and keeps it on ``app.state``; the API routers and the pages both take it
through ``ServicesDep``, so neither depends on the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from simkeep.clock import Clock
from simkeep.counter.model import IdPolicy
from simkeep.db import Database
from simkeep.notifications.service import EmailGateway
from simkeep.notifications.smtp import SmtpGateway, SmtpServer
from simkeep.payment_methods import Provider
from simkeep.payments.gateways import Gateways, real_adapters
from simkeep.payments.model import PaymentProviderAdapter
from simkeep.payments.service import CheckoutUrls
from simkeep.receipts.service import ReceiptSigning
from simkeep.replicas import ReadPool
from simkeep.settings import Settings
from simkeep.sims.model import digest_key
from simkeep.simulators.email import SimulatedMailbox
from simkeep.simulators.embedded import remote_simulators
from simkeep.subscribers.model import Limits, auth_key
from simkeep.vouchers.model import PinLimits


@dataclass(frozen=True, slots=True)
class Services:
    """What every entry point needs, made once at start-up."""

    settings: Settings
    db: Database
    clock: Clock
    auth_key: bytes
    receipts: ReceiptSigning
    id_key: bytes  # digests of ID numbers, on the SIM and as a clerk types them
    id_policy: IdPolicy  # when a counter top-up or refund needs the holder's ID checked
    limits: Limits
    pin_limits: PinLimits  # failed voucher PINs before redemptions are refused
    adapters: Mapping[Provider, PaymentProviderAdapter]
    urls: CheckoutUrls
    order_ttl: timedelta  # how long a payer has to pay an order
    reads: ReadPool  # the replicas for what only reads (and the primary when none will do)

    @classmethod
    def build(
        cls,
        *,
        settings: Settings,
        db: Database,
        clock: Clock,
        adapters: Mapping[Provider, PaymentProviderAdapter],
    ) -> Services:
        return cls(
            settings=settings,
            db=db,
            clock=clock,
            auth_key=auth_key(settings.secret_key),
            receipts=ReceiptSigning(settings.secret_key.encode(), settings.public_url),
            id_key=digest_key(settings.secret_key),
            id_policy=IdPolicy(check_from_minor=settings.id_check_from),
            limits=Limits(),
            pin_limits=PinLimits(
                per_number=settings.voucher_failures_per_number,
                per_account=settings.voucher_failures_per_account,
                per_address=settings.voucher_failures_per_address,
            ),
            adapters=adapters,
            urls=CheckoutUrls(settings.public_url),
            order_ttl=timedelta(seconds=settings.order_ttl_seconds),
            reads=ReadPool.from_settings(settings, db),
        )

    def adapter(self, provider: Provider) -> PaymentProviderAdapter:
        """The provider's adapter, for its notifications and the orders placed with it."""
        adapter = self.adapters.get(provider)
        if adapter is None:
            raise HTTPException(404, f"{provider.value} is not available")
        return adapter

    def checkout_adapter(self, provider: Provider) -> PaymentProviderAdapter:
        """The provider's adapter for a new order: refused when it is switched off here."""
        if provider in self.settings.methods_off:
            raise HTTPException(404, f"{provider.value} is switched off")
        return self.adapter(provider)

    @property
    def charges(self) -> dict[Provider, frozenset[str]]:
        """The providers a payer is offered here, and what each charges in."""
        return {
            provider: adapter.currencies
            for provider, adapter in self.adapters.items()
            if provider not in self.settings.methods_off
        }


# Dependencies are coroutines: FastAPI runs a plain function in a worker thread, a hop that
# costs more than the lookup itself on every request.
async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def outside_gateways(settings: Settings, clock: Clock) -> Gateways:
    """The payment adapters of a process that does not hold the simulators itself: to the
    simulators' own process (``SIMKEEP_SIMULATORS_URL``), or else to the real gateways."""
    if settings.simulators:
        if not settings.simulators_url:
            raise ValueError("the simulators run in the web process: set SIMKEEP_SIMULATORS_URL")
        return remote_simulators(settings, clock)
    return real_adapters(settings, clock)


def mail_gateway(settings: Settings, db: Database, clock: Clock) -> EmailGateway | None:
    """Where emails go: the mail server at ``SIMKEEP_SMTP_URL``, else the simulated mailbox
    while the simulators are on, else nowhere (they wait in the outbox)."""
    if settings.smtp_url:
        return SmtpGateway(SmtpServer.parse(settings.smtp_url), sender=settings.mail_from)
    return SimulatedMailbox(db, clock) if settings.simulators else None
