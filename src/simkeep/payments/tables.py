"""Payment tables: the notification inbox (migrations 0004_topups, 0009_poll_answers) and the
payments pushed with a reference (0021_payment_methods)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from simkeep.sqltypes import UTCDateTime, id_column_type

metadata = MetaData()

inbox = Table(
    "payment_notifications",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("provider", String(16), nullable=False),
    Column("notification_id", String(128)),
    Column("order_no", String(32)),
    Column("headers", Text, nullable=False),
    Column("body", LargeBinary, nullable=False),  # the first bytes only, unless verified
    Column("body_size", BigInteger, nullable=False),  # migration 0007
    Column("body_sha256", String(64), nullable=False),
    Column("status", String(20), nullable=False),
    Column("error", Text),
    Column("received_at", UTCDateTime, nullable=False),
    # "notification", or "poll": the provider's answer to our query, kept when it moved
    # money or was refused
    Column("source", String(12), nullable=False, server_default="notification"),
    Index("ix_payment_notifications_order", "order_no"),
)

incoming = Table(  # migration 0021: money the payer pushed with a reference (FPS)
    "incoming_payments",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("provider", String(16), nullable=False),
    Column("provider_trade_no", String(64), nullable=False),
    Column("reference", String(64), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("payer_account", String(128)),
    Column("order_no", String(32)),
    Column("state", String(12), nullable=False),
    Column("reason", String(32)),
    Column("received_at", UTCDateTime, nullable=False),
    Column("decided_by", BigInteger),
    Column("decided_at", UTCDateTime),
    Column("decision", String(500)),
    UniqueConstraint("provider", "provider_trade_no", name="uq_incoming_payments_trade"),
    Index("ix_incoming_payments_state", "state", "id"),
    Index("ix_incoming_payments_order", "order_no"),
)
