"""Checkout: how to pay an order (kept to resume it), closing expired trades at the provider,
the SIM's validity as the receipt states it, and the SIMs a subscriber has proved they hold.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("topup_orders") as batch:
        batch.add_column(sa.Column("pay_url", sa.Text))
        batch.add_column(sa.Column("pay_qr", sa.Text))
        batch.add_column(sa.Column("close_due_at", TS))
        batch.add_column(sa.Column("closed_at", TS))
        batch.add_column(sa.Column("validity_until", TS))
    op.create_index("ix_topup_orders_close", "topup_orders", ["state", "close_due_at"])
    op.create_index("ix_topup_orders_msisdn", "topup_orders", ["msisdn", "id"])
    op.create_table(
        "subscriber_sims",
        sa.Column("subscriber_id", sa.BigInteger, primary_key=True),
        sa.Column("sim_id", sa.BigInteger, sa.ForeignKey("sims.id"), primary_key=True),
        sa.Column("linked_at", TS, nullable=False),
    )
    op.create_index("ix_subscriber_sims_sim", "subscriber_sims", ["sim_id"])


def downgrade() -> None:
    op.drop_table("subscriber_sims")
    op.drop_index("ix_topup_orders_msisdn", "topup_orders")
    op.drop_index("ix_topup_orders_close", "topup_orders")
    with op.batch_alter_table("topup_orders") as batch:
        for column in ("validity_until", "closed_at", "close_due_at", "pay_qr", "pay_url"):
            batch.drop_column(column)
