"""Promotion tables (migration 0014_promotions).

``promotions`` holds the conditions, the limits and ``used``: grants taken, reserved by open
orders or granted; the database refuses ``used`` past the budget. ``promotion_benefits``
what each gives, one row per kind. ``promotion_sim_uses`` the grants taken per SIM, for the
per-SIM cap. ``order_promotions`` what an order was promised — the benefits as computed for
it, as JSON text — and where that promise is: ``reserved`` (the order is open), ``released``
(it expired unpaid) or ``granted`` (credited).
"""

from __future__ import annotations

from sqlalchemy import (
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
    Text,
)

from simkeep import names
from simkeep.sqltypes import UTCDateTime, id_column_type

metadata = MetaData()

promotions = Table(
    "promotions",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("code", String(32), nullable=False, unique=True),
    *names.columns(),
    Column("state", String(8), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("stackable", Boolean, nullable=False),
    Column("currency", String(3)),
    Column("min_credit_minor", BigInteger),
    Column("sales_channel", String(8)),
    Column("provider", String(16)),
    Column("pay_channel", String(8)),
    Column("first_topup", Boolean, nullable=False),
    Column("plan_code", String(32)),
    Column("starts_at", UTCDateTime),
    Column("ends_at", UTCDateTime),
    Column("budget", BigInteger),
    Column("used", BigInteger, nullable=False, server_default="0"),
    Column("per_sim_cap", BigInteger),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("state IN ('active', 'paused')", name="ck_promotions_state"),
    CheckConstraint(
        "used >= 0 AND (budget IS NULL OR used <= budget)", name="ck_promotions_budget"
    ),
    CheckConstraint("per_sim_cap IS NULL OR per_sim_cap > 0", name="ck_promotions_cap"),
)

benefits = Table(
    "promotion_benefits",
    metadata,
    Column("promotion_id", BigInteger, ForeignKey("promotions.id"), primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("amount", BigInteger, nullable=False),
    Column("zone", String(8)),
    Column("expires_days", Integer),
    CheckConstraint(
        "kind IN ('money', 'percent', 'data', 'voice', 'sms', 'validity')",
        name="ck_promotion_benefits_kind",
    ),
    CheckConstraint("amount > 0", name="ck_promotion_benefits_amount"),
)

sim_uses = Table(
    "promotion_sim_uses",
    metadata,
    Column("promotion_id", BigInteger, ForeignKey("promotions.id"), primary_key=True),
    Column("sim_id", BigInteger, primary_key=True),  # sims.id (a foreign key in the schema)
    Column("used", BigInteger, nullable=False),
    CheckConstraint("used >= 0", name="ck_promotion_sim_uses_used"),
)

order_promotions = Table(
    "order_promotions",
    metadata,
    Column("order_no", String(32), primary_key=True),  # topup_orders.order_no (ditto)
    Column("promotion_id", BigInteger, ForeignKey("promotions.id"), primary_key=True),
    Column("sim_id", BigInteger, nullable=False),
    Column("state", String(8), nullable=False),
    Column("grants", Text, nullable=False),
    Column("reserved_at", UTCDateTime, nullable=False),
    Column("settled_at", UTCDateTime),
    CheckConstraint(
        "state IN ('reserved', 'released', 'granted')", name="ck_order_promotions_state"
    ),
    Index("ix_order_promotions_promotion", "promotion_id", "state"),
)
