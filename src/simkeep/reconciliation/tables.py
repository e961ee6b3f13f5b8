"""Reconciliation tables (migration 0023_reconciliation)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from simkeep.sqltypes import UTCDateTime, id_column_type

metadata = MetaData()

reconciliations = Table(
    "reconciliations",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("provider", String(16), nullable=False),
    Column("day", Date, nullable=False),  # the provider's Beijing day, Hong Kong's
    Column("state", String(10), nullable=False),
    Column("digest", String(64)),  # SHA-256 of the bill's rows, once matched
    Column("bill_rows", Integer, nullable=False, server_default="0"),
    Column("matched", Integer, nullable=False, server_default="0"),
    Column("amount_mismatch", Integer, nullable=False, server_default="0"),
    Column("paid_not_credited", Integer, nullable=False, server_default="0"),
    Column("provider_only", Integer, nullable=False, server_default="0"),
    Column("local_only", Integer, nullable=False, server_default="0"),
    Column("carried", Integer, nullable=False, server_default="0"),
    Column("reason", String(500)),  # why the bill was refused, or is not in yet
    Column("run_by", String(32), nullable=False),  # job, cli, or staff:<id>
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("next_try_at", UTCDateTime),  # waiting, querying: when the job tries again
    Column("claimed_until", UTCDateTime),  # a run's lease: the job leaves it alone until then
    UniqueConstraint("provider", "day", name="uq_reconciliations_day"),
    CheckConstraint(
        "state IN ('waiting', 'refused', 'running', 'querying', 'done')",
        name="ck_reconciliations_state",
    ),
)

reconciliation_totals = Table(
    "reconciliation_totals",
    metadata,
    Column(
        "reconciliation_id",
        BigInteger,
        ForeignKey("reconciliations.id"),
        primary_key=True,
    ),
    Column("currency", String(3), primary_key=True),
    Column("payments", Integer, nullable=False),
    Column("paid_minor", BigInteger, nullable=False),
    Column("refunds", Integer, nullable=False),
    Column("paid_back_minor", BigInteger, nullable=False),
    Column("fee_minor", BigInteger, nullable=False),  # kept on payments
    Column("fee_back_minor", BigInteger, nullable=False),  # given back on refunds
    Column("fee_journal", String(128)),  # the client id of the day's fee journal, if any
)

reconciliation_items = Table(
    "reconciliation_items",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("reconciliation_id", BigInteger, ForeignKey("reconciliations.id"), nullable=False),
    Column("side", String(5), nullable=False),  # bill or local
    Column("kind", String(6), nullable=False),  # pay or refund
    Column("key", Text, nullable=False),  # bill: the provider's id; local: our number
    Column("order_no", Text, nullable=False),
    Column("refund_no", Text, nullable=False),
    Column("trade_no", Text, nullable=False),
    Column("row_class", String(20), nullable=False),
    Column("action", String(12), nullable=False),
    Column("bill_minor", BigInteger),
    Column("bill_currency", String(3)),
    Column("bill_fee_minor", BigInteger),
    Column("bill_at", UTCDateTime),
    Column("local_minor", BigInteger),
    Column("local_currency", String(3)),
    Column("local_state", String(20)),  # the order's or refund's state when classed
    Column("local_at", UTCDateTime),  # when simkeep took it (paid_at)
    Column("other_day", Date),  # the other day's bill that had it, or lacked it too
    Column("answer", String(500)),  # the provider's answer when asked, or why it was not
    Column("note", Text),  # staff's, with a resolution
    Column("acted_by", String(32)),  # job, cli, or staff:<id>
    Column("acted_at", UTCDateTime),
    UniqueConstraint(
        "reconciliation_id", "side", "kind", "key", name="uq_reconciliation_items_key"
    ),
    CheckConstraint("side IN ('bill', 'local')", name="ck_reconciliation_items_side"),
    CheckConstraint("kind IN ('pay', 'refund')", name="ck_reconciliation_items_kind"),
    CheckConstraint(
        "row_class IN ('matched', 'amount_mismatch', 'paid_not_credited', 'provider_only',"
        " 'local_only', 'carried')",
        name="ck_reconciliation_items_row_class",
    ),
    CheckConstraint(
        "action IN ('none', 'credited', 'query_unpaid', 'carried', 'resolved')",
        name="ck_reconciliation_items_action",
    ),
    CheckConstraint(
        "action <> 'resolved' OR (note IS NOT NULL AND acted_by IS NOT NULL)",
        name="ck_reconciliation_items_resolved",
    ),
    Index("ix_reconciliation_items_order", "order_no", "kind"),
    Index("ix_reconciliation_items_refund", "refund_no", "kind"),
)
