"""Auto keep-alive on the SIM's pages, through the real app and the WeChat Pay simulator:
set up (the form, the provider's signing page, back to the page, which asks the provider),
shown on the SIM page in three languages, a refused form marked, another subscriber's SIM
not found, and cancelling from the page (ended at the provider)."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.keepalive import charging
from simkeep.keepalive import service as keepalive
from simkeep.keepalive.model import charge_at
from simkeep.keepalive.service import KeepAliveUrls
from simkeep.retention.model import lapses_on, line_of
from simkeep.sims import service as sims
from tests.e2e.site_world import Site, csrf_of, link, post_form, register

OWNER, OTHER = "+85261234567", "+85261234568"
PUBLIC = "http://127.0.0.1:9"
SHOWN = {
    "en": ("Auto keep-alive", "On, with WeChat Pay:", "enough to stay active"),
    "zh_Hant_HK": ("自動保號", "已開啟，經微信支付：", "足夠保持號碼有效的金額"),
    "zh_Hans_CN": ("自动保号", "已开启，通过微信支付：", "足够保持号码有效的金额"),
}


def _local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def _signed_up(site: Site) -> str:
    await register(site, site.http, OWNER)
    linked = await link(site, site.http, site.cn_sim.hk_number.e164)
    assert linked.status_code == 303, linked.text
    return f"/my/sims/{site.cn_sim.id}/keep-alive"


async def test_set_up_shown_in_three_languages_then_cancelled(site: Site) -> None:
    page = await _signed_up(site)
    before = await site.http.get(f"{page}?lang=en")
    assert "Not set up." in before.text

    saved = await post_form(site.http, page, {"provider": "wechatpay", "choice": "enough"})
    assert saved.status_code == 303, saved.text
    signing = await site.http.get(_local(saved.headers["location"]))  # the provider's page
    assert signing.status_code == 200
    signed = await site.http.post(str(signing.url.path), data={"password": "123456"})
    assert signed.status_code == 303
    back = await site.http.get(_local(signed.headers["location"]))  # …/keep-alive/return
    assert back.status_code == 303
    assert back.headers["location"] == page

    for lang, words in SHOWN.items():
        sim_page = await site.http.get(f"/my/sims/{site.cn_sim.id}?lang={lang}")
        assert sim_page.status_code == 200
        for word in words:
            assert word in sim_page.text, (lang, word)

    cancelled = await post_form(site.http, page, {}, action=f"{page}/cancel")
    assert cancelled.status_code == 303, cancelled.text
    after = await site.http.get(f"{page}?lang=en")
    assert "Not set up." in after.text
    # terminated at WeChat Pay already: the payer's own termination finds it so
    contracts = await site.http.post(_terminated_hook(saved.headers["location"]))
    assert contracts.json()["contract_state"] == "TERMINATED"


def _terminated_hook(sign_url: str) -> str:
    code = urlsplit(sign_url).path.rsplit("/", 1)[-1]
    return f"/_sim/wechatpay/papay/contracts/{code}/terminate"


@pytest.mark.parametrize("choice", ["12345", "0", "enoughx", "9" * 40])
async def test_a_refused_choice_is_marked(site: Site, choice: str) -> None:
    page = await _signed_up(site)
    refused = await post_form(site.http, page, {"provider": "alipay", "choice": choice})
    assert refused.status_code == 400, refused.text
    assert "field--error" in refused.text
    shown = await site.http.get(f"{page}?lang=en")
    assert "Not set up." in shown.text


async def test_another_subscribers_sim_is_not_found(site: Site) -> None:
    page = await _signed_up(site)
    async with site.browser() as other:
        await register(site, other, OTHER)
        assert (await other.get(page)).status_code == 404
        mine = await other.get("/my")
        refused = await other.post(
            page, data={"csrf": csrf_of(mine), "provider": "alipay", "choice": "enough"}
        )
        assert refused.status_code == 404


async def test_a_declined_top_up_is_shown_on_the_sim_page(site: Site) -> None:
    page = await _signed_up(site)
    saved = await post_form(site.http, page, {"provider": "alipay", "choice": "5000"})
    signing = await site.http.get(_local(saved.headers["location"]))  # Alipay's gateway …
    signing = await site.http.get(_local(signing.headers["location"]))  # … its signing page
    ref = str(signing.url.path).split("/")[-2]
    signed = await site.http.post(str(signing.url.path), data={"password": "123456"})
    await site.http.get(_local(signed.headers["location"]))  # back: Alipay is asked
    await site.http.post(f"/_sim/alipay/agreements/{ref}/funds", params={"enough": "false"})

    # the CNY SIM on its monthly fee, with nothing on it, lapses on its first billing day
    async def lapse_day(conn: AsyncConnection) -> date:
        [holder] = await sims.holders(conn, sim_id=site.cn_sim.id)
        account = await sims.held_sim(
            conn, subscriber_id=holder.subscriber_id, sim_id=site.cn_sim.id
        )
        assert account is not None
        lapse = lapses_on(line_of(account))
        assert lapse is not None
        return lapse

    lapse = await site.db.transaction(lapse_day)
    site.clock.set(charge_at(lapse))
    adapters = keepalive.agreement_adapters(site.app.state.payment_adapters)
    await charging.run_due(
        site.db, adapters=adapters, urls=KeepAliveUrls(PUBLIC), now=site.clock.now()
    )
    shown = await site.http.get(f"/my/sims/{site.cn_sim.id}?lang=en")
    assert "The top-up of CN¥50.00 was declined; it is tried again on" in shown.text
