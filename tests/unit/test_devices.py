"""Which browsers get the phone's order of the ways to pay (``simkeep.web.devices``)."""

from __future__ import annotations

import pytest

from simkeep.web.devices import is_phone

PHONES = {
    "iPhone Safari": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Android Chrome": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36"
    " (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "WeChat on Android": "Mozilla/5.0 (Linux; Android 13; V2219A) AppleWebKit/537.36 (KHTML,"
    " like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 MicroMessenger/8.0.49",
    "Huawei on HarmonyOS": "Mozilla/5.0 (Phone; OpenHarmony 4.1) AppleWebKit/537.36 (KHTML,"
    " like Gecko) Chrome/114.0.0.0 Safari/537.36 ArkWeb/4.1.6.1 HuaweiBrowser/5.0.4.300",
    "Firefox for Android": "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
    "UC Browser": "Mozilla/5.0 (Linux; U; Android 12; zh-CN; 2201123C Build/SKQ1.211006.001)"
    " AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/100.0.4896.58"
    " UCBrowser/16.6.0.1261 Mobile Safari/537.36",
}
NOT_PHONES = {
    "Windows Chrome": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"
    " (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "macOS Safari": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "iPad (asks for desktop pages)": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)"
    " AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Android tablet": "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36"
    " (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Linux Firefox": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "a script": "python-httpx/0.28.1",
    "none sent": "",
}


@pytest.mark.parametrize("user_agent", PHONES.values(), ids=PHONES.keys())
def test_phone_browsers_are_phones(user_agent: str) -> None:
    assert is_phone(user_agent)


@pytest.mark.parametrize("user_agent", NOT_PHONES.values(), ids=NOT_PHONES.keys())
def test_desktops_tablets_and_scripts_are_not(user_agent: str) -> None:
    assert not is_phone(user_agent)


def test_no_user_agent_is_not_a_phone() -> None:
    assert not is_phone(None)
