"""The counter: POS devices, clerks' shifts, outlet sales and ID checks.

* ``pos_devices``: a bearer token per device (SHA-256 digest only), bound to one member of
  staff (a clerk at one outlet, or an agent for its own systems); revocable.
* ``counter_shifts``: a clerk's shift at an outlet, opened with the cash in the drawer and
  closed with the cash counted; expected cash and card totals and the difference are kept
  when it closes. A clerk has at most one open shift (partial unique index).
* ``outlet_sales``: every sale at a counter — a top-up (its order) or vouchers — with its
  receipt number, payment type (cash, card with the terminal's reference), amount,
  commission and the idempotency key the POS sent (unique per outlet: a retried request
  finds its first sale).
* ``id_checks``: every ID check a clerk ran — SIM, clerk, outlet, result, time — and never
  the ID number typed.
* ``id_check_attempts``: ID checks counted in windows, per SIM and per clerk (``scope``),
  each taken by one upsert before the number is compared.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
MEMBER = "staff_members.id"


def upgrade() -> None:
    op.create_table(
        "pos_devices",
        sa.Column("id", ID, primary_key=True),
        sa.Column("staff_id", sa.BigInteger, sa.ForeignKey(MEMBER), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("token_digest", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_used_at", TS),
        sa.Column("revoked_at", TS),
    )
    op.create_table(
        "counter_shifts",
        sa.Column("id", ID, primary_key=True),
        sa.Column("outlet_id", sa.BigInteger, sa.ForeignKey("outlets.id"), nullable=False),
        sa.Column("clerk_id", sa.BigInteger, sa.ForeignKey(MEMBER), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("opening_cash_minor", sa.BigInteger, nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("closed_at", TS),
        sa.Column("expected_cash_minor", sa.BigInteger),
        sa.Column("expected_card_minor", sa.BigInteger),
        sa.Column("counted_cash_minor", sa.BigInteger),
        sa.Column("difference_minor", sa.BigInteger),
        sa.CheckConstraint("opening_cash_minor >= 0", name="ck_counter_shifts_opening"),
        sa.CheckConstraint(
            "counted_cash_minor IS NULL OR counted_cash_minor >= 0",
            name="ck_counter_shifts_counted",
        ),
    )
    op.create_index(
        "uq_counter_shifts_open",
        "counter_shifts",
        ["clerk_id"],
        unique=True,
        sqlite_where=sa.text("state = 'open'"),
        postgresql_where=sa.text("state = 'open'"),
    )
    op.create_index("ix_counter_shifts_outlet", "counter_shifts", ["outlet_id", "id"])
    op.create_table(
        "outlet_sales",
        sa.Column("id", ID, primary_key=True),
        sa.Column("receipt_no", sa.String(20), nullable=False, unique=True),
        sa.Column("shift_id", sa.BigInteger, sa.ForeignKey("counter_shifts.id"), nullable=False),
        sa.Column("outlet_id", sa.BigInteger, sa.ForeignKey("outlets.id"), nullable=False),
        sa.Column("agent_id", sa.BigInteger, sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("clerk_id", sa.BigInteger, sa.ForeignKey(MEMBER), nullable=False),
        sa.Column("device_id", sa.BigInteger, sa.ForeignKey("pos_devices.id")),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("order_no", sa.String(32)),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("payment", sa.String(8), nullable=False),
        sa.Column("terminal_ref", sa.String(64)),
        sa.Column("commission_minor", sa.BigInteger, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("outlet_id", "idempotency_key", name="uq_outlet_sales_idempotency"),
        sa.CheckConstraint("amount_minor > 0", name="ck_outlet_sales_amount"),
        sa.CheckConstraint("commission_minor >= 0", name="ck_outlet_sales_commission"),
        sa.CheckConstraint(
            "payment = 'cash' OR (payment = 'card' AND terminal_ref IS NOT NULL)",
            name="ck_outlet_sales_payment",
        ),
    )
    op.create_index("ix_outlet_sales_shift", "outlet_sales", ["shift_id", "id"])
    op.create_index("ix_outlet_sales_agent", "outlet_sales", ["agent_id", "created_at"])
    op.create_table(
        "id_checks",
        sa.Column("id", ID, primary_key=True),
        sa.Column("sim_id", sa.BigInteger, nullable=False),
        sa.Column("outlet_id", sa.BigInteger, sa.ForeignKey("outlets.id"), nullable=False),
        sa.Column("clerk_id", sa.BigInteger, sa.ForeignKey(MEMBER), nullable=False),
        sa.Column("id_type", sa.String(24), nullable=False),
        sa.Column("matched", sa.Boolean, nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_id_checks_sim", "id_checks", ["sim_id", "at"])
    op.create_table(
        "id_check_attempts",
        sa.Column("scope", sa.String(8), primary_key=True),
        sa.Column("subject_id", sa.BigInteger, primary_key=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("window_ends_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("id_check_attempts")
    op.drop_table("id_checks")
    op.drop_table("outlet_sales")
    op.drop_table("counter_shifts")
    op.drop_table("pos_devices")
