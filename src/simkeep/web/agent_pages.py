"""The agent's own page, ``/agent``: its outlets, floats and commission, recent deposits, and
the shifts and sales of its outlets on a Hong Kong day (``?day=2026-11-25``, today by default).

Design overview
---------------
An agent's user logs in at ``/staff/login`` like all staff and lands here. ``AgentDep`` is a
signed-in member past the second factor whose role has ``Permission.AGENT_VIEW`` (the agent
role): anyone else signed in gets 403, nobody is sent to the login. The page shows the
member's own agent only — the agent comes from the session, never from the address. Each
closed shift links to its Z-report, which the POS serves at ``/pos/shifts/{id}/z-report``.
The page changes nothing, so it has no form but logging out.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from simkeep.outlets import agent_console
from simkeep.retention.model import day_of
from simkeep.services import ServicesDep
from simkeep.staff.model import Permission
from simkeep.web.pages import PagesDep
from simkeep.web.staff_session import SignedInStaff, StaffViewerDep, signed_in, staff_page

AGENT_HOME = "/agent"
FIRST_DAY = date(2020, 1, 1)

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


async def signed_in_agent(request: Request, viewer: StaffViewerDep) -> SignedInStaff:
    """A member of an agent's staff with the agent role, past the second factor."""
    staff = await signed_in(request, viewer)
    if not staff.may(Permission.AGENT_VIEW) or staff.member.agent_id is None:
        raise HTTPException(403, "these pages are an agent's")
    return staff


AgentDep = Annotated[SignedInStaff, Depends(signed_in_agent)]


def chosen_day(text: str, today: date) -> date:
    """The day asked for, from 2020 to today; 400 for anything else."""
    if not text:
        return today
    try:
        day = date.fromisoformat(text)
    except ValueError as error:
        raise HTTPException(400, "a day is written 2026-11-25") from error
    if not FIRST_DAY <= day <= today:
        raise HTTPException(400, "choose a day from 2020 to today")
    return day


@router.get(AGENT_HOME)
async def home(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    agent: AgentDep,
    day: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    today = day_of(services.clock.now())
    chosen = chosen_day(day, today)
    agent_id = agent.member.agent_id
    assert agent_id is not None  # signed_in_agent
    found = await agent_console.agent_home(services.db, agent_id=agent_id, day=chosen)
    context = {
        "home": found,
        "day": chosen,
        "previous": chosen - timedelta(days=1),
        "following": chosen + timedelta(days=1) if chosen < today else None,
        "outlet_codes": {outlet.id: outlet.code for outlet in found.outlets},
    }
    return staff_page(pages, request, "agent/home.html", agent, context)
