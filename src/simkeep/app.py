"""The composition root: ``create_app(settings)`` builds the one ASGI app.

Design overview
---------------
Everything a request needs is made here and kept on ``app.state``: ``settings``, ``clock``,
``db`` (built from settings at start-up unless a test hands one in; only a database built
here is disposed at shutdown), ``pages`` (templates and catalogs, compiled once),
``metrics`` (this app's Prometheus registry), ``services`` (what the routes need), the
payment adapters — on the real gateways from the merchant credentials in settings, or in
the embedded default on the provider simulators (mounted under ``/_sim``, with the SMS
simulator at ``/_sim/sms``) — and the worker loop. The app serves the public pages, ``/static``,
``/healthz``, ``/metrics``, the API under ``/api/v1`` and its docs at ``/api/docs``. Errors
under ``/api/`` are JSON (``api.errors``); elsewhere they are pages in the visitor's
language. ``asgi()`` is the factory uvicorn calls (``simkeep.app:asgi``, ``factory=True``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from importlib.metadata import version

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from simkeep.api import auth as auth_api
from simkeep.api import docs, errors, health, metrics
from simkeep.api import payments as payments_api
from simkeep.api import receipts as receipts_api
from simkeep.api import sims as sims_api
from simkeep.api import topups as topups_api
from simkeep.clock import Clock, SystemClock
from simkeep.db import Database
from simkeep.errors import Refusal
from simkeep.jobs.loop import run_forever, standard_jobs
from simkeep.logs import configure_logging
from simkeep.payments.gateways import real_adapters
from simkeep.payments.model import ProviderError
from simkeep.services import Services
from simkeep.settings import Environment, Settings, load_settings
from simkeep.simulators import sms_routes
from simkeep.simulators.embedded import EmbeddedProviders
from simkeep.simulators.sms import SimulatedSmsGateway
from simkeep.web import pages, subscriber_pages
from simkeep.web.pages import Pages

OPENAPI_URL = "/api/v1/openapi.json"


def create_app(
    settings: Settings, *, db: Database | None = None, clock: Clock | None = None
) -> FastAPI:
    """Build the app; the database is opened by the lifespan, not here."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(json=settings.log_json, level=settings.log_level)
        app.state.db = db or Database.from_settings(settings)
        app.state.sms_gateway = SimulatedSmsGateway(app.state.db, app.state.clock)
        app.state.services = Services.build(
            settings=settings,
            db=app.state.db,
            clock=app.state.clock,
            adapters=app.state.payment_adapters,
        )
        worker = _start_jobs(app, settings)
        try:
            yield
        finally:
            if worker is not None:
                worker.cancel()
                with suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(worker, timeout=5)
            await gateways.close()
            if db is None:
                await app.state.db.dispose()

    app = FastAPI(
        title="simkeep",
        summary="Prepaid top-ups for China–Hong Kong dual-number SIM cards.",
        version=version("simkeep"),
        lifespan=lifespan,
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    app.state.pages = Pages(
        default_locale=settings.default_locale,
        secure_cookies=settings.environment is Environment.PRODUCTION,
    )
    app.state.metrics = metrics.HttpMetrics()
    providers = EmbeddedProviders.build(settings, app.state.clock) if settings.simulators else None
    app.state.providers = providers
    gateways = providers or real_adapters(settings, app.state.clock)
    app.state.payment_adapters = gateways.adapters
    app.add_middleware(metrics.MetricsMiddleware, metrics=app.state.metrics, router=app.router)
    _add_error_handlers(app)

    app.include_router(pages.router)
    app.include_router(subscriber_pages.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(docs.router)
    app.include_router(payments_api.router)
    app.include_router(auth_api.router)
    app.include_router(sims_api.router)
    app.include_router(topups_api.router)
    app.include_router(receipts_api.router)
    if providers is not None:
        app.include_router(sms_routes.router)  # before the /_sim mount, which would shadow it
        app.mount("/_sim", providers.app)  # unnamed: url_for finds its routes by their own names
    app.mount(docs.ASSETS_PATH, docs.swagger_assets(), name="api-docs-assets")
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    return app


def _start_jobs(app: FastAPI, settings: Settings) -> asyncio.Task[None] | None:
    """The worker loop inside the web process (the embedded default runs as one process)."""
    if not settings.run_jobs:
        return None
    jobs = standard_jobs(
        db=app.state.db, sms=app.state.sms_gateway, adapters=app.state.payment_adapters
    )
    if app.state.providers is not None:
        jobs["simulator_notifications"] = app.state.providers.tick
    return asyncio.create_task(run_forever(jobs, clock=app.state.clock))


def _add_error_handlers(app: FastAPI) -> None:
    """JSON errors for the API, pages in the visitor's language for everything else (also for
    errors raised inside a mounted app, whose ``request.app`` is not this one)."""
    site: Pages = app.state.pages

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if errors.is_api_request(request):
            return errors.http_error(exc)
        return site.error(request, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if errors.is_api_request(request):
            return errors.validation_error(exc)
        return await request_validation_exception_handler(request, exc)

    @app.exception_handler(Refusal)
    async def refused(request: Request, exc: Exception) -> Response:
        code = getattr(exc, "code", "invalid_request")
        if errors.is_api_request(request):
            return errors.domain_error(code, str(exc))
        return site.error(request, StarletteHTTPException(422, str(exc)))

    @app.exception_handler(ProviderError)
    async def provider_down(request: Request, exc: Exception) -> Response:
        if errors.is_api_request(request):
            return errors.provider_unavailable()
        return site.error(request, StarletteHTTPException(502))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        if errors.is_api_request(request):
            return errors.internal_error()
        return site.error(request, StarletteHTTPException(500))


def asgi() -> FastAPI:
    """The factory uvicorn runs: settings from the environment, read once."""
    return create_app(load_settings())
