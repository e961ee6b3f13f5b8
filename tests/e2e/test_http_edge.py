"""The HTTP edge, in process, on SQLite and PostgreSQL: request bodies are capped before any
handler holds them, and the refusal speaks the caller's language (the provider's failure
reply on a notify route, the API's error shape, a page in the visitor's language); every
response carries the security headers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.app import create_app
from simkeep.edge.headers import script_hash
from simkeep.payments import tables as payment_tables
from simkeep.settings import load_settings
from tests.e2e.api_world import Api
from tests.e2e.test_app import serve

KIB = 1024
NOTIFY_CAP = 64 * KIB
CAP = 16 * KIB
HUGE = 50 * KIB * KIB


class Upload:
    """A request body streamed in 1 KiB chunks, counting how many the server took."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.sent = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        while self.sent < self.size:
            self.sent += KIB
            yield b"x" * KIB


async def stored_notifications(api: Api) -> int:
    async def count(conn: AsyncConnection) -> int:
        query = select(func.count()).select_from(payment_tables.inbox)
        return int((await conn.execute(query)).scalar_one())

    return await api.db.transaction(count)


async def post_declared(api: Api, path: str, upload: Upload, **headers: str) -> httpx.Response:
    """POST with a ``Content-Length`` that tells the size before the first byte."""
    return await api.http.post(
        path, content=upload.chunks(), headers={"Content-Length": str(upload.size), **headers}
    )


async def test_a_declared_notification_over_the_cap_is_refused_unread_as_its_provider_expects(
    api: Api,
) -> None:
    alipay, wechat = Upload(HUGE), Upload(NOTIFY_CAP + 1)

    refused_alipay = await post_declared(
        api,
        "/api/v1/payments/alipay/notify",
        alipay,
        **{"Content-Type": "application/x-www-form-urlencoded"},
    )
    refused_wechat = await post_declared(
        api,
        "/api/v1/payments/wechatpay/notify",
        wechat,
        **{"Content-Type": "application/json"},
    )

    assert (refused_alipay.status_code, refused_alipay.text) == (413, "fail")
    assert refused_wechat.status_code == 413
    assert refused_wechat.headers["content-type"] == "application/json"
    assert refused_wechat.json()["code"] == "FAIL"
    assert alipay.sent == wechat.sent == 0, "not one byte of either body was read"
    assert await stored_notifications(api) == 0


async def test_a_streamed_notification_is_cut_as_soon_as_it_passes_the_cap(api: Api) -> None:
    upload = Upload(HUGE)  # chunked: no length is declared

    refused = await api.http.post("/api/v1/payments/alipay/notify", content=upload.chunks())

    assert (refused.status_code, refused.text) == (413, "fail")
    assert upload.sent <= NOTIFY_CAP + KIB, "the server stopped reading at the cap"
    assert await stored_notifications(api) == 0


async def test_a_notification_at_the_cap_reaches_the_provider_check(api: Api) -> None:
    unsigned = await api.http.post(
        "/api/v1/payments/alipay/notify",
        content=b"a=" + b"x" * (NOTIFY_CAP - 2),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert (unsigned.status_code, unsigned.text) == (200, "fail")  # refused: not signed
    assert await stored_notifications(api) == 1


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "streamed"])
async def test_an_api_body_over_the_cap_gets_the_api_error_shape(api: Api, declared: bool) -> None:
    upload = Upload(CAP + KIB)
    path, headers = "/api/v1/auth/login", {"Content-Type": "application/json"}
    if declared:
        refused = await post_declared(api, path, upload, **headers)
    else:
        refused = await api.http.post(path, content=upload.chunks(), headers=headers)

    assert refused.status_code == 413
    error = refused.json()["error"]
    assert error["code"] == "too_large"
    assert f"{CAP} bytes" in error["message"]
    assert upload.sent <= (0 if declared else CAP + KIB)


