"""The composition root: ``create_app(settings)`` builds the one ASGI app.

Design overview
---------------
Everything a request needs is made here and kept on ``app.state``: ``settings``, ``clock``,
``db`` (built from settings at start-up unless a test hands one in; only a database built
here is disposed at shutdown), ``pages`` (templates and catalogs, compiled once),
``metrics`` (this app's Prometheus registry), ``services`` (what the routes need), the
payment adapters — on the real gateways from the merchant credentials in settings, or in
the embedded default on the provider simulators (mounted under ``/_sim``, or in their own
process at ``SIMKEEP_SIMULATORS_URL``; the SMS simulator at ``/_sim/sms``, the mailbox at
``/_sim/email``) — the mail gateway (``services.mail_gateway``) — and the worker
loop, unless ``SIMKEEP_RUN_JOBS=false`` leaves the jobs to ``simkeep worker`` processes.
The app serves the public pages, ``/static``, ``/healthz``, ``/metrics``, the API under
``/api/v1`` and its docs at ``/api/docs``. Errors under ``/api/`` are JSON
(``api.errors``); elsewhere they are pages in the visitor's language. Every request passes
the edge (``simkeep.edge``): its body is capped (a refusal speaks the caller's language, as
errors do) and its response gets the security headers.
``asgi()`` is the factory uvicorn calls (``simkeep.app:asgi``, ``factory=True``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from functools import partial
from importlib.metadata import version

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from simkeep.api import agents as agents_api
from simkeep.api import auth as auth_api
from simkeep.api import docs, errors, health, metrics
from simkeep.api import email as email_api
from simkeep.api import keepalive as keepalive_api
from simkeep.api import methods as methods_api
from simkeep.api import network as network_api
from simkeep.api import outlets as outlets_api
from simkeep.api import payments as payments_api
from simkeep.api import pos as pos_api
from simkeep.api import promotions as promotions_api
from simkeep.api import receipts as receipts_api
from simkeep.api import refunds as refunds_api
from simkeep.api import sims as sims_api
from simkeep.api import topups as topups_api
from simkeep.api import vouchers as vouchers_api
from simkeep.clock import Clock, SystemClock
from simkeep.db import Database
from simkeep.edge.bodies import BodyLimit, CapFor, route_path
from simkeep.edge.headers import SecurityHeaders, security_headers
from simkeep.edge.writes import RememberWrites
from simkeep.errors import Refusal
from simkeep.jobs.loop import run_forever, standard_jobs
from simkeep.keepalive.service import KeepAliveUrls
from simkeep.logs import configure_logging
from simkeep.payments.model import ProviderError
from simkeep.payments.service import CheckoutUrls
from simkeep.services import Services, mail_gateway, outside_gateways
from simkeep.settings import Settings, load_settings
from simkeep.simulators import email_routes, sms_routes
from simkeep.simulators.email import SimulatedMailbox
from simkeep.simulators.embedded import EmbeddedProviders
from simkeep.simulators.sms import SimulatedSmsGateway
from simkeep.web import outlets as outlet_pages
from simkeep.web import pages, staff_pages, subscriber_pages
from simkeep.web.pages import Pages

OPENAPI_URL = "/api/v1/openapi.json"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class Simkeep(FastAPI):
    """FastAPI with the security headers outside every middleware, Starlette's error
    middleware included, so that even a 500 carries them."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack(), headers=self.state.headers)


