"""What the operator's dashboard shows (``/staff/dashboard``): top-ups, amounts, SIMs, lines
lapsing, promotion budgets, refunds and reconciliation differences, as charts of a range of
Hong Kong days.

Design overview
---------------
``dashboard`` reads every figure in one call, each by a grouped query of the domain that
owns the data (``topups.figures``, ``refunds.figures``, ``retention.at_risk``,
``promotions.service``, ``reconciliation.figures``): a few rows per day and key, whatever
the number of orders. The pure functions below then shape the rows into ``Chart``s —
categories (days, states, promotions) and one ``Series`` of integers per key — that the
page draws and prints as tables alike. Amounts stay integers of minor units with their
currency; only the page turns them into decimals, for display.

The range is a ``DayRange`` (at most a year); the default is the last ``DEFAULT_DAYS``
Hong Kong days up to today. Lines lapsing are counted from today, whatever the range.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.days import DayRange
from simkeep.db import Database
from simkeep.payment_methods import Channel, Provider
from simkeep.promotions import service as promotions
from simkeep.promotions.model import Promotion
from simkeep.reconciliation import figures as reconciliation_figures
from simkeep.refunds import figures as refund_figures
from simkeep.refunds.figures import Event
from simkeep.retention import at_risk
from simkeep.sims.model import SimState
from simkeep.topups import figures as topup_figures

DEFAULT_DAYS = 30
MAX_PROMOTIONS = 30  # the newest; older ones are on /staff/promotions


@dataclass(frozen=True, slots=True)
class Series:
    key: str  # a channel, a provider, a currency, a state, an event …
    values: list[int]  # one per category: counts, or minor units of ``currency``
    currency: str | None = None

    @property
    def total(self) -> int:
        return sum(self.values)


@dataclass(frozen=True, slots=True)
class Chart:
    categories: list[Any]  # days, states, promotions
    series: list[Series]

    def rows(self) -> list[tuple[Any, list[int]]]:
        """Each category with its value in every series, for the table beside the chart."""
        return [(c, [s.values[i] for s in self.series]) for i, c in enumerate(self.categories)]

    @property
    def empty(self) -> bool:
        return not any(s.total for s in self.series)


@dataclass(frozen=True, slots=True)
class Dashboard:
    days: DayRange
    today: date
    by_provider: Chart  # top-ups credited per day, a series per provider
    by_channel: Chart  # the same, a series per channel
    paid: Chart  # amounts paid per day, a series per currency
    sims: Chart  # SIMs by state now, one series
    lapsing: Chart  # lines the run moves on per day from today, a series per state
    promotions: Chart  # grants taken and left of each promotion's budget
    refunds: Chart  # refunds asked, paid and refused per day
    refunds_paid: Chart  # amounts paid back per day, a series per currency
    reconciliation: Chart  # differences per provider day, a series per provider


async def dashboard(db: Database, *, days: DayRange, today: date) -> Dashboard:
    """Every figure of the dashboard for ``days``; lines lapsing from ``today``."""

    async def read(conn: AsyncConnection) -> Dashboard:
        credited = await topup_figures.credited_by_day(conn, days=days)
        refunds = await refund_figures.refunds_by_day(conn, days=days)
        paid_back = [r for r in refunds if r.event is Event.PAID]
        reconciled = await reconciliation_figures.days_of(conn, days=days)
        day_list = list(days)
        return Dashboard(
            days=days,
            today=today,
            by_provider=by_day(
                day_list, ((c.provider, c.day, c.count) for c in credited), order=list(Provider)
            ),
            by_channel=by_day(
                day_list, ((c.channel, c.day, c.count) for c in credited), order=list(Channel)
            ),
            paid=by_day(
                day_list, ((c.currency, c.day, c.paid_minor) for c in credited), money=True
            ),
            sims=sims_by_state(await at_risk.sims_by_state(conn)),
            lapsing=lapsing(await at_risk.at_risk_by_day(conn, today=today), today=today),
            promotions=budgets(await promotions.list_promotions(conn)),
            refunds=by_day(
                day_list,
                ((r.event, r.day, r.count) for r in refunds),
                order=list(Event),
                every_key=True,
            ),
            refunds_paid=by_day(
                day_list, ((r.currency, r.day, r.pay_minor) for r in paid_back), money=True
            ),
            reconciliation=by_day(
                day_list,
                ((r.provider, r.day, r.counts.differences) for r in reconciled),
                order=list(Provider),
            ),
        )

    return await db.read(read)


def by_day(
    days: list[date],
    cells: Iterable[tuple[str, date, int]],
    *,
    order: Sequence[str] = (),
    every_key: bool = False,
    money: bool = False,
) -> Chart:
    """A chart of ``days`` with a series per key of ``cells`` (key, day, value), summed;
    keys in ``order`` first, in that order, then the others by name. Only keys with a cell
    have a series, unless ``every_key``. With ``money``, each key is the currency of its values."""
    sums: dict[str, dict[date, int]] = {key: {} for key in order} if every_key else {}
    for key, day, value in cells:
        per_day = sums.setdefault(key, {})
        per_day[day] = per_day.get(day, 0) + value
    keys = [key for key in order if key in sums] + sorted(set(sums) - set(order))
    return Chart(
        categories=days,
        series=[
            Series(str(key), [sums[key].get(day, 0) for day in days], key if money else None)
            for key in keys
        ],
    )


def sims_by_state(counts: dict[SimState, int]) -> Chart:
    """SIMs by state, in the order of the states' lives."""
    states = list(SimState)
    return Chart(states, [Series("sims", [counts.get(state, 0) for state in states])])


def lapsing(per_state: dict[SimState, dict[date, int]], *, today: date) -> Chart:
    """Lines moved on per day from ``today`` to the end of the horizon, a series per state."""
    days = [today + timedelta(days=n) for n in range(at_risk.HORIZON_DAYS + 1)]
    cells = (
        (state.value, day, count)
        for state, per_day in per_state.items()
        for day, count in per_day.items()
    )
    return by_day(days, cells, order=[s.value for s in at_risk.AT_RISK_STATES], every_key=True)


def budgets(found: list[Promotion]) -> Chart:
    """Each of the newest promotions with the grants it took and, if it has a budget, those
    left of it."""
    shown = found[:MAX_PROMOTIONS]
    return Chart(
        categories=shown,
        series=[
            Series("used", [p.used for p in shown]),
            Series("left", [0 if p.budget is None else max(p.budget - p.used, 0) for p in shown]),
        ],
    )
