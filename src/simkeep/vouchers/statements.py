"""The statements that limit guessing PINs, written out (``simkeep.statements``).

Design overview
---------------
A redemption attempt is counted *before* its PIN is checked, by one upsert per counter
(``take_attempt``) that adds the attempt to the key's window — or starts a new window when
the last one has passed — and returns the count with this attempt in it and when the window
ends. Concurrent attempts on one key queue on its row (PostgreSQL locks it for the upsert,
SQLite has one writer), so each sees every attempt taken before it: of fifty at once, the
first ``limit`` are within it. Nothing reads a count in one transaction and writes it in
another. ``give_back`` returns an attempt whose PIN was right to its window (if that window
still runs), so that the counters count failures: a success can never lower a count below
the failures it holds, and never clears a window (docs/outlets.md, "Vouchers").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.sqltypes import as_utc
from simkeep.statements import Statement
from simkeep.vouchers.model import Scope


@dataclass(frozen=True, slots=True)
class Window:
    """A key's attempts in the current window, the one just taken included."""

    scope: Scope
    key: str
    attempts: int
    ends_at: datetime


_TAKE_ATTEMPT = Statement(
    """
    INSERT INTO voucher_attempts (scope, key, attempts, window_ends_at)
    VALUES (:scope, :key, 1, :new_window_ends_at)
    ON CONFLICT (scope, key) DO UPDATE SET
      attempts = CASE WHEN voucher_attempts.window_ends_at > :now
        THEN voucher_attempts.attempts + 1 ELSE 1 END,
      window_ends_at = CASE WHEN voucher_attempts.window_ends_at > :now
        THEN voucher_attempts.window_ends_at ELSE excluded.window_ends_at END
    RETURNING attempts, window_ends_at
    """
)

_GIVE_BACK = Statement(
    """
    UPDATE voucher_attempts SET attempts = attempts - 1
    WHERE scope = :scope AND key = :key AND window_ends_at = :ends_at AND attempts > 0
    """
)


async def take_attempt(
    conn: AsyncConnection, *, scope: Scope, key: str, window: timedelta, now: datetime
) -> Window:
    """Count one attempt for ``key`` in its current window of length ``window``."""
    row = await _TAKE_ATTEMPT.row(
        conn, scope=scope.value, key=key, new_window_ends_at=now + window, now=now
    )
    assert row is not None  # an upsert with RETURNING returns its row
    return Window(scope, key, int(row["attempts"]), as_utc(row["window_ends_at"]))


async def give_back(conn: AsyncConnection, *, window: Window) -> None:
    """Return an attempt whose PIN was right to the window it was taken in."""
    await _GIVE_BACK.execute(conn, scope=window.scope.value, key=window.key, ends_at=window.ends_at)
