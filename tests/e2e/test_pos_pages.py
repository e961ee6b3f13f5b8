"""The counter's pages end to end, on SQLite and PostgreSQL: a clerk logs in and lands at
/pos, opens a shift, looks a number up, checks the ID, tops up (the POS's script's JSON and
a plain form's 303, the same key never twice), sells vouchers, prints the receipt and closes
the shift to its Z-report; in three languages; CSRF on every form, no inline script; who
else may read the papers."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from simkeep.sims.model import digest_key
from simkeep.staff import service as staff
from simkeep.staff.audit import CLI
from simkeep.staff.model import code_at, time_step
from tests.counter_world import CLERK_PASSWORD, CLERK_SECRET, Place, place, sim_under_key, vouchers
from tests.e2e.site_world import Site, csrf_of

JSON = {"Accept": "application/json"}
KEY = re.compile(r'name="key" value="([^"]+)"')


async def log_in(site: Site, http: httpx.AsyncClient, username: str = "clerk.mk") -> httpx.Response:
    site.clock.advance(timedelta(seconds=30))  # each login its own TOTP step
    page = await http.get("/staff/login")
    code = code_at(CLERK_SECRET, time_step(site.clock.now()))
    data = {"username": username, "password": CLERK_PASSWORD, "code": code}
    return await http.post("/staff/login", data={"csrf": csrf_of(page), **data})


async def at_counter(site: Site, http: httpx.AsyncClient) -> Place:
    """A clerk at a funded outlet, logged in, with a shift open (HK$500 in the drawer)."""
    where = await place(site.db, now=site.clock.now(), books=False)
    signed_in = await log_in(site, http)
    home = await http.get(signed_in.headers["location"])
    assert home.headers["location"] == "/pos"  # a clerk's home
    page = await http.get("/pos")
    opened = await http.post("/pos/shifts", data={"csrf": csrf_of(page), "opening_cash": "500"})
    assert opened.status_code == 303, opened.text
    return where


def marked(page: httpx.Response, field: str) -> bool:
    return re.search(rf'id="f-{field}"[^>]*aria-invalid="true"', page.text) is not None


async def test_a_clerk_tops_up_from_the_counter_and_closes_the_shift(site: Site) -> None:
    async with site.browser() as http:
        await at_counter(site, http)
        card = await sim_under_key(
            site.db,
            n=9,
            now=site.clock.now(),
            id_key=digest_key(site.app.state.settings.secret_key),
        )
        looked = await http.get("/pos", params={"number": card.hk_number.e164, "lang": "en"})
        assert looked.status_code == 200, looked.text
        assert "李*龍" in looked.text
        assert "HK$500.00 or more needs the holder" in looked.text

        checked = await http.post(
            "/pos/id-checks",
            data={
                "csrf": csrf_of(looked),
                "number": card.hk_number.e164,
                "id_type": "hkid",
                "id_number": "A123456(3)",
            },
        )
        assert checked.status_code == 303
        assert "id=match" in checked.headers["location"]
        after = await http.get(checked.headers["location"])
        assert "it matches" in after.text
        assert "A123456" not in after.text

        key = KEY.search(after.text)
        assert key is not None
        form = {
            "csrf": csrf_of(after),
            "number": card.hk_number.e164,
            "key": key.group(1),
            "amount": "600",
            "payment": "cash",
        }
        by_script = await http.post("/pos/topups", data=form, headers=JSON)
        assert by_script.status_code == 200, by_script.text
        assert by_script.json()["done"] is True
        again = await http.post("/pos/topups", data=form)  # the form sent once more
        assert again.status_code == 303
        assert again.headers["location"].startswith(by_script.json()["url"])

        receipt = await http.get(by_script.json()["url"])
        assert by_script.json()["receipt_no"] in receipt.text
        assert "Wan Chai shop" in receipt.text
        assert f"+852 6***{card.hk_number.e164[-4:]}" in receipt.text  # the number masked
        assert card.hk_number.e164[4:] not in receipt.text
        assert "data-print" in receipt.text
        pdf = await http.get(f"{by_script.json()['url']}/receipt.pdf")
        assert pdf.headers["content-type"] == "application/pdf"
        went = await http.get("/pos/sales", params={"key": key.group(1)}, headers=JSON)
        assert went.json()["found"] is True
        lost = await http.get("/pos/sales", params={"key": "never-sent-1"}, headers=JSON)
        assert (lost.status_code, lost.json()) == (404, {"found": False})

        counter = await http.get("/pos")
        shift_id = re.search(r'action="/pos/shifts/(\d+)/close"', counter.text)
        assert shift_id is not None
        closed = await http.post(
            f"/pos/shifts/{shift_id.group(1)}/close",
            data={"csrf": csrf_of(counter), "counted_cash": "1100"},
        )
        assert closed.status_code == 303
        report = await http.get(closed.headers["location"], params={"lang": "en"})
        assert report.status_code == 200
        assert "Z-report" in report.text
        assert "HK$1,100.00" in report.text  # expected cash: 500 + 600


async def test_refusals_mark_the_field_and_write_nothing(site: Site) -> None:
    async with site.browser() as http:
        await at_counter(site, http)
        number = site.hk_sim.hk_number.e164  # in grace: no ID needed below HK$500
        page = await http.get("/pos", params={"number": number})
        key = KEY.search(page.text)
        assert key is not None
        form = {"csrf": csrf_of(page), "number": number, "key": key.group(1), "payment": "cash"}

        small = await http.post("/pos/topups", data={**form, "amount": "5"})
        assert small.status_code == 422
        assert marked(small, "amount")
        card = await http.post("/pos/topups", data={**form, "amount": "50", "payment": "card"})
        assert marked(card, "terminal_ref")
        large = await http.post("/pos/topups", data={**form, "amount": "800"}, headers=JSON)
        assert (large.status_code, large.json()["code"]) == (409, "id_check_required")
        assert large.json()["done"] is False
        unknown = await http.get("/pos", params={"number": "+85251234567"})
        assert unknown.status_code == 422
        assert marked(unknown, "number")
        forged = await http.post("/pos/topups", data={**form, "csrf": "forged", "amount": "50"})
        assert forged.status_code == 403
        went = await http.get("/pos/sales", params={"key": key.group(1)}, headers=JSON)
        assert went.status_code == 404


async def test_vouchers_are_sold_at_the_counter(site: Site) -> None:
    async with site.browser() as http:
        await at_counter(site, http)
        serials = await vouchers(site.db, face_minor=10_000, count=2, now=site.clock.now())
        page = await http.get("/pos")
        keys = KEY.findall(page.text)
        form = {
            "csrf": csrf_of(page),
            "key": keys[-1],
            "serials": "\n".join(serials),
            "v_payment": "card",
            "v_terminal_ref": "POS-88",
        }

        sold = await http.post("/pos/voucher-sales", data=form)

        assert sold.status_code == 303, sold.text
        receipt = await http.get(sold.headers["location"], params={"lang": "zh_Hans_CN"})
        assert "充值卡收据" in receipt.text
        assert serials[0] in receipt.text
        assert "POS-88" in receipt.text

    link = re.search(r'class="receipt__link" href="https?://[^/]+(/r/[^"]+)"', receipt.text)
    assert link is not None
    async with site.browser() as anyone:  # the QR code's link, opened by whoever holds it
        genuine = await anyone.get(link.group(1), params={"lang": "en"})
        assert genuine.status_code == 200
        assert "This is a genuine simkeep receipt" in genuine.text
        assert serials[1] in genuine.text
        tampered = await anyone.get(link.group(1)[:-1] + ("a" if link.group(1)[-1] != "a" else "b"))
        assert tampered.status_code == 404


@pytest.mark.parametrize(
    ("lang", "words"),
    [("zh_Hant_HK", "開更"), ("zh_Hans_CN", "开班"), ("en", "Open a shift")],
)
async def test_the_counter_speaks_three_languages(site: Site, lang: str, words: str) -> None:
    async with site.browser() as http:
        await place(site.db, now=site.clock.now(), books=False)
        await log_in(site, http)

        page = await http.get("/pos", params={"lang": lang})

        assert page.status_code == 200
        assert words in page.text
        assert "<script>" not in page.text
        assert "style=" not in page.text
        assert re.search(r'<script src="[^"]*/static/pos.js" defer>', page.text)


async def test_who_reads_the_counter_and_its_papers(site: Site) -> None:
    async with site.browser() as http:
        assert (await http.get("/pos")).headers["location"].startswith("/staff/login")
        await at_counter(site, http)
        page = await http.get("/pos")
        shift = re.search(r'href="/pos/shifts/(\d+)/z-report"', page.text)
        assert shift is not None
    await staff.add_staff(
        site.db,
        username="olive",
        display_name="Olive",
        role="operator",
        password=CLERK_PASSWORD,
        actor=CLI,
        now=site.clock.now(),
        totp_secret=CLERK_SECRET,
        enrolled=True,
    )
    async with site.browser() as http:
        await log_in(site, http, "olive")
        assert (await http.get("/pos")).status_code == 403  # the counter is a clerk's
        report = await http.get(f"/pos/shifts/{shift.group(1)}/z-report")
        assert report.status_code == 200
        assert (await http.get("/pos/shifts/999999/z-report")).status_code == 404
