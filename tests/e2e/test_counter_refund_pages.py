"""Refunds on the counter's pages end to end, on SQLite and PostgreSQL: the clerk finds a
top-up by the receipt's number, sees what goes back, refunds it in cash (the POS's script's
JSON and a plain form's 303, the same key never twice) and prints the refund's receipt; the
shift and its Z-report count it; a refund that needs the holder's ID asks for it first; a
refund waiting at the agent's counters is paid out from the counter's list; the SIM's holder
asks for a counter top-up back from its page; refusals mark the field; in three languages;
who else may read the paper."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from simkeep.refunds import service as refunds
from simkeep.refunds.model import AutoRule, Reason, RefundState
from simkeep.refunds.queries import refunds_in
from simkeep.refunds.service import Asking
from simkeep.sims.model import digest_key
from simkeep.staff.audit import Actor
from tests.agent_world import operator
from tests.counter_world import place, sim_under_key
from tests.e2e.site_world import Site, csrf_of, link, register
from tests.e2e.test_pos_pages import JSON, KEY, at_counter, log_in, marked

REFUND_NO = re.compile(r"/pos/refunds/(F[0-9A-F]+)")
NO_RULE = AutoRule(max_credit=0, within=timedelta(0))


async def top_up(site: Site, http: httpx.AsyncClient, number: str, amount: str) -> str:
    """A cash top-up from the counter's page; its receipt number."""
    page = await http.get("/pos", params={"number": number})
    key = KEY.search(page.text)
    assert key is not None, page.text[:500]
    form = {
        "csrf": csrf_of(page),
        "number": number,
        "key": key.group(1),
        "amount": amount,
        "payment": "cash",
    }
    sold = await http.post("/pos/topups", data=form, headers=JSON)
    assert sold.json()["done"] is True, sold.text
    return str(sold.json()["receipt_no"])


def refund_form(page: httpx.Response, **values: str) -> dict[str, str]:
    """The refund's form on ``page``, as the page fills it, with ``values``."""
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text))
    fields.pop("number", None)
    return {**fields, "csrf": csrf_of(page), **values}


async def test_a_clerk_refunds_a_cash_top_up_and_prints_the_receipt(site: Site) -> None:
    async with site.browser() as http:
        await at_counter(site, http)
        number = site.hk_sim.hk_number.e164  # in grace: no ID needed below HK$500
        receipt_no = await top_up(site, http, number, "120")
        counter = await http.get("/pos", params={"lang": "en"})
        assert "Refund a top-up" in counter.text
        assert 'action="/pos/refund"' in counter.text

        found = await http.get("/pos/refund", params={"topup": receipt_no.lower(), "lang": "en"})
        assert found.status_code == 200, found.text
        assert "Pay back HK$120.00" in found.text
        assert "+852 9***" in found.text
        assert number[4:] not in found.text  # the number stays masked
        assert 'data-pos-ask="/pos/refunds"' in found.text
        form = refund_form(found, reason="wrong_number")
        assert form["asked"] == "12000"

        by_script = await http.post("/pos/refunds", data=form, headers=JSON)
        assert by_script.status_code == 200, by_script.text
        assert by_script.json()["done"] is True
        again = await http.post("/pos/refunds", data=form)  # the form sent once more
        assert again.status_code == 303
        assert again.headers["location"].startswith(by_script.json()["url"])
        went = await http.get("/pos/refunds", params={"key": form["key"]}, headers=JSON)
        assert went.json()["receipt_no"] == by_script.json()["receipt_no"]

        paper = await http.get(by_script.json()["url"], params={"lang": "en"})
        assert paper.status_code == 200
        assert "Refund receipt" in paper.text
        assert by_script.json()["receipt_no"] in paper.text
        assert receipt_no in paper.text
        assert "Wan Chai shop" in paper.text
        assert "Mandy Clerk" in paper.text
        assert "data-print" in paper.text
        assert "/r/F" in paper.text  # the QR code's signed link
        pdf = await http.get(f"{by_script.json()['url']}/receipt.pdf")
        assert pdf.headers["content-type"] == "application/pdf"

        counter = await http.get("/pos", params={"lang": "en"})
        assert "Refunds paid in cash" in counter.text
        assert "HK$500.00" in counter.text  # expected cash: 500 + 120 − 120
        shift = re.search(r'href="/pos/shifts/(\d+)/z-report"', counter.text)
        assert shift is not None
        report = await http.get(f"/pos/shifts/{shift.group(1)}/z-report", params={"lang": "en"})
        assert "Refunds" in report.text
        assert "−HK$120.00" in report.text
        for lang, words in (("zh_Hant_HK", "退款收據"), ("zh_Hans_CN", "退款收据")):
            assert words in (await http.get(by_script.json()["url"], params={"lang": lang})).text


