"""The subscriber's pages through HTTP, on SQLite and PostgreSQL: register, log in and out
(cookie flags, session rotation), code steps reached by a 303, CSRF refusals, safe
redirects, ownership (another subscriber's SIM or order is a 404), a wrong link code, the
top-up wizard's GET steps and its one POST, the wrong-number guard, one order per
idempotency key, the ways to pay by device and WeChat Pay H5, the status page of a QR
payment until credited, and the history's filters and wording per state.

The app is the real one (embedded simulators, no worker loop); SMS codes are read from the
outbox, and a payment is credited by the poll of the provider, as the worker would.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import in_hong_kong
from simkeep.money import Money
from simkeep.notifications.tables import outbox
from simkeep.payment_methods import Channel, Provider
from simkeep.payments import service as payments
from simkeep.settings import Environment, load_settings
from simkeep.sims.model import Sim
from simkeep.subscribers import tables as subscriber_tables
from simkeep.topups import service as topups
from simkeep.topups import tables as topup_tables
from simkeep.topups.model import OrderRequest, OrderState
from simkeep.web.session import CSRF_COOKIE, SESSION_COOKIE, local_path
from tests.e2e.site_world import (
    PASSWORD,
    Site,
    csrf_of,
    link,
    order_by_wizard,
    post_form,
    register,
    review_fields,
    review_query,
    send_code,
)
from tests.factories import last_code

KEY = re.compile(r'name="key" value="([^"]+)"')


def marked(page: httpx.Response, field: str) -> bool:
    """Whether the page shows the form again with ``field`` marked as refused."""
    return re.search(rf'<input id="f-{field}" [^>]*aria-invalid="true"', page.text) is not None


def set_cookie(response: httpx.Response, name: str) -> str:
    (header,) = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    return header


async def count_sms(site: Site) -> int:
    async def read(conn: AsyncConnection) -> int:
        return int((await conn.execute(select(func.count()).select_from(outbox))).scalar_one())

    return await site.db.transaction(read)


# --- getting in and out ------------------------------------------------------------------


async def test_register_log_out_and_log_in_again(site: Site) -> None:
    form = await site.http.get("/register")
    assert "HttpOnly" in set_cookie(form, CSRF_COOKIE)

    sent = await site.http.post(
        "/register", data={"csrf": csrf_of(form), "step": "send", "phone": "6123 4567"}
    )
    assert sent.status_code == 303  # a code was sent: off to the code step, a GET page
    assert sent.headers["location"] == "/register?phone=%2B85261234567&step=code"
    assert await count_sms(site) == 1
    code_step = await site.http.get(sent.headers["location"])
    assert code_step.status_code == 200
    assert "+852 6123 4567" in code_step.text  # where the code went, and the code step
    assert 'name="code"' in code_step.text
    assert (await site.http.get(sent.headers["location"])).status_code == 200
    assert await count_sms(site) == 1  # reading the code step again sends nothing

    wrong = await site.http.post(
        "/register",
        data={
            "csrf": csrf_of(code_step),
            "step": "create",
            "phone": "+85261234567",
            "code": "000000",
            "password": PASSWORD,
        },
        headers={"Accept-Language": "en"},
    )
    assert wrong.status_code == 400
    assert marked(wrong, "code")
    assert "That code is wrong or has expired" in wrong.text

    created = await register(site, site.http, "+85261234567")
    assert created.status_code == 303
    assert created.headers["location"] == "/my"
    cookie = set_cookie(created, SESSION_COOKIE)
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/" in cookie
    assert "Secure" in cookie  # outside development, as in production
    first_token = site.http.cookies[SESSION_COOKIE]

    home = await site.http.get("/my")
    assert home.status_code == 200
    assert 'action="/logout"' in home.text  # the subscriber's nav
    assert home.headers["cache-control"] == "no-store"

    out = await site.http.post("/logout", data={"csrf": csrf_of(home)})
    assert out.status_code == 303
    assert out.headers["location"] == "/"
    assert 'simkeep_session=""' in set_cookie(out, SESSION_COOKIE)
    assert SESSION_COOKIE not in site.http.cookies
    again = await site.http.get("/my")
    assert again.status_code == 303
    assert again.headers["location"] == "/login?next=/my"

    # The old token was ended on the server, not only forgotten by the browser.
    assert (await site.with_session(first_token, "/my")).status_code == 303

    refused = await post_form(
        site.http, "/login", {"phone": "61234567", "password": "not the password"}
    )
    assert refused.status_code == 400
    assert marked(refused, "password")

    back = await post_form(
        site.http,
        "/login?next=/topups",
        {"phone": "61234567", "password": PASSWORD, "next": "/topups"},
    )
    assert back.status_code == 303
    assert back.headers["location"] == "/topups"
    assert site.http.cookies[SESSION_COOKIE] != first_token  # a new session at each login


async def test_the_code_step_keeps_where_to_go_after_registering(site: Site) -> None:
    sent = await post_form(
        site.http,
        "/register?next=/topups",
        {"step": "send", "phone": "61234567", "next": "/topups"},
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == "/register?phone=%2B85261234567&next=%2Ftopups&step=code"
    code_step = await site.http.get(sent.headers["location"])
    assert '<input type="hidden" name="next" value="/topups">' in code_step.text
    created = await site.http.post(
        "/register",
        data={
            "csrf": csrf_of(code_step),
            "step": "create",
            "phone": "+85261234567",
            "code": await last_code(site.db, "+85261234567"),
            "password": PASSWORD,
            "next": "/topups",
        },
    )
    assert created.status_code == 303
    assert created.headers["location"] == "/topups"


async def test_a_password_reset_ends_the_old_session(site: Site) -> None:
    await register(site, site.http, "+85261234567")
    old_token = site.http.cookies[SESSION_COOKIE]
    other = site.browser()
    async with other:
        code_step = await send_code(other, "/reset-password", {"phone": "61234567"})
        assert str(code_step.url).endswith("/reset-password?phone=%2B85261234567&step=code")
        code = await last_code(site.db, "+85261234567")
        reset = await other.post(
            "/reset-password",
            data={
                "csrf": csrf_of(code_step),
                "step": "create",
                "phone": "+85261234567",
                "code": code,
                "password": "a brand new one",
            },
        )
        assert reset.status_code == 303
        assert (await other.get("/my")).status_code == 200
    assert (await site.with_session(old_token, "/my")).status_code == 303


async def test_forms_without_the_right_csrf_token_change_nothing(site: Site) -> None:
    sms_before = await count_sms(site)
    no_token = await site.http.post("/register", data={"step": "send", "phone": "61234567"})
    assert no_token.status_code == 403
    assert await count_sms(site) == sms_before

    await site.http.get("/login")  # the visitor now has a CSRF cookie, but not this token
    forged = await site.http.post(
        "/login", data={"csrf": "0" * 64, "phone": "61234567", "password": PASSWORD}
    )
    assert forged.status_code == 403
    assert SESSION_COOKIE not in forged.headers.get("set-cookie", "")

    await register(site, site.http, "+85261234567")
    # A token from another visitor (another session) is not this subscriber's token.
    async with site.browser() as stranger:
        foreign = csrf_of(await stranger.get("/login"))
    logout = await site.http.post("/logout", data={"csrf": foreign})
    assert logout.status_code == 403
    assert (await site.http.get("/my")).status_code == 200  # still logged in

    linked = await site.http.post(
        "/my/sims/link", data={"step": "send", "number": site.hk_sim.hk_number.e164}
    )
    assert linked.status_code == 403


def test_cookies_are_secure_everywhere_but_in_development() -> None:
    production = load_settings(
        environment="production",
        secret_key="x" * 32,
        database_url="postgresql://db.internal/simkeep",
        simulators=False,
        public_url="https://topup.example.com",
    )
    assert production.https_only
    assert load_settings(environment=Environment.TEST).https_only
    assert not load_settings(environment=Environment.DEVELOPMENT).https_only


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/my/sims/3", "/my/sims/3"),
        ("/topups?state=credited", "/topups?state=credited"),
        ("//evil.example/", "/my"),
        ("https://evil.example/", "/my"),
        ("/\\evil.example", "/my"),
        ("javascript:alert(1)", "/my"),
        ("", "/my"),
    ],
)
def test_redirects_stay_on_this_site(target: str, kept: str) -> None:
    assert local_path(target) == kept


async def test_login_never_redirects_off_site(site: Site) -> None:
    await register(site, site.http, "+85261234567")
    await site.http.post("/logout", data={"csrf": csrf_of(await site.http.get("/my"))})
    response = await post_form(
        site.http,
        "/login",
        {"phone": "61234567", "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response.headers["location"] == "/my"


# --- SIMs and ownership ------------------------------------------------------------------


async def test_link_a_sim_and_see_its_balance(site: Site) -> None:
    await register(site, site.http, "+85261234567")
    wrong = await post_form(site.http, "/my/sims/link", {"step": "send", "number": "91230000"})
    assert wrong.status_code == 400
    assert marked(wrong, "number")

    linked = await link(site, site.http, site.hk_sim.cn_number.e164)
    assert linked.status_code == 303
    assert linked.headers["location"] == f"/my/sims/{site.hk_sim.id}"

    home = await site.http.get("/my", headers={"Accept-Language": "en"})
    assert "Hong Kong validity plan" in home.text
    assert "HK$0.00" in home.text
    assert "Grace period" in home.text
    assert f"/topup?number=%2B852{site.hk_sim.hk_number.e164[4:]}" in home.text
    page = await site.http.get(f"/my/sims/{site.hk_sim.id}")
    assert page.status_code == 200
    assert "+86 139 0001 0053" in page.text  # both numbers of the SIM


async def test_a_wrong_link_code_asks_for_the_code_again(site: Site) -> None:
    await register(site, site.http, "+85261234567")
    number = site.hk_sim.hk_number.e164
    code_step = await send_code(
        site.http, "/my/sims/link", {"number": f"{number[4:8]} {number[8:]}"}
    )
    assert str(code_step.url).endswith(f"/my/sims/link?number=%2B852{number[4:]}&step=code")
    wrong = await site.http.post(
        "/my/sims/link",
        data={"csrf": csrf_of(code_step), "step": "link", "number": number, "code": "000000"},
        headers={"Accept-Language": "en"},
    )
    assert wrong.status_code == 400
    assert marked(wrong, "code")  # the code step, its field marked …
    assert "That code is wrong or has expired" in wrong.text
    assert f'<input type="hidden" name="number" value="{number}">' in wrong.text  # … same SIM
    assert f"+852 {number[4:8]} {number[8:]}" in wrong.text  # where the code went
    assert 'value="link"' in wrong.text
    assert "Link this SIM" in wrong.text
    mine = await site.http.get("/my", headers={"Accept-Language": "en"})
    assert "You have not linked a SIM card yet" in mine.text


async def test_another_subscribers_sim_and_order_are_not_found(site: Site) -> None:
    await register(site, site.http, "+85261234567")
    await link(site, site.http, site.hk_sim.hk_number.e164)
    order_no = await order_by_wizard(site, site.http, site.cn_sim.hk_number.e164, "wechatpay-qr")

    async with site.browser() as other:
        await register(site, other, "+85261234568")
        assert (await other.get(f"/my/sims/{site.hk_sim.id}")).status_code == 404
        assert (await other.get(f"/topups/{order_no}")).status_code == 404
        assert (await other.get(f"/topups/{order_no}/state")).status_code == 404
        assert order_no not in (await other.get("/topups")).text
    assert (await site.http.get(f"/topups/{order_no}")).status_code == 200
    assert (await site.http.get("/my/sims/999999")).status_code == 404


async def test_pages_of_a_subscriber_send_visitors_to_log_in(site: Site) -> None:
    for path in ("/my", "/my/sims/1", "/my/sims/link", "/topup", "/topups", "/topups/T1"):
        response = await site.http.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=/"), path


# --- the top-up wizard -------------------------------------------------------------------


async def count_orders(site: Site) -> int:
    async def read(conn: AsyncConnection) -> int:
        query = select(func.count()).select_from(topup_tables.orders)
        return int((await conn.execute(query)).scalar_one())

    return await site.db.transaction(read)


async def test_the_wizard_refuses_unknown_and_recycled_numbers(site: Site) -> None:
    await register(site, site.http, "+85261234567")
    english = {"Accept-Language": "en"}
    for number, message in (
        ("9123 0000", "No China–Hong Kong SIM has this number"),
        (site.recycled.hk_number.e164, "This number was recycled and cannot be topped up"),
        ("12345", "Enter a Hong Kong mobile number (8 digits)"),
        ("", "Enter a Hong Kong mobile number (8 digits)"),
    ):
        refused = await site.http.get("/topup", params={"number": number}, headers=english)
        assert refused.status_code == 400, number
        assert message in refused.text, number
        assert marked(refused, "number")
    assert await count_orders(site) == 0


async def test_a_new_number_must_be_typed_twice(site: Site) -> None:
    await register(site, site.http, "+85261234567")
    number = site.hk_sim.hk_number.e164
    english = {"Accept-Language": "en"}
    amounts = await site.http.get(f"/topup?number={number[4:]}", headers=english)
    assert amounts.status_code == 200
    assert "陳*明" in amounts.text  # the guard: the holder, masked
    assert "Hong Kong validity plan" in amounts.text
    assert "Grace period" in amounts.text
    assert 'name="confirm"' in amounts.text
    # HK$ credit: paid in Hong Kong dollars first, with the ways that charge them; then in
    # renminbi at the operator's rate, with the Mainland's.
    assert amounts.text.index('value="HKD"') < amounts.text.index('value="CNY"')
    hkd, cny = re.findall(r"<small>With ([^<]+)</small>", amounts.text)
    assert hkd.split(" · ")[-2:] == ["WeChat Pay HK", "Bank card (UnionPay)"]
    assert cny == "Alipay · WeChat Pay · Bank card (UnionPay)"
    assert "1 HKD = 0.92 CNY" in amounts.text

    query = {**review_query(number, "5000"), "confirm": ""}
    missing = await site.http.get("/topup", params=query, headers=english)
    assert missing.status_code == 400
    assert "type it again to confirm" in missing.text
    other = await site.http.get("/topup", params={**query, "confirm": "9201 9999"}, headers=english)
    assert other.status_code == 400
    assert "The two numbers are not the same" in other.text

    review = await site.http.get("/topup", params={**query, "confirm": number[4:]}, headers=english)
    assert review.status_code == 200
    assert "1 HKD = 0.92 CNY, locked for this order" in review.text
    assert "Pay CN¥46.00" in review.text
    assert "No promotion applies right now." in review.text

    fields = review_fields(review, method="alipay-wap")
    first = await site.http.post("/topup", data=fields)
    assert first.status_code == 303
    assert first.headers["location"].startswith("http://127.0.0.1:9/_sim/alipay/gateway.do?")
    again = await site.http.post("/topup", data=fields)  # a double submit
    assert again.headers["location"] == first.headers["location"]
    assert await count_orders(site) == 1

    conflict = await site.http.post("/topup", data={**fields, "method": "wechatpay-qr"})
    assert conflict.status_code == 400
    assert await count_orders(site) == 1
    fresh = KEY.search(conflict.text)  # a new key: the next submit is a new order
    assert fresh
    assert fresh.group(1) != fields["key"]


async def test_reading_steps_are_get_pages_and_paying_answers_with_a_redirect(site: Site) -> None:
    await register(site, site.http, "+85261234567")
    number = site.cn_sim.cn_number.e164
    sms_before = await count_sms(site)

    start = await site.http.get("/topup")
    amounts = await site.http.get("/topup", params={"number": number})
    review = await site.http.get("/topup", params=review_query(number))
    reload = await site.http.get("/topup", params=review_query(number))
    for page in (start, amounts):
        assert page.status_code == 200
        assert '<form method="get" action="/topup"' in page.text
        assert 'name="csrf"' not in page.text.split('<main class="wrap">')[1]  # nothing to forge
    assert 'name="step" value="review"' in amounts.text
    assert review.status_code == 200
    assert '<form method="post" action="/topup"' in review.text
    key = KEY.search(review.text)
    again = KEY.search(reload.text)
    assert key
    assert again
    assert key.group(1) != again.group(1)  # a fresh idempotency key for every review page
    change = re.search(r'href="(/topup\?[^"]+)"[^>]*>[^<]*</a>\s*</form>', review.text)
    assert change
    assert change.group(1).replace("&amp;", "&") == (
        f"/topup?number=%2B86{number[3:]}&confirm=%2B86{number[3:]}&amount=10000&pay_currency=CNY"
    )
    assert await count_orders(site) == 0  # reading changes nothing
    assert await count_sms(site) == sms_before

    paid = await site.http.post("/topup", data=review_fields(review, method="alipay-qr"))
    assert paid.status_code == 303  # never a page: Back and reload find a GET page
    assert re.fullmatch(r"/topups/T\d+", paid.headers["location"])
    assert await count_orders(site) == 1
    no_token = {k: v for k, v in review_fields(review, method="alipay-qr").items() if k != "csrf"}
    assert (await site.http.post("/topup", data=no_token)).status_code == 403


IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"
    " (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


def offered_methods(review: httpx.Response) -> list[tuple[str, bool]]:
    """The ways to pay the review page offers, in order, and whether each is pre-selected."""
    radios = re.findall(
        r'<input type="radio" name="method" value="([a-z0-9_-]+)" required( checked)?', review.text
    )
    return [(name, bool(checked)) for name, checked in radios]


async def test_the_ways_to_pay_follow_the_device(site: Site) -> None:
    await register(site, site.http, "+85261234567")
    query = review_query(site.cn_sim.cn_number.e164)
    english = {"Accept-Language": "en"}
    phone = await site.http.get("/topup", params=query, headers={**english, "User-Agent": IPHONE})
    assert offered_methods(phone) == [
        ("alipay-wap", True),  # the wallet opens on the phone itself
        ("wechatpay-wap", False),
        ("unionpay-wap", False),  # the card's cashier, laid out for a phone
        ("alipay-qr", False),  # a QR code is the fallback: another phone scans it
        ("wechatpay-qr", False),
    ]
    assert "Pay in WeChat Pay on this phone and come back here" in phone.text
    assert "Show a QR code to scan with another phone" in phone.text

    desktop = await site.http.get(
        "/topup", params=query, headers={**english, "User-Agent": DESKTOP}
    )
    assert offered_methods(desktop) == [
        ("alipay-qr", True),  # scanned with the phone in the payer's hand
        ("wechatpay-qr", False),
        ("unionpay-page", False),  # one cashier for the card, in the desktop's layout
        ("alipay-wap", False),
        ("wechatpay-wap", False),
    ]
    assert "Scan a QR code with the app on your phone" in desktop.text
    assert "In a phone's browser: pay in WeChat Pay and come back here" in desktop.text


async def test_wechat_pay_h5_on_a_phone_goes_to_the_cashier_and_back(site: Site) -> None:
    await register(site, site.http, "+85261234567")
    await link(site, site.http, site.cn_sim.cn_number.e164)
    phone = {"User-Agent": IPHONE}
    review = await site.http.get(
        "/topup", params=review_query(site.cn_sim.cn_number.e164), headers=phone
    )
    fields = review_fields(review, method="wechatpay-wap")
    paid = await site.http.post("/topup", data=fields, headers=phone)
    assert paid.status_code == 303
    cashier = re.fullmatch(
        r"http://127\.0\.0\.1:9(/_sim/wechatpay/cashier/(T\d+))\?redirect_url=(.+)",
        paid.headers["location"],
    )
    assert cashier, paid.headers["location"]
    path, order_no, back = cashier.groups()
    assert back == f"http%3A%2F%2F127.0.0.1%3A9%2Ftopups%2F{order_no}"
    again = await site.http.post("/topup", data=fields, headers=phone)  # a double tap
    assert again.headers["location"] == paid.headers["location"]
    assert await count_orders(site) == 1

    at_cashier = await site.http.get(f"{path}?redirect_url={back}", headers=phone)
    assert "¥100.00" in at_cashier.text
    returned = await site.http.post(
        f"{path}?redirect_url={back}", data={"action": "pay", "password": "123456"}
    )
    assert returned.status_code == 303
    assert returned.headers["location"] == f"http://127.0.0.1:9/topups/{order_no}"
    assert await site.poll() == 1  # no notification can arrive here: the poll credits
    status = await site.http.get(f"/topups/{order_no}", headers={"Accept-Language": "en"})
    assert "Top-up credited" in status.text


async def test_a_rate_changed_after_the_review_is_shown_before_paying(site: Site) -> None:
    await register(site, site.http, "+85261234567")
    number = site.hk_sim.hk_number.e164
    english = {"Accept-Language": "en"}
    review = await site.http.get("/topup", params=review_query(number, "5000"), headers=english)
    assert "Pay CN¥46.00" in review.text

    async def new_rate(conn: AsyncConnection) -> None:
        await topups.set_fx_rate(
            conn,
            base="HKD",
            quote_currency="CNY",
            rate=Decimal("0.93"),
            source="operator",
            now=site.clock.now(),
        )

    await site.db.transaction(new_rate)
    changed = await site.http.post(
        "/topup", data=review_fields(review, method="alipay-wap"), headers=english
    )
    assert changed.status_code == 400
    assert "The exchange rate changed" in changed.text
    assert "Pay CN¥46.50" in changed.text
    assert await count_orders(site) == 0
    paid = await site.http.post("/topup", data=review_fields(changed, method="alipay-wap"))
    assert paid.status_code == 303
    assert await count_orders(site) == 1


async def test_a_qr_order_shows_its_code_until_credited(site: Site) -> None:
    await register(site, site.http, "+85261234567")
    await link(site, site.http, site.cn_sim.cn_number.e164)
    number = site.cn_sim.cn_number.e164
    order_no = await order_by_wizard(site, site.http, number, "wechatpay-qr")

    status = await site.http.get(f"/topups/{order_no}", headers={"Accept-Language": "en"})
    assert status.status_code == 200
    assert re.search(r'<svg xmlns="http://www.w3.org/2000/svg" [^>]*class="qr"', status.text)
    assert f'href="/_sim/wechatpay/cashier/{order_no}"' in status.text
    assert "<dt>Pay with</dt>" in status.text  # not paid yet
    assert '<meta http-equiv="refresh"' in status.text  # inside <noscript>
    assert "order-status.js" in status.text
    waiting = (await site.http.get(f"/topups/{order_no}/state")).json()
    assert waiting["state"] == "awaiting_payment"
    assert waiting["waiting"] is True

    paid = await site.http.post(f"/_sim/wechatpay/pay/{order_no}")
    assert paid.status_code == 200
    assert await site.poll() == 1
    state = await site.http.get(f"/topups/{order_no}/state", headers={"Accept-Language": "en"})
    done = state.json()
    assert done["state"] == "credited"
    assert done["waiting"] is False
    assert "Top-up credited" in done["html"]
    assert "Balance now" in done["html"]  # the SIM's, as the page is read
    assert "CN¥100.00" in done["html"]
    assert f"/topups/{order_no}/receipt" in done["html"]
    paid_page = await site.http.get(f"/topups/{order_no}", headers={"Accept-Language": "en"})
    assert "<dt>Paid with</dt>" in paid_page.text
    final = await site.http.get(f"/topups/{order_no}", headers={"Accept-Language": "zh-HK"})
    assert "增值成功" in final.text
    assert '<meta http-equiv="refresh"' not in final.text


# --- history -----------------------------------------------------------------------------


async def subscriber_id(site: Site, phone: str) -> int:
    async def read(conn: AsyncConnection) -> int:
        t = subscriber_tables.subscribers
        return int((await conn.execute(select(t.c.id).where(t.c.phone == phone))).scalar_one())

    return await site.db.transaction(read)


async def place_orders(site: Site, owner: int, sim: Sim, count: int) -> None:
    """``count`` orders straight through the service (the wizard is tested above)."""
    for n in range(count):

        async def create(conn: AsyncConnection, n: int = n) -> Any:
            return await topups.create_order(
                conn,
                request=OrderRequest.of(
                    subscriber_id=owner,
                    idempotency_key=f"history-{sim.id}-{n}",
                    number=sim.hk_number.e164,
                    confirm_number=sim.hk_number.e164,
                    credit=Money(5_000, sim.home_currency),
                    pay_currency=sim.home_currency,
                    provider=Provider.ALIPAY,
                    channel=Channel.QR,
                ),
                now=site.clock.now(),
            )

        await site.db.transaction(create)
        site.clock.advance(timedelta(hours=1))


async def test_history_filters_by_state_number_and_hong_kong_day(site: Site) -> None:
    await register(site, site.http, "+85261234567")
    owner = await subscriber_id(site, "+85261234567")
    await place_orders(site, owner, site.cn_sim, 21)  # 09:00 UTC on 25 Nov onwards
    await place_orders(site, owner, site.hk_sim, 2)

    everything = await site.http.get("/topups")
    assert everything.text.count('class="order"') == 20  # a page
    older = re.search(r'href="(/topups\?before=\d+)" rel="next"', everything.text)
    assert older, everything.text
    rest = await site.http.get(older.group(1).replace("&amp;", "&"))
    assert rest.text.count('class="order"') == 3
    assert 'rel="next"' not in rest.text

    hk_only = await site.http.get("/topups", params={"number": site.hk_sim.hk_number.e164[4:]})
    assert hk_only.text.count('class="order"') == 2
    by_state = await site.http.get("/topups", params={"state": "credited"})
    assert by_state.text.count('class="order"') == 0
    # 25 Nov 09:00 UTC is 17:00 in Hong Kong: the first seven orders fall on 25 Nov there.
    first_day = await site.http.get("/topups", params={"from": "2026-11-25", "to": "2026-11-25"})
    assert first_day.text.count('class="order"') == 7
    bad = await site.http.get("/topups", params={"from": "25/11/2026"})
    assert bad.status_code == 400
    assert marked(bad, "from")
    calendar = await site.http.get("/topups", params={"from": "0001-01-01", "to": "9999-12-31"})
    assert calendar.status_code == 200
    assert calendar.text.count('class="order"') == 20


@pytest.mark.parametrize("before", [str(2**63), "0", "-1", "²", "12a"])
async def test_a_broken_page_link_is_refused_and_marked(site: Site, before: str) -> None:
    await register(site, site.http, "+85261234567")

    broken = await site.http.get("/topups", params={"before": before, "lang": "en"})

    assert broken.status_code == 400
    assert 'id="f-before-error"' in broken.text
    assert "This link to older top-ups is broken" in broken.text


async def force_state(site: Site, order_no: str, state: OrderState) -> None:
    """Put an order in a state no service moves it to yet (failed, refunds)."""

    async def write(conn: AsyncConnection) -> None:
        t = topup_tables.orders
        await conn.execute(update(t).where(t.c.order_no == order_no).values(state=state.value))

    await site.db.transaction(write)


def history_rows(page: httpx.Response) -> dict[str, str]:
    """Each listed order's number and the line under its amount."""
    rows = re.findall(
        r'<a class="order" href="/topups/(T\d+)">.*?<span class="order__meta">(.*?)</a>',
        page.text,
        re.DOTALL,
    )
    return {order_no: " ".join(re.sub("<[^>]+>", "", meta).split()) for order_no, meta in rows}


