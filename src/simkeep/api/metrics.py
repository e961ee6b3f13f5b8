"""Prometheus metrics: HTTP request counts and latency, served at ``GET /metrics``.

Design overview
---------------
Each app owns its ``CollectorRegistry`` (kept on ``app.state.metrics``), so several apps in
one process — as in the tests — never collide on the global registry. ``MetricsMiddleware``
is plain ASGI: it times each HTTP request and labels it with the route *template*
(``/api/v1/sims/{sim_id}``, ``/static/{path}``), never the raw path, so the number of series
stays bounded. FastAPI leaves the matched endpoint in ``scope["route"]``; for a mount (which
sets no such key) the router's routes are matched again against the request's path, and a
request that matched nothing is ``unmatched``; an unusual method is ``OTHER``.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from starlette.routing import BaseRoute, Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    """The registry of one app and the HTTP metrics in it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        labels = ("method", "route", "status")
        self.requests = Counter(
            "simkeep_http_requests",
            "HTTP requests served, by method, route template and status code.",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "simkeep_http_request_duration_seconds",
            "Time from request to the end of the response, by method, route and status.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)


class MetricsMiddleware:
    """Count and time every HTTP request under its route template."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics, router: Router) -> None:
        self.app = app
        self.metrics = metrics
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_line: Scope = {
            "type": "http",
            "method": scope["method"],
            "path": scope["path"],
            "root_path": scope.get("root_path", ""),
        }
        status = 500  # if the app fails before it starts a response

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            self.metrics.observe(
                method=scope["method"] if scope["method"] in METHODS else "OTHER",
                route=self._template(scope.get("route"), request_line),
                status=status,
                seconds=time.perf_counter() - started,
            )

    def _template(self, route: BaseRoute | None, request_line: Scope) -> str:
        if route is None:
            route = next(
                (r for r in self.router.routes if r.matches(request_line)[0] is Match.FULL), None
            )
        return str(getattr(route, "path_format", UNMATCHED))


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
