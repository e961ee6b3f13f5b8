"""The retention run's table (migration 0010_retention): each day's totals. (What SIM the run
worked on for a day is ``sims.run_on``, since 0016_number_pool.)"""

from __future__ import annotations

from sqlalchemy import Column, Date, Integer, MetaData, Table

from simkeep.sqltypes import UTCDateTime

metadata = MetaData()

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
