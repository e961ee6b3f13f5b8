"""Usage tables (migration 0013_usage).

``plan_rates``: the price of one unit (a voice minute, a data MB, an SMS) per plan and zone,
in minor units of the plan's currency. ``network_clients``: the carrier's systems and the
SHA-256 digests of their bearer tokens. ``usage_records``: every record a client reported,
once per client and record id, with what it cost and who paid: ``bucket_units`` units from
benefit buckets, then ``amount_minor`` (the rest at ``rate_minor``) split into
``bonus_minor``, ``balance_minor`` and ``unpaid_minor``; ``journal_id`` is the journal that
booked it (none when nothing was paid in money).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Index,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

from simkeep.sqltypes import UTCDateTime, id_column_type

metadata = MetaData()

rates = Table(
    "plan_rates",
    metadata,
    Column("plan_code", String(32), primary_key=True),  # sim_plans.code (a foreign key)
    Column("zone", String(8), primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("rate_minor", BigInteger, nullable=False),
    CheckConstraint("zone IN ('hk', 'mainland')", name="ck_plan_rates_zone"),
    CheckConstraint("kind IN ('voice', 'data', 'sms')", name="ck_plan_rates_kind"),
    CheckConstraint("rate_minor BETWEEN 0 AND 1000000", name="ck_plan_rates_rate"),
)

clients = Table(
    "network_clients",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("token_digest", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
)

records = Table(
    "usage_records",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("client_id", BigInteger, nullable=False),  # network_clients.id (never removed)
    Column("record_id", String(64), nullable=False),
    Column("sim_id", BigInteger, nullable=False),  # sims.id (a foreign key in the schema)
    Column("number", String(16), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("zone", String(8), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("rate_minor", BigInteger, nullable=False),
    Column("bucket_units", BigInteger, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("bonus_minor", BigInteger, nullable=False),
    Column("balance_minor", BigInteger, nullable=False),
    Column("unpaid_minor", BigInteger, nullable=False),
    Column("barred", Boolean, nullable=False),
    Column("journal_id", BigInteger),  # ledger_journals.id (append-only)
    UniqueConstraint("client_id", "record_id", name="uq_usage_records_client_record"),
    CheckConstraint("kind IN ('voice', 'data', 'sms')", name="ck_usage_records_kind"),
    CheckConstraint("zone IN ('hk', 'mainland')", name="ck_usage_records_zone"),
    CheckConstraint(
        "quantity > 0 AND bucket_units BETWEEN 0 AND quantity AND rate_minor >= 0"
        " AND amount_minor = (quantity - bucket_units) * rate_minor",
        name="ck_usage_records_price",
    ),
    CheckConstraint(
        "bonus_minor >= 0 AND balance_minor >= 0 AND unpaid_minor >= 0"
        " AND bonus_minor + balance_minor + unpaid_minor = amount_minor",
        name="ck_usage_records_paid",
    ),
    Index("ix_usage_records_sim", "sim_id", "occurred_at"),
    Index("ix_usage_records_journal", "journal_id"),
)
