"""The demo's auto keep-alive: one demo SIM with an active rule, made as a subscriber makes
one.

Design overview
---------------
``ensure_demo_keep_alive`` saves the rule through ``keepalive.service.save_rule`` ("enough
to stay active", Alipay), opens the signing page it answers at the Alipay simulator built
in-process and signs there with the demo password, as a payer would; the simulator's signed
``dut_user_sign`` notification is handed to ``keepalive.service.receive_agreement_notification``
(verified like any), which makes the rule active. A rule there already is left as it is,
so seeding again changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from simkeep.clock import Clock
from simkeep.db import Database
from simkeep.errors import Refusal
from simkeep.keepalive import service as keepalive
from simkeep.keepalive.model import Mode, RuleState
from simkeep.keepalive.service import KeepAlive, KeepAliveUrls, NotHeld
from simkeep.payment_methods import Provider
from simkeep.payments.agreements import AgreementAdapter
from simkeep.payments.model import Acknowledgement, PaymentProviderAdapter, RawNotification
from simkeep.settings import Settings
from simkeep.simulators.alipay_trades import DEMO_PASSWORD
from simkeep.simulators.embedded import EmbeddedProviders


class DemoKeepAliveFailed(Refusal):
    code = "demo_refused"


async def ensure_demo_keep_alive(
    db: Database, *, settings: Settings, clock: Clock, subscriber_id: int, sim_id: int
) -> KeepAlive:
    """The demo SIM's keep-alive, signed with Alipay (made now if it has none)."""
    existing = await _keep_alive(db, subscriber_id, sim_id)
    if existing is not None:
        return existing

    async def receive(adapter: PaymentProviderAdapter, raw: RawNotification) -> Acknowledgement:
        agreements = keepalive.agreement_adapters({adapter.provider: adapter})
        return await keepalive.receive_agreement_notification(
            db, adapter=agreements[adapter.provider], raw=raw, now=clock.now()
        )

    providers = EmbeddedProviders.build(settings, clock, notify=receive)
    try:
        agreements: Mapping[Provider, AgreementAdapter] = keepalive.agreement_adapters(
            providers.adapters
        )
        saved = await keepalive.save_rule(
            db,
            adapter=agreements[Provider.ALIPAY],
            urls=KeepAliveUrls(settings.public_url),
            subscriber_id=subscriber_id,
            sim_id=sim_id,
            mode=Mode.ENOUGH,
            amount_minor=None,
            now=clock.now(),
        )
        if saved.sign_url is not None:
            page = await providers.http.get(saved.sign_url)  # Alipay's gateway → its page
            form = {"password": DEMO_PASSWORD, "action": "sign"}
            await providers.http.post(page.headers["location"], data=form)
    finally:
        await providers.close()
    made = await _keep_alive(db, subscriber_id, sim_id)
    if made is None or made.rule.state is not RuleState.ACTIVE:
        raise DemoKeepAliveFailed("the demo agreement was not signed")
    return made


async def _keep_alive(db: Database, subscriber_id: int, sim_id: int) -> KeepAlive | None:
    try:
        return await db.transaction(
            lambda conn: keepalive.keep_alive_of(conn, subscriber_id=subscriber_id, sim_id=sim_id)
        )
    except NotHeld:
        return None
