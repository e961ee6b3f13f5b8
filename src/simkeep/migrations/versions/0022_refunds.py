"""Refunds: what a payer asked back, its decision, and its way back through the provider.

* ``refunds``: one row per refund of a credited order — its number (the provider refund id
  every retry reuses), who asked and why, the money (taken from the SIM, of it the used bonus
  deducted, the unused bonus taken back, what the payer gets back in the currency paid), the
  state (``requested → approved → processing → paid``, or ``refused``, ``failed``), the
  decision (who, when, why) and the sending schedule (``next_try_at``, ``attempts``).
* ``topup_orders.state`` gains ``refund_requested`` (a free-text column: no constraint moves).

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "refunds",
        sa.Column("id", ID, primary_key=True),
        sa.Column("refund_no", sa.String(32), nullable=False, unique=True),
        sa.Column("order_no", sa.String(32), nullable=False),
        sa.Column("sim_id", sa.BigInteger, sa.ForeignKey("sims.id"), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(32), nullable=False),
        sa.Column("idempotency_key", sa.String(128)),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("taken_minor", sa.BigInteger, nullable=False),
        sa.Column("deducted_minor", sa.BigInteger, nullable=False),
        sa.Column("bonus_back_minor", sa.BigInteger, nullable=False),
        sa.Column("credit_currency", sa.String(3), nullable=False),
        sa.Column("pay_minor", sa.BigInteger, nullable=False),
        sa.Column("pay_currency", sa.String(3), nullable=False),
        sa.Column("full", sa.Boolean, nullable=False),
        sa.Column("hold_journal_id", sa.BigInteger),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("decided_at", TS),
        sa.Column("decided_by", sa.String(32)),
        sa.Column("decision_note", sa.Text),
        sa.Column("next_try_at", TS),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.String(500)),
        sa.Column("provider_refund_no", sa.String(64)),
        sa.Column("paid_at", TS),
        sa.ForeignKeyConstraint(["order_no"], ["topup_orders.order_no"], name="fk_refunds_order"),
        sa.CheckConstraint(
            "state IN ('requested', 'approved', 'processing', 'paid', 'refused', 'failed')",
            name="ck_refunds_state",
        ),
        sa.CheckConstraint(
            "taken_minor > 0 AND pay_minor > 0 AND deducted_minor >= 0"
            " AND bonus_back_minor >= 0 AND deducted_minor < taken_minor",
            name="ck_refunds_amounts",
        ),
        sa.UniqueConstraint("requested_by", "idempotency_key", name="uq_refunds_idempotency"),
    )
    op.create_index("ix_refunds_order", "refunds", ["order_no"])
    op.create_index("ix_refunds_state_next", "refunds", ["state", "next_try_at"])


def downgrade() -> None:
    op.drop_table("refunds")
