"""Public pages, server-rendered in the visitor's language.

Design overview
---------------
``Pages`` is built once by the composition root: one Jinja2 environment per locale, each
with that locale's gettext catalog installed, so rendering never swaps translations on a
shared environment. ``Pages.render`` picks the language (``i18n.choose_language``), fills
the layout's language switch (three links to the current path), remembers a ``?lang=``
choice in the ``lang`` cookie and marks the response as varying by language. Routes stay
one line: pick the template, hand over the context.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from gettext import GNUTranslations
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from simkeep.web import i18n

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
COOKIE_MAX_AGE = 365 * 24 * 3600


@dataclass(frozen=True)
class SwitchLink:
    language: i18n.Language
    href: str
    current: bool


class Pages:
    """Templates per locale, and the language choice for each request."""

    def __init__(self, *, default_locale: str, secure_cookies: bool) -> None:
        if default_locale not in i18n.LANGUAGES:
            known = ", ".join(i18n.LANGUAGES)
            raise ValueError(
                f"SIMKEEP_DEFAULT_LOCALE must be one of {known}, not {default_locale!r}"
            )
        self.default_locale = default_locale
        self.secure_cookies = secure_cookies
        self._templates = {
            code: Jinja2Templates(env=_environment(catalog))
            for code, catalog in i18n.load_catalogs().items()
        }

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        status_code: int = 200,
    ) -> HTMLResponse:
        """Render ``template`` in the request's language, inside the common layout."""
        choice = i18n.choose_language(
            query=request.query_params.get("lang"),
            cookie=request.cookies.get(i18n.COOKIE),
            accept_language=request.headers.get("accept-language"),
            default=self.default_locale,
        )
        language = choice.language
        response = self._templates[language.code].TemplateResponse(
            request,
            template,
            {"language": language, "switch": _switch_links(request, language), **(context or {})},
            status_code=status_code,
        )
        response.headers["Content-Language"] = language.tag
        response.headers["Vary"] = "Accept-Language, Cookie"
        if choice.from_query:
            response.set_cookie(
                i18n.COOKIE,
                language.code,
                max_age=COOKIE_MAX_AGE,
                path="/",
                samesite="lax",
                secure=self.secure_cookies,
            )
        return response

    def error(self, request: Request, exc: StarletteHTTPException) -> HTMLResponse:
        """An HTTP error as a page in the visitor's language."""
        response = self.render(
            request, "error.html", {"status": exc.status_code}, status_code=exc.status_code
        )
        if exc.headers:
            response.headers.update(exc.headers)
        return response


def _environment(catalog: GNUTranslations) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]
    return env


def _switch_links(request: Request, current: i18n.Language) -> list[SwitchLink]:
    """Links to the same path and query in each language."""
    kept = [(key, value) for key, value in request.query_params.multi_items() if key != "lang"]
    return [
        SwitchLink(
            language=language,
            href=f"{request.url.path}?{urlencode([*kept, ('lang', language.code)])}",
            current=language == current,
        )
        for language in i18n.LANGUAGES.values()
    ]


def get_pages(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


PagesDep = Annotated[Pages, Depends(get_pages)]

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


@router.get("/")
async def home(request: Request, pages: PagesDep) -> HTMLResponse:
    return pages.render(request, "home.html")
