"""Adjustment tables (migration 0024_adjustments)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from simkeep.sqltypes import UTCDateTime, id_column_type

metadata = MetaData()

adjustments = Table(
    "balance_adjustments",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("sim_id", BigInteger, nullable=False),  # sims.id (a foreign key)
    Column("amount_minor", BigInteger, nullable=False),  # signed: + credit, - debit
    Column("currency", String(3), nullable=False),
    Column("reason", Text, nullable=False),
    Column("state", String(10), nullable=False),
    Column("made_by", BigInteger, nullable=False),  # staff_members.id (a foreign key)
    Column("made_key", String(64), nullable=False),  # the form's one-time key
    Column("made_at", UTCDateTime, nullable=False),
    Column("decided_by", BigInteger),  # staff_members.id; never made_by
    Column("decided_at", UTCDateTime),
    Column("decision_note", Text),
    Column("journal_id", BigInteger),  # ledger_journals.id, once approved
    CheckConstraint(
        "state IN ('pending', 'approved', 'rejected')", name="ck_balance_adjustments_state"
    ),
    CheckConstraint("amount_minor <> 0", name="ck_balance_adjustments_amount"),
    CheckConstraint(
        "(state = 'pending') = (decided_by IS NULL)", name="ck_balance_adjustments_decided"
    ),
    CheckConstraint(
        "decided_by IS NULL OR decided_by <> made_by", name="ck_balance_adjustments_checker"
    ),
    CheckConstraint(
        "journal_id IS NULL OR state = 'approved'", name="ck_balance_adjustments_journal"
    ),
    UniqueConstraint("made_by", "made_key", name="uq_balance_adjustments_key"),
    Index("ix_balance_adjustments_sim", "sim_id", "made_at"),
    Index("ix_balance_adjustments_state", "state", "id"),
)