def create_app(
    settings: Settings, *, db: Database | None = None, clock: Clock | None = None
) -> FastAPI:
    """Build the app; the database is opened by the lifespan, not here."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(json=settings.log_json, level=settings.log_level)
        app.state.db = db or Database.from_settings(settings)
        app.state.sms_gateway = SimulatedSmsGateway(app.state.db, app.state.clock)
        app.state.mailbox = SimulatedMailbox(app.state.db, app.state.clock)
        app.state.services = Services.build(
            settings=settings,
            db=app.state.db,
            clock=app.state.clock,
            adapters=app.state.payment_adapters,
        )
        worker = _start_jobs(app, settings)
        reads = app.state.services.reads
        watcher = asyncio.create_task(reads.watch()) if reads.replicas else None
        try:
            yield
        finally:
            for task in (worker, watcher):
                if task is not None:
                    task.cancel()
                    with suppress(asyncio.CancelledError, TimeoutError):
                        await asyncio.wait_for(task, timeout=5)
            await reads.dispose()
            await gateways.close()
            if db is None:
                await app.state.db.dispose()

    app = Simkeep(
        title="simkeep",
        summary="Prepaid top-ups for China–Hong Kong dual-number SIM cards.",
        version=version("simkeep"),
        lifespan=lifespan,
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        generate_unique_id_function=lambda route: route.name,  # operationIds: get_topup …
    )
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    app.state.headers = security_headers(settings)
    app.state.pages = Pages(
        default_locale=settings.default_locale, secure_cookies=settings.https_only
    )
    app.state.metrics = metrics.HttpMetrics()
    providers = (
        EmbeddedProviders.build(settings, app.state.clock)
        if settings.simulators and not settings.simulators_url
        else None
    )
    app.state.providers = providers
    gateways = providers or outside_gateways(settings, app.state.clock)
    app.state.payment_adapters = gateways.adapters
    app.add_middleware(
        BodyLimit, cap_for=_body_cap(settings), refuse=partial(_too_large, app.state.pages)
    )
    app.add_middleware(RememberWrites)
    app.add_middleware(metrics.MetricsMiddleware, metrics=app.state.metrics, router=app.router)
    _add_error_handlers(app)

    app.include_router(pages.router)
    app.include_router(outlet_pages.router)
    app.include_router(subscriber_pages.router)
    app.include_router(staff_pages.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(docs.router)
    app.include_router(payments_api.router)
    app.include_router(auth_api.router)
    app.include_router(email_api.router)
    app.include_router(sims_api.router)
    app.include_router(topups_api.router)
    app.include_router(refunds_api.router)
    app.include_router(methods_api.router)
    app.include_router(receipts_api.router)
    app.include_router(keepalive_api.router)
    app.include_router(promotions_api.router)
    app.include_router(network_api.router)
    app.include_router(outlets_api.router)
    app.include_router(vouchers_api.router)
    app.include_router(agents_api.router)
    app.include_router(pos_api.router)
    if settings.simulators:
        app.include_router(sms_routes.router)  # before the /_sim mount, which would shadow it
        app.include_router(email_routes.router)
    if providers is not None:
        app.mount("/_sim", providers.app)  # unnamed: url_for finds its routes by their own names
    app.mount(docs.ASSETS_PATH, docs.swagger_assets(), name="api-docs-assets")
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    return app


def _start_jobs(app: FastAPI, settings: Settings) -> asyncio.Task[None] | None:
    """The worker loop inside the web process (the embedded default runs as one process);
    with a queue, the workers run the jobs instead."""
    if not settings.run_jobs or settings.queue_url:
        return None
    jobs = standard_jobs(
        db=app.state.db,
        sms=app.state.sms_gateway,
        email=mail_gateway(settings, app.state.db, app.state.clock),
        adapters=app.state.payment_adapters,
        retention_at=settings.retention_time,
        keepalive_urls=KeepAliveUrls(settings.public_url),
        keepalive_scan=timedelta(seconds=settings.keepalive_scan_seconds),
        notify_urls=CheckoutUrls(settings.public_url),
        reconcile_at=settings.reconcile_time,
        reconcile_carry=settings.reconcile_carry,
    )
    if app.state.providers is not None:
        jobs["simulator_notifications"] = app.state.providers.tick
    return asyncio.create_task(run_forever(jobs, clock=app.state.clock))


def _body_cap(settings: Settings) -> CapFor:
    def cap_for(path: str) -> int:
        if payments_api.is_notify_path(path):
            return settings.notify_body_limit_bytes
        if path == network_api.USAGE_PATH:
            return network_api.USAGE_BODY_LIMIT
        return settings.body_limit_bytes

    return cap_for


def _too_large(site: Pages, request: Request, cap: int) -> Response:
    """A body over its cap, refused in the caller's language: the provider's failure reply
    on a notify route, the API's error shape under ``/api/``, an error page elsewhere."""
    refusal = payments_api.too_large(request, route_path(request.scope))
    if refusal is not None:
        return refusal
    if errors.is_api_request(request):
        return errors.error_response(413, f"The request body is over the {cap} bytes allowed.")
    return site.error(request, StarletteHTTPException(413))


def _add_error_handlers(app: FastAPI) -> None:
    """JSON errors for the API, pages in the visitor's language for everything else (also for
    errors raised inside a mounted app, whose ``request.app`` is not this one)."""
    site: Pages = app.state.pages

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            headers = dict(exc.headers or {})
            headers["Allow"] = _allowed_methods(request, headers.get("Allow", ""))
            exc = StarletteHTTPException(405, exc.detail, headers)
        if errors.is_api_request(request):
            return errors.http_error(exc)
        return site.error(request, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if errors.is_api_request(request):
            return errors.validation_error(exc)
        # a page's address naming nothing that can exist (an id out of range) is not found
        in_path = any(error["loc"][0] == "path" for error in exc.errors())
        return site.error(request, StarletteHTTPException(404 if in_path else 400))

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


def _allowed_methods(request: Request, starlettes: str) -> str:
    """Every method the request's path takes: Starlette's 405 names only the methods of the
    first route with that path, where a path may have one route per method (a mount's own
    405 keeps its own answer)."""
    routes = [route for route in request.app.router.routes if not isinstance(route, Mount)]
    allowed = [
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]
    return ", ".join(allowed) or starlettes


def asgi() -> FastAPI:
    """The factory uvicorn runs: settings from the environment, read once."""
    return create_app(load_settings())
