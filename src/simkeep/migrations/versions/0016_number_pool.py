"""The number pool, and the retention run's mark on the SIM itself.

* ``number_pool``: the two numbers of each recycled SIM, from the day it was recycled, in
  quarantine until they may be issued again (``simkeep.sims.pool``); a number is waiting in
  the pool at most once (a partial unique index), and keeps naming the SIM it came from after
  it is reissued.
* ``sims.run_on``: the last day the retention run worked on the SIM. It replaces the table of
  marks, a row per SIM and day that grew by every SIM every day; a SIM's last mark becomes its
  ``run_on``, so a day half done before this revision is resumed, not repeated. On
  PostgreSQL the table's pages keep a fifth free (fillfactor 80), so the daily mark is a HOT
  update that touches no index.
* ``sims.balance_account_id``: the SIM's balance account in the books, so that the run reads
  a million balances by id rather than by account code.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
WAITING = sa.text("reissued_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "number_pool",
        sa.Column("id", ID, primary_key=True),
        sa.Column("e164", sa.String(16), nullable=False),
        sa.Column("region", sa.String(2), nullable=False),
        sa.Column("sim_id", sa.BigInteger, sa.ForeignKey("sims.id"), nullable=False),
        sa.Column("released_on", sa.Date, nullable=False),
        sa.Column("reissued_to", sa.BigInteger, sa.ForeignKey("sims.id")),
        sa.Column("reissued_at", TS),
        sa.UniqueConstraint("sim_id", "region", name="uq_number_pool_sim_region"),
    )
    op.create_index(
        "uq_number_pool_waiting",
        "number_pool",
        ["e164"],
        unique=True,
        sqlite_where=WAITING,
        postgresql_where=WAITING,
    )
    with op.batch_alter_table("sims") as batch:
        batch.add_column(sa.Column("run_on", sa.Date))
        batch.add_column(sa.Column("balance_account_id", sa.BigInteger))
    op.execute(
        "UPDATE sims SET balance_account_id = (SELECT a.id FROM ledger_accounts a "
        "WHERE a.code = 'sim:' || CAST(sims.id AS VARCHAR) || ':balance:' || sims.home_currency)"
    )
    if op.get_context().dialect.name == "postgresql":  # room on each page for the daily mark
        op.execute("ALTER TABLE sims SET (fillfactor = 80)")
    op.execute(
        "UPDATE sims SET run_on = "
        "(SELECT max(day) FROM retention_marks WHERE retention_marks.sim_id = sims.id)"
    )
    op.execute(
        "INSERT INTO number_pool (e164, region, sim_id, released_on) "
        "SELECT l.e164, l.region, s.id, s.run_on FROM sims s JOIN sim_lines l ON l.sim_id = s.id "
        "WHERE s.state = 'recycled' AND s.run_on IS NOT NULL"
    )
    op.drop_table("retention_marks")


def downgrade() -> None:
    op.create_table(
        "retention_marks",
        sa.Column("sim_id", sa.BigInteger, sa.ForeignKey("sims.id"), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
    )
    op.execute(
        "INSERT INTO retention_marks (sim_id, day) SELECT id, run_on FROM sims "
        "WHERE run_on IS NOT NULL"
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER TABLE sims RESET (fillfactor)")
    with op.batch_alter_table("sims") as batch:
        batch.drop_column("balance_account_id")
        batch.drop_column("run_on")
    op.drop_index("uq_number_pool_waiting", table_name="number_pool")
    op.drop_table("number_pool")
