"""Reconciliation: each provider's day matched against its bill, and every difference.

* ``reconciliations``: one row per provider and Beijing day (unique) — its state
  (``waiting``, ``refused``, ``running``, ``querying``, ``done``), the digest of the bill it
  was matched against, the bill's row count and the rows by class, why a bill was refused
  or is not in yet, who ran it (the job, the command line) and when, and the job's schedule
  (``next_try_at``) and lease (``claimed_until``).
* ``reconciliation_totals``: what the bill adds up to per currency — payments, refunds, the
  fees kept and given back — and the client id of the day's fee journal.
* ``reconciliation_items``: the rows that need one — every difference, every carry, and a
  payment matched on another day than simkeep's — keyed by the provider's id for a row of
  the bill and by our number for what only simkeep has (unique per day): the bill's and
  simkeep's amounts, simkeep's state and time, what was done, by whom, when, and staff's
  note with a resolution (required by a CHECK).
* The local side of a day is read by provider and time: ``topup_orders`` and ``refunds``
  gain an index on ``(provider, paid_at)``.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
COUNTS = (
    "bill_rows",
    "matched",
    "amount_mismatch",
    "paid_not_credited",
    "provider_only",
    "local_only",
    "carried",
)


def upgrade() -> None:
    op.create_table(
        "reconciliations",
        sa.Column("id", ID, primary_key=True),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("digest", sa.String(64)),
        *(sa.Column(name, sa.Integer, nullable=False, server_default="0") for name in COUNTS),
        sa.Column("reason", sa.String(500)),
        sa.Column("run_by", sa.String(32), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("next_try_at", TS),
        sa.Column("claimed_until", TS),
        sa.UniqueConstraint("provider", "day", name="uq_reconciliations_day"),
        sa.CheckConstraint(
            "state IN ('waiting', 'refused', 'running', 'querying', 'done')",
            name="ck_reconciliations_state",
        ),
    )
    op.create_table(
        "reconciliation_totals",
        sa.Column(
            "reconciliation_id",
            sa.BigInteger,
            sa.ForeignKey("reconciliations.id"),
            primary_key=True,
        ),
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("payments", sa.Integer, nullable=False),
        sa.Column("paid_minor", sa.BigInteger, nullable=False),
        sa.Column("refunds", sa.Integer, nullable=False),
        sa.Column("paid_back_minor", sa.BigInteger, nullable=False),
        sa.Column("fee_minor", sa.BigInteger, nullable=False),
        sa.Column("fee_back_minor", sa.BigInteger, nullable=False),
        sa.Column("fee_journal", sa.String(128)),
    )
    op.create_table(
        "reconciliation_items",
        sa.Column("id", ID, primary_key=True),
        sa.Column(
            "reconciliation_id", sa.BigInteger, sa.ForeignKey("reconciliations.id"), nullable=False
        ),
        sa.Column("side", sa.String(5), nullable=False),
        sa.Column("kind", sa.String(6), nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("order_no", sa.Text, nullable=False),
        sa.Column("refund_no", sa.Text, nullable=False),
        sa.Column("trade_no", sa.Text, nullable=False),
        sa.Column("row_class", sa.String(20), nullable=False),
        sa.Column("action", sa.String(12), nullable=False),
        sa.Column("bill_minor", sa.BigInteger),
        sa.Column("bill_currency", sa.String(3)),
        sa.Column("bill_fee_minor", sa.BigInteger),
        sa.Column("bill_at", TS),
        sa.Column("local_minor", sa.BigInteger),
        sa.Column("local_currency", sa.String(3)),
        sa.Column("local_state", sa.String(20)),
        sa.Column("local_at", TS),
        sa.Column("other_day", sa.Date),
        sa.Column("answer", sa.String(500)),
        sa.Column("note", sa.Text),
        sa.Column("acted_by", sa.String(32)),
        sa.Column("acted_at", TS),
        sa.UniqueConstraint(
            "reconciliation_id", "side", "kind", "key", name="uq_reconciliation_items_key"
        ),
        sa.CheckConstraint("side IN ('bill', 'local')", name="ck_reconciliation_items_side"),
        sa.CheckConstraint("kind IN ('pay', 'refund')", name="ck_reconciliation_items_kind"),
        sa.CheckConstraint(
            "row_class IN ('matched', 'amount_mismatch', 'paid_not_credited', 'provider_only',"
            " 'local_only', 'carried')",
            name="ck_reconciliation_items_row_class",
        ),
        sa.CheckConstraint(
            "action IN ('none', 'credited', 'query_unpaid', 'carried', 'resolved')",
            name="ck_reconciliation_items_action",
        ),
        sa.CheckConstraint(
            "action <> 'resolved' OR (note IS NOT NULL AND acted_by IS NOT NULL)",
            name="ck_reconciliation_items_resolved",
        ),
    )
    op.create_index("ix_reconciliation_items_order", "reconciliation_items", ["order_no", "kind"])
    op.create_index("ix_reconciliation_items_refund", "reconciliation_items", ["refund_no", "kind"])
    op.create_index("ix_topup_orders_provider_paid", "topup_orders", ["provider", "paid_at"])
    op.create_index("ix_refunds_provider_paid", "refunds", ["provider", "paid_at"])


def downgrade() -> None:
    op.drop_index("ix_refunds_provider_paid", "refunds")
    op.drop_index("ix_topup_orders_provider_paid", "topup_orders")
    op.drop_table("reconciliation_items")
    op.drop_table("reconciliation_totals")
    op.drop_table("reconciliations")
