"""The home page promises only what exists, in each language: the two ways to pay there are
(Alipay, WeChat Pay), redeeming a voucher and finding an outlet, and none of what is not built
yet — UnionPay, FPS, reminders, automatic top-ups."""

from __future__ import annotations

import re

import pytest

from simkeep.web import i18n
from tests.e2e.site_world import Site

# How each language names what exists, and what does not exist yet.
EXISTS = {
    "en": ("Alipay", "WeChat Pay", "QR code", "receipt", "Redeem a voucher", "Find an outlet"),
    "zh_Hant_HK": ("支付寶", "微信支付", "二維碼", "收據", "使用充值卡", "搜尋增值網點"),
    "zh_Hans_CN": ("支付宝", "微信支付", "二维码", "收据", "使用充值卡", "查找充值网点"),
}
NOT_YET = {
    "en": ("UnionPay", "FPS", "remind", "automatic"),
    "zh_Hant_HK": ("銀聯", "轉數快", "商戶", "提醒", "自動"),
    "zh_Hans_CN": ("银联", "转数快", "门店", "提醒", "自动"),
}


@pytest.mark.parametrize("locale", list(i18n.LANGUAGES))
async def test_the_home_page_promises_only_what_exists(site: Site, locale: str) -> None:
    page = await site.http.get("/", params={"lang": locale})
    assert page.status_code == 200
    main = re.search(r"<main[^>]*>(.*)</main>", page.text, re.DOTALL)
    assert main
    for words in EXISTS[locale]:
        assert words in main.group(1), words
    for words in NOT_YET[locale]:
        assert words.lower() not in main.group(1).lower(), words
