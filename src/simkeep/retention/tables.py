"""The retention run's tables (migration 0010_retention): a mark per SIM and day worked on,
and each day's totals."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, Integer, MetaData, Table

from simkeep.sqltypes import UTCDateTime

metadata = MetaData()

marks = Table(
    "retention_marks",
    metadata,
    Column("sim_id", BigInteger, primary_key=True),  # sims.id (a foreign key in the schema)
    Column("day", Date, primary_key=True),
)

runs = Table(
    "retention_runs",
    metadata,
    Column("day", Date, primary_key=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("sims", Integer, nullable=False, server_default="0"),
    Column("fees_charged", Integer, nullable=False, server_default="0"),
    Column("fees_owed", Integer, nullable=False, server_default="0"),
    Column("moved", Integer, nullable=False, server_default="0"),
)
