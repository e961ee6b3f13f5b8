"""``/_sim/email``: the simulated mailbox — every email the embedded default "sent", newest
first (``?to=`` one address), so a person can read a verification code or a reminder."""

from __future__ import annotations

import html

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from simkeep.clock import in_hong_kong
from simkeep.notifications.tables import ADDRESS
from simkeep.simulators.email import SimulatedMailbox

router = APIRouter(include_in_schema=False)


@router.get("/_sim/email", response_class=HTMLResponse)
async def mailbox(
    request: Request, to: str | None = Query(default=None, max_length=ADDRESS)
) -> HTMLResponse:
    gateway: SimulatedMailbox = request.app.state.mailbox
    rows = "".join(
        f"<li><b>{html.escape(m.recipient)}</b> "
        f"<time>{in_hong_kong(m.sent_at):%Y-%m-%d %H:%M:%S}</time>"
        f"<p><strong>{html.escape(m.subject)}</strong></p><p>{html.escape(m.body)}</p></li>"
        for m in await gateway.messages(to=to)
    )
    stylesheet = request.url_for("static", path="sms.css")  # no inline style: see the CSP
    page = (
        '<!doctype html><html lang="en"><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Email simulator</title>"
        f'<link rel="stylesheet" href="{stylesheet.path}">'
        "<h1>Email simulator</h1><p>Emails simkeep sent, newest first.</p>"
        f"<ul>{rows or '<li>No emails yet.</li>'}</ul></html>"
    )
    return HTMLResponse(page)
