"""The operator's dashboard, ``/staff/dashboard``: charts of top-ups, amounts, SIMs, lines
lapsing, promotion budgets and refunds over a range of Hong Kong days.

Design overview
---------------
* The range is chosen in a GET form (``from``, ``to``: Hong Kong days, ``YYYY-MM-DD``);
  without it, the last 30 days up to today (the injected clock's Hong Kong day). A day that
  does not read, a last day before the first or a range of more than a year shows the form
  again with the field marked, and no figures (400).
* Every figure comes from ``staff.dashboard`` in one call. Each chart is drawn by
  ``static/charts.js`` with Apache ECharts (``static/echarts``, docs/decisions/0008) from
  the ``data-chart`` attribute of its element: the words (series, days, states) are the
  page's, in the reader's language, and the values the integers of the figures — amounts in
  minor units with the exponent of their currency, which only the script divides, for
  display. Beside each chart, a table in a ``<details>`` holds the same figures, so the page
  reads without scripts. The page's CSP is the app's: both scripts are files, nothing is
  inline.
* Operators and auditors read it (``StaffDep``), as every staff page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from babel.dates import format_skeleton
from fastapi import Request
from fastapi.responses import Response

from simkeep.days import EARLIEST, LATEST, DayRange, InvalidRange, RangeTooLong
from simkeep.money import minor_exponent
from simkeep.retention.model import day_of
from simkeep.services import ServicesDep
from simkeep.staff import dashboard
from simkeep.staff.dashboard import Chart
from simkeep.web.forms import FieldError, FormState
from simkeep.web.pages import PagesDep
from simkeep.web.staff_session import StaffDep, staff_page, staff_router

router = staff_router()
ECHARTS = "echarts/echarts-6.1.0.min.js"


@router.get("/staff/dashboard")
async def dashboard_page(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep
) -> Response:
    today = day_of(services.clock.now())
    form = FormState({name: request.query_params.get(name, "")[:20] for name in ("from", "to")})
    days = chosen_days(form, today=today, default=dashboard.DEFAULT_DAYS)
    figures = None
    if days is not None:
        figures = await services.reads.run(
            lambda db: dashboard.dashboard(db, days=days, today=today),
            seen=staff.seen,
        )
        form.values.update({"from": days.first.isoformat(), "to": days.last.isoformat()})
    locale = pages.choose(request).language.code
    context = {
        "form": form,
        "figures": figures,
        "echarts": ECHARTS,
        "short_labels": lambda days: [format_skeleton("MMMd", day, locale=locale) for day in days],
        "drawing": drawing,
    }
    status = 200 if form.ok else 400
    return staff_page(pages, request, "staff/dashboard.html", staff, context, status_code=status)


def chosen_days(form: FormState, *, today: date, default: int) -> DayRange | None:
    """The range the form asks for (``from`` and ``to``; either left empty: the ``default``
    days up to ``to``, or up to today); None, with the form marked, if it cannot be had."""
    last = _day(form, "to") if form.text("to") else today
    first = _day(form, "from") if form.text("from") else None
    if not form.ok or last is None:
        return None
    try:
        if first is None:
            return DayRange.ending(last, days=default)
        return DayRange.of(first, last)
    except InvalidRange as error:
        form.fail(_field_of(error, first), error)
        return None


def _field_of(error: InvalidRange, first: date | None) -> str:
    """The field to mark: the first day when the range is too long or that day is out of
    the years, else the last day."""
    first_out = first is not None and not EARLIEST <= first <= LATEST
    return "from" if isinstance(error, RangeTooLong) or first_out else "to"


def _day(form: FormState, name: str) -> date | None:
    try:
        return date.fromisoformat(form.text(name))
    except ValueError:
        form.fail(name, FieldError("bad_date"))
        return None


def drawing(
    chart: Chart,
    *,
    names: Mapping[str, str],
    categories: Sequence[str],
    kind: str = "bar",
    stack: bool = True,
    horizontal: bool = False,
) -> dict[str, Any]:
    """What ``charts.js`` draws a chart from: the page's words for its categories and
    series, and its values; a series of amounts names its currency and exponent."""
    return {
        "kind": kind,
        "stack": stack,
        "horizontal": horizontal,
        "categories": list(categories),
        "series": [
            {
                "name": names.get(series.key, series.key),
                "values": series.values,
                **(
                    {"currency": series.currency, "exponent": minor_exponent(series.currency)}
                    if series.currency
                    else {}
                ),
            }
            for series in chart.series
        ],
    }
