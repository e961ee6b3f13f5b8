"""Auto keep-alive use cases: save a SIM's agreement and rule, read it, cancel it, and take
the providers' agreement notifications (docs/retention.md, "Auto keep-alive").

Design overview
---------------
* ``save_rule`` writes the rule (``signing``) and sends the subscriber to the provider's
  signing page (``AgreementAdapter.start_signing``), or changes the rule of an agreement
  already signed. A SIM has one rule that has not ended: the database's partial unique
  index holds it when two requests race; the loser is refused (409).
* A rule becomes ``active`` when the provider's signed notification says so
  (``receive_agreement_notification``, verified like the payment notifications), or when
  the subscriber comes back from signing and the provider, asked, says so
  (``refresh_signing``: a lost notification).
* ``cancel_rule`` ends the agreement at the provider first (unsign / terminate), then the
  rule, and cancels the attempts not yet charged; a provider that ends one itself (the
  payer in their wallet) notifies it, and the rule ends the same way. A charge already
  taken is credited as any payment is.
* The job that notices, charges and retries is ``keepalive.charging``.
Another subscriber's SIM is not found, whatever its id (``sims.held_sim``).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import in_hong_kong
from simkeep.db import Database
from simkeep.keepalive import tables as t
from simkeep.keepalive.model import (
    AgreementExists,
    Attempt,
    AttemptState,
    Mode,
    Rule,
    RuleState,
    check_rule,
)
from simkeep.money import Money
from simkeep.payment_methods import Provider
from simkeep.payments.agreements import (
    AgreementAdapter,
    AgreementRequest,
    AgreementState,
    AgreementStatus,
)
from simkeep.payments.model import (
    Acknowledgement,
    NotificationRejected,
    PaymentProviderAdapter,
    RawNotification,
)
from simkeep.sims import service as sims
from simkeep.statements import INTEGRITY_ERRORS

ENDED_BY_PAYER = "ended_by_payer"
CANCELLED = "cancelled"


class NotHeld(LookupError):
    """The subscriber holds no SIM with this id (or it has no rule): not found."""


class NoAgreements(LookupError):
    """This provider offers no agreement payment here."""


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """A SIM's rule and its latest attempt, as the page and the API show them."""

    rule: Rule
    latest: Attempt | None


@dataclass(frozen=True, slots=True)
class Saved:
    rule: Rule
    sign_url: str | None  # where to sign, while the agreement is not signed


def agreement_adapters(
    adapters: Mapping[Provider, PaymentProviderAdapter],
) -> dict[Provider, AgreementAdapter]:
    """The payment adapters that also speak their provider's agreement protocol."""
    return {p: a for p, a in adapters.items() if isinstance(a, AgreementAdapter)}


@dataclass(frozen=True, slots=True)
class KeepAliveUrls:
    public_url: str

    def notify(self, provider: Provider) -> str:
        return f"{self.public_url.rstrip('/')}/api/v1/keep-alive/{provider.value}/notify"

    def payment_notify(self, provider: Provider) -> str:
        """The ordinary payment notify URL: a deduction is a payment like any other."""
        return f"{self.public_url.rstrip('/')}/api/v1/payments/{provider.value}/notify"

    def returned(self, sim_id: int) -> str:
        return f"{self.public_url.rstrip('/')}/my/sims/{sim_id}/keep-alive/return"


async def save_rule(
    db: Database,
    *,
    adapter: AgreementAdapter,
    urls: KeepAliveUrls,
    subscriber_id: int,
    sim_id: int,
    mode: Mode,
    amount_minor: int | None,
    now: datetime,
) -> Saved:
    """Save the SIM's rule; a new agreement is to be signed at the returned URL."""
    amount = check_rule(mode, amount_minor)

    async def write(conn: AsyncConnection) -> tuple[Rule, str]:
        account = await sims.held_sim(conn, subscriber_id=subscriber_id, sim_id=sim_id)
        if account is None:
            raise NotHeld(sim_id)
        current = await _current_rule(conn, sim_id=sim_id)
        if current is not None:
            if current.subscriber_id != subscriber_id or current.provider is not adapter.provider:
                raise AgreementExists("this SIM has an agreement already: cancel it first")
            await conn.execute(
                update(t.rules)
                .where(t.rules.c.id == current.id)
                .values(mode=mode.value, amount_minor=amount)
            )
        else:
            ref = f"SK{in_hong_kong(now):%Y%m%d}{secrets.token_hex(6).upper()}"
            values = {
                "subscriber_id": subscriber_id,
                "sim_id": sim_id,
                "provider": adapter.provider.value,
                "agreement_ref": ref,
                "state": RuleState.SIGNING.value,
                "mode": mode.value,
                "amount_minor": amount,
                "created_at": now,
            }
            try:
                await conn.execute(insert(t.rules).values(**values))
            except INTEGRITY_ERRORS as error:
                raise AgreementExists("this SIM has an agreement already") from error
        rule = await _current_rule(conn, sim_id=sim_id)
        assert rule is not None
        return rule, account.sim.hk_number.masked()

    rule, display = await db.transaction(write)
    if rule.state is not RuleState.SIGNING:
        return Saved(rule, None)
    request = AgreementRequest(
        agreement_ref=rule.agreement_ref,
        display_account=display,
        notify_url=urls.notify(rule.provider),
        return_url=urls.returned(sim_id),
    )
    return Saved(rule, await adapter.start_signing(request))


