"""The HTTP edge, in process, on SQLite and PostgreSQL: request bodies are capped before any
handler holds them, and the refusal speaks the caller's language (the provider's failure
reply on a notify route, the API's error shape, a page in the visitor's language)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.topups import tables as topup_tables
from tests.e2e.api_world import Api

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
        query = select(func.count()).select_from(topup_tables.notifications)
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
