"""``GET /api/docs``: Swagger UI for ``/api/v1/openapi.json``, with no CDN.

FastAPI's own page loads Swagger UI from a CDN; here the same page loads it from the
``fastapi-offline`` package (Swagger UI 5, which reads OpenAPI 3.1), mounted under
``/api/docs/assets``, so the docs work on a network that reaches nothing outside. The page
starts Swagger UI with an inline script, so it brings its own Content-Security-Policy: the
site's, plus that script by its hash and the ``data:`` images of Swagger UI's stylesheet.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from simkeep.edge.headers import CSP, content_security_policy, script_hash

DOCS_PATH = "/api/docs"
ASSETS_PATH = f"{DOCS_PATH}/assets"
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def swagger_assets() -> StaticFiles:
    """Swagger UI's JavaScript, CSS and icon, as shipped in ``fastapi_offline/static``."""
    return StaticFiles(packages=[("fastapi_offline", "static")])


router = APIRouter(include_in_schema=False)


@router.get(DOCS_PATH)
async def api_docs(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    assets = f"{root}{ASSETS_PATH}"
    page = get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} · API docs",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon.png",
    )
    inline = INLINE_SCRIPT.findall(bytes(page.body).decode())
    scripts = [script_hash(script) for script in inline]
    page.headers[CSP] = content_security_policy(scripts=scripts, images=["data:"])
    return page