async def keep_alive_of(conn: AsyncConnection, *, subscriber_id: int, sim_id: int) -> KeepAlive:
    """The subscriber's rule for a SIM they hold, with its latest attempt."""
    if await sims.held_sim(conn, subscriber_id=subscriber_id, sim_id=sim_id) is None:
        raise NotHeld(sim_id)
    rule = await _current_rule(conn, sim_id=sim_id)
    if rule is None or rule.subscriber_id != subscriber_id:
        raise NotHeld(sim_id)
    a = t.attempts.c
    row = (
        await conn.execute(
            select(t.attempts).where(a.rule_id == rule.id).order_by(a.id.desc()).limit(1)
        )
    ).first()
    return KeepAlive(rule, attempt_of(row) if row is not None else None)


async def cancel_rule(
    db: Database,
    *,
    adapters: Mapping[Provider, AgreementAdapter],
    subscriber_id: int,
    sim_id: int,
    now: datetime,
) -> None:
    """End the agreement at the provider, then the rule: no further charge is made."""
    held = await db.transaction(
        lambda conn: keep_alive_of(conn, subscriber_id=subscriber_id, sim_id=sim_id)
    )
    rule = held.rule
    adapter = adapters.get(rule.provider)
    if adapter is None:
        raise NoAgreements(rule.provider.value)
    if rule.provider_agreement_no is not None:
        await adapter.end_agreement(rule.agreement_ref, rule.provider_agreement_no)
    await db.transaction(lambda conn: _end(conn, rule.agreement_ref, CANCELLED, now))


async def refresh_signing(
    db: Database, *, adapter: AgreementAdapter, rule: Rule, now: datetime
) -> None:
    """The subscriber is back from signing: ask the provider, in case its notification
    is late or lost."""
    if rule.state is RuleState.SIGNING:
        status = await adapter.query_agreement(rule.agreement_ref)
        await db.transaction(lambda conn: apply_status(conn, status, now))


async def receive_agreement_notification(
    db: Database, *, adapter: AgreementAdapter, raw: RawNotification, now: datetime
) -> Acknowledgement:
    """Verify an agreement notification, apply it, and answer the provider."""
    try:
        status = adapter.verify_agreement_notification(raw, now=now)
    except NotificationRejected:
        return adapter.acknowledge(False)
    known = await db.transaction(lambda conn: apply_status(conn, status, now))
    return adapter.acknowledge(known)


async def apply_status(conn: AsyncConnection, status: AgreementStatus, now: datetime) -> bool:
    """Signed: the rule is active with the provider's number; ended: the rule ends. Whether
    the agreement is ours."""
    r = t.rules.c
    if status.state is AgreementState.ACTIVE:
        await conn.execute(
            update(t.rules)
            .where(r.agreement_ref == status.agreement_ref, r.state == RuleState.SIGNING.value)
            .values(
                state=RuleState.ACTIVE.value,
                provider_agreement_no=status.provider_agreement_no,
                signed_at=status.at or now,
            )
        )
    elif status.state is AgreementState.ENDED:
        await _end(conn, status.agreement_ref, ENDED_BY_PAYER, now)
    found = await conn.execute(select(r.id).where(r.agreement_ref == status.agreement_ref))
    return found.first() is not None


async def _end(conn: AsyncConnection, agreement_ref: str, reason: str, now: datetime) -> None:
    r, a = t.rules.c, t.attempts.c
    ended = await conn.execute(
        update(t.rules)
        .where(r.agreement_ref == agreement_ref, r.state != RuleState.ENDED.value)
        .values(state=RuleState.ENDED.value, ended_at=now, end_reason=reason)
        .returning(r.id)
    )
    for row in ended:
        await conn.execute(
            update(t.attempts)
            .where(a.rule_id == row.id, a.state == AttemptState.WAITING.value)
            .values(state=AttemptState.CANCELLED.value, next_at=None, updated_at=now)
        )


async def _current_rule(conn: AsyncConnection, *, sim_id: int) -> Rule | None:
    r = t.rules.c
    row = (
        await conn.execute(
            select(t.rules).where(r.sim_id == sim_id, r.state != RuleState.ENDED.value)
        )
    ).first()
    return rule_of(row) if row is not None else None


def rule_of(row: object) -> Rule:
    m = row._mapping  # type: ignore[attr-defined]
    return Rule(
        id=m["id"],
        subscriber_id=m["subscriber_id"],
        sim_id=m["sim_id"],
        provider=Provider(m["provider"]),
        agreement_ref=m["agreement_ref"],
        provider_agreement_no=m["provider_agreement_no"],
        state=RuleState(m["state"]),
        mode=Mode(m["mode"]),
        amount_minor=m["amount_minor"],
        created_at=m["created_at"],
        signed_at=m["signed_at"],
        ended_at=m["ended_at"],
        end_reason=m["end_reason"],
    )


def attempt_of(row: object) -> Attempt:
    m = row._mapping  # type: ignore[attr-defined]
    return Attempt(
        id=m["id"],
        rule_id=m["rule_id"],
        period=m["period"],
        state=AttemptState(m["state"]),
        amount=Money(m["amount_minor"], m["currency"]),
        tries=m["tries"],
        next_at=m["next_at"],
        order_no=m["order_no"],
        last_error=m["last_error"],
        noticed_at=m["noticed_at"],
        updated_at=m["updated_at"],
    )
