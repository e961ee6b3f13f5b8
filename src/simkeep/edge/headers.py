"""Security headers on every response: pages, API, static files, simulators, errors.

Design overview
---------------
``SecurityHeaders`` is plain ASGI and sits outside everything else, Starlette's own error
middleware included, so that a 500 carries the headers too. It adds the headers that
``security_headers(settings)`` made once at start-up to each response that does not set the
same header itself: a route with a policy of its own (the API docs page, whose inline
script is allowed by its hash) keeps it.

* ``Content-Security-Policy``: scripts, styles, images and fonts only from this origin,
  never inline (so no ``style=`` attribute and no ``<style>`` either: styles live in the
  stylesheets under ``/static``); ``fetch`` only to this origin; no plugins, no ``<base>``;
  no framing. Forms post to this origin, to the public URL, or to an HTTPS address: the
  top-up form's answer sends the payer on to the provider's cashier, whose own redirects a
  browser also checks against ``form-action``.
* ``X-Frame-Options: DENY`` for browsers that predate ``frame-ancestors``;
  ``X-Content-Type-Options: nosniff``.
* ``Referrer-Policy: same-origin``: order numbers are in our paths (``/topups/{order_no}``)
  and must not travel to another site — the provider's cashier included — in a
  ``Referer``.
* ``Strict-Transport-Security`` when ``settings.https_only`` (everywhere but development),
  the same rule that makes cookies ``Secure``.

How to add a script: put it in a file under ``web/static`` and load it with
``<script src=… defer>``; an inline script, an ``on…=`` attribute or a ``javascript:`` URL
is refused by the browser.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simkeep.settings import Settings

HSTS_MAX_AGE = 365 * 24 * 3600
CSP = "Content-Security-Policy"
Header = tuple[str, str]


def content_security_policy(
    *, scripts: Sequence[str] = (), images: Sequence[str] = (), form_targets: Sequence[str] = ()
) -> str:
    """The policy of every page, API answer and file that does not bring its own; a page with
    its own adds the sources it needs (an inline script's hash, ``data:`` images)."""
    directives = {
        "default-src": "'none'",
        "script-src": " ".join(["'self'", *scripts]),
        "style-src": "'self'",
        "img-src": " ".join(["'self'", *images]),
        "font-src": "'self'",
        "connect-src": "'self'",
        "manifest-src": "'self'",
        "form-action": " ".join(["'self'", *form_targets, "https:"]),
        "frame-ancestors": "'none'",
        "base-uri": "'none'",
    }
    return "; ".join(f"{name} {sources}" for name, sources in directives.items())


def script_hash(script: str) -> str:
    """The CSP source that allows exactly this inline script."""
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return f"'sha256-{digest}'"


def security_headers(settings: Settings) -> list[Header]:
    """The headers every response gets (unless it sets the same one), from settings."""
    public = urlsplit(settings.public_url)
    headers = [
        (CSP, content_security_policy(form_targets=[f"{public.scheme}://{public.netloc}"])),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
    ]
    if settings.https_only:
        headers.append(("Strict-Transport-Security", f"max-age={HSTS_MAX_AGE}"))
    return headers


def map_tile_sources(tiles_url: str) -> list[str]:
    """The CSP source of a map's tile server (``{s}`` and other placeholders in its host
    become ``*``): the outlet finder's page adds it to its own policy's images."""
    if not tiles_url:
        return []
    parts = urlsplit(tiles_url)
    host = re.sub(r"\{[a-z]+\}", "*", parts.netloc)
    return [f"{parts.scheme}://{host}"]


class SecurityHeaders:
    """Add ``headers`` to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp, *, headers: Sequence[Header]) -> None:
        self.app = app
        self.headers = [(name.lower().encode(), value.encode()) for name, value in headers]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                own = list(message.get("headers", ()))
                present = {name.lower() for name, _ in own}
                message["headers"] = own + [h for h in self.headers if h[0] not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)
