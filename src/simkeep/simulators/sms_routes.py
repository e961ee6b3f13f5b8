"""``/_sim/sms``: the simulated phone screen — every SMS the embedded default "sent",
newest first, so a person can read a one-time code."""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from simkeep.clock import in_hong_kong
from simkeep.simulators.sms import SimulatedSmsGateway

router = APIRouter(include_in_schema=False)


@router.get("/_sim/sms", response_class=HTMLResponse)
async def inbox(request: Request, to: str | None = None) -> HTMLResponse:
    gateway: SimulatedSmsGateway = request.app.state.sms_gateway
    rows = "".join(
        f"<li><b>{html.escape(m.recipient)}</b> "
        f"<time>{in_hong_kong(m.sent_at):%Y-%m-%d %H:%M:%S}</time>"
        f"<p>{html.escape(m.body)}</p></li>"
        for m in await gateway.messages(to=to)
    )
    stylesheet = request.url_for("static", path="sms.css")  # no inline style: see the CSP
    page = (
        '<!doctype html><html lang="en"><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>SMS simulator</title>"
        f'<link rel="stylesheet" href="{stylesheet.path}">'
        "<h1>SMS simulator</h1><p>Messages simkeep sent, newest first.</p>"
        f"<ul>{rows or '<li>No messages yet.</li>'}</ul></html>"
    )
    return HTMLResponse(page)
