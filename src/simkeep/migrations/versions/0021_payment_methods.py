"""More ways to pay: a gateway form to post, and money pushed by the payer.

* ``topup_orders.pay_form``: the signed fields a payer's browser posts to a gateway that
  takes a form (UnionPay's front transaction), as JSON, beside ``pay_url`` (the gateway).
* ``incoming_payments``: every verified payment the payer pushed with a reference (FPS), as
  the receiving bank reported it — the reference, the amount, the payer's account proxy (a
  refund is a transfer back to it) — and what became of it: ``matched`` to its order, or
  ``review`` (no order by that reference, or another amount) until staff decide, never
  guessed. One row per bank transaction: a notification delivered again adds none.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("topup_orders", sa.Column("pay_form", sa.Text))
    op.create_table(
        "incoming_payments",
        sa.Column("id", ID, primary_key=True),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("provider_trade_no", sa.String(64), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),  # as the payer gave it
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("payer_account", sa.String(128)),
        sa.Column("order_no", sa.String(32)),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("reason", sa.String(32)),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("decided_by", sa.BigInteger, sa.ForeignKey("staff_members.id")),
        sa.Column("decided_at", TS),
        sa.Column("decision", sa.String(500)),
        sa.UniqueConstraint("provider", "provider_trade_no", name="uq_incoming_payments_trade"),
        sa.CheckConstraint("amount_minor > 0", name="ck_incoming_payments_amount"),
        sa.CheckConstraint(
            "state IN ('matched', 'review', 'returned', 'assigned')",
            name="ck_incoming_payments_state",
        ),
    )
    op.create_index("ix_incoming_payments_state", "incoming_payments", ["state", "id"])
    op.create_index("ix_incoming_payments_order", "incoming_payments", ["order_no"])


def downgrade() -> None:
    op.drop_index("ix_incoming_payments_order", "incoming_payments")
    op.drop_index("ix_incoming_payments_state", "incoming_payments")
    op.drop_table("incoming_payments")
    op.drop_column("topup_orders", "pay_form")
