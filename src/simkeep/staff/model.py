"""Staff rules without I/O: roles and what they may do, usernames, the second factor, limits.

Design overview
---------------
* A role is data (``staff_members.role``); what it may do is answered by one function,
  ``may(role, permission)``, over the table ``PERMISSIONS``. An ``operator`` reads and
  changes everything; ``support`` reads and decides refunds; ``finance`` reads, reconciles
  and enters and decides balance adjustments (never its own: ``adjustments.model``); an
  ``auditor`` reads every staff page and changes nothing. A new role is a line in that
  table; what a staff route needs is declared by its router (``web.staff_session``).
* Passwords are the subscribers' rule and hash (``subscribers.model``: argon2id, 8 to 128
  characters): one piece of code where the logic is the same.
* The second factor is TOTP (RFC 6238, ``pyotp``: 6 digits, 30-second steps, SHA-1 — what
  every authenticator app reads from an ``otpauth://`` URI). ``matching_step`` finds the
  step a code belongs to within one step of clock drift either way; the caller then takes
  that step with one conditional update so that a code is accepted once
  (``statements.take_totp_step``).
* Limits: failed logins per account within a window lock it until the window ends; the
  attempt is counted before the check (``statements.take_login_attempt``).
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import pyotp

from simkeep.errors import Refusal

TOTP_STEP_SECONDS = 30
TOTP_DRIFT_STEPS = 1
ISSUER = "simkeep"


class StaffError(Refusal):
    code = "staff_error"


class BadStaffCredentials(StaffError):
    code = "bad_credentials"


class BadTotp(StaffError):
    code = "bad_totp"


class StaffLockedOut(StaffError):
    code = "locked_out"


class InvalidStaff(StaffError):
    code = "invalid_staff"


class Role(StrEnum):
    OPERATOR = "operator"
    AUDITOR = "auditor"
    SUPPORT = "support"  # reads every staff page; decides refunds
    FINANCE = "finance"  # reads every staff page; reconciles; enters and decides adjustments
    AGENT = "agent"  # a company that owns outlets: its outlets' shifts and sales
    CLERK = "clerk"  # at one outlet's counter: the POS


class Permission(StrEnum):
    READ = "read"  # every staff page
    CHANGE = "change"  # every state-changing staff route no narrower permission names
    POS = "pos"  # the counter: shifts, top-ups, ID checks, voucher sales at one outlet
    AGENT_VIEW = "agent_view"  # an agent's own outlets, shifts, sales and float
    REFUND = "refund"  # approve or refuse a refund asked for
    ADJUST = "adjust"  # enter a balance adjustment, decide another member's
    RECONCILE = "reconcile"  # resolve a difference a provider's bill left


PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: frozenset(
        {
            Permission.READ,
            Permission.CHANGE,
            Permission.REFUND,
            Permission.ADJUST,
            Permission.RECONCILE,
        }
    ),
    Role.AUDITOR: frozenset({Permission.READ}),
    Role.SUPPORT: frozenset({Permission.READ, Permission.REFUND}),
    Role.FINANCE: frozenset({Permission.READ, Permission.ADJUST, Permission.RECONCILE}),
    Role.AGENT: frozenset({Permission.AGENT_VIEW}),
    Role.CLERK: frozenset({Permission.POS}),
}


def may(role: str, permission: Permission) -> bool:
    """Whether a member of staff in ``role`` may do what ``permission`` allows."""
    return permission in permissions(role)


def permissions(role: str) -> frozenset[Permission]:
    """Everything a member of staff in ``role`` may do."""
    try:
        return PERMISSIONS[Role(role)]
    except ValueError:
        return frozenset()  # a role this version does not know may do nothing


def check_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise InvalidStaff(f"a role is one of {known}, not {role!r}") from None


def check_placement(role: Role, *, agent_id: int | None, outlet_id: int | None) -> None:
    """Where a member works: a clerk at one outlet of one agent, an agent at its company, the
    operator's staff at neither."""
    needs = {Role.CLERK: (True, True), Role.AGENT: (True, False)}.get(role, (False, False))
    if (agent_id is not None, outlet_id is not None) != needs:
        wants = {
            (True, True): "an agent and an outlet",
            (True, False): "an agent and no outlet",
            (False, False): "neither an agent nor an outlet",
        }[needs]
        raise InvalidStaff(f"a member with the role {role.value} has {wants}")


_USERNAME = re.compile(r"[a-z][a-z0-9._-]{1,31}")


def check_username(username: str) -> str:
    """A username: 2 to 32 of a–z, 0–9, ``.``, ``_``, ``-``, starting with a letter."""
    name = username.strip().lower()
    if not _USERNAME.fullmatch(name):
        raise InvalidStaff("a username is 2 to 32 of a-z, 0-9, '.', '_', '-', from a letter")
    return name


def check_display_name(name: str) -> str:
    shown = name.strip()
    if not 1 <= len(shown) <= 100:
        raise InvalidStaff("a display name has 1 to 100 characters")
    return shown


@dataclass(frozen=True, slots=True)
class StaffLimits:
    login_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    session_ttl: timedelta = timedelta(hours=12)
    enrolment_ttl: timedelta = timedelta(minutes=15)  # a session that may only enrol


def new_totp_secret() -> str:
    return pyotp.random_base32()


def check_totp_secret(secret: str) -> str:
    """A base32 secret of at least 160 bits (RFC 4226's recommendation)."""
    cleaned = secret.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z2-7]{32,64}", cleaned):
        raise InvalidStaff("a TOTP secret is 32 to 64 base32 characters")
    return cleaned


def provisioning_uri(secret: str, username: str) -> str:
    """The ``otpauth://`` URI an authenticator app scans."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def time_step(now: datetime) -> int:
    return int(now.timestamp()) // TOTP_STEP_SECONDS


def code_at(secret: str, step: int) -> str:
    """The code of ``step`` (tests and the demo compute codes with it)."""
    return str(pyotp.TOTP(secret).generate_otp(step))


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step within drift of ``now`` whose code ``code`` is, newest first; None if
    none is."""
    typed = code.strip().replace(" ", "")
    if not re.fullmatch(r"\d{6}", typed):
        return None
    current = time_step(now)
    for step in range(current + TOTP_DRIFT_STEPS, current - TOTP_DRIFT_STEPS - 1, -1):
        if hmac.compare_digest(code_at(secret, step), typed):
            return step
    return None
