"""The queue's tables (migration 0027_queue): the outbox of work, and the periodic jobs'
next runs."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text

from simkeep.sqltypes import UTCDateTime, id_column_type

metadata = MetaData()

# A piece of work for the fleet (a provider's day to reconcile, a chunk of SIMs for the
# retention run), written in the transaction that decides it, published by the relay, and
# claimed by the worker that runs it: done once, however often it is delivered.
tasks = Table(
    "tasks",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("name", String(40), nullable=False),  # what to run: jobs.pieces.HANDLERS
    Column("key", String(160), nullable=False, unique=True),  # the same work is one task
    Column("batch", String(120), nullable=False),  # the pieces of one whole, e.g. a day's run
    Column("args", Text, nullable=False),  # JSON
    Column("created_at", UTCDateTime, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),  # when it may run (a claim moves it on)
    Column("published_at", UTCDateTime),  # sent to the queue for the due_at it had then
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("done_at", UTCDateTime),
    Column("last_error", Text),
    Index("ix_tasks_due", "done_at", "due_at"),
    Index("ix_tasks_batch", "batch", "done_at"),
)

# A periodic job's next tick: the worker whose conditional update moves ``next_at`` on
# publishes the tick, so a fleet of any size ticks each job once per interval.
job_schedule = Table(
    "job_schedule",
    metadata,
    Column("job", String(40), primary_key=True),
    Column("next_at", UTCDateTime, nullable=False),
)
