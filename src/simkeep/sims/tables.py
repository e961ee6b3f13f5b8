"""SIM tables (migration 0002_sims; plans' names in three languages: 0008_names; what the
retention run keeps of each SIM and plan: 0010_retention; the number pool: 0016_number_pool)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from simkeep import names
from simkeep.sqltypes import UTCDateTime, id_column_type

metadata = MetaData()

plans = Table(
    "sim_plans",
    metadata,
    Column("code", String(32), primary_key=True),
    *names.columns(),
    Column("currency", String(3), nullable=False),
    Column("retention", String(16), nullable=False),
    Column("monthly_fee", BigInteger, nullable=False),
    Column("grace_days", Integer, nullable=False, server_default="30"),
    Column("suspension_days", Integer, nullable=False, server_default="60"),
    CheckConstraint("retention IN ('monthly_fee', 'validity')", name="ck_sim_plans_retention"),
    CheckConstraint("monthly_fee >= 0", name="ck_sim_plans_fee"),
    CheckConstraint("grace_days > 0 AND suspension_days > 0", name="ck_sim_plans_lengths"),
)

sims = Table(
    "sims",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("iccid", String(20), nullable=False, unique=True),
    Column("home_currency", String(3), nullable=False),
    Column("plan_code", String(32), ForeignKey("sim_plans.code"), nullable=False),
    Column("state", String(10), nullable=False),
    Column("holder_masked", String(64), nullable=False),
    Column("id_type", String(24), nullable=False),
    Column("id_digest", String(64), nullable=False),
    Column("id_masked", String(32), nullable=False),
    Column("validity_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("state_since", UTCDateTime),  # when the current state began (0010_retention)
    Column("billing_day", SmallInteger),  # monthly-fee plans: the day of the month billed
    Column("next_fee_on", Date),  # monthly-fee plans: the Hong Kong date the next fee is due
    Column("arrears_minor", BigInteger, nullable=False, server_default="0"),  # fees owed
    Column("run_on", Date),  # the last day the retention run worked on it (0016_number_pool)
    Column("balance_account_id", BigInteger),  # its balance in the books (0016_number_pool)
    CheckConstraint("state IN ('active', 'grace', 'suspended', 'recycled')", name="ck_sims_state"),
    CheckConstraint("arrears_minor >= 0", name="ck_sims_arrears"),
    CheckConstraint(
        "billing_day IS NULL OR billing_day BETWEEN 1 AND 31", name="ck_sims_billing_day"
    ),
    Index("ix_sims_id_digest", "id_digest"),
)

lines = Table(
    "sim_lines",
    metadata,
    Column("e164", String(16), primary_key=True),
    Column("sim_id", BigInteger, ForeignKey("sims.id"), nullable=False),
    Column("region", String(2), nullable=False),
    UniqueConstraint("sim_id", "region", name="uq_sim_lines_sim_region"),
    CheckConstraint("region IN ('HK', 'CN')", name="ck_sim_lines_region"),
)

events = Table(
    "sim_events",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("sim_id", BigInteger, ForeignKey("sims.id"), nullable=False),
    Column("from_state", String(10)),
    Column("to_state", String(10), nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_sim_events_sim", "sim_id", "id"),
)

holdings = Table(  # the SIMs a subscriber proved they hold (migration 0005_checkout)
    "subscriber_sims",
    metadata,
    Column("subscriber_id", BigInteger, primary_key=True),
    Column("sim_id", BigInteger, ForeignKey("sims.id"), primary_key=True),
    Column("linked_at", UTCDateTime, nullable=False),
    Index("ix_subscriber_sims_sim", "sim_id"),
)

pool = Table(  # the numbers of recycled SIMs, in quarantine until reused (0016_number_pool)
    "number_pool",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("e164", String(16), nullable=False),
    Column("region", String(2), nullable=False),
    Column("sim_id", BigInteger, ForeignKey("sims.id"), nullable=False),  # recycled from
    Column("released_on", Date, nullable=False),  # the Hong Kong day it was recycled
    Column("reissued_to", BigInteger, ForeignKey("sims.id")),
    Column("reissued_at", UTCDateTime),
    UniqueConstraint("sim_id", "region", name="uq_number_pool_sim_region"),
    Index(
        "uq_number_pool_waiting",
        "e164",
        unique=True,
        sqlite_where=text("reissued_at IS NULL"),
        postgresql_where=text("reissued_at IS NULL"),
    ),
)
