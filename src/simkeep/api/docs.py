"""``GET /api/docs``: Swagger UI for ``/api/v1/openapi.json``, with no CDN.

FastAPI's own page loads Swagger UI from a CDN; here the same page loads it from the
``fastapi-offline`` package (Swagger UI 5, which reads OpenAPI 3.1), mounted under
``/api/docs/assets``, so the docs work on a network that reaches nothing outside.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

DOCS_PATH = "/api/docs"
ASSETS_PATH = f"{DOCS_PATH}/assets"


def swagger_assets() -> StaticFiles:
    """Swagger UI's JavaScript, CSS and icon, as shipped in ``fastapi_offline/static``."""
    return StaticFiles(packages=[("fastapi_offline", "static")])


router = APIRouter(include_in_schema=False)


@router.get(DOCS_PATH)
async def api_docs(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    assets = f"{root}{ASSETS_PATH}"
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} · API docs",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon.png",
    )
