"""Usage charging: rates per plan, network clients and usage records.

``plan_rates`` prices usage per plan, zone (``hk``, ``mainland``) and kind (``voice``
minute, ``data`` MB, ``sms`` message) in minor units of the plan's currency; the default
plans get their default rates here (``simkeep.usage.rates.DEFAULT_RATES``, copied, as a
migration must not change when the code does). ``network_clients`` are the carrier's
systems, each with the SHA-256 digest of its bearer token. ``usage_records`` keeps every
record a client reported and what it cost: unique per client and record id (the
idempotency of ``POST /api/v1/network/usage``), the units benefit buckets paid, the price of
the rest, and how much of that bonus money, the balance, and nobody (unpaid) paid. CHECKs
hold the arithmetic: nothing below zero, the parts summing to the price. A record's SIM is
a foreign key; its client and its journal are not: both tables only ever grow (clients are
never removed, journals are append-only by the ledger's triggers), and a check of each per
row was a third of a batch's insert on PostgreSQL.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)

# (zone, kind) → minor units per unit, for HKD plans and for CNY plans.
HKD_RATES = {
    ("hk", "voice"): 25,
    ("hk", "data"): 10,
    ("hk", "sms"): 50,
    ("mainland", "voice"): 100,
    ("mainland", "data"): 30,
    ("mainland", "sms"): 100,
}
CNY_RATES = {
    ("mainland", "voice"): 15,
    ("mainland", "data"): 5,
    ("mainland", "sms"): 10,
    ("hk", "voice"): 80,
    ("hk", "data"): 25,
    ("hk", "sms"): 80,
}
DEFAULT_RATES = {
    "HK-KEEP": HKD_RATES,
    "HK-VALID": HKD_RATES,
    "CN-KEEP": CNY_RATES,
    "CN-VALID": CNY_RATES,
}


def upgrade() -> None:
    rates = op.create_table(
        "plan_rates",
        sa.Column("plan_code", sa.String(32), sa.ForeignKey("sim_plans.code"), primary_key=True),
        sa.Column("zone", sa.String(8), primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("rate_minor", sa.BigInteger, nullable=False),
        sa.CheckConstraint("zone IN ('hk', 'mainland')", name="ck_plan_rates_zone"),
        sa.CheckConstraint("kind IN ('voice', 'data', 'sms')", name="ck_plan_rates_kind"),
        sa.CheckConstraint("rate_minor BETWEEN 0 AND 1000000", name="ck_plan_rates_rate"),
    )
    op.create_table(
        "network_clients",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("token_digest", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "usage_records",
        sa.Column("id", ID, primary_key=True),
        sa.Column("client_id", sa.BigInteger, nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("sim_id", sa.BigInteger, sa.ForeignKey("sims.id"), nullable=False),
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("zone", sa.String(8), nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("rate_minor", sa.BigInteger, nullable=False),
        sa.Column("bucket_units", sa.BigInteger, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("bonus_minor", sa.BigInteger, nullable=False),
        sa.Column("balance_minor", sa.BigInteger, nullable=False),
        sa.Column("unpaid_minor", sa.BigInteger, nullable=False),
        sa.Column("barred", sa.Boolean, nullable=False),
        sa.Column("journal_id", sa.BigInteger),
        sa.UniqueConstraint("client_id", "record_id", name="uq_usage_records_client_record"),
        sa.CheckConstraint("kind IN ('voice', 'data', 'sms')", name="ck_usage_records_kind"),
        sa.CheckConstraint("zone IN ('hk', 'mainland')", name="ck_usage_records_zone"),
        sa.CheckConstraint(
            "quantity > 0 AND bucket_units BETWEEN 0 AND quantity AND rate_minor >= 0"
            " AND amount_minor = (quantity - bucket_units) * rate_minor",
            name="ck_usage_records_price",
        ),
        sa.CheckConstraint(
            "bonus_minor >= 0 AND balance_minor >= 0 AND unpaid_minor >= 0"
            " AND bonus_minor + balance_minor + unpaid_minor = amount_minor",
            name="ck_usage_records_paid",
        ),
    )
    op.create_index("ix_usage_records_sim", "usage_records", ["sim_id", "occurred_at"])
    op.create_index("ix_usage_records_journal", "usage_records", ["journal_id"])
    plans = sa.table("sim_plans", sa.column("code", sa.String))
    for plan, table in DEFAULT_RATES.items():  # only the default plans that exist
        for (zone, kind), rate in table.items():
            op.execute(
                rates.insert().from_select(
                    ["plan_code", "zone", "kind", "rate_minor"],
                    sa.select(
                        plans.c.code, sa.literal(zone), sa.literal(kind), sa.literal(rate)
                    ).where(plans.c.code == plan),
                )
            )


def downgrade() -> None:
    op.drop_index("ix_usage_records_journal", table_name="usage_records")
    op.drop_index("ix_usage_records_sim", table_name="usage_records")
    op.drop_table("usage_records")
    op.drop_table("network_clients")
    op.drop_table("plan_rates")