async def test_refusals_mark_the_field_and_refund_nothing(site: Site) -> None:
    async with site.browser() as http:
        await at_counter(site, http)
        receipt_no = await top_up(site, http, site.hk_sim.hk_number.e164, "100")

        mistyped = await http.get("/pos/refund", params={"topup": "R123", "lang": "en"})
        assert mistyped.status_code == 422
        assert marked(mistyped, "topup")
        unknown = await http.get("/pos/refund", params={"topup": "T202611259999999999"})
        assert unknown.status_code == 422
        assert "Pay back" not in unknown.text

        found = await http.get("/pos/refund", params={"topup": receipt_no})
        form = refund_form(found)  # no reason chosen
        no_reason = await http.post("/pos/refunds", data=form, headers=JSON)
        assert (no_reason.status_code, no_reason.json()["code"]) == (422, "choose_reason")
        as_page = await http.post("/pos/refunds", data=form)
        assert as_page.status_code == 422
        assert "field--error" in as_page.text
        forged = await http.post("/pos/refunds", data={**form, "csrf": "forged"})
        assert forged.status_code == 403
        went = await http.get("/pos/refunds", params={"key": form["key"]}, headers=JSON)
        assert went.status_code == 404


async def test_a_refund_that_needs_the_holders_id_asks_for_it_first(site: Site) -> None:
    async with site.browser() as http:
        await at_counter(site, http)
        card = await sim_under_key(
            site.db,
            n=9,
            now=site.clock.now(),
            id_key=digest_key(site.app.state.settings.secret_key),
        )
        looked = await http.get("/pos", params={"number": card.hk_number.e164})
        await http.post(
            "/pos/id-checks",
            data={
                "csrf": csrf_of(looked),
                "number": card.hk_number.e164,
                "id_type": "hkid",
                "id_number": "A123456(3)",
            },
        )
        receipt_no = await top_up(site, http, card.hk_number.e164, "600")
        site.clock.advance(timedelta(minutes=20))

        found = await http.get("/pos/refund", params={"topup": receipt_no, "lang": "en"})
        assert "needs the SIM holder's ID checked first" in found.text
        assert 'action="/pos/refunds"' not in found.text
        checked = await http.post(
            "/pos/refund-id-checks",
            data={
                "csrf": csrf_of(found),
                "topup": receipt_no,
                "id_type": "hkid",
                "id_number": "A123456(3)",
            },
        )
        assert checked.status_code == 303
        assert "id=match" in checked.headers["location"]
        after = await http.get(f"{checked.headers['location']}&lang=en")
        assert "it matches" in after.text
        assert "A123456" not in after.text
        done = await http.post(
            "/pos/refunds", data=refund_form(after, reason="not_needed"), headers=JSON
        )
        assert done.json()["done"] is True, done.text


