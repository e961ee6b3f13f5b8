"""The subscriber's pages through HTTP, on SQLite and PostgreSQL: register, log in and out
(cookie flags, session rotation), CSRF refusals, safe redirects, ownership (another
subscriber's SIM or order is a 404), the top-up wizard's wrong-number guard, one order per
idempotency key, the status page of a QR payment until credited, and the history's filters.

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
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.money import Money
from simkeep.notifications.tables import outbox
from simkeep.payment_methods import Channel, Provider
from simkeep.settings import Environment, load_settings
from simkeep.sims.model import Sim
from simkeep.subscribers import tables as subscriber_tables
from simkeep.topups import service as topups
from simkeep.topups import tables as topup_tables
from simkeep.topups.model import OrderRequest
from simkeep.web.session import CSRF_COOKIE, SESSION_COOKIE, local_path, secure_cookies
from tests.e2e.site_world import (
    PASSWORD,
    Site,
    csrf_of,
    link,
    order_by_wizard,
    post_form,
    register,
    review_fields,
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
    assert sent.status_code == 200
    assert "+852 6123 4567" in sent.text  # where the code went, and the code step
    assert 'name="code"' in sent.text

    wrong = await site.http.post(
        "/register",
        data={
            "csrf": csrf_of(sent),
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
    assert "Secure" not in cookie  # the test environment runs on plain HTTP
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


async def test_a_password_reset_ends_the_old_session(site: Site) -> None:
    await register(site, site.http, "+85261234567")
    old_token = site.http.cookies[SESSION_COOKIE]
    other = site.browser()
    async with other:
        sent = await post_form(other, "/reset-password", {"step": "send", "phone": "61234567"})
        code = await last_code(site.db, "+85261234567")
        reset = await other.post(
            "/reset-password",
            data={
                "csrf": csrf_of(sent),
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


def test_session_cookies_are_secure_outside_development_and_tests() -> None:
    production = load_settings(
        environment="production",
        secret_key="x" * 32,
        database_url="postgresql://db.internal/simkeep",
        simulators=False,
    )
    assert secure_cookies(production)
    assert not secure_cookies(load_settings(environment=Environment.TEST))
    assert not secure_cookies(load_settings(environment=Environment.DEVELOPMENT))


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
    ):
        page = await site.http.get("/topup", headers=english)
        refused = await site.http.post(
            "/topup",
            data={"csrf": csrf_of(page), "step": "number", "number": number},
            headers=english,
        )
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
    # HK$ credit, paid in renminbi at the operator's rate: no method here charges HKD.
    assert 'value="CNY"' in amounts.text
    assert 'value="HKD"' not in amounts.text
    assert "1 HKD = 0.92 CNY" in amounts.text

    base = {"csrf": csrf_of(amounts), "step": "amount", "number": number}
    choice = {"amount": "5000", "pay_currency": "CNY"}
    missing = await site.http.post("/topup", data={**base, **choice}, headers=english)
    assert missing.status_code == 400
    assert "type it again to confirm" in missing.text
    other = await site.http.post(
        "/topup", data={**base, **choice, "confirm": "9201 9999"}, headers=english
    )
    assert other.status_code == 400
    assert "The two numbers are not the same" in other.text

    review = await site.http.post(
        "/topup", data={**base, **choice, "confirm": number[4:]}, headers=english
    )
    assert review.status_code == 200
    assert "1 HKD = 0.92 CNY, locked for this order" in review.text
    assert "Pay CN¥46.00" in review.text
    assert "No promotion applies right now." in review.text

    fields = review_fields(review, method="alipay")
    first = await site.http.post("/topup", data=fields)
    assert first.status_code == 303
    assert first.headers["location"].startswith("http://127.0.0.1:9/_sim/alipay/gateway.do?")
    again = await site.http.post("/topup", data=fields)  # a double submit, or a reload
    assert again.headers["location"] == first.headers["location"]
    assert await count_orders(site) == 1

    conflict = await site.http.post("/topup", data={**fields, "method": "wechatpay-qr"})
    assert conflict.status_code == 400
    assert await count_orders(site) == 1
    fresh = KEY.search(conflict.text)  # a new key: the next submit is a new order
    assert fresh
    assert fresh.group(1) != fields["key"]


async def test_a_rate_changed_after_the_review_is_shown_before_paying(site: Site) -> None:
    await register(site, site.http, "+85261234567")
    number = site.hk_sim.hk_number.e164
    english = {"Accept-Language": "en"}
    amounts = await site.http.get(f"/topup?number={number[4:]}", headers=english)
    review = await site.http.post(
        "/topup",
        data={
            "csrf": csrf_of(amounts),
            "step": "amount",
            "number": number,
            "confirm": number,
            "amount": "5000",
            "pay_currency": "CNY",
        },
        headers=english,
    )
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
        "/topup", data=review_fields(review, method="alipay"), headers=english
    )
    assert changed.status_code == 400
    assert "The exchange rate changed" in changed.text
    assert "Pay CN¥46.50" in changed.text
    assert await count_orders(site) == 0
    paid = await site.http.post("/topup", data=review_fields(changed, method="alipay"))
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
    assert "New balance" in done["html"]
    assert "CN¥100.00" in done["html"]
    assert f"/topups/{order_no}/receipt" in done["html"]
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
