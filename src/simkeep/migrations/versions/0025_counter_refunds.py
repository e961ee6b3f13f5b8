"""Refunds of outlet top-ups: whose float pays them, and where, by whom and how the payer
got the money at a counter.

* ``refunds`` gains ``agent_id`` (the agent whose float a refund of its outlet's top-up is
  paid to), ``commission_back_minor`` (the agent's commission on the refunded part, taken
  back when it is paid), and the payout at a counter: ``outlet_id``, ``shift_id``,
  ``clerk_id``, ``payout`` (``cash`` or ``card``), ``terminal_ref`` (a card's, required for
  card and only for it), ``paid_out_at`` and ``payout_key`` (the POS's key, unique per
  clerk). The database refuses a payout of a refund that is not paid, a payout without its
  time, shift and clerk, and a refund paid out at a counter without an agent.
* ``ix_refunds_shift`` reads a shift's refunds (its close and its Z-report),
  ``ix_refunds_agent_waiting`` the refunds an agent's counters have still to pay out.

SQLite rebuilds the table to add the CHECKs (``batch_alter_table``).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
COLUMNS = (
    "payout_key",
    "paid_out_at",
    "terminal_ref",
    "payout",
    "clerk_id",
    "shift_id",
    "outlet_id",
    "commission_back_minor",
    "agent_id",
)
FOREIGN_KEYS = (
    ("fk_refunds_agent", "agent_id", "agents"),
    ("fk_refunds_outlet", "outlet_id", "outlets"),
    ("fk_refunds_shift", "shift_id", "counter_shifts"),
    ("fk_refunds_clerk", "clerk_id", "staff_members"),
)
CHECKS = (
    "ck_refunds_payout",
    "ck_refunds_paid_out",
    "ck_refunds_terminal_ref",
    "ck_refunds_commission_back",
)


def upgrade() -> None:
    with op.batch_alter_table("refunds") as batch:
        for column in ("agent_id", "commission_back_minor", "outlet_id", "shift_id", "clerk_id"):
            batch.add_column(sa.Column(column, sa.BigInteger))
        batch.add_column(sa.Column("payout", sa.String(8)))
        batch.add_column(sa.Column("terminal_ref", sa.String(64)))
        batch.add_column(sa.Column("paid_out_at", TS))
        batch.add_column(sa.Column("payout_key", sa.String(128)))
        batch.create_check_constraint(
            "ck_refunds_payout",
            "payout IS NULL OR (payout IN ('cash', 'card') AND state = 'paid'"
            " AND agent_id IS NOT NULL)",
        )
        batch.create_check_constraint(
            "ck_refunds_paid_out",
            "(payout IS NULL) = (paid_out_at IS NULL) AND (payout IS NULL) = (shift_id IS NULL)"
            " AND (payout IS NULL) = (clerk_id IS NULL) AND (payout IS NULL) = (outlet_id IS NULL)",
        )
        batch.create_check_constraint(
            "ck_refunds_terminal_ref",
            "payout IS NULL OR (payout = 'card') = (terminal_ref IS NOT NULL)",
        )
        batch.create_check_constraint(
            "ck_refunds_commission_back",
            "commission_back_minor IS NULL OR commission_back_minor >= 0",
        )
        batch.create_unique_constraint("uq_refunds_payout_key", ["clerk_id", "payout_key"])
        for name, column, table in FOREIGN_KEYS:
            batch.create_foreign_key(name, table, [column], ["id"])
    op.create_index("ix_refunds_shift", "refunds", ["shift_id", "id"])
    op.create_index("ix_refunds_agent_waiting", "refunds", ["agent_id", "state", "paid_out_at"])


def downgrade() -> None:
    op.drop_index("ix_refunds_agent_waiting", "refunds")
    op.drop_index("ix_refunds_shift", "refunds")
    with op.batch_alter_table("refunds") as batch:
        for name, _column, _table in FOREIGN_KEYS:
            batch.drop_constraint(name, type_="foreignkey")
        batch.drop_constraint("uq_refunds_payout_key", type_="unique")
        for name in CHECKS:
            batch.drop_constraint(name, type_="check")
        for column in COLUMNS:
            batch.drop_column(column)
