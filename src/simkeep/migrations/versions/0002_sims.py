"""SIM cards: plans, SIMs, their two lines, and the events of their states.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sim_plans",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("retention", sa.String(16), nullable=False),
        sa.Column("monthly_fee", sa.BigInteger, nullable=False),
        sa.CheckConstraint(
            "retention IN ('monthly_fee', 'validity')", name="ck_sim_plans_retention"
        ),
        sa.CheckConstraint("monthly_fee >= 0", name="ck_sim_plans_fee"),
    )
    op.create_table(
        "sims",
        sa.Column("id", ID, primary_key=True),
        sa.Column("iccid", sa.String(20), nullable=False, unique=True),
        sa.Column("home_currency", sa.String(3), nullable=False),
        sa.Column("plan_code", sa.String(32), sa.ForeignKey("sim_plans.code"), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("holder_masked", sa.String(64), nullable=False),
        sa.Column("id_type", sa.String(24), nullable=False),
        sa.Column("id_digest", sa.String(64), nullable=False),
        sa.Column("id_masked", sa.String(32), nullable=False),
        sa.Column("validity_until", TS),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint(
            "state IN ('active', 'grace', 'suspended', 'recycled')", name="ck_sims_state"
        ),
    )
    op.create_index("ix_sims_id_digest", "sims", ["id_digest"])
    op.create_table(
        "sim_lines",
        sa.Column("e164", sa.String(16), primary_key=True),
        sa.Column("sim_id", sa.BigInteger, sa.ForeignKey("sims.id"), nullable=False),
        sa.Column("region", sa.String(2), nullable=False),
        sa.UniqueConstraint("sim_id", "region", name="uq_sim_lines_sim_region"),
        sa.CheckConstraint("region IN ('HK', 'CN')", name="ck_sim_lines_region"),
    )
    op.create_table(
        "sim_events",
        sa.Column("id", ID, primary_key=True),
        sa.Column("sim_id", sa.BigInteger, sa.ForeignKey("sims.id"), nullable=False),
        sa.Column("from_state", sa.String(10)),
        sa.Column("to_state", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_sim_events_sim", "sim_events", ["sim_id", "id"])


def downgrade() -> None:
    for table in ("sim_events", "sim_lines", "sims", "sim_plans"):
        op.drop_table(table)
