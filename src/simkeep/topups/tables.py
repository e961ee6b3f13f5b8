"""Top-up tables (migration 0004_topups)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from simkeep.sqltypes import UTCDateTime, id_column_type

metadata = MetaData()

fx_rates = Table(
    "fx_rates",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("base", String(3), nullable=False),
    Column("quote", String(3), nullable=False),
    Column("rate", String(32), nullable=False),  # a decimal, kept as text: never a float
    Column("source", String(64), nullable=False),
    Column("set_at", UTCDateTime, nullable=False),
    Index("ix_fx_rates_pair", "base", "quote", "id"),
)

orders = Table(
    "topup_orders",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("order_no", String(32), nullable=False, unique=True),
    Column("subscriber_id", BigInteger),
    Column("idempotency_key", String(128)),
    Column("request_hash", String(64), nullable=False),
    Column("sim_id", BigInteger, nullable=False),
    Column("msisdn", String(16), nullable=False),
    Column("credit_minor", BigInteger, nullable=False),
    Column("credit_currency", String(3), nullable=False),
    Column("pay_minor", BigInteger, nullable=False),
    Column("pay_currency", String(3), nullable=False),
    Column("fx_rate", String(32)),
    Column("validity_days", Integer, nullable=False),
    Column("provider", String(16), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("state", String(20), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("next_poll_at", UTCDateTime),
    Column("polls", Integer, nullable=False, server_default="0"),
    Column("paid_at", UTCDateTime),
    Column("credited_at", UTCDateTime),
    Column("provider_trade_no", String(64)),
    Column("receipt_no", String(20), unique=True),
    Column("pay_url", Text),
    Column("pay_qr", Text),
    Column("pay_form", Text),  # migration 0021: JSON of the fields posted to pay_url
    Column("close_due_at", UTCDateTime),
    Column("closed_at", UTCDateTime),
    Column("validity_until", UTCDateTime),  # the SIM's validity after this credit
    UniqueConstraint("subscriber_id", "idempotency_key", name="uq_topup_orders_idempotency"),
    CheckConstraint("credit_minor > 0 AND pay_minor > 0", name="ck_topup_orders_amounts"),
    Index("ix_topup_orders_poll", "state", "next_poll_at"),
    Index("ix_topup_orders_subscriber", "subscriber_id", "id"),
    Index("ix_topup_orders_close", "state", "close_due_at"),
    Index("ix_topup_orders_msisdn", "msisdn", "id"),
    Index("ix_topup_orders_credited", "credited_at"),
    Index("ix_topup_orders_sim", "sim_id", "state"),  # migration 0014: first top-ups
)
