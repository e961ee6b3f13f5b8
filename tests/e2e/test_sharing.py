"""A SIM held by several accounts — on SQLite and PostgreSQL, through the pages and the API:
each new link is texted to the SIM (in the language rule of every SMS), every holder sees
which accounts hold it and since when, and a holder can remove their own link, after which
the SIM is not found for them; no one removes another's."""

from __future__ import annotations

import re

from simkeep.phone import parse_number
from tests.e2e.api_world import Api
from tests.e2e.site_world import Site, csrf_of, link, register
from tests.e2e.test_sms_languages import last_sms
from tests.factories import last_code

FIRST, SECOND, STRANGER = "+85261234611", "+85261234612", "+85261234613"


def holders_on(page: str) -> list[str]:
    """The masked phones of the holders listed on a SIM page, in order."""
    section = page[page.index('id="holders-title"') :]
    return re.findall(r'<li><span class="tel">([^<]+)</span>', section)


async def test_two_accounts_share_a_sim_and_one_lets_go(site: Site) -> None:
    number = site.cn_sim.cn_number.e164
    sim_page = f"/my/sims/{site.cn_sim.id}"
    await site.http.get("/?lang=zh_Hans_CN")
    await register(site, site.http, FIRST)
    assert (await link(site, site.http, number)).status_code == 303
    told = await last_sms(site.db, number)
    assert f"已绑定至账户 {parse_number(FIRST).masked()}" in told, told  # the linker's language

    async with site.browser() as family:
        await family.get("/?lang=en")
        await register(site, family, SECOND)
        assert (await link(site, family, number)).status_code == 303
        told = await last_sms(site.db, number)
        assert f"linked to the account {parse_number(SECOND).masked()}" in told, told

        mine = await site.http.get(f"{sim_page}?lang=en")
        assert holders_on(mine.text) == ["+852 6***4611", "+852 6***4612"]
        assert re.search(r"\+852 6\*\*\*4611</span> <span class=\"tag\">You</span>", mine.text)
        assert "since Nov 25, 2026" in mine.text
        theirs = await family.get(sim_page)
        assert holders_on(theirs.text) == ["+852 6***4611", "+852 6***4612"]
        assert re.search(r"\+852 6\*\*\*4612</span> <span class=\"tag\">You</span>", theirs.text)

        forged = await family.post(f"{sim_page}/unlink", data={"csrf": "0" * 64})
        assert forged.status_code == 403
        assert (await family.get(sim_page)).status_code == 200
        gone = await family.post(f"{sim_page}/unlink", data={"csrf": csrf_of(theirs)})
        assert gone.status_code == 303
        assert gone.headers["location"] == "/my"
        assert (await family.get(sim_page)).status_code == 404
        assert sim_page not in (await family.get("/my")).text
        again = await family.post(f"{sim_page}/unlink", data={"csrf": csrf_of(theirs)})
        assert again.status_code == 404

    still = await site.http.get(sim_page)
    assert still.status_code == 200
    assert holders_on(still.text) == ["+852 6***4611"]


async def test_no_one_removes_anothers_link(site: Site) -> None:
    await register(site, site.http, FIRST)
    await link(site, site.http, site.hk_sim.hk_number.e164)
    sim_page = f"/my/sims/{site.hk_sim.id}"
    async with site.browser() as stranger:
        await register(site, stranger, STRANGER)
        home = await stranger.get("/my")
        refused = await stranger.post(f"{sim_page}/unlink", data={"csrf": csrf_of(home)})
        assert refused.status_code == 404
    assert holders_on((await site.http.get(sim_page)).text) == ["+852 6***4611"]


async def test_the_api_shows_the_holders_and_lets_one_go(api: Api) -> None:
    number = api.cn_sim.hk_number.e164
    sim = f"/api/v1/sims/{api.cn_sim.id}"
    accounts = []
    for phone, language in ((FIRST, "zh-HK"), (SECOND, "en")):
        auth = await api.signup(phone)
        headers = {**auth, "Accept-Language": language}
        await api.http.post("/api/v1/sims/link-codes", json={"number": number}, headers=headers)
        code = await last_code(api.db, number)
        linked = await api.http.post(
            "/api/v1/sims/links", json={"number": number, "code": code}, headers=headers
        )
        assert linked.status_code == 201, linked.text
        accounts.append(auth)
    first, second = accounts
    told = await last_sms(api.db, number)
    assert f"linked to the account {parse_number(SECOND).masked()}" in told, told

    holders = (await api.http.get(f"{sim}/holders", headers=first)).json()
    assert [(h["phone_masked"], h["me"]) for h in holders] == [
        ("+852 6***4611", True),
        ("+852 6***4612", False),
    ]
    stranger = await api.signup(STRANGER)
    assert (await api.http.get(f"{sim}/holders", headers=stranger)).status_code == 404
    assert (await api.http.delete(f"{sim}/link", headers=stranger)).status_code == 404

    assert (await api.http.delete(f"{sim}/link", headers=second)).status_code == 204
    assert (await api.http.get(sim, headers=second)).status_code == 404
    assert (await api.http.get("/api/v1/sims", headers=second)).json() == []
    assert (await api.http.delete(f"{sim}/link", headers=second)).status_code == 404
    remaining = (await api.http.get(f"{sim}/holders", headers=first)).json()
    assert [h["phone_masked"] for h in remaining] == ["+852 6***4611"]


async def test_the_openapi_document_has_the_sharing_endpoints(api: Api) -> None:
    paths = (await api.http.get("/api/v1/openapi.json")).json()["paths"]
    assert "delete" in paths["/api/v1/sims/{sim_id}/link"]
    assert "get" in paths["/api/v1/sims/{sim_id}/holders"]
    assert "put" in paths["/api/v1/me/language"]
