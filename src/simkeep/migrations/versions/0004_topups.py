"""Top-up orders, FX rates, and the inbox of payment notifications.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "fx_rates",
        sa.Column("id", ID, primary_key=True),
        sa.Column("base", sa.String(3), nullable=False),
        sa.Column("quote", sa.String(3), nullable=False),
        sa.Column("rate", sa.String(32), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("set_at", TS, nullable=False),
    )
    op.create_index("ix_fx_rates_pair", "fx_rates", ["base", "quote", "id"])
    op.create_table(
        "topup_orders",
        sa.Column("id", ID, primary_key=True),
        sa.Column("order_no", sa.String(32), nullable=False, unique=True),
        sa.Column("subscriber_id", sa.BigInteger),
        sa.Column("idempotency_key", sa.String(128)),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("sim_id", sa.BigInteger, nullable=False),
        sa.Column("msisdn", sa.String(16), nullable=False),
        sa.Column("credit_minor", sa.BigInteger, nullable=False),
        sa.Column("credit_currency", sa.String(3), nullable=False),
        sa.Column("pay_minor", sa.BigInteger, nullable=False),
        sa.Column("pay_currency", sa.String(3), nullable=False),
        sa.Column("fx_rate", sa.String(32)),
        sa.Column("validity_days", sa.Integer, nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("next_poll_at", TS),
        sa.Column("polls", sa.Integer, nullable=False, server_default="0"),
        sa.Column("paid_at", TS),
        sa.Column("credited_at", TS),
        sa.Column("provider_trade_no", sa.String(64)),
        sa.Column("receipt_no", sa.String(20), unique=True),
        sa.UniqueConstraint("subscriber_id", "idempotency_key", name="uq_topup_orders_idempotency"),
        sa.CheckConstraint("credit_minor > 0 AND pay_minor > 0", name="ck_topup_orders_amounts"),
    )
    op.create_index("ix_topup_orders_poll", "topup_orders", ["state", "next_poll_at"])
    op.create_index("ix_topup_orders_subscriber", "topup_orders", ["subscriber_id", "id"])
    op.create_table(
        "payment_notifications",
        sa.Column("id", ID, primary_key=True),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("notification_id", sa.String(128)),
        sa.Column("order_no", sa.String(32)),
        sa.Column("headers", sa.Text, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("received_at", TS, nullable=False),
    )
    op.create_index("ix_payment_notifications_order", "payment_notifications", ["order_no"])


def downgrade() -> None:
    for table in ("payment_notifications", "topup_orders", "fx_rates"):
        op.drop_table(table)
