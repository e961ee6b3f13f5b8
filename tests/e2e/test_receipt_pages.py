"""Receipt pages: the owner's receipt with its QR code and PDF (in the visitor's language),
nobody else's, and the public check of the receipt's signed link."""

from __future__ import annotations

import html
import re

import httpx

from tests.e2e.site_world import Site, link, order_by_wizard, register


async def credited_order(site: Site) -> str:
    await register(site, site.http, "+85261234580")
    number = site.cn_sim.cn_number.e164
    await link(site, site.http, number)
    order_no = await order_by_wizard(site, site.http, number, "wechatpay-qr")
    assert (await site.http.post(f"/_sim/wechatpay/pay/{order_no}")).status_code == 200
    assert await site.poll() == 1
    return order_no


def verify_path(page: httpx.Response) -> str:
    match = re.search(r"(/r/[A-Za-z0-9-]+/[a-z2-7]{26})", html.unescape(page.text))
    assert match, page.text
    return match.group(1)


async def test_the_owner_reads_the_receipt_and_anyone_can_check_it(site: Site) -> None:
    order_no = await credited_order(site)

    page = await site.http.get(f"/topups/{order_no}/receipt", headers={"Accept-Language": "zh-HK"})
    assert page.status_code == 200
    assert "增值收據" in page.text
    assert "CN¥100.00" in page.text or "¥100.00" in page.text
    assert "陳*明" in page.text
    assert 'class="qr"' in page.text
    pdf = await site.http.get(f"/topups/{order_no}/receipt.pdf?lang=en")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")

    async with site.browser() as stranger:
        assert (await stranger.get(f"/topups/{order_no}/receipt")).status_code == 303
        path = verify_path(await site.http.get(f"/topups/{order_no}/receipt?lang=en"))
        genuine = await stranger.get(path, headers={"Accept-Language": "en"})
        assert genuine.status_code == 200
        assert "This is a genuine simkeep receipt" in genuine.text
        assert site.cn_sim.cn_number.masked() in genuine.text
        assert site.cn_sim.cn_number.e164 not in genuine.text  # masked for strangers
        forged = path[:-1] + ("a" if path[-1] != "a" else "b")
        refused = await stranger.get(forged, headers={"Accept-Language": "en"})
        assert refused.status_code == 404
        assert "This is not a genuine simkeep receipt" in refused.text


async def test_no_receipt_for_someone_elses_or_an_unpaid_order(site: Site) -> None:
    order_no = await credited_order(site)
    async with site.browser() as other:
        await register(site, other, "+85261234581")
        assert (await other.get(f"/topups/{order_no}/receipt")).status_code == 404
        assert (await other.get(f"/topups/{order_no}/receipt.pdf")).status_code == 404
    number = site.cn_sim.cn_number.e164
    unpaid = await order_by_wizard(site, site.http, number, "wechatpay-qr")
    assert (await site.http.get(f"/topups/{unpaid}/receipt")).status_code == 404
