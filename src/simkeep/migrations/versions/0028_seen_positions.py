"""Read-your-writes across replicas (docs/scaling.md, "Reads off the primary"): a
subscriber's and a member of staff's session keeps ``seen_lsn``, the primary's WAL position
(in bytes) just after their last write, so that their reads go to a replica only once it
has replayed that far.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

TABLES = ("subscriber_sessions", "staff_sessions")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("seen_lsn", sa.BigInteger))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("seen_lsn")
