"""Manual balance adjustments, and the indexes the console's search and a SIM's timeline read.

* ``balance_adjustments``: one row per adjustment of a SIM's money balance — the signed
  amount in the SIM's currency, the reason, who entered it (with the form's one-time key,
  unique per member), its state (``pending → approved | rejected``), who decided, when and
  why, and the journal an approval posted. The database refuses a decision by the member who
  entered it (``decided_by <> made_by``), a pending row with a decider, a journal on
  anything but an approved one, and a zero amount.
* The timeline of a SIM reads each source by the SIM: ``refunds`` by ``sim_id``
  (``ix_refunds_sim``), the SMS sent to its numbers by recipient (``ix_outbox_recipient``),
  its keep-alive rules by ``sim_id`` — the unique index there covers only the rules not
  ended (``ix_keepalive_rules_sim``). The search's lookups use indexes that exist already:
  ``sim_lines.e164``, ``subscribers.phone``, ``sims.iccid``, ``topup_orders.order_no`` and
  ``receipt_no``, ``outlet_sales.receipt_no``, ``refunds.refund_no``, ``vouchers.serial``.

The system account ``adjustments:{ccy}`` is opened by ``simkeep db upgrade`` with the rest
of the chart (``ledger.service.ensure_chart``).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "balance_adjustments",
        sa.Column("id", ID, primary_key=True),
        sa.Column("sim_id", sa.BigInteger, sa.ForeignKey("sims.id"), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("made_by", sa.BigInteger, sa.ForeignKey("staff_members.id"), nullable=False),
        sa.Column("made_key", sa.String(64), nullable=False),
        sa.Column("made_at", TS, nullable=False),
        sa.Column("decided_by", sa.BigInteger, sa.ForeignKey("staff_members.id")),
        sa.Column("decided_at", TS),
        sa.Column("decision_note", sa.Text),
        sa.Column("journal_id", sa.BigInteger, sa.ForeignKey("ledger_journals.id")),
        sa.CheckConstraint(
            "state IN ('pending', 'approved', 'rejected')", name="ck_balance_adjustments_state"
        ),
        sa.CheckConstraint("amount_minor <> 0", name="ck_balance_adjustments_amount"),
        sa.CheckConstraint(
            "(state = 'pending') = (decided_by IS NULL)", name="ck_balance_adjustments_decided"
        ),
        sa.CheckConstraint(
            "decided_by IS NULL OR decided_by <> made_by", name="ck_balance_adjustments_checker"
        ),
        sa.CheckConstraint(
            "journal_id IS NULL OR state = 'approved'", name="ck_balance_adjustments_journal"
        ),
        sa.UniqueConstraint("made_by", "made_key", name="uq_balance_adjustments_key"),
    )
    op.create_index("ix_balance_adjustments_sim", "balance_adjustments", ["sim_id", "made_at"])
    op.create_index("ix_balance_adjustments_state", "balance_adjustments", ["state", "id"])
    op.create_index("ix_refunds_sim", "refunds", ["sim_id", "requested_at"])
    op.create_index("ix_outbox_recipient", "outbox", ["recipient", "created_at"])
    op.create_index("ix_keepalive_rules_sim", "keepalive_rules", ["sim_id"])


def downgrade() -> None:
    op.drop_index("ix_keepalive_rules_sim", "keepalive_rules")
    op.drop_index("ix_outbox_recipient", "outbox")
    op.drop_index("ix_refunds_sim", "refunds")
    op.drop_table("balance_adjustments")
