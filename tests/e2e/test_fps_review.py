"""An FPS top-up end to end: the wizard shows the FPS code, the payer's banking app (the
simulator) pays it, and the receiving bank's signed webhook reaches the notify endpoint.
A transfer that carries the order's number credits it; one whose reference the payer typed
wrong credits nothing and waits in the operator's review list, until an operator gives it
to its order (an auditor cannot), which credits it once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from html import unescape

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.payment_methods import Provider
from simkeep.payments.providers.fps_qr import parse_payload
from simkeep.simulators.delivery import Reply
from simkeep.topups import service as topups
from simkeep.topups.model import OrderState
from tests.e2e.site_world import Site, csrf_of, order_by_wizard, register
from tests.e2e.test_staff_pages import log_in, staffed

__all__ = ["staffed"]  # the fixture, for pytest

CASHIER = re.compile(r'href="(/_sim/fps/app\?payload=[^"]+)"')


async def fps_order(site: Site, http: httpx.AsyncClient) -> tuple[str, str]:
    """An HK$100 FPS order for the HKD SIM; its number and the simulated bank app's link."""
    await register(site, http, "+85261234567")
    number = site.hk_sim.hk_number.e164
    order_no = await order_by_wizard(site, http, number, "fps-qr", pay_currency="HKD")
    status = await http.get(f"/topups/{order_no}", headers={"Accept-Language": "en"})
    assert "Scan the code with your banking app" not in status.text  # that was the review
    link = CASHIER.search(status.text)
    assert link is not None, status.text[:2000]
    return order_no, unescape(link.group(1))


def bank_delivers_to(site: Site) -> None:
    """The simulated bank's webhooks go to the app's notify endpoint (in-process)."""

    async def deliver(url: str, headers: Mapping[str, str], body: bytes) -> Reply:
        answer = await site.http.post(
            "/api/v1/payments/fps/notify", content=body, headers=dict(headers)
        )
        return Reply(answer.status_code, answer.content)

    site.app.state.providers.others[Provider.FPS]._deliver = deliver


async def order_state(site: Site, order_no: str) -> OrderState:
    async def read(conn: AsyncConnection) -> OrderState:
        order = await topups.get_order(conn, order_no=order_no)
        assert order is not None
        return order.state

    return await site.db.read(read)


async def test_the_fps_code_paid_in_the_bank_app_credits_its_order(site: Site) -> None:
    order_no, app_link = await fps_order(site, site.http)
    payload = app_link.split("payload=", 1)[1]
    code = parse_payload(httpx.QueryParams(f"payload={payload}")["payload"])
    assert (code.reference, code.amount.minor, code.amount.currency) == (order_no, 10_000, "HKD")
    bank_delivers_to(site)
    app = await site.http.get(app_link)
    assert app.status_code == 200
    assert "100.00" in app.text
    assert order_no in app.text
    form = re.search(r'<form method=post action="(app/[^"]+)"', app.text)
    assert form is not None
    paid = await site.http.post(
        f"/_sim/fps/{form.group(1)}",
        data={"reference": order_no, "pin": "123456", "action": "pay"},
    )
    assert paid.status_code == 200, paid.text[:500]
    await site.app.state.providers.others[Provider.FPS].deliver_due(now=site.clock.now())
    assert await order_state(site, order_no) is OrderState.CREDITED


async def test_a_wrong_reference_waits_for_an_operator(staffed: Site) -> None:
    site = staffed
    order_no, app_link = await fps_order(site, site.http)
    assert (await site.http.get(app_link)).status_code == 200  # the payer's app scanned it
    bank_delivers_to(site)
    hook = await site.http.post(
        f"/_sim/fps/pay/{order_no}", params={"outcome": "success", "reference": "TOPUP MUM"}
    )
    assert hook.status_code == 200, hook.text
    await site.app.state.providers.others[Provider.FPS].deliver_due(now=site.clock.now())
    assert await order_state(site, order_no) is not OrderState.CREDITED  # never guessed

    async with site.browser() as auditor:
        await log_in(site, auditor, "ada")
        listed = await auditor.get("/staff/payments", params={"lang": "en"})
        assert "TOPUP MUM" in listed.text
        assert "No order has this reference" in listed.text
        assert "Give it to this order" not in listed.text  # auditors read only

    async with site.browser() as staff:
        await log_in(site, staff, "olive")
        listed = await staff.get("/staff/payments", params={"lang": "en"})
        action = re.search(r'action="(/staff/payments/\d+/assign)"', listed.text)
        assert action is not None
        token = csrf_of(listed)
        wrong = await staff.post(
            action.group(1),
            data={"csrf": token, "order_no": "T20260101000000001", "note": "typo"},
            params={"lang": "en"},
        )
        assert wrong.status_code == 400
        assert "No order of this way to pay has this number." in wrong.text
        assert await order_state(site, order_no) is not OrderState.CREDITED
        given = await staff.post(
            action.group(1), data={"csrf": token, "order_no": order_no, "note": "payer called"}
        )
        assert given.status_code == 303
        assert await order_state(site, order_no) is OrderState.CREDITED
        again = await staff.post(
            action.group(1), data={"csrf": token, "order_no": order_no, "note": "twice"}
        )
        assert again.status_code == 400
        assert "No payment is waiting" in (await staff.get("/staff/payments?lang=en")).text
