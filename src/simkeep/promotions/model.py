"""Promotion rules without I/O: what a promotion is, which apply to a top-up, what each gives
(docs/promotions.md).

Design overview
---------------
* A promotion is a condition plus a benefit. ``Conditions`` all hold or the promotion does
  not apply: a least credit (in the promotion's currency), the way the order came in
  (``SalesChannel``: web, API, later the outlet), the provider and how the payer reaches it
  (``payment_methods``), the SIM's first top-up, the plan, and a window of instants (entered
  as Hong Kong days, ``window``). ``Benefit``s are bonus money (fixed, or a percentage of
  the credit rounded down to the minor unit), data MB, voice minutes, SMS and extra validity
  days, each but the validity with an expiry in days after the grant.
* Limits: a budget counted in grants (every order granted a promotion uses one, whatever it
  gives), a cap of grants per SIM, a state (``active``/``paused``). Counters are the
  service's, taken by one atomic statement; here they only hide a promotion that has run
  out, so the page does not offer it.
* ``applicable`` is the one decision: of the promotions whose conditions hold and that give
  something, the best one that does not stack (highest priority, then the oldest) plus every
  one that stacks. ``grants`` is what one promotion gives a top-up: extra validity days mean
  nothing to a SIM kept by monthly fees, so they are left out there, and a promotion left
  with nothing to give does not apply.
* ``check_promotion`` refuses what the operator cannot mean, field by field, with bounds on
  every number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from simkeep.clock import HONG_KONG
from simkeep.errors import Refusal
from simkeep.money import Money, check_currency
from simkeep.names import Names
from simkeep.payment_methods import Channel, Provider
from simkeep.sims.model import Retention


class PromotionError(Refusal):
    """A promotion the operator cannot mean; ``field`` names what to fix."""

    code = "invalid_promotion"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownPromotion(Refusal):
    code = "unknown_promotion"


class SalesChannel(StrEnum):
    """How an order came in."""

    WEB = "web"  # the top-up wizard
    API = "api"  # /api/v1/topups
    OUTLET = "outlet"  # a clerk at an outlet (later)


class PromotionState(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class BenefitKind(StrEnum):
    MONEY = "money"  # bonus money, a fixed amount in the promotion's currency
    PERCENT = "percent"  # bonus money, a percentage of the credit
    DATA = "data"  # MB
    VOICE = "voice"  # minutes
    SMS = "sms"  # messages
    VALIDITY = "validity"  # extra days of validity

    @property
    def bucket(self) -> str | None:
        """The bucket kind it fills (``buckets.tables.KINDS``); None for validity days."""
        return {"money": "money", "percent": "money", "validity": None}.get(self, self.value)


LIMITS: dict[BenefitKind, int] = {  # the largest amount of each, to catch a slip of the finger
    BenefitKind.MONEY: 1_000_000,  # minor units: 10,000 of the currency
    BenefitKind.PERCENT: 100,
    BenefitKind.DATA: 1_000_000,
    BenefitKind.VOICE: 100_000,
    BenefitKind.SMS: 100_000,
    BenefitKind.VALIDITY: 730,
}
ZONES = ("hk", "mainland")
MAX_EXPIRY_DAYS = 3_650
MAX_PRIORITY = 1_000
MAX_COUNT = 100_000_000  # budgets and caps


@dataclass(frozen=True, slots=True)
class Benefit:
    kind: BenefitKind
    amount: int  # minor units, percent, MB, minutes, messages or days
    zone: str | None = None  # data, voice, SMS: one zone, or None for any
    expires_days: int | None = None  # days after the grant; None only for validity


@dataclass(frozen=True, slots=True)
class Conditions:
    currency: str | None = None  # only credits in this currency (and the amounts below)
    min_credit_minor: int | None = None
    sales_channel: SalesChannel | None = None
    provider: Provider | None = None
    pay_channel: Channel | None = None
    first_topup: bool = False
    plan_code: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None  # exclusive


@dataclass(frozen=True, slots=True)
class Promotion:
    id: int
    code: str
    names: Names
    state: PromotionState
    priority: int
    stackable: bool
    conditions: Conditions
    benefits: tuple[Benefit, ...]
    budget: int | None  # grants in all; None: no limit
    used: int  # grants taken (reserved by open orders, or granted)
    per_sim_cap: int | None  # grants per SIM; None: no limit
    created_at: datetime | None = None

    @property
    def exhausted(self) -> bool:
        return self.budget is not None and self.used >= self.budget


@dataclass(frozen=True, slots=True)
class NewPromotion:
    """A promotion as the operator asks for it (checked by ``check_promotion``)."""

    code: str
    names: Names
    priority: int
    stackable: bool
    conditions: Conditions
    benefits: tuple[Benefit, ...]
    budget: int | None
    per_sim_cap: int | None


@dataclass(frozen=True, slots=True)
class Prospect:
    """A top-up about to be ordered, as far as promotions care."""

    credit: Money
    sales_channel: SalesChannel
    provider: Provider | None  # None: not chosen yet (a quote)
    pay_channel: Channel | None
    first_topup: bool  # the SIM has never been credited
    plan_code: str
    retention: Retention
    at: datetime
    sim_uses: Mapping[int, int] = field(default_factory=dict)  # grants so far, by promotion


@dataclass(frozen=True, slots=True)
class Grant:
    """One benefit as a top-up receives it."""

    kind: BenefitKind
    amount: int  # money: minor units of the credit's currency
    zone: str | None
    expires_days: int | None

    def money(self, currency: str) -> Money:
        return Money(self.amount, currency)


@dataclass(frozen=True, slots=True)
class Applied:
    """A promotion that applies to a top-up, and what it gives that top-up."""

    promotion_id: int
    names: Names
    grants: tuple[Grant, ...]

    @property
    def validity_days(self) -> int:
        return sum(g.amount for g in self.grants if g.kind is BenefitKind.VALIDITY)


def conditions_hold(conditions: Conditions, prospect: Prospect) -> bool:
    """Whether every condition of a promotion holds for the top-up."""
    c, p = conditions, prospect
    checks = (
        c.currency is None or c.currency == p.credit.currency,
        c.min_credit_minor is None or p.credit.minor >= c.min_credit_minor,
        c.sales_channel is None or c.sales_channel is p.sales_channel,
        c.provider is None or c.provider is p.provider,
        c.pay_channel is None or c.pay_channel is p.pay_channel,
        not c.first_topup or p.first_topup,
        c.plan_code is None or c.plan_code == p.plan_code,
        c.starts_at is None or p.at >= c.starts_at,
        c.ends_at is None or p.at < c.ends_at,
    )
    return all(checks)


def grants(promotion: Promotion, prospect: Prospect) -> tuple[Grant, ...]:
    """What the promotion gives this top-up (nothing of what would be worth nothing)."""
    given = []
    for benefit in promotion.benefits:
        amount = benefit.amount
        if benefit.kind is BenefitKind.PERCENT:
            amount = prospect.credit.minor * benefit.amount // 100  # rounded down
        if benefit.kind is BenefitKind.VALIDITY and prospect.retention is not Retention.VALIDITY:
            continue
        if amount > 0:
            given.append(Grant(benefit.kind, amount, benefit.zone, benefit.expires_days))
    return tuple(given)


def applicable(promotions: Iterable[Promotion], prospect: Prospect) -> list[Applied]:
    """The promotions that apply to the top-up: the best one that does not stack (by
    priority, then the oldest) and every one that stacks, best first."""
    candidates = []
    for promotion in promotions:
        if promotion.state is not PromotionState.ACTIVE or promotion.exhausted:
            continue
        taken = prospect.sim_uses.get(promotion.id, 0)
        if promotion.per_sim_cap is not None and taken >= promotion.per_sim_cap:
            continue
        if not conditions_hold(promotion.conditions, prospect):
            continue
        given = grants(promotion, prospect)
        if given:
            candidates.append((promotion, given))
    candidates.sort(key=lambda pair: (-pair[0].priority, pair[0].id))
    chosen = [pair for pair in candidates if pair[0].stackable]
    alone = next((pair for pair in candidates if not pair[0].stackable), None)
    if alone is not None:
        chosen.insert(0, alone)
    return [Applied(promotion.id, promotion.names, given) for promotion, given in chosen]


def offered_to(
    promotions: Iterable[Promotion],
    *,
    currency: str,
    plan_code: str,
    first_topup: bool,
    sim_uses: Mapping[int, int],
) -> list[Promotion]:
    """The active promotions a SIM may still get, whatever its top-up: of its currency and
    plan, for a first top-up only if it is one, under its cap."""
    return [
        p
        for p in promotions
        if p.state is PromotionState.ACTIVE
        and not p.exhausted
        and p.conditions.currency in (None, currency)
        and p.conditions.plan_code in (None, plan_code)
        and (first_topup or not p.conditions.first_topup)
        and (p.per_sim_cap is None or sim_uses.get(p.id, 0) < p.per_sim_cap)
    ]


def window(first_day: date | None, last_day: date | None) -> tuple[datetime | None, ...]:
    """The instants of Hong Kong days ``first_day`` to ``last_day`` (both included)."""
    starts = datetime.combine(first_day, time(), HONG_KONG) if first_day else None
    ends = datetime.combine(last_day + timedelta(days=1), time(), HONG_KONG) if last_day else None
    return starts, ends


def check_promotion(
    *,
    code: str,
    priority: int,
    budget: int | None,
    per_sim_cap: int | None,
    conditions: Conditions,
    benefits: Sequence[Benefit],
) -> None:
    """Refuse, naming the field, what the operator cannot mean."""
    if not (1 <= len(code) <= 32 and code.replace("-", "").replace("_", "").isalnum()):
        raise PromotionError("code", "a code is 1–32 letters, digits, - or _")
    if not 0 <= priority <= MAX_PRIORITY:
        raise PromotionError("priority", f"a priority is 0 to {MAX_PRIORITY}")
    for name, count in (("budget", budget), ("per_sim_cap", per_sim_cap)):
        if count is not None and not 1 <= count <= MAX_COUNT:
            raise PromotionError(name, f"a limit is 1 to {MAX_COUNT:,}, or none")
    _check_conditions(conditions)
    if not benefits:
        raise PromotionError("benefits", "a promotion gives at least one thing")
    kinds = [benefit.kind for benefit in benefits]
    if len(set(kinds)) != len(kinds) or {BenefitKind.MONEY, BenefitKind.PERCENT} <= set(kinds):
        raise PromotionError("benefits", "one benefit of each kind, and one kind of bonus money")
    for benefit in benefits:
        _check_benefit(benefit, conditions)


def _check_conditions(c: Conditions) -> None:
    if c.currency is not None:
        try:
            check_currency(c.currency)
        except ValueError as error:
            raise PromotionError("currency", str(error)) from error
    if c.min_credit_minor is not None:
        if c.currency is None:
            raise PromotionError("currency", "a least amount needs its currency")
        if not 1 <= c.min_credit_minor <= 10**9:
            raise PromotionError("min_credit", "a least amount is positive")
    if c.starts_at and c.ends_at and c.starts_at >= c.ends_at:
        raise PromotionError("ends_on", "the last day is on or after the first")


def _check_benefit(benefit: Benefit, c: Conditions) -> None:
    field = benefit.kind.value
    if not 1 <= benefit.amount <= LIMITS[benefit.kind]:
        raise PromotionError(field, f"{field}: 1 to {LIMITS[benefit.kind]:,}")
    if benefit.kind is BenefitKind.MONEY and c.currency is None:
        raise PromotionError("currency", "fixed bonus money needs the promotion's currency")
    if benefit.kind is BenefitKind.VALIDITY:
        if benefit.expires_days is not None or benefit.zone is not None:
            raise PromotionError(field, "extra validity days have no expiry and no zone")
        return
    if benefit.expires_days is None or not 1 <= benefit.expires_days <= MAX_EXPIRY_DAYS:
        raise PromotionError(f"{field}_days", f"it expires 1 to {MAX_EXPIRY_DAYS} days on")
    if benefit.zone is not None and (benefit.kind.bucket == "money" or benefit.zone not in ZONES):
        raise PromotionError(f"{field}_zone", "a zone is hk or mainland, and not for money")
