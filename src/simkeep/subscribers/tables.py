"""Subscriber tables (migrations 0003_subscribers, 0006_attempts; the language they read:
0008_names; their email address: 0017_email)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

from simkeep.i18n import DEFAULT_LOCALE, LOCALES
from simkeep.sqltypes import UTCDateTime, id_column_type
from simkeep.subscribers.model import MAX_EMAIL

metadata = MetaData()

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("phone", String(16), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("password_changed_at", UTCDateTime, nullable=False),
    Column("language", String(10), nullable=False, server_default=DEFAULT_LOCALE),
    Column("email", String(MAX_EMAIL)),  # verified: reminders go to it (subscribers.emails)
    Column("email_verified_at", UTCDateTime),
    Column("pending_email", String(MAX_EMAIL)),  # waiting for the code sent to it
    CheckConstraint(
        f"language IN ({', '.join(repr(code) for code in LOCALES)})",
        name="ck_subscribers_language",
    ),
)

sessions = Table(
    "subscriber_sessions",
    metadata,
    Column("token_digest", String(64), primary_key=True),
    Column("subscriber_id", BigInteger, ForeignKey("subscribers.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("seen_lsn", BigInteger),  # migration 0028: the primary's position after their write
    Index("ix_subscriber_sessions_subscriber", "subscriber_id"),
)

codes = Table(
    "one_time_codes",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("phone", String(16), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("code_digest", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("used_at", UTCDateTime),
    Index("ix_one_time_codes_phone", "phone", "purpose", "created_at"),
)

attempt_windows = Table(  # a number's attempts in the current window, per counter
    "attempt_windows",
    metadata,
    Column("counter", String(16), primary_key=True),  # model.Counter
    Column("phone", String(16), primary_key=True),
    Column("attempts", Integer, nullable=False),
    Column("window_ends_at", UTCDateTime, nullable=False),
)
