"""Who is looking at a page: the subscriber's session cookie, CSRF tokens, safe redirects.

Design overview
---------------
* The session lives on the server (``subscribers.service``); the browser holds only its
  token, in the ``simkeep_session`` cookie: ``HttpOnly``, ``SameSite=Lax``, ``Secure``
  when ``settings.https_only`` (everywhere but development), set at login and registration
  (each makes a new session, so the token rotates) and deleted at logout, which also ends
  the session on the server.
* Every form carries a CSRF token. A subscriber's forms carry an HMAC of their session
  token; a visitor's forms (log in, register, reset the password) carry an HMAC of a
  random value kept in the ``simkeep_csrf`` cookie, made the first time a form needs it
  (a double-submit cookie that a third party cannot forge without the server's key). The
  key is derived from the secret key. ``Viewer.check`` compares in constant time.
* ``ViewerDep`` is anyone (reads the database only when a session cookie is present);
  ``SignedInDep`` is a signed-in subscriber, and sends anyone else to ``/login?next=…``.
* ``local_path`` keeps redirects on this site: only a path starting with a single ``/``.
* A signed-in subscriber who switches language (``?lang=``) reads that language from then
  on, SMS included: the viewer stores it with the account (``subscribers.set_language``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, ClassVar
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from simkeep.i18n import locale_for_tag
from simkeep.services import Services, ServicesDep
from simkeep.subscribers import service as subscribers
from simkeep.subscribers.service import Session, Subscriber

SESSION_COOKIE = "simkeep_session"
CSRF_COOKIE = "simkeep_csrf"
CSRF_FIELD = "csrf"
HOME = "/my"


class SeeOther(StarletteHTTPException):
    """Raised by a dependency to send the visitor to a local path with a 303."""

    def __init__(self, location: str) -> None:
        super().__init__(303)
        self.location = location


class FormTokens:
    """The CSRF tokens of one viewer's forms: an HMAC of their session token when signed in,
    else of a random value in a visitor cookie, made the first time a form needs one (a
    double-submit cookie a third party cannot forge without the key). ``KINDS`` keeps the
    tokens of one kind of session from serving another's."""

    KINDS: ClassVar[tuple[str, str]] = ("session", "visitor")

    def __init__(
        self, *, token: str | None, csrf_cookie: str | None, key: bytes, secure: bool
    ) -> None:
        self._token = token
        self.secure = secure
        self._csrf_cookie = csrf_cookie
        self._new_cookie: str | None = None
        self._key = key

    @property
    def csrf(self) -> str:
        """The token this viewer's forms carry (a visitor gets a CSRF cookie on first use)."""
        signed_in, visitor = self.KINDS
        if self._token is not None:
            return _mac(self._key, signed_in, self._token)
        if self._csrf_cookie is None:
            self._csrf_cookie = self._new_cookie = secrets.token_urlsafe(24)
        return _mac(self._key, visitor, self._csrf_cookie)

    def check(self, token: str) -> bool:
        """Whether a submitted form's token is this viewer's (never for a cookie made now)."""
        if self._token is None and self._csrf_cookie is None:
            return False
        return bool(token) and hmac.compare_digest(token, self.csrf)


class Viewer(FormTokens):
    """The person behind a request: a subscriber (with their session token) or a visitor."""

    def __init__(
        self,
        *,
        subscriber: Subscriber | None,
        session_token: str | None,
        csrf_cookie: str | None,
        key: bytes,
        secure: bool,
    ) -> None:
        super().__init__(
            token=session_token if subscriber else None,
            csrf_cookie=csrf_cookie,
            key=key,
            secure=secure,
        )
        self.subscriber = subscriber

    @property
    def session_token(self) -> str | None:
        return self._token

    def finish(self, response: Response) -> None:
        """Keep personal pages and pages with a token out of caches; hand over a new cookie."""
        if self.subscriber is not None or self._csrf_cookie is not None:
            response.headers["Cache-Control"] = "no-store"
        if self._new_cookie is not None:
            set_cookie(response, CSRF_COOKIE, self._new_cookie, secure=self.secure)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A signed-in subscriber: who they are, and the viewer the page is rendered for."""

    subscriber: Subscriber
    viewer: Viewer

    @property
    def id(self) -> int:
        return self.subscriber.id

    @property
    def seen(self) -> int | None:
        """Where the primary was after their last write (``replicas``)."""
        return self.subscriber.seen


def set_cookie(
    response: Response, name: str, value: str, *, secure: bool, max_age: int | None = None
) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", httponly=True, samesite="lax", secure=secure
    )


def start_session(response: Response, session: Session, *, now: datetime, secure: bool) -> None:
    """Hand the browser its new session token (a fresh one at every login)."""
    max_age = max(int((session.expires_at - now).total_seconds()), 0)
    set_cookie(response, SESSION_COOKIE, session.token, secure=secure, max_age=max_age)


def end_session(response: Response, *, secure: bool) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure)


def local_path(target: str | None, default: str = HOME) -> str:
    """``target`` if it is a path on this site, else ``default`` (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(char) < 32 for char in target):
        return default
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else default


def login_url(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(here, safe='/')}"


def _mac(key: bytes, kind: str, value: str) -> str:
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def csrf_key(secret_key: str) -> bytes:
    """The CSRF key, derived from the secret key (never the secret key itself)."""
    return hmac.new(secret_key.encode(), b"simkeep/csrf/v1", hashlib.sha256).digest()


async def viewer(request: Request, services: ServicesDep) -> Viewer:
    token = request.cookies.get(SESSION_COOKIE)
    subscriber = None
    if token:
        subscriber = await subscribers.authenticate(
            services.db, token=token, now=services.clock.now()
        )
    switched = request.query_params.get("lang")
    if subscriber is not None and switched:
        subscriber = await _remember_language(services, subscriber, switched)
    return Viewer(
        subscriber=subscriber,
        session_token=token,
        csrf_cookie=request.cookies.get(CSRF_COOKIE),
        key=csrf_key(services.settings.secret_key),
        secure=services.settings.https_only,
    )


async def _remember_language(services: Services, subscriber: Subscriber, query: str) -> Subscriber:
    chosen = locale_for_tag(query)
    if chosen is None or chosen == subscriber.language:
        return subscriber
    await subscribers.set_language(services.db, subscriber_id=subscriber.id, language=chosen)
    return replace(subscriber, language=chosen)


ViewerDep = Annotated[Viewer, Depends(viewer)]


async def signed_in(request: Request, who: ViewerDep) -> SignedIn:
    if who.subscriber is None:
        raise SeeOther(login_url(request))
    return SignedIn(who.subscriber, who)


SignedInDep = Annotated[SignedIn, Depends(signed_in)]
