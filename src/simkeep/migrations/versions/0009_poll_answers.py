"""The inbox keeps the provider's answers to our polls beside its notifications: a poll
that credits an order, or finds it paid for another amount, is a row with source ``poll``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payment_notifications") as batch:
        batch.add_column(
            sa.Column("source", sa.String(12), nullable=False, server_default="notification")
        )


def downgrade() -> None:
    with op.batch_alter_table("payment_notifications") as batch:
        batch.drop_column("source")