async def test_history_says_what_was_paid_in_each_state(site: Site) -> None:
    await register(site, site.http, "+85261234567")
    hk = site.hk_sim.hk_number.e164  # HK$100.00 paid as ¥92.00 at the operator's rate

    expired = await order_by_wizard(site, site.http, hk, "wechatpay-qr")
    site.clock.advance(timedelta(minutes=16))
    adapters = site.app.state.payment_adapters
    await payments.expire_unpaid(site.db, adapters=adapters, now=site.clock.now())
    credited = await order_by_wizard(site, site.http, hk, "wechatpay-qr")
    await site.http.post(f"/_sim/wechatpay/pay/{credited}")
    assert await site.poll() == 1
    waiting = await order_by_wizard(site, site.http, hk, "wechatpay-qr")
    forced = {}
    for state in (
        OrderState.PAID,
        OrderState.FAILED,
        OrderState.REFUNDED,
        OrderState.PARTIALLY_REFUNDED,
    ):
        forced[state] = await order_by_wizard(site, site.http, hk, "alipay-qr")
        await force_state(site, forced[state], state)
    same_currency = await order_by_wizard(site, site.http, site.cn_sim.cn_number.e164, "alipay-qr")

    rows = history_rows(await site.http.get("/topups", headers={"Accept-Language": "en"}))
    assert rows[waiting].endswith("WeChat Pay · to pay CN¥92.00")
    assert rows[credited].endswith("WeChat Pay · paid CN¥92.00")
    assert rows[forced[OrderState.PAID]].endswith("Alipay · paid CN¥92.00")
    assert rows[forced[OrderState.PARTIALLY_REFUNDED]].endswith("Alipay · paid CN¥92.00")
    assert rows[forced[OrderState.REFUNDED]].endswith("Alipay · refunded CN¥92.00")
    for unpaid in (expired, forced[OrderState.FAILED]):
        assert "92.00" not in rows[unpaid]  # nothing was paid
    assert rows[same_currency].endswith("Alipay")  # the amount above is what was paid

    chinese = history_rows(await site.http.get("/topups", headers={"Accept-Language": "zh-HK"}))
    assert chinese[waiting].endswith("待付款 CN¥92.00")
    assert "已付" not in chinese[waiting]
    assert chinese[credited].endswith("已付 CN¥92.00")
    simplified = history_rows(await site.http.get("/topups", headers={"Accept-Language": "zh-CN"}))
    assert simplified[waiting].endswith("待支付 ¥92.00")
    assert simplified[forced[OrderState.REFUNDED]].endswith("已退款 ¥92.00")


async def test_the_review_tells_a_holder_how_long_the_top_up_keeps_the_number(
    site: Site,
) -> None:
    await register(site, site.http, "+85261234567")
    number = site.cn_sim.cn_number.e164  # CN-KEEP, ¥8 a month, nothing on it yet
    english = {"Accept-Language": "en"}
    stranger = await site.http.get("/topup", params=review_query(number), headers=english)
    assert stranger.status_code == 200
    assert "keeps your number until" not in stranger.text  # not theirs: nothing told

    assert (await link(site, site.http, number)).status_code == 303
    review = await site.http.get("/topup", params=review_query(number), headers=english)

    # issued at the clock's start: the first fee a month on, and ¥100 pays twelve of ¥8
    issued = in_hong_kong(site.cn_sim.created_at).date()
    first = issued.replace(month=issued.month % 12 + 1, year=issued.year + issued.month // 12)
    kept = first.replace(year=first.year + 1) - timedelta(days=1)
    assert "This top-up keeps your number until" in review.text
    assert f"{kept:%b} {kept.day}, {kept.year}" in review.text
    chinese = await site.http.get(
        "/topup", params=review_query(number), headers={"Accept-Language": "zh-HK"}
    )
    assert "增值後保號至" in chinese.text
