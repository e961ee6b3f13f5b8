"""Benefit buckets: what a promotion grants a SIM, each grant with its kind (voice minutes,
data MB, SMS or bonus money), zone, amount left and expiry (``simkeep.buckets.tables``).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sim_buckets",
        sa.Column("id", ID, primary_key=True),
        sa.Column("sim_id", sa.BigInteger, sa.ForeignKey("sims.id"), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("zone", sa.String(8)),
        sa.Column("currency", sa.String(3)),
        sa.Column("granted", sa.BigInteger, nullable=False),
        sa.Column("remaining", sa.BigInteger, nullable=False),
        sa.Column("granted_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("expired_at", TS),
        sa.Column("source_ref", sa.String(96), nullable=False),
        sa.CheckConstraint("kind IN ('voice', 'data', 'sms', 'money')", name="ck_sim_buckets_kind"),
        sa.CheckConstraint(
            "zone IS NULL OR zone IN ('hk', 'mainland')", name="ck_sim_buckets_zone"
        ),
        sa.CheckConstraint(
            "(kind = 'money') = (currency IS NOT NULL)", name="ck_sim_buckets_currency"
        ),
        sa.CheckConstraint(
            "granted > 0 AND remaining >= 0 AND remaining <= granted",
            name="ck_sim_buckets_amounts",
        ),
        sa.UniqueConstraint("source_ref", "kind", "zone", name="uq_sim_buckets_source"),
    )
    op.create_index("ix_sim_buckets_sim", "sim_buckets", ["sim_id", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_sim_buckets_sim", table_name="sim_buckets")
    op.drop_table("sim_buckets")
