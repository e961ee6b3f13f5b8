"""Bounded notifications: every stored notification has its body's size and SHA-256 digest,
and a refused one keeps only the first bytes of its body (``payments.model.InboxRecord``).

Refused notifications stored before this revision are cut down the same way.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

PREFIX_BYTES = 256  # payments.model.REFUSED_PREFIX_BYTES, as it was written here

notifications = sa.table(
    "payment_notifications",
    sa.column("id", sa.BigInteger),
    sa.column("body", sa.LargeBinary),
    sa.column("status", sa.String),
    sa.column("body_size", sa.BigInteger),
    sa.column("body_sha256", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("payment_notifications") as batch:
        batch.add_column(sa.Column("body_size", sa.BigInteger))
        batch.add_column(sa.Column("body_sha256", sa.String(64)))
    _measure_stored_bodies()
    with op.batch_alter_table("payment_notifications") as batch:
        batch.alter_column("body_size", existing_type=sa.BigInteger, nullable=False)
        batch.alter_column("body_sha256", existing_type=sa.String(64), nullable=False)


def _measure_stored_bodies() -> None:
    """One row at a time: a refused body may be tens of megabytes (the reason for this)."""
    conn = op.get_bind()
    n = notifications.c
    for row_id in conn.execute(sa.select(n.id)).scalars().all():
        body, status = conn.execute(sa.select(n.body, n.status).where(n.id == row_id)).one()
        kept = body if status != "rejected" else body[:PREFIX_BYTES]
        conn.execute(
            notifications.update()
            .where(n.id == row_id)
            .values(body=kept, body_size=len(body), body_sha256=hashlib.sha256(body).hexdigest())
        )


def downgrade() -> None:
    with op.batch_alter_table("payment_notifications") as batch:
        batch.drop_column("body_sha256")
        batch.drop_column("body_size")
