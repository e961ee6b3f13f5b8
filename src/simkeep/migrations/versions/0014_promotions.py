"""Promotions, their budgets and per-SIM caps, and what each order was granted
(``simkeep.promotions.tables``): the promotions with their conditions and limits, the
benefits each gives, the grants taken per SIM, and each order's promised benefits with the
state of the promise (reserved, released, granted). The database refuses a budget exceeded.
An index of orders by SIM answers "the SIM's first top-up"; one of buckets by expiry serves
the job that expires them.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
LOCALES = ("zh_hant_hk", "zh_hans_cn", "en")


def upgrade() -> None:
    op.create_table(
        "promotions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        *(sa.Column(f"name_{locale}", sa.String(100), nullable=False) for locale in LOCALES),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("stackable", sa.Boolean, nullable=False),
        sa.Column("currency", sa.String(3)),
        sa.Column("min_credit_minor", sa.BigInteger),
        sa.Column("sales_channel", sa.String(8)),
        sa.Column("provider", sa.String(16)),
        sa.Column("pay_channel", sa.String(8)),
        sa.Column("first_topup", sa.Boolean, nullable=False),
        sa.Column("plan_code", sa.String(32), sa.ForeignKey("sim_plans.code")),
        sa.Column("starts_at", TS),
        sa.Column("ends_at", TS),
        sa.Column("budget", sa.BigInteger),
        sa.Column("used", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("per_sim_cap", sa.BigInteger),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("state IN ('active', 'paused')", name="ck_promotions_state"),
        sa.CheckConstraint(
            "used >= 0 AND (budget IS NULL OR used <= budget)", name="ck_promotions_budget"
        ),
        sa.CheckConstraint("per_sim_cap IS NULL OR per_sim_cap > 0", name="ck_promotions_cap"),
    )
    op.create_table(
        "promotion_benefits",
        sa.Column("promotion_id", sa.BigInteger, sa.ForeignKey("promotions.id"), primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("zone", sa.String(8)),
        sa.Column("expires_days", sa.Integer),
        sa.CheckConstraint(
            "kind IN ('money', 'percent', 'data', 'voice', 'sms', 'validity')",
            name="ck_promotion_benefits_kind",
        ),
        sa.CheckConstraint("amount > 0", name="ck_promotion_benefits_amount"),
    )
    op.create_table(
        "promotion_sim_uses",
        sa.Column("promotion_id", sa.BigInteger, sa.ForeignKey("promotions.id"), primary_key=True),
        sa.Column("sim_id", sa.BigInteger, sa.ForeignKey("sims.id"), primary_key=True),
        sa.Column("used", sa.BigInteger, nullable=False),
        sa.CheckConstraint("used >= 0", name="ck_promotion_sim_uses_used"),
    )
    op.create_table(
        "order_promotions",
        sa.Column(
            "order_no", sa.String(32), sa.ForeignKey("topup_orders.order_no"), primary_key=True
        ),
        sa.Column("promotion_id", sa.BigInteger, sa.ForeignKey("promotions.id"), primary_key=True),
        sa.Column("sim_id", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("grants", sa.Text, nullable=False),
        sa.Column("reserved_at", TS, nullable=False),
        sa.Column("settled_at", TS),
        sa.CheckConstraint(
            "state IN ('reserved', 'released', 'granted')", name="ck_order_promotions_state"
        ),
    )
    op.create_index("ix_order_promotions_promotion", "order_promotions", ["promotion_id", "state"])
    op.create_index("ix_topup_orders_sim", "topup_orders", ["sim_id", "state"])
    op.create_index("ix_sim_buckets_expiry", "sim_buckets", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_sim_buckets_expiry", table_name="sim_buckets")
    op.drop_index("ix_topup_orders_sim", table_name="topup_orders")
    op.drop_index("ix_order_promotions_promotion", table_name="order_promotions")
    for table in ("order_promotions", "promotion_sim_uses", "promotion_benefits", "promotions"):
        op.drop_table(table)
