"""Public pages, server-rendered in the visitor's language.

Design overview
---------------
``Pages`` is built once by the composition root: one Jinja2 environment per locale, each
with that locale's gettext catalog (``simkeep.i18n.translations``, compiled here at
start-up) and that locale's formatting filters (``money``, ``hk_date``, ``hk_datetime``,
``rate``, ``phone``, ``name``, ``provider``) installed, so rendering never swaps
translations on a shared environment. ``Pages.render`` picks the language
(``i18n.choose_language``), fills the layout's language switch (three links to the current
path), remembers a ``?lang=`` choice in the ``lang`` cookie and marks the response as
varying by language. Given the ``Viewer`` (``web.session``), it also shows the subscriber's
nav and hands the forms their CSRF token (the viewer sets its cookie and keeps personal
pages out of caches). ``Pages.fragment`` renders a partial to a string in the same
language, for the parts of a page that refresh by themselves. A ``SeeOther`` raised by a
dependency becomes a plain redirect. Routes stay one line: pick the template, hand over the
context.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from gettext import GNUTranslations
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParameter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from simkeep.i18n import translations
from simkeep.payments import methods
from simkeep.retention.model import kept_until
from simkeep.services import ServicesDep
from simkeep.sqltypes import MAX_ID
from simkeep.web import formats, i18n
from simkeep.web.session import SeeOther, Viewer, ViewerDep

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
            code: Jinja2Templates(env=_environment(translations(code), code))
            for code in i18n.LANGUAGES
        }

    def choose(self, request: Request) -> i18n.Choice:
        """The request's language: ``?lang=``, the cookie, ``Accept-Language``, the default."""
        return i18n.choose_language(
            query=request.query_params.get("lang"),
            cookie=request.cookies.get(i18n.COOKIE),
            accept_language=request.headers.get("accept-language"),
            default=self.default_locale,
        )

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        status_code: int = 200,
        viewer: Viewer | None = None,
    ) -> HTMLResponse:
        """Render ``template`` in the request's language, inside the common layout."""
        choice = self.choose(request)
        language = choice.language
        response = self._templates[language.code].TemplateResponse(
            request,
            template,
            {
                "language": language,
                "switch": _switch_links(request, language),
                "me": viewer,
                **(context or {}),
            },
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
        if viewer is not None:
            viewer.finish(response)
        return response

    def fragment(self, request: Request, template: str, context: Mapping[str, Any]) -> str:
        """A partial template rendered to text in the request's language (no layout)."""
        language = self.choose(request).language
        env = self._templates[language.code].env
        return env.get_template(template).render({"language": language, **context})

    def error(self, request: Request, exc: StarletteHTTPException) -> Response:
        """An HTTP error as a page in the visitor's language; a ``SeeOther`` as a redirect."""
        if isinstance(exc, SeeOther):
            return RedirectResponse(exc.location, status_code=303)
        response = self.render(
            request, "error.html", {"status": exc.status_code}, status_code=exc.status_code
        )
        if exc.headers:
            response.headers.update(exc.headers)
        return response


def _environment(catalog: GNUTranslations, locale: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(formats.filters(locale, catalog))
    env.globals["kept_until"] = kept_until  # the last day a SIM keeps its number, as is
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


async def get_pages(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


PagesDep = Annotated[Pages, Depends(get_pages)]
# An id in a page's address: one that no row can have is a 404.
RowId = Annotated[int, PathParameter(ge=1, le=MAX_ID)]

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


@router.get("/")
async def home(
    request: Request, pages: PagesDep, viewer: ViewerDep, services: ServicesDep
) -> HTMLResponse:
    """The home page, naming the ways to pay that are offered here, per currency."""
    ways = {
        currency: list(
            dict.fromkeys(
                method.provider
                for method in methods.offered(
                    home_currency=currency,
                    pay_currencies=[currency],
                    charges=services.charges,
                    phone=False,
                )
            )
        )
        for currency in ("HKD", "CNY")
    }
    return pages.render(request, "home.html", {"ways": ways}, viewer=viewer)
