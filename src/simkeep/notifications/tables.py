"""The outbox (migrations 0003_subscribers, 0017_email, 0027_queue) and the simulated
gateways' screens."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text

from simkeep.sqltypes import UTCDateTime, id_column_type

metadata = MetaData()
ADDRESS = 254  # the longest email address (RFC 5321's path limit)
SUBJECT = 200

outbox = Table(
    "outbox",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("kind", String(16), nullable=False),  # sms | email
    Column("recipient", String(ADDRESS), nullable=False),  # E.164, or an email address
    Column("subject", String(SUBJECT)),  # an email's
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("sent_at", UTCDateTime),
    Column("last_error", Text),
    Column("published_at", UTCDateTime),  # relayed to the queue (migration 0027_queue)
    Index("ix_outbox_due", "sent_at", "due_at"),
)

sms_inbox = Table(  # the simulated SMS gateway's phone screen: what it "delivered"
    "sim_sms_messages",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("recipient", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("sent_at", UTCDateTime, nullable=False),
)

mailbox = Table(  # the simulated mailbox: what the embedded default "delivered" by email
    "sim_email_messages",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("recipient", String(ADDRESS), nullable=False),
    Column("subject", String(SUBJECT), nullable=False),
    Column("body", Text, nullable=False),
    Column("sent_at", UTCDateTime, nullable=False),
)
