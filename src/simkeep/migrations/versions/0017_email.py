"""Reminders by email: a subscriber's email address, and email through the outbox.

* ``subscribers.email``: the address reminders go to, known only once verified (a code
  emailed to it and typed back); ``email_verified_at`` says since when. ``pending_email``
  is an address waiting for its code; the verified one keeps receiving until it is replaced.
* ``outbox``: a row of kind ``email`` has a ``subject``; ``recipient`` is long enough for an
  address (254 characters, RFC 5321's path limit).
* ``sim_email_messages``: the simulated mailbox, what the embedded default "delivered".

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
ADDRESS = 254


def upgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("email", sa.String(ADDRESS)))
        batch.add_column(sa.Column("email_verified_at", TS))
        batch.add_column(sa.Column("pending_email", sa.String(ADDRESS)))
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column(
            "recipient",
            existing_type=sa.String(64),
            type_=sa.String(ADDRESS),
            existing_nullable=False,
        )
        batch.add_column(sa.Column("subject", sa.String(200)))
    op.create_table(
        "sim_email_messages",
        sa.Column("id", ID, primary_key=True),
        sa.Column("recipient", sa.String(ADDRESS), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("sent_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sim_email_messages")
    op.execute("DELETE FROM outbox WHERE kind = 'email'")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("subject")
        batch.alter_column(
            "recipient",
            existing_type=sa.String(ADDRESS),
            type_=sa.String(64),
            existing_nullable=False,
        )
    with op.batch_alter_table("subscribers") as batch:
        for column in ("pending_email", "email_verified_at", "email"):
            batch.drop_column(column)
