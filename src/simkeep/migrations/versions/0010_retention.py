"""Keeping numbers alive: each plan's grace and suspension lengths; each SIM's billing day,
next fee date, arrears and the time its state began; the daily retention run's marks (one
per SIM and day, so a run repeated or resumed does nothing twice) and its totals per day.

A SIM on a monthly-fee plan is billed on the day of the month it was issued (the last day
of a shorter month), its first fee a month after issue. A SIM issued before this revision
has neither yet: the retention run gives it both from its issue date when it first meets it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("sim_plans") as batch:
        batch.add_column(sa.Column("grace_days", sa.Integer, nullable=False, server_default="30"))
        batch.add_column(
            sa.Column("suspension_days", sa.Integer, nullable=False, server_default="60")
        )
        batch.create_check_constraint(
            "ck_sim_plans_lengths", "grace_days > 0 AND suspension_days > 0"
        )
    with op.batch_alter_table("sims") as batch:
        batch.add_column(sa.Column("state_since", TS))
        batch.add_column(sa.Column("billing_day", sa.SmallInteger))
        batch.add_column(sa.Column("next_fee_on", sa.Date))
        batch.add_column(
            sa.Column("arrears_minor", sa.BigInteger, nullable=False, server_default="0")
        )
        batch.create_check_constraint("ck_sims_arrears", "arrears_minor >= 0")
        batch.create_check_constraint(
            "ck_sims_billing_day", "billing_day IS NULL OR billing_day BETWEEN 1 AND 31"
        )
    op.execute("UPDATE sims SET state_since = created_at")
    op.create_table(
        "retention_marks",
        sa.Column("sim_id", sa.BigInteger, sa.ForeignKey("sims.id"), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
    )
    op.create_table(
        "retention_runs",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("sims", sa.Integer, nullable=False, server_default="0"),
        sa.Column("fees_charged", sa.Integer, nullable=False, server_default="0"),
        sa.Column("fees_owed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("moved", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("retention_runs")
    op.drop_table("retention_marks")
    with op.batch_alter_table("sims") as batch:
        batch.drop_constraint("ck_sims_billing_day", type_="check")
        batch.drop_constraint("ck_sims_arrears", type_="check")
        for column in ("arrears_minor", "next_fee_on", "billing_day", "state_since"):
            batch.drop_column(column)
    with op.batch_alter_table("sim_plans") as batch:
        batch.drop_constraint("ck_sim_plans_lengths", type_="check")
        batch.drop_column("suspension_days")
        batch.drop_column("grace_days")
