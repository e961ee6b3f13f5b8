"""Email for reminders over HTTP, through the real app and the simulated mailbox: the API
(``/api/v1/me/email``) and the page (``/account/email``) set an address, the code reaches
``/_sim/email``, typing it back verifies the address; a malformed address or a wrong code is
a clear 4xx that changes nothing; removing forgets the address."""

from __future__ import annotations

import html
import re

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.notifications import service as notifications
from tests.e2e.api_world import Api
from tests.e2e.site_world import Site, csrf_of, post_form, register
from tests.e2e.world import World

PHONE = "+85291234567"
ADDRESS = "chan@example.hk"


async def deliver(world: World) -> None:
    """What the worker does: send the outbox, emails into the simulated mailbox."""
    state = world.app.state
    await notifications.deliver_due(
        world.db, gateway=state.sms_gateway, email=state.mailbox, now=world.clock.now()
    )


async def code_on_the_mailbox_page(world: World, http: httpx.AsyncClient, address: str) -> str:
    await deliver(world)
    page = await http.get("/_sim/email", params={"to": address})
    assert page.status_code == 200
    match = re.search(r"\b(\d{6})\b", page.text)
    assert match, page.text
    return match.group(1)


async def test_the_api_sets_verifies_and_removes_an_address(api: Api) -> None:
    auth = await api.signup(PHONE)
    nothing = {"email": None, "verified_at": None, "pending": None}
    assert (await api.http.get("/api/v1/me/email", headers=auth)).json() == nothing

    bad = await api.http.put("/api/v1/me/email", json={"email": "chan@example"}, headers=auth)
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_email"
    huge = await api.http.put("/api/v1/me/email", json={"email": "a" * 2000}, headers=auth)
    assert huge.status_code == 422
    assert (await api.http.get("/api/v1/me/email", headers=auth)).json() == nothing

    sent = await api.http.put("/api/v1/me/email", json={"email": ADDRESS}, headers=auth)
    assert sent.status_code == 202
    assert sent.json() == {**nothing, "pending": ADDRESS}
    code = await code_on_the_mailbox_page(api, api.http, ADDRESS)

    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    refused = await api.http.post("/api/v1/me/email/verify", json={"code": wrong}, headers=auth)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "bad_code"
    verified = await api.http.post("/api/v1/me/email/verify", json={"code": code}, headers=auth)
    assert verified.status_code == 200, verified.text
    assert verified.json()["email"] == ADDRESS
    assert verified.json()["pending"] is None

    removed = await api.http.delete("/api/v1/me/email", headers=auth)
    assert removed.status_code == 204
    assert (await api.http.get("/api/v1/me/email", headers=auth)).json() == nothing
    assert (await api.http.get("/api/v1/me/email")).status_code == 401


async def test_the_account_page_sets_and_verifies_an_address_in_the_readers_language(
    site: Site,
) -> None:
    async with site.browser() as http:
        assert (await register(site, http, PHONE)).status_code == 303
        page = await http.get("/account/email", params={"lang": "zh-HK"})
        assert "電郵提醒" in page.text
        assert "尚未確認電郵地址" in page.text

        refused = await post_form(http, "/account/email", {"step": "send", "email": "chan@"})
        assert refused.status_code == 400
        assert "請輸入電郵地址，例如 name@example.hk" in refused.text
        assert 'aria-invalid="true"' in refused.text

        sent = await post_form(http, "/account/email", {"step": "send", "email": ADDRESS})
        assert sent.status_code == 303
        waiting = await http.get(sent.headers["location"])
        assert f"我們已將六位數字確認碼寄往 {ADDRESS}" in waiting.text
        code = await code_on_the_mailbox_page(site, http, ADDRESS)
        mailbox = await http.get("/_sim/email")
        assert "simkeep：請確認你的電郵地址" in html.unescape(mailbox.text)

        done = await http.post(
            "/account/email", data={"csrf": csrf_of(waiting), "step": "verify", "code": code}
        )
        assert done.status_code == 303
        shown = await http.get(done.headers["location"])
        assert "你的電郵地址已確認" in shown.text
        assert ADDRESS in shown.text

        removed = await post_form(http, "/account/email", {"step": "remove"})
        assert removed.status_code == 303
        assert "尚未確認電郵地址" in (await http.get("/account/email")).text
        forged = await http.post("/account/email", data={"csrf": "x", "step": "remove"})
        assert forged.status_code == 403


async def test_the_account_page_asks_a_visitor_to_log_in(site: Site) -> None:
    async with site.browser() as http:
        page = await http.get("/account/email")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login?next=/account/email")


async def test_the_mailbox_page_lists_emails_newest_first_and_escaped(api: Api) -> None:
    async def queue(conn: AsyncConnection) -> None:
        for n, subject in enumerate(("first", "<b>second</b>")):
            await notifications.queue_email(
                conn,
                to=f"n{n}@example.hk",
                subject=subject,
                text="body",
                now=api.clock.now(),
            )

    await api.db.transaction(queue)
    await deliver(api)

    page = await api.http.get("/_sim/email")

    assert page.status_code == 200
    newer = page.text.index("<strong>&lt;b&gt;second&lt;/b&gt;</strong>")
    assert newer < page.text.index("<strong>first</strong>")
    assert "<b>second</b>" not in page.text
    one = await api.http.get("/_sim/email", params={"to": "n0@example.hk"})
    assert "<strong>first</strong>" in one.text
    assert "second" not in one.text
