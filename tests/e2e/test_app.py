"""The web application skeleton, through HTTP: health, metrics, API docs, errors, languages.

Each test builds the real app with ``create_app`` and runs its lifespan around an
``httpx.AsyncClient`` on ``ASGITransport`` (which does not run the lifespan by itself).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.app import create_app
from simkeep.db import Database
from simkeep.i18n import LOCALE_DIR
from simkeep.migrations import head_revision
from simkeep.settings import Settings, load_settings
from simkeep.web import i18n
from simkeep.web.pages import TEMPLATES_DIR

# One sentence of the home page per language, in its own script.
HOME_TEXT = {
    "zh_Hant_HK": "為中港電話卡增值，保住你的號碼",
    "zh_Hans_CN": "为中港手机卡充值，保住您的号码",
    "en": "Top up your China–Hong Kong SIM and keep your numbers alive",
}
HTML_LANG = {"zh_Hant_HK": "zh-Hant-HK", "zh_Hans_CN": "zh-Hans-CN", "en": "en"}


@asynccontextmanager
async def serve(app: FastAPI, **client_options: bool) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, **client_options)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="https://simkeep.test") as client,
    ):
        yield client


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on an empty SQLite file: enough for pages, which never touch the database."""
    return load_settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}")


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(settings)) as client:
        yield client


def language_of(response: httpx.Response) -> str:
    """The locale a page was rendered in, checked three ways that must agree."""
    match = re.search(r'<html lang="([^"]+)">', response.text)
    assert match, response.text[:200]
    (locale,) = [code for code, tag in HTML_LANG.items() if tag == match.group(1)]
    assert response.headers["content-language"] == match.group(1)
    assert HOME_TEXT[locale] in response.text
    return locale


# --- health -------------------------------------------------------------------------------


async def test_healthz_ok_on_a_migrated_database(database_url: str, db: Database) -> None:
    app = create_app(load_settings(database_url=database_url), db=db)
    async with serve(app) as client:
        response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "schema": head_revision()}

    async def still_open(conn: AsyncConnection) -> int:
        result = await conn.execute(text("SELECT 1"))
        return int(result.scalar_one())

    assert await db.transaction(still_open) == 1, "a database handed in is the caller's to close"


async def test_healthz_ok_when_the_app_opens_the_database_itself(database_url: str) -> None:
    async with serve(create_app(load_settings(database_url=database_url))) as client:
        response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["schema"] == head_revision()


async def test_healthz_503_on_an_unmigrated_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "ok"
    assert "schema" not in body
    assert f"schema at revision none, code expects {head_revision()}" in body["reason"]


async def test_healthz_503_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    (tmp_path / "a-directory.db").mkdir()  # SQLite cannot open a directory as a database
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'a-directory.db'}")
    async with serve(create_app(settings)) as client:
        response = await client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "error"
    assert body["reason"].startswith("database unreachable")


# --- metrics ------------------------------------------------------------------------------


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    await client.get("/static/simkeep.css")
    await client.get("/no/such/page/12345")

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    metrics = response.text
    assert 'simkeep_http_requests_total{method="GET",route="/healthz",status="503"} 1.0' in metrics
    assert (
        'simkeep_http_requests_total{method="GET",route="/static/{path}",status="200"} 1.0'
        in metrics
    )
    assert 'simkeep_http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in metrics
    assert "12345" not in metrics, "raw paths must not become label values"
    latency = 'simkeep_http_request_duration_seconds_count{method="GET",route="/healthz"'
    assert f'{latency},status="503"}} 1.0' in metrics


# --- API documents and errors -------------------------------------------------------------


