"""Counter tables (migration 0019_counter): POS devices, shifts, outlet sales, ID checks and
the windows that count ID checks."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)

from simkeep.sqltypes import UTCDateTime, id_column_type

metadata = MetaData()

devices = Table(
    "pos_devices",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("staff_id", BigInteger, nullable=False),
    Column("label", String(64), nullable=False),
    Column("token_digest", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
)

shifts = Table(
    "counter_shifts",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("outlet_id", BigInteger, nullable=False),
    Column("clerk_id", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("state", String(8), nullable=False),  # open | closed
    Column("opening_cash_minor", BigInteger, nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime),
    Column("expected_cash_minor", BigInteger),
    Column("expected_card_minor", BigInteger),
    Column("counted_cash_minor", BigInteger),
    Column("difference_minor", BigInteger),
    Index(
        "uq_counter_shifts_open",
        "clerk_id",
        unique=True,
        sqlite_where=text("state = 'open'"),
        postgresql_where=text("state = 'open'"),
    ),
    Index("ix_counter_shifts_outlet", "outlet_id", "id"),
)

sales = Table(
    "outlet_sales",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("receipt_no", String(20), nullable=False, unique=True),
    Column("shift_id", BigInteger, nullable=False),
    Column("outlet_id", BigInteger, nullable=False),
    Column("agent_id", BigInteger, nullable=False),
    Column("clerk_id", BigInteger, nullable=False),
    Column("device_id", BigInteger),
    Column("kind", String(8), nullable=False),  # topup | voucher
    Column("order_no", String(32)),  # a top-up's order
    Column("idempotency_key", String(128), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("payment", String(8), nullable=False),  # cash | card
    Column("terminal_ref", String(64)),  # the card terminal's reference
    Column("commission_minor", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("outlet_id", "idempotency_key", name="uq_outlet_sales_idempotency"),
    Index("ix_outlet_sales_shift", "shift_id", "id"),
    Index("ix_outlet_sales_agent", "agent_id", "created_at"),
)

id_checks = Table(  # never the ID number typed: only whether it matched
    "id_checks",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("sim_id", BigInteger, nullable=False),
    Column("outlet_id", BigInteger, nullable=False),
    Column("clerk_id", BigInteger, nullable=False),
    Column("id_type", String(24), nullable=False),
    Column("matched", Boolean, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_id_checks_sim", "sim_id", "at"),
)

id_check_attempts = Table(  # ID checks per SIM and per clerk in the current window
    "id_check_attempts",
    metadata,
    Column("scope", String(8), primary_key=True),  # sim | clerk
    Column("subject_id", BigInteger, primary_key=True),
    Column("attempts", Integer, nullable=False),
    Column("window_ends_at", UTCDateTime, nullable=False),
)
