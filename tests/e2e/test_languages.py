"""Every name a person reads, in their language — on SQLite and PostgreSQL: a plan's name (data
in three languages) on every page and receipt that shows it and in the API, the payment
provider's name (from the catalogs) on pages and receipts, and the exchange rate written
the same way on the page and on the PDF."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from urllib.parse import quote

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.sims.service import DEFAULT_PLANS
from simkeep.topups import service as topups
from tests.e2e.api_world import Api, cn100
from tests.e2e.site_world import Site, link, order_by_wizard, register, review_query
from tests.factories import last_code

LOCALES = ("zh_Hant_HK", "zh_Hans_CN", "en")
CN_KEEP = next(plan for plan in DEFAULT_PLANS if plan.code == "CN-KEEP")
ALIPAY = {"zh_Hant_HK": "支付寶", "zh_Hans_CN": "支付宝", "en": "Alipay"}
WECHAT = {"zh_Hant_HK": "微信支付", "zh_Hans_CN": "微信支付", "en": "WeChat Pay"}


def pdf_text(pdf: bytes) -> str:
    """The PDF's text without whitespace (extraction wraps lines its own way)."""
    reader = PdfReader(io.BytesIO(pdf))
    return re.sub(r"\s+", "", "".join(page.extract_text() for page in reader.pages))


def shows_only(text: str, names: dict[str, str], locale: str) -> None:
    """``text`` shows the name of ``locale`` and no other language's (where they differ)."""
    assert names[locale] in text, f"{names[locale]!r} missing in {locale}"
    for other, name in names.items():
        if name != names[locale]:
            assert name not in text, f"{name!r} ({other}) shown in {locale}"


async def credited_cn_order(site: Site, method: str = "wechatpay-qr") -> str:
    """A ¥100 top-up of the CN-KEEP SIM, linked and paid, credited by the poll."""
    await register(site, site.http, "+85261234590")
    number = site.cn_sim.cn_number.e164
    await link(site, site.http, number)
    order_no = await order_by_wizard(site, site.http, number, method)
    provider = method.split("-")[0]
    assert (await site.http.post(f"/_sim/{provider}/pay/{order_no}")).status_code == 200
    assert await site.poll() == 1
    return order_no


async def review_page(site: Site, number: str, locale: str) -> httpx.Response:
    query = {**review_query(number, amount="5000"), "lang": locale}
    review = await site.http.get("/topup", params=query)
    assert review.status_code == 200, review.text
    return review


async def test_a_plan_is_named_in_the_readers_language_everywhere(site: Site) -> None:
    order_no = await credited_cn_order(site)
    names = {locale: CN_KEEP.name(locale) for locale in LOCALES}
    number = site.cn_sim.cn_number.e164
    for locale in LOCALES:
        for path in (
            "/my",
            f"/my/sims/{site.cn_sim.id}",
            f"/topup?number={quote(number)}",  # the wrong-number guard
            f"/topups/{order_no}",
            f"/topups/{order_no}/receipt",
        ):
            page = await site.http.get(f"{path}{'&' if '?' in path else '?'}lang={locale}")
            assert page.status_code == 200, path
            shows_only(page.text, names, locale)
        shows_only((await review_page(site, number, locale)).text, names, locale)
        pdf = await site.http.get(f"/topups/{order_no}/receipt.pdf?lang={locale}")
        shows_only(
            pdf_text(pdf.content), {k: re.sub(r"\s", "", v) for k, v in names.items()}, locale
        )


async def test_the_provider_is_named_in_the_readers_language(site: Site) -> None:
    order_no = await credited_cn_order(site, "alipay-qr")
    for locale in LOCALES:
        for path in (f"/topups/{order_no}", f"/topups/{order_no}/receipt", "/topups"):
            page = await site.http.get(f"{path}?lang={locale}")
            shows_only(page.text, ALIPAY, locale)
        pdf = await site.http.get(f"/topups/{order_no}/receipt.pdf?lang={locale}")
        shows_only(pdf_text(pdf.content), ALIPAY, locale)
        assert "支付寶Alipay" not in pdf_text(pdf.content)
        review = await review_page(site, site.cn_sim.cn_number.e164, locale)
        shows_only(review.text, ALIPAY, locale)
        shows_only(review.text, WECHAT, locale)


async def test_the_rate_reads_the_same_on_the_page_and_on_the_pdf(site: Site) -> None:
    async def four_decimals(conn: AsyncConnection) -> None:
        rate = Decimal("0.9200")  # as an operator who quotes four decimals sets it
        await topups.set_fx_rate(
            conn,
            base="HKD",
            quote_currency="CNY",
            rate=rate,
            source="operator",
            now=site.clock.now(),
        )

    await site.db.transaction(four_decimals)
    await register(site, site.http, "+85261234591")
    number = site.hk_sim.hk_number.e164
    await link(site, site.http, number)
    order_no = await order_by_wizard(site, site.http, number, "wechatpay-qr")
    await site.http.post(f"/_sim/wechatpay/pay/{order_no}")
    assert await site.poll() == 1

    page = await site.http.get(f"/topups/{order_no}/receipt?lang=en")
    assert "1 HKD = 0.9200 CNY" in page.text
    status = await site.http.get(f"/topups/{order_no}?lang=en")
    assert "1 HKD = 0.9200 CNY" in status.text
    pdf = await site.http.get(f"/topups/{order_no}/receipt.pdf?lang=en")
    assert "1HKD=0.9200CNY" in pdf_text(pdf.content)


@pytest.mark.parametrize(
    ("header", "locale"), [("zh-HK", "zh_Hant_HK"), ("zh-CN", "zh_Hans_CN"), ("en", "en")]
)
async def test_the_api_names_a_plan_in_the_requests_language(
    api: Api, header: str, locale: str
) -> None:
    auth = await api.signup("+85261234592")
    language = {**auth, "Accept-Language": header}
    number = api.cn_sim.cn_number.e164
    preview = await api.http.get(f"/api/v1/numbers/{number}", headers=language)
    assert preview.json()["plan"] == {"code": "CN-KEEP", "name": CN_KEEP.name(locale)}

    created = await api.order(auth, "key-names-0001", **cn100(number))
    await api.http.post(f"/_sim/wechatpay/pay/{created.json()['order_no']}")
    assert await api.poll() == 1
    receipt = await api.http.get(
        f"/api/v1/topups/{created.json()['order_no']}/receipt", headers=language
    )
    assert receipt.json()["plan"] == {"code": "CN-KEEP", "name": CN_KEEP.name(locale)}
    assert receipt.json()["provider"] == {"code": "wechatpay", "name": WECHAT[locale]}
    pdf = await api.http.get(
        f"/api/v1/topups/{created.json()['order_no']}/receipt.pdf", headers=language
    )
    assert re.sub(r"\s", "", CN_KEEP.name(locale)) in pdf_text(pdf.content)

    await api.http.post("/api/v1/sims/link-codes", json={"number": number}, headers=auth)
    code = await last_code(api.db, number)
    linked = await api.http.post(
        "/api/v1/sims/links", json={"number": number, "code": code}, headers=language
    )
    assert linked.json()["plan"]["name"] == CN_KEEP.name(locale)
    mine = await api.http.get("/api/v1/sims", headers=language)
    assert [sim["plan"]["name"] for sim in mine.json()] == [CN_KEEP.name(locale)]
