"""Refunds through the pages, on SQLite and PostgreSQL: the payer asks from the top-up's
page (the reason marked when missing), the rule approves a wrong-number top-up at once, a
request that waits is decided on /staff/refunds by an operator (an auditor only reads), a
second decision is told someone decided already, and the payer's page follows each refund."""

from __future__ import annotations

import re

import httpx

from simkeep.refunds import sending
from tests.e2e.site_world import Site, csrf_of, order_by_wizard, register, site
from tests.e2e.test_staff_pages import log_in, staffed

__all__ = ["site", "staffed"]


async def credited(site: Site, http: httpx.AsyncClient) -> str:
    """¥100 to the CNY SIM, not the payer's: ordered by the wizard, paid, credited."""
    number = site.cn_sim.cn_number.e164
    order_no = await order_by_wizard(site, http, number, "wechatpay-qr")
    await http.post(f"/_sim/wechatpay/pay/{order_no}", params={"outcome": "success"})
    assert await site.poll() == 1
    return order_no


async def ask(http: httpx.AsyncClient, order_no: str, **data: str) -> httpx.Response:
    page = await http.get(f"/topups/{order_no}/refund")
    assert page.status_code == 200, page.text[:500]
    return await http.post(f"/topups/{order_no}/refund", data={"csrf": csrf_of(page), **data})


async def test_the_payer_asks_and_the_rule_approves_a_wrong_number(site: Site) -> None:
    async with site.browser() as http:
        await http.get("/", params={"lang": "en"})  # remembered in a cookie
        await register(site, http, "+85261234567")
        order_no = await credited(site, http)
        status = await http.get(f"/topups/{order_no}")
        assert f'href="/topups/{order_no}/refund"' in status.text
        form = await http.get(f"/topups/{order_no}/refund")
        assert "¥100.00" in form.text or "CN¥100.00" in form.text or "100.00" in form.text
        missing = await ask(http, order_no, note="")
        assert missing.status_code == 400
        assert 'id="f-reason-error"' in missing.text
        asked = await ask(http, order_no, reason="wrong_number", note="typed it wrong")
        assert asked.status_code == 303, asked.text
        assert asked.headers["location"].startswith(f"/topups/{order_no}?refund=F")
        page = await http.get(asked.headers["location"])
        assert "Approved, being sent" in page.text
        assert "is approved: " in page.text
        assert "is on its way back to you" in page.text
        assert "is approved: " not in (await http.get(f"/topups/{order_no}")).text
        assert f'href="/topups/{order_no}/refund"' not in page.text  # one at a time
        again = await http.get(f"/topups/{order_no}/refund")
        assert "already asked for" in again.text
        adapters = site.app.state.payment_adapters
        for _ in range(6):
            await sending.send_due(site.db, adapters=adapters, now=site.clock.now())
            await site.poll()
        page = await http.get(f"/topups/{order_no}")
        assert "Paid back" in page.text
        assert "Refunded" in page.text
        refund_no = asked.headers["location"].split("refund=")[1]
        await check_the_receipt(site, http, refund_no)


async def check_the_receipt(site: Site, http: httpx.AsyncClient, refund_no: str) -> None:
    """The payer's refund receipt, its PDF, its public check; nobody else's."""
    receipt = await http.get(f"/refunds/{refund_no}/receipt")
    assert receipt.status_code == 200
    assert refund_no in receipt.text
    assert "Refund receipt" in receipt.text
    pdf = await http.get(f"/refunds/{refund_no}/receipt.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    link = re.search(r'class="receipt__link" href="https?://[^/]+(/r/[^"]+)"', receipt.text)
    assert link is not None, receipt.text[:2000]
    async with site.browser() as anyone:
        checked = await anyone.get(link.group(1), params={"lang": "en"})
        assert checked.status_code == 200
        assert "This is a genuine simkeep receipt" in checked.text
        forged = await anyone.get(link.group(1)[:-2] + "00")
        assert forged.status_code == 404
        assert (await anyone.get(f"/refunds/{refund_no}/receipt")).status_code in (303, 401)
        await register(site, anyone, "+85261234599")
        assert (await anyone.get(f"/refunds/{refund_no}/receipt")).status_code == 404


async def test_staff_decide_what_waits_and_auditors_only_read(staffed: Site) -> None:
    site = staffed
    async with site.browser() as payer, site.browser() as olive, site.browser() as ada:
        for http in (payer, olive, ada):
            await http.get("/", params={"lang": "en"})  # remembered in a cookie
        await register(site, payer, "+85261234567")
        order_no = await credited(site, payer)
        assert (await ask(payer, order_no, reason="not_needed", note="")).status_code == 303
        refund_no = re.search(r"F[0-9A-F]{18}", (await payer.get(f"/topups/{order_no}")).text)
        assert refund_no is not None
        number = refund_no.group(0)
        assert "Waiting for our staff" in (await payer.get(f"/topups/{order_no}")).text
        told = await payer.get(f"/topups/{order_no}", params={"refund": number})
        assert f"We have your refund request {number}." in told.text

        assert (await log_in(site, ada, "ada")).status_code == 303
        queue = await ada.get("/staff/refunds")
        assert number in queue.text
        assert f"/staff/refunds/{number}/approve" not in queue.text  # no forms for auditors
        refused = await ada.post(
            f"/staff/refunds/{number}/approve", data={"csrf": csrf_of(queue), "note": "x"}
        )
        assert refused.status_code == 403

        assert (await log_in(site, olive, "olive")).status_code == 303
        queue = await olive.get("/staff/refunds")
        decided = await olive.post(
            f"/staff/refunds/{number}/refuse",
            data={"csrf": csrf_of(queue), "note": "used for a call already"},
        )
        assert decided.status_code == 303, decided.text
        twice = await olive.post(
            f"/staff/refunds/{number}/approve", data={"csrf": csrf_of(queue), "note": ""}
        )
        assert twice.status_code == 409
        decided_by = re.search(
            rf"{number}</td>.*?</tr>", (await ada.get("/staff/refunds")).text, re.S
        )
        assert decided_by is not None
        assert "<td>Olive</td>" in decided_by.group(0)  # by name, not by staff id
        assert "Someone decided about this refund already." in twice.text
        page = await payer.get(f"/topups/{order_no}")
        assert "Refused" in page.text
        assert "used for a call already" in page.text
        told = await payer.get(f"/topups/{order_no}", params={"refund": number})
        assert f"Your refund {number} was not made" in told.text
        long = await payer.get(f"/topups/{order_no}", params={"refund": "F" * 40})
        assert long.status_code == 400
        assert f'href="/topups/{order_no}/refund"' in page.text  # it may be asked again
        log = await olive.get("/staff/audit")
        assert "refund.refuse" in log.text
