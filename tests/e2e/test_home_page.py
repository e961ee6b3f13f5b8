"""The home page promises only what exists, in each language: the ways to pay offered here,
per currency (FPS, AlipayHK, WeChat Pay HK and a UnionPay card in Hong Kong dollars; Alipay,
WeChat Pay and the card in renminbi), redeeming a voucher and finding an outlet — and not a
way to pay the operator switched off, nor what the home page does not offer (reminders,
automatic top-ups)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.web import i18n
from tests.e2e.site_world import Site
from tests.e2e.world import running_world

# How each language names what exists, and what does not exist yet.
EXISTS = {
    "en": ("Alipay", "WeChat Pay", "QR code", "receipt", "Redeem a voucher", "Find an outlet"),
    "zh_Hant_HK": ("支付寶", "微信支付", "二維碼", "收據", "使用充值卡", "搜尋增值網點"),
    "zh_Hans_CN": ("支付宝", "微信支付", "二维码", "收据", "使用充值卡", "查找充值网点"),
}
PAID_IN = {  # each currency's line, and the ways it names, in the order offered
    "en": (
        "In Hong Kong dollars: FPS · AlipayHK · WeChat Pay HK · Bank card (UnionPay).",
        "In renminbi: Alipay · WeChat Pay · Bank card (UnionPay).",
    ),
    "zh_Hant_HK": ("以港幣付款：轉數快 · AlipayHK 支付寶香港", "以人民幣付款：支付寶 · 微信支付"),
    "zh_Hans_CN": ("以港币支付：转数快 · AlipayHK 支付宝香港", "以人民币支付：支付宝 · 微信支付"),
}
NOT_YET = {
    "en": ("remind", "automatic"),
    "zh_Hant_HK": ("商戶", "提醒", "自動"),
    "zh_Hans_CN": ("门店", "提醒", "自动"),
}


@pytest.mark.parametrize("locale", list(i18n.LANGUAGES))
async def test_the_home_page_promises_only_what_exists(site: Site, locale: str) -> None:
    page = await site.http.get("/", params={"lang": locale})
    assert page.status_code == 200
    main = re.search(r"<main[^>]*>(.*)</main>", page.text, re.DOTALL)
    assert main
    for words in (*EXISTS[locale], *PAID_IN[locale]):
        assert words in main.group(1), words
    for words in NOT_YET[locale]:
        assert words.lower() not in main.group(1).lower(), words


@pytest.fixture
async def without_fps(
    database_url: str, db: Database, clock: FixedClock, tmp_path: Path
) -> AsyncIterator[Site]:
    async with running_world(
        Site,
        database_url=database_url,
        db=db,
        clock=clock,
        tmp_path=tmp_path,
        payment_methods_off="fps",
    ) as world:
        yield world


async def test_a_way_to_pay_switched_off_is_not_promised(without_fps: Site) -> None:
    page = await without_fps.http.get("/", params={"lang": "en"})
    assert "In Hong Kong dollars: AlipayHK · WeChat Pay HK · Bank card (UnionPay)." in page.text
    assert "FPS" not in page.text
