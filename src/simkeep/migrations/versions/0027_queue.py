"""Work on a queue (docs/scaling.md, "Work on a queue"):

* ``outbox`` gains ``published_at``: when the relay sent the message to the queue, for the
  ``due_at`` it had then;
* ``tasks``: the outbox of work (a provider's day to reconcile, a chunk of the retention
  run), one row per ``key``;
* ``job_schedule``: each periodic job's next tick.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("published_at", TS))
    op.create_table(
        "tasks",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("key", sa.String(160), nullable=False, unique=True),
        sa.Column("batch", sa.String(120), nullable=False),
        sa.Column("args", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("published_at", TS),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("done_at", TS),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_tasks_due", "tasks", ["done_at", "due_at"])
    op.create_index("ix_tasks_batch", "tasks", ["batch", "done_at"])
    op.create_table(
        "job_schedule",
        sa.Column("job", sa.String(40), primary_key=True),
        sa.Column("next_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("job_schedule")
    op.drop_index("ix_tasks_batch", "tasks")
    op.drop_index("ix_tasks_due", "tasks")
    op.drop_table("tasks")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("published_at")
