"""Vouchers (充值卡): batches and the vouchers in them.

* ``voucher_batches``: denomination, currency, count and expiry of a printed batch, who made
  it, and when its PIN file was exported (once: the PINs exist nowhere else).
* ``vouchers``: a public serial, the PIN only as a keyed digest (HMAC-SHA256, unique), the
  face value, a state (``generated → sold → redeemed``, or ``expired``, ``blocked``) moved
  by conditional updates, and what each step was: the outlet sale that sold it, the order
  that redeemed it.
* ``voucher_attempts``: redemption attempts counted in windows, per number (the SIM), per
  account and per address — each taken by one upsert before the PIN is checked.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "voucher_batches",
        sa.Column("id", ID, primary_key=True),
        sa.Column("batch_no", sa.String(16), nullable=False, unique=True),
        sa.Column("face_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("created_by", sa.BigInteger, sa.ForeignKey("staff_members.id")),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("exported_at", TS),
        sa.CheckConstraint("face_minor > 0", name="ck_voucher_batches_face"),
        sa.CheckConstraint("count BETWEEN 1 AND 100000", name="ck_voucher_batches_count"),
    )
    op.create_table(
        "vouchers",
        sa.Column("id", ID, primary_key=True),
        sa.Column("serial", sa.String(20), nullable=False, unique=True),
        sa.Column("batch_id", sa.BigInteger, sa.ForeignKey("voucher_batches.id"), nullable=False),
        sa.Column("pin_digest", sa.String(64), nullable=False, unique=True),
        sa.Column("face_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("sold_at", TS),
        sa.Column("sale_id", sa.BigInteger, sa.ForeignKey("outlet_sales.id")),
        sa.Column("redeemed_at", TS),
        sa.Column("order_no", sa.String(32)),
        sa.Column("closed_at", TS),
    )
    op.create_index("ix_vouchers_batch", "vouchers", ["batch_id", "id"])
    op.create_index("ix_vouchers_expiry", "vouchers", ["state", "expires_at"])
    op.create_table(
        "voucher_attempts",
        sa.Column("scope", sa.String(8), primary_key=True),  # number | account | address
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("window_ends_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("voucher_attempts")
    op.drop_table("vouchers")
    op.drop_table("voucher_batches")