async def test_a_json_body_under_the_cap_still_works(api: Api) -> None:
    body = {"phone": "+85261234567", "password": "p" * 256}
    answer = await api.http.post("/api/v1/auth/login", json=body)

    assert answer.status_code == 401  # read, parsed and checked: no such subscriber


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "streamed"])
async def test_a_form_over_the_cap_gets_an_error_page_in_the_visitors_language(
    api: Api, declared: bool
) -> None:
    upload = Upload(CAP + KIB)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept-Language": "zh-CN"}
    if declared:
        refused = await post_declared(api, "/login", upload, **headers)
    else:
        refused = await api.http.post("/login", content=upload.chunks(), headers=headers)

    assert refused.status_code == 413
    assert refused.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-Hans-CN">' in refused.text
    assert "发送的内容超出本网站可接受的上限" in refused.text


async def test_a_simulator_body_over_the_cap_is_refused_too(api: Api) -> None:
    upload = Upload(HUGE)

    refused = await post_declared(
        api,
        "/_sim/alipay/gateway.do",
        upload,
        **{"Content-Type": "application/x-www-form-urlencoded", "Accept-Language": "en"},
    )

    assert refused.status_code == 413
    assert "That was more than this site accepts" in refused.text
    assert upload.sent == 0


# --- security headers ---------------------------------------------------------------------

SITE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "font-src 'self'; connect-src 'self'; manifest-src 'self'; "
    "form-action 'self' http://127.0.0.1:9 https:; frame-ancestors 'none'; base-uri 'none'"
)


def assert_secured(response: httpx.Response, *, policy: str = SITE_POLICY) -> None:
    headers = response.headers
    assert headers["content-security-policy"] == policy, response.url
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"  # order numbers stay on this site
    assert headers["strict-transport-security"] == "max-age=31536000"  # outside development


async def test_pages_api_files_and_simulators_carry_the_security_headers(api: Api) -> None:
    auth = await api.signup("+85261234567")
    order = await api.order(
        auth,
        "key-headers-0001",
        number=api.hk_sim.hk_number.e164,
        confirm_number=api.hk_sim.hk_number.e164,
        amount={"minor": 5000, "currency": "HKD"},
        pay_currency="CNY",
        provider="alipay",
        channel="page",
    )
    cashier = httpx.URL(order.json()["payment"]["pay_url"])

    answers = {
        "page": await api.http.get("/"),
        "page error": await api.http.get("/no/such/page"),
        "api": await api.http.get("/api/v1/me", headers=auth),
        "api error": await api.http.get("/api/v1/me"),
        "static file": await api.http.get("/static/simkeep.css"),
        "simulator cashier": await api.http.get(cashier.raw_path.decode(), follow_redirects=True),
        "sms simulator": await api.http.get("/_sim/sms"),
        "body refused": await api.http.post("/login", content=b"x" * (CAP + 1)),
    }

    for name, answer in answers.items():
        assert answer.status_code < 500, (name, answer.status_code)
        assert_secured(answer)
    assert "Alipay cashier" in answers["simulator cashier"].text
    assert "<style" not in answers["sms simulator"].text


async def test_the_api_docs_allow_their_own_inline_script_by_its_hash(api: Api) -> None:
    docs = await api.http.get("/api/docs")

    (script,) = re.findall(r"<script>(.*?)</script>", docs.text, re.DOTALL)
    assert_secured(
        docs,
        policy=SITE_POLICY.replace("script-src 'self'", f"script-src 'self' {script_hash(script)}")
        .replace("img-src 'self'", "img-src 'self' data:")
        .replace(" http://127.0.0.1:9", ""),
    )


async def test_a_server_error_carries_the_security_headers_too(tmp_path: Path) -> None:
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'empty.db'}",
        environment="test",
        public_url="http://127.0.0.1:9",
    )
    app = create_app(settings)

    @app.get("/api/v1/_fails")
    async def fails() -> None:
        raise RuntimeError("broken")

    async with serve(app, raise_app_exceptions=False) as client:
        broken = await client.get("/api/v1/_fails")

    assert broken.status_code == 500
    assert_secured(broken)


async def test_no_strict_transport_security_on_a_developers_plain_http(tmp_path: Path) -> None:
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}")
    async with serve(create_app(settings)) as client:
        home = await client.get("/")

    assert "strict-transport-security" not in home.headers
    assert home.headers["x-frame-options"] == "DENY"
