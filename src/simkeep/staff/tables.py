"""Staff tables (migration 0011_staff): members, their sessions and the audit log."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

from simkeep.sqltypes import UTCDateTime, id_column_type

metadata = MetaData()

members = Table(
    "staff_members",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("username", String(32), nullable=False, unique=True),
    Column("display_name", String(100), nullable=False),
    Column("role", String(16), nullable=False),  # model.Role
    Column("password_hash", String(200), nullable=False),
    Column("totp_secret", String(64), nullable=False),
    Column("totp_confirmed_at", UTCDateTime),  # None until enrolment is confirmed by a code
    Column("totp_last_step", BigInteger, nullable=False, server_default="0"),
    Column("disabled", Boolean, nullable=False, server_default="0"),
    Column("failed_attempts", Integer, nullable=False, server_default="0"),
    Column("attempts_window_ends_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_login_at", UTCDateTime),
    Column("agent_id", BigInteger),  # migration 0018: an agent's or a clerk's company
    Column("outlet_id", BigInteger),  # migration 0018: the one outlet a clerk works at
    CheckConstraint("failed_attempts >= 0", name="ck_staff_members_attempts"),
)

sessions = Table(
    "staff_sessions",
    metadata,
    Column("token_digest", String(64), primary_key=True),
    Column("staff_id", BigInteger, ForeignKey("staff_members.id"), nullable=False),
    Column("second_factor", Boolean, nullable=False),  # False: may only enrol the TOTP
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("seen_lsn", BigInteger),  # migration 0028: the primary's position after their write
    Index("ix_staff_sessions_staff", "staff_id"),
)

audit = Table(  # append-only: triggers refuse UPDATE and DELETE
    "staff_audit",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("staff_id", BigInteger, ForeignKey("staff_members.id")),  # None: the command line
    Column("origin", String(64), nullable=False),  # the client's IP address, or "cli"
    Column("action", String(48), nullable=False),
    Column("target_type", String(32), nullable=False),
    Column("target_id", String(64), nullable=False),
    Column("before", JSON),
    Column("after", JSON),
    Index("ix_staff_audit_staff", "staff_id", "id"),
    Index("ix_staff_audit_action", "action", "id"),
)