async def test_a_refund_waiting_at_the_counters_is_paid_out_from_the_list(site: Site) -> None:
    async with site.browser() as http:
        await at_counter(site, http)
        receipt_no = await top_up(site, http, site.hk_sim.hk_number.e164, "80")
        found = await http.get("/pos/refund", params={"topup": receipt_no})
        order_no = re.search(r'name="topup" value="(T\d+)"', found.text)
        assert order_no is not None
        olive = Actor(await operator(site.db, "olive", now=site.clock.now()), "127.0.0.1")
        asked = await site.db.transaction(
            lambda conn: refunds.request_refund(
                conn,
                order_no=order_no.group(1),
                asking=Asking(None, staff=olive),
                reason=Reason.NOT_NEEDED,
                note="asked by phone",
                asked=None,
                rule=NO_RULE,
                now=site.clock.now(),
            )
        )
        await site.db.transaction(
            lambda conn: refunds.approve(
                conn, refund_no=asked.refund_no, actor=olive, note="", now=site.clock.now()
            )
        )

        counter = await http.get("/pos", params={"lang": "en"})
        assert "Refunds to pay out" in counter.text
        assert f"/pos/refunds/{asked.refund_no}/pay-out" in counter.text
        page = await http.get(f"/pos/refunds/{asked.refund_no}/pay-out", params={"lang": "en"})
        assert page.status_code == 200, page.text
        assert "Pay back HK$80.00" in page.text
        paid = await http.post(
            f"/pos/refunds/{asked.refund_no}/pay-out", data=refund_form(page), headers=JSON
        )
        assert paid.json()["done"] is True, paid.text
        again = await http.post(
            f"/pos/refunds/{asked.refund_no}/pay-out",
            data=refund_form(page, key="another-key-1"),
            headers=JSON,
        )
        assert (again.status_code, again.json()["code"]) == (409, "refund_paid_out")
        assert "Refunds to pay out" not in (await http.get("/pos", params={"lang": "en"})).text
        gone = await http.get(f"/pos/refunds/{asked.refund_no}/pay-out")
        assert gone.status_code == 409


@pytest.mark.parametrize(
    ("lang", "words"),
    [("zh_Hant_HK", "增值退款"), ("zh_Hans_CN", "充值退款"), ("en", "Refund a top-up")],
)
async def test_the_refund_page_speaks_three_languages(site: Site, lang: str, words: str) -> None:
    async with site.browser() as http:
        await at_counter(site, http)

        page = await http.get("/pos/refund", params={"lang": lang})

        assert page.status_code == 200
        assert words in page.text
        assert "<script>" not in page.text


async def test_another_agents_clerk_cannot_read_the_refund(site: Site) -> None:
    async with site.browser() as http:
        await at_counter(site, http)
        receipt_no = await top_up(site, http, site.hk_sim.hk_number.e164, "50")
        found = await http.get("/pos/refund", params={"topup": receipt_no})
        done = await http.post(
            "/pos/refunds", data=refund_form(found, reason="other"), headers=JSON
        )
        url = done.json()["url"]
    await place(site.db, now=site.clock.now(), code="QUIK", username="clerk.qk", books=False)
    async with site.browser() as other:
        await log_in(site, other, "clerk.qk")
        assert (await other.get(url)).status_code == 404
        refused = await other.get("/pos/refund", params={"topup": receipt_no, "lang": "en"})
        assert "another company's counter" in refused.text


async def test_the_sims_holder_asks_for_a_counter_top_up_back_from_its_page(site: Site) -> None:
    async with site.browser() as till:
        await at_counter(site, till)
        receipt_no = await top_up(site, till, site.hk_sim.hk_number.e164, "70")
        found = await till.get("/pos/refund", params={"topup": receipt_no})
        order_no = re.search(r'name="topup" value="(T\d+)"', found.text)
        assert order_no is not None
    async with site.browser() as stranger:
        await register(site, stranger, "+85261230000")
        page = await stranger.get(f"/topups/{order_no.group(1)}/refund")
        assert page.status_code == 404  # not their SIM: no such top-up of theirs
    async with site.browser() as holder:
        await register(site, holder, "+85261230001")
        linked = await link(site, holder, site.hk_sim.hk_number.e164)
        assert linked.status_code == 303, linked.text
        page = await holder.get(f"/topups/{order_no.group(1)}/refund", params={"lang": "en"})
        assert page.status_code == 200, page.text
        assert "HK$70.00" in page.text
        asked = await holder.post(
            f"/topups/{order_no.group(1)}/refund",
            data={"csrf": csrf_of(page), "reason": "not_needed", "note": ""},
        )
        assert asked.status_code == 303, asked.text
        waiting = await site.db.read(lambda conn: refunds_in(conn, states=[RefundState.REQUESTED]))
        assert [refund.order_no for refund in waiting] == [order_no.group(1)]
        told = f"/topups/{order_no.group(1)}?refund={waiting[0].refund_no}"
        assert asked.headers["location"] == told
        status = await holder.get(told, params={"lang": "en"})
        assert status.status_code == 200, status.text
        assert waiting[0].refund_no in status.text
    async with site.browser() as stranger:
        await register(site, stranger, "+85261230002")
        assert (await stranger.get(f"/topups/{order_no.group(1)}")).status_code == 404
