"""Auto keep-alive tables (migration 0015_keepalive): each SIM's agreement and rule, and one
attempt per rule and period."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
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

rules = Table(
    "keepalive_rules",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("subscriber_id", BigInteger, nullable=False),  # subscribers.id (a foreign key)
    Column("sim_id", BigInteger, nullable=False),  # sims.id (a foreign key)
    Column("provider", String(16), nullable=False),
    Column("agreement_ref", String(32), nullable=False, unique=True),  # ours, to the provider
    Column("provider_agreement_no", String(64)),  # Alipay agreement_no, WeChat contract_id
    Column("state", String(12), nullable=False),
    Column("mode", String(8), nullable=False),
    Column("amount_minor", BigInteger),
    Column("created_at", UTCDateTime, nullable=False),
    Column("signed_at", UTCDateTime),
    Column("ended_at", UTCDateTime),
    Column("end_reason", String(32)),
    CheckConstraint("state IN ('signing', 'active', 'ended')", name="ck_keepalive_state"),
    CheckConstraint(
        "(mode = 'fixed' AND amount_minor > 0) OR (mode = 'enough' AND amount_minor IS NULL)",
        name="ck_keepalive_mode",
    ),
    Index(
        "uq_keepalive_rules_sim",
        "sim_id",
        unique=True,
        sqlite_where=text("state <> 'ended'"),
        postgresql_where=text("state <> 'ended'"),
    ),
)

attempts = Table(
    "keepalive_attempts",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("rule_id", BigInteger, nullable=False),  # keepalive_rules.id (a foreign key)
    Column("period", Date, nullable=False),  # the day the SIM would lapse
    Column("state", String(12), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("tries", Integer, nullable=False, server_default="0"),
    Column("next_at", UTCDateTime),
    Column("order_no", String(32)),
    Column("last_error", String(200)),
    Column("noticed_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("rule_id", "period", name="uq_keepalive_attempts_period"),
    CheckConstraint(
        "state IN ('waiting', 'charging', 'pending', 'paid', 'failed', 'cancelled')",
        name="ck_keepalive_attempt_state",
    ),
    Index("ix_keepalive_attempts_due", "state", "next_at"),
)
