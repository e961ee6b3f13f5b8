"""Every SMS in its reader's language — on SQLite and PostgreSQL, read off the outbox: a
number's registered subscriber reads their own language; a number that is nobody's login
reads the language of whoever caused the message (the page's, the API request's, the
payer's). A subscriber's language is the one they registered in, and changes when they
switch language on the site or through the API."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.notifications.tables import outbox
from simkeep.subscribers import tables as subscriber_tables
from tests.e2e.api_world import PASSWORD, Api, cn100
from tests.e2e.site_world import Site, order_by_wizard, post_form, register
from tests.factories import last_code

REGISTER = {"zh_Hant_HK": "註冊驗證碼", "zh_Hans_CN": "注册验证码", "en": "registration code"}
RESET = {
    "zh_Hant_HK": "重設密碼驗證碼",
    "zh_Hans_CN": "重置密码验证码",
    "en": "reset your password",
}
LINK = {"zh_Hant_HK": "綁定此電話卡", "zh_Hans_CN": "绑定此手机卡", "en": "link this SIM"}


async def last_sms(db: Database, phone: str) -> str:
    """The newest SMS queued to ``phone`` (E.164)."""

    async def read(conn: AsyncConnection) -> str | None:
        query = select(outbox.c.body).where(outbox.c.recipient == phone)
        return (await conn.execute(query.order_by(outbox.c.id.desc()).limit(1))).scalar()

    body = await db.transaction(read)
    assert body is not None, f"no SMS to {phone}"
    return body


async def language_of(db: Database, phone: str) -> str:
    async def read(conn: AsyncConnection) -> str:
        t = subscriber_tables.subscribers
        query = select(t.c.language).where(t.c.phone == phone)
        return str((await conn.execute(query)).scalar_one())

    return await db.transaction(read)


def reads(body: str, words: dict[str, str], locale: str) -> bool:
    """Whether ``body`` is the message of ``words`` in ``locale`` (and in no other)."""
    return [code for code, word in words.items() if word in body] == [locale]


# --- pages ---------------------------------------------------------------------------------


async def test_a_code_to_a_new_number_reads_the_pages_language(site: Site) -> None:
    for phone, locale in (("+85261234601", "zh_Hans_CN"), ("+85261234602", "en")):
        sent = await post_form(
            site.http, f"/register?lang={locale}", {"step": "send", "phone": phone}
        )
        assert sent.status_code == 303  # to the code step
        assert reads(await last_sms(site.db, phone), REGISTER, locale)


async def test_an_account_reads_the_language_it_registered_in_until_it_switches(
    site: Site,
) -> None:
    phone = "+85261234603"
    await site.http.get("/?lang=en")  # the lang cookie: the whole registration reads English
    assert (await register(site, site.http, phone)).status_code == 303
    assert await language_of(site.db, phone) == "en"

    async with site.browser() as other:  # asked from a Traditional page: the account's English
        await post_form(other, "/reset-password?lang=zh_Hant_HK", {"step": "send", "phone": phone})
    assert reads(await last_sms(site.db, phone), RESET, "en")

    assert (await site.http.get("/my?lang=zh_Hans_CN")).status_code == 200  # the switch
    assert await language_of(site.db, phone) == "zh_Hans_CN"
    async with site.browser() as other:
        await post_form(other, "/reset-password?lang=en", {"step": "send", "phone": phone})
    assert reads(await last_sms(site.db, phone), RESET, "zh_Hans_CN")


async def test_a_link_code_reads_the_sims_subscriber_or_the_askers_language(site: Site) -> None:
    owner = site.hk_sim.hk_number.e164  # this SIM's number is also someone's login
    async with site.browser() as theirs:
        await register(site, theirs, owner)
        await theirs.get("/my?lang=zh_Hans_CN")
    await site.http.get("/?lang=en")
    await register(site, site.http, "+85261234604")

    await post_form(site.http, "/my/sims/link", {"step": "send", "number": owner})
    assert reads(await last_sms(site.db, owner), LINK, "zh_Hans_CN")
    nobodys = site.cn_sim.cn_number.e164
    await post_form(site.http, "/my/sims/link", {"step": "send", "number": nobodys})
    assert reads(await last_sms(site.db, nobodys), LINK, "en")


async def test_the_credit_sms_reads_the_numbers_subscriber_or_the_payers_language(
    site: Site,
) -> None:
    await site.http.get("/?lang=en")
    await register(site, site.http, "+85261234605")  # the payer reads English

    nobodys = site.cn_sim.cn_number.e164
    order_no = await order_by_wizard(site, site.http, nobodys, "wechatpay-qr")
    await site.http.post(f"/_sim/wechatpay/pay/{order_no}")
    assert await site.poll() == 1
    english = await last_sms(site.db, nobodys)
    assert "was topped up with CN¥100.00" in english, english
    assert "Balance CN¥100.00" in english

    owner = site.cn_sim.hk_number.e164  # the other line of the same SIM: someone's login
    async with site.browser() as theirs:
        await register(site, theirs, owner)
        await theirs.get("/my?lang=zh_Hans_CN")
    order_no = await order_by_wizard(site, site.http, owner, "wechatpay-qr")
    await site.http.post(f"/_sim/wechatpay/pay/{order_no}")
    assert await site.poll() == 1
    simplified = await last_sms(site.db, owner)
    assert "已充值 ¥100.00，余额 ¥200.00" in simplified, simplified


# --- API -----------------------------------------------------------------------------------


async def test_the_api_reads_accept_language_and_the_register_bodys_language(api: Api) -> None:
    phone = "+85261234606"
    sent = await api.http.post(
        "/api/v1/auth/codes",
        json={"phone": phone, "purpose": "register"},
        headers={"Accept-Language": "zh-CN"},
    )
    assert sent.status_code == 202
    assert reads(await last_sms(api.db, phone), REGISTER, "zh_Hans_CN")
    registered = await api.http.post(
        "/api/v1/auth/register",
        json={"phone": phone, "code": await last_code(api.db, phone), "password": PASSWORD},
        headers={"Accept-Language": "zh-CN"},
    )
    auth = {"Authorization": f"Bearer {registered.json()['token']}"}
    assert (await api.http.get("/api/v1/me", headers=auth)).json()["language"] == "zh_Hans_CN"

    other = "+85261234607"
    await api.http.post("/api/v1/auth/codes", json={"phone": other, "purpose": "register"})
    assert reads(await last_sms(api.db, other), REGISTER, "zh_Hant_HK")  # the default
    named = await api.http.post(
        "/api/v1/auth/register",
        json={
            "phone": other,
            "code": await last_code(api.db, other),
            "password": PASSWORD,
            "language": "en",
        },
        headers={"Accept-Language": "zh-HK"},
    )
    other_auth = {"Authorization": f"Bearer {named.json()['token']}"}
    assert (await api.http.get("/api/v1/me", headers=other_auth)).json()["language"] == "en"

    changed = await api.http.put(
        "/api/v1/me/language", json={"language": "zh_Hant_HK"}, headers=auth
    )
    assert changed.status_code == 204
    assert await language_of(api.db, phone) == "zh_Hant_HK"
    refused = await api.http.put("/api/v1/me/language", json={"language": "fr"}, headers=auth)
    assert refused.status_code == 422


async def test_the_api_credit_sms_reads_the_payers_language(api: Api) -> None:
    payer = await api.signup("+85261234608")
    await api.http.put("/api/v1/me/language", json={"language": "en"}, headers=payer)
    number = api.cn_sim.cn_number.e164
    created = await api.order(payer, "key-sms-0001", **cn100(number))
    await api.http.post(f"/_sim/wechatpay/pay/{created.json()['order_no']}")
    assert await api.poll() == 1
    assert "was topped up with CN¥100.00" in await last_sms(api.db, number)