async def test_openapi_lists_healthz_and_not_the_pages(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/healthz" in paths
    assert "/" not in paths
    assert "/metrics" not in paths


async def test_api_docs_page_serves_swagger_ui_from_this_server(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/api/v1/openapi.json" in response.text
    assets = re.findall(r"""(?:src|href)=["']([^"']+\.(?:js|css))["']""", response.text)
    assert len(assets) == 2, assets
    for asset in assets:
        assert asset.startswith("/api/docs/assets/"), "no CDN: the assets come from this server"
        assert (await client.get(asset)).status_code == 200


async def test_api_errors_are_json_with_a_code_and_a_message(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/api/v1/_probe")
    async def probe(amount: int) -> dict[str, int]:
        return {"amount": amount}

    @app.get("/api/v1/_fails")
    async def fails() -> None:
        raise RuntimeError("secret internals")

    async with serve(app, raise_app_exceptions=False) as client:
        missing = await client.get("/api/v1/no-such-thing")
        invalid = await client.get("/api/v1/_probe", params={"amount": "ten"})
        wrong_method = await client.post("/api/v1/_probe")
        broken = await client.get("/api/v1/_fails")

    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "not_found", "message": "Not Found"}}
    assert invalid.status_code == 422
    assert invalid.json()["error"]["code"] == "invalid_request"
    assert "query.amount" in invalid.json()["error"]["message"]
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    assert broken.status_code == 500
    assert broken.json()["error"]["code"] == "internal_error"
    assert "secret internals" not in broken.text


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("OPTIONS", "/api/v1/topups", "GET, POST"),  # one route per method on one path
        ("GET", "/api/v1/sims/link-codes", "POST"),  # not a SIM id: no GET route matches
        ("PUT", "/topups", "GET"),
    ],
)
async def test_a_method_not_allowed_names_every_method_the_path_takes(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await client.request(method, path)

    assert response.status_code == 405
    assert response.headers["allow"] == allowed


async def test_page_errors_are_pages_in_the_visitors_language(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/page?x=1", headers={"Accept-Language": "zh-CN"})

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-Hans-CN">' in response.text
    assert "找不到该页面" in response.text
    # the language switch keeps the current path and query
    assert 'href="/no/such/page?x=1&amp;lang=en"' in response.text


# --- pages and languages ------------------------------------------------------------------


@pytest.mark.parametrize("locale", list(i18n.LANGUAGES))
async def test_home_page_renders_in_each_language(client: httpx.AsyncClient, locale: str) -> None:
    response = await client.get("/", params={"lang": locale})

    assert response.status_code == 200
    assert language_of(response) == locale
    for other, sentence in HOME_TEXT.items():
        if other != locale:
            assert sentence not in response.text
    # the switch links to every language, marking the current one
    for code in i18n.LANGUAGES:
        assert f'href="/?lang={code}"' in response.text
    assert re.search(r'aria-current="true">[^<]+</a>', response.text)


async def test_lang_query_sets_a_cookie_that_later_requests_honour(
    client: httpx.AsyncClient,
) -> None:
    first = await client.get("/?lang=en", headers={"Accept-Language": "zh-CN"})

    cookie = first.headers["set-cookie"]
    assert cookie.startswith("lang=en;")
    assert "SameSite=lax" in cookie
    assert "Path=/" in cookie
    assert language_of(first) == "en"

    # no ?lang= now: the cookie beats Accept-Language
    later = await client.get("/", headers={"Accept-Language": "zh-CN"})
    assert language_of(later) == "en"
    assert "set-cookie" not in later.headers

    # a new ?lang= beats the cookie, and replaces it
    switched = await client.get("/?lang=zh_Hans_CN")
    assert language_of(switched) == "zh_Hans_CN"
    assert language_of(await client.get("/")) == "zh_Hans_CN"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-HK,zh;q=0.9,en;q=0.8", "zh_Hant_HK"),
        ("zh-TW", "zh_Hant_HK"),
        ("zh-Hant", "zh_Hant_HK"),
        ("zh-CN,zh;q=0.9", "zh_Hans_CN"),
        ("zh", "zh_Hans_CN"),
        ("zh-Hans-HK", "zh_Hans_CN"),
        ("en-GB,en;q=0.9", "en"),
        ("fr-FR,fr;q=0.9,en;q=0.5", "en"),
        ("en;q=0.5,zh-CN;q=0.8", "zh_Hans_CN"),
        ("en;q=0,zh-TW;q=0.1", "zh_Hant_HK"),
        ("fr, de", "zh_Hant_HK"),
    ],
)
async def test_accept_language_picks_the_language(
    client: httpx.AsyncClient, header: str, expected: str
) -> None:
    response = await client.get("/", headers={"Accept-Language": header})

    assert language_of(response) == expected
    assert "Accept-Language" in response.headers["vary"]


async def test_unknown_language_falls_back_to_the_default(client: httpx.AsyncClient) -> None:
    unknown_query = await client.get("/?lang=klingon")
    assert language_of(unknown_query) == "zh_Hant_HK"
    assert "set-cookie" not in unknown_query.headers

    client.cookies.set("lang", "xx")
    assert language_of(await client.get("/")) == "zh_Hant_HK"


async def test_default_locale_comes_from_settings(tmp_path: Path) -> None:
    settings = load_settings(database_url=f"sqlite:///{tmp_path}/x.db", default_locale="en")
    async with serve(create_app(settings)) as client:
        assert language_of(await client.get("/")) == "en"

    with pytest.raises(ValueError, match="SIMKEEP_DEFAULT_LOCALE"):
        create_app(load_settings(database_url="sqlite:///x.db", default_locale="fr"))


def test_every_template_string_is_translated_in_every_catalog() -> None:
    """Pages' strings live in messages.po (none stale there); receipt labels, also printed
    on the PDF, in receipts.po under the ``receipt`` context."""
    method_map = [("**.html", "jinja2.ext:babel_extract")]
    options = {"**.html": {"extensions": "jinja2.ext.i18n"}}
    ui_strings = {
        (context, message)
        for _file, _line, message, _comments, context in extract_from_dir(
            TEMPLATES_DIR, method_map, options
        )
    }
    assert len(ui_strings) > 20

    for code in i18n.LANGUAGES:
        translated: dict[str, set[tuple[str | None, str]]] = {}
        for po_path in (LOCALE_DIR / code / "LC_MESSAGES").glob("*.po"):
            with po_path.open("rb") as po_file:
                catalog = read_po(po_file, locale=code)
            translated[po_path.stem] = {
                (m.context, m.id) for m in catalog if m.id and m.string and not m.fuzzy
            }
        everything = set().union(*translated.values())
        assert ui_strings <= everything, f"{code} lacks {sorted(ui_strings - everything)}"
        stale = translated["messages"] - ui_strings
        assert not stale, f"{code} has stale {stale}"
