"""Subscriber rules without I/O: passwords, one-time codes, session tokens, limits.

Design overview
---------------
* Passwords are hashed with argon2id (19 MiB, 2 passes, 1 lane — the OWASP minimum).
* One-time codes are six digits from ``secrets``, stored only as an HMAC digest bound to the
  number and purpose, valid for a few minutes and for a few attempts.
* Session tokens are 256 random bits; the database keeps only their SHA-256.
* Limits (codes per hour, login attempts per window, the window's length, guesses per code)
  have the defaults below; their counters live in the database, so a restart resets nothing,
  and each attempt is counted before the check it limits (``statements``,
  docs/security.md).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from simkeep.errors import Refusal

_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


class AuthError(Refusal):
    """A refusal a person can act on; ``code`` is machine-readable."""

    code = "auth_error"


class WeakPassword(AuthError):
    code = "weak_password"


class BadCode(AuthError):
    code = "bad_code"


class TooManyRequests(AuthError):
    code = "too_many_requests"


class BadCredentials(AuthError):
    code = "bad_credentials"


class LockedOut(AuthError):
    code = "locked_out"


class AlreadyRegistered(AuthError):
    code = "already_registered"


class InvalidEmail(AuthError):
    code = "invalid_email"


class CodePurpose(StrEnum):
    REGISTER = "register"
    RESET_PASSWORD = "reset_password"  # noqa: S105 - a purpose, not a password
    LINK_SIM = "link_sim"
    VERIFY_EMAIL = "verify_email"  # sent by email to the address, kept under the login number


class Counter(StrEnum):
    """A number's attempts counted in windows: what is limited per number and window."""

    LOGIN = "login"  # Limits.login_failures per Limits.lockout
    CODE_REQUEST = "code_request"  # Limits.codes_per_hour per hour
    EMAIL_CODE = "email_code"  # Limits.codes_per_hour per hour, emailed for the number's account


@dataclass(frozen=True, slots=True)
class Limits:
    codes_per_hour: int = 5
    code_ttl: timedelta = timedelta(minutes=5)
    code_attempts: int = 5
    login_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    session_ttl: timedelta = timedelta(days=30)


def check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < 8:
        raise WeakPassword("a password has at least 8 characters")
    if len(password) > 128:
        raise WeakPassword("a password has at most 128 characters")
    if password.isdigit() and len(set(password)) <= 2:
        raise WeakPassword("choose a password that is not a repeated digit")
    return password


def hash_password(password: str) -> str:
    return _HASHER.hash(check_password(password))


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def code_digest(key: bytes, phone: str, purpose: CodePurpose, code: str, address: str = "") -> str:
    """The digest kept of a code: bound to the number, the purpose and — for a code sent
    by email — the address it was sent to, which it alone can verify."""
    message = (
        f"{purpose.value}:{phone}:{address}:{code}"
        if address
        else f"{purpose.value}:{phone}:{code}"
    )
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


MAX_EMAIL = 254  # RFC 5321's limit on a path, the address in it
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def check_email(address: str) -> str:
    """A plausible email address (``name@example.hk``: a dot-atom before the ``@``, a domain
    of at least two labels after it, in ASCII), its domain lower-cased; ``InvalidEmail``
    otherwise."""
    text = address.strip() if isinstance(address, str) else ""
    if len(text) > MAX_EMAIL:
        raise InvalidEmail(f"an email address has at most {MAX_EMAIL} characters")
    local, at, domain = text.rpartition("@")
    labels = domain.split(".")
    if (
        not at
        or len(local) > 64
        or not _LOCAL.fullmatch(local)
        or len(labels) < 2
        or not all(_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise InvalidEmail("enter an email address such as name@example.hk")
    return f"{local}@{domain.lower()}"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def auth_key(secret_key: str) -> bytes:
    """The key for one-time-code digests, derived from the application's secret key."""
    return hmac.new(secret_key.encode(), b"simkeep/one-time-codes/v1", hashlib.sha256).digest()
