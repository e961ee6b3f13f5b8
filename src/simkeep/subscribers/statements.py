"""The subscriber statements, written out (``simkeep.statements``): those that limit
guessing, the session lookup, and the rule of which language an SMS to a number is written
in.

Design overview
---------------
Every attempt that a limit guards is taken *before* the check it limits, by one conditional
statement, and the check runs only when that statement says the attempt is within the
limit. Nothing reads a count in one transaction and writes it in another, and nothing
written after a check can lower a count (docs/security.md, "Guessing limits").

* ``take_attempt``: one attempt in a number's window for a ``Counter`` (logins, code
  requests). One upsert adds the attempt to the window, or starts a new window when the
  last one has passed, and returns the count with this attempt in it and when the window
  ends. Concurrent attempts queue on the row — PostgreSQL locks it for the upsert, SQLite
  has one writer — so each sees every earlier attempt.
* ``clear_attempts``: a success resets its counter.
* ``take_code_attempt``: one attempt at the newest live code of a number and purpose; a
  conditional update that counts it only while the code has attempts left and is unused,
  and returns the code's digest for the comparison.
* ``mark_code_used``: a conditional update, so that of two right submissions one uses the
  code.

``SESSION_SUBSCRIBER`` is the session lookup every signed-in request makes.
``READER_LANGUAGE`` is the rule of an SMS's language, one text for every statement that
needs it: the language of the subscriber whose phone the number is, if it is registered,
else ``otherwise`` (the language of whoever caused the message). ``READER_LANGUAGE_OF`` asks
it alone; the crediting of a top-up embeds it (``topups.statements``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.sqltypes import as_utc
from simkeep.statements import Statement
from simkeep.subscribers.model import CodePurpose, Counter


@dataclass(frozen=True, slots=True)
class Window:
    """A number's attempts in the current window, the one just taken included."""

    attempts: int
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class LiveCode:
    id: int
    digest: str


SESSION_SUBSCRIBER = Statement(
    """
    SELECT s.id, s.phone, s.language, n.seen_lsn
    FROM subscribers s JOIN subscriber_sessions n ON n.subscriber_id = s.id
    WHERE n.token_digest = :digest AND n.ended_at IS NULL AND n.expires_at > :now
    """
)

READER_LANGUAGE = """
    coalesce((SELECT r.language FROM subscribers r WHERE r.phone = {phone}), {otherwise})
"""
READER_LANGUAGE_OF = Statement(
    f"SELECT {READER_LANGUAGE.format(phone=':phone', otherwise=':otherwise')} AS language"
)

_TAKE_ATTEMPT = Statement(
    """
    INSERT INTO attempt_windows (counter, phone, attempts, window_ends_at)
    VALUES (:counter, :phone, 1, :new_window_ends_at)
    ON CONFLICT (counter, phone) DO UPDATE SET
      attempts = CASE WHEN attempt_windows.window_ends_at > :now
        THEN attempt_windows.attempts + 1 ELSE 1 END,
      window_ends_at = CASE WHEN attempt_windows.window_ends_at > :now
        THEN attempt_windows.window_ends_at ELSE excluded.window_ends_at END
    RETURNING attempts, window_ends_at
    """
)

_CLEAR_ATTEMPTS = Statement(
    "DELETE FROM attempt_windows WHERE counter = :counter AND phone = :phone"
)

_TAKE_CODE_ATTEMPT = Statement(
    """
    UPDATE one_time_codes SET attempts = attempts + 1
    WHERE id = (
        SELECT id FROM one_time_codes
        WHERE phone = :phone AND purpose = :purpose AND used_at IS NULL AND expires_at > :now
        ORDER BY id DESC LIMIT 1)
      AND used_at IS NULL AND attempts < :limit
    RETURNING id, code_digest
    """
)

_MARK_CODE_USED = Statement(
    "UPDATE one_time_codes SET used_at = :now WHERE id = :id AND used_at IS NULL"
)


async def take_attempt(
    conn: AsyncConnection, *, counter: Counter, phone: str, window: timedelta, now: datetime
) -> Window:
    """Count one attempt for ``phone`` in its current window of length ``window``."""
    row = await _TAKE_ATTEMPT.row(
        conn,
        counter=counter.value,
        phone=phone,
        new_window_ends_at=now + window,
        now=now,
    )
    assert row is not None  # an upsert with RETURNING returns its row
    return Window(int(row["attempts"]), as_utc(row["window_ends_at"]))


async def clear_attempts(conn: AsyncConnection, *, counter: Counter, phone: str) -> None:
    """Forget ``phone``'s attempts on ``counter``."""
    await _CLEAR_ATTEMPTS.execute(conn, counter=counter.value, phone=phone)


async def take_code_attempt(
    conn: AsyncConnection, *, phone: str, purpose: CodePurpose, limit: int, now: datetime
) -> LiveCode | None:
    """Count one attempt at the newest live code; None when there is none or its ``limit``
    of attempts is spent."""
    row = await _TAKE_CODE_ATTEMPT.row(
        conn, phone=phone, purpose=purpose.value, limit=limit, now=now
    )
    return None if row is None else LiveCode(int(row["id"]), str(row["code_digest"]))


async def mark_code_used(conn: AsyncConnection, *, code_id: int, now: datetime) -> bool:
    """Mark the code used; False if it was used already."""
    return await _MARK_CODE_USED.execute(conn, id=code_id, now=now) == 1
