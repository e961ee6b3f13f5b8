"""Guessing limits counted before the check: a window of attempts per counter and number.

``attempt_windows`` replaces ``login_throttle``, which counted a failed login only after the
password was checked. One row per counter (``login``, ``code_request``) and number: the
attempts taken in the current window and when the window ends (docs/security.md). A lock
live at the upgrade is carried over as a full login window that ends when the lock did;
failure counts below the limit are not (they matter for 15 minutes at most).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
LOGIN_LIMIT = 5  # Limits.login_failures when this was written: a carried lock uses it up


def upgrade() -> None:
    op.create_table(
        "attempt_windows",
        sa.Column("counter", sa.String(16), primary_key=True),
        sa.Column("phone", sa.String(16), primary_key=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("window_ends_at", TS, nullable=False),
    )
    op.execute(
        sa.text(
            "INSERT INTO attempt_windows (counter, phone, attempts, window_ends_at) "
            "SELECT 'login', phone, :attempts, locked_until FROM login_throttle "
            "WHERE locked_until IS NOT NULL"
        ).bindparams(attempts=LOGIN_LIMIT)
    )
    op.drop_table("login_throttle")


def downgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("phone", sa.String(16), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("locked_until", TS),
        sa.Column("last_failure_at", TS, nullable=False),
    )
    op.drop_table("attempt_windows")
