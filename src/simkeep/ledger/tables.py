"""Ledger tables. The migration ``0001_ledger`` creates them, with the triggers that make
the database itself refuse an unbalanced or edited journal and a posting on an unknown
account or in the wrong currency; ``0029_books_by_month`` partitions journals and postings
by month on PostgreSQL (``ledger.partitions``), with what must be unique across months in
``journal_keys`` (a view of the journals on SQLite)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)

from simkeep.sqltypes import UTCDateTime, id_column_type

metadata = MetaData()

accounts = Table(
    "ledger_accounts",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("code", String(200), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("type", String(10), nullable=False),
    Column("normal_sign", SmallInteger, nullable=False),
    Column("owner_type", String(32)),
    Column("owner_id", String(64)),
    Column("hot_slots", SmallInteger, nullable=False, server_default="1"),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint(
        "type IN ('asset', 'liability', 'income', 'expense', 'equity')",
        name="ck_ledger_accounts_type",
    ),
    CheckConstraint(
        "normal_sign = CASE WHEN type IN ('asset', 'expense') THEN 1 ELSE -1 END",
        name="ck_ledger_accounts_normal_sign",
    ),
    CheckConstraint("hot_slots BETWEEN 1 AND 64", name="ck_ledger_accounts_hot_slots"),
    Index("ix_ledger_accounts_owner", "owner_type", "owner_id"),
)

balances = Table(
    "ledger_balances",
    metadata,
    Column("account_id", BigInteger, ForeignKey("ledger_accounts.id"), primary_key=True),
    Column("slot", SmallInteger, primary_key=True),
    Column("balance", BigInteger, nullable=False, server_default="0"),
    Column("pending_out", BigInteger, nullable=False, server_default="0"),
    Column("pending_in", BigInteger, nullable=False, server_default="0"),
    Column("min_balance", BigInteger),
    CheckConstraint(
        "min_balance IS NULL OR balance - pending_out >= min_balance",
        name="ck_ledger_balances_floor",
    ),
    CheckConstraint("pending_out >= 0 AND pending_in >= 0", name="ck_ledger_balances_pending"),
)

journals = Table(
    "ledger_journals",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("client_id", String(128), nullable=False),  # unique: journal_keys
    Column("content_hash", String(64), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("pending_id", BigInteger),  # a journal_keys.journal_id, posted once
    Column("reverses_id", BigInteger),  # a journal_keys.journal_id, reversed once
    Column("posting_count", SmallInteger, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("metadata", Text, nullable=False, server_default="{}"),
    Column("expires_at", UTCDateTime),
    Column("created_at", UTCDateTime, primary_key=True),  # the month's partition
    Index(
        "ix_ledger_journals_expires_at",
        "expires_at",
        postgresql_where=text("expires_at IS NOT NULL"),
        sqlite_where=text("expires_at IS NOT NULL"),
    ),
    CheckConstraint(
        "kind IN ('standard', 'pending', 'post', 'reversal')", name="ck_ledger_journals_kind"
    ),
    CheckConstraint("posting_count >= 2", name="ck_ledger_journals_posting_count"),
    CheckConstraint(
        "(kind = 'post') = (pending_id IS NOT NULL)", name="ck_ledger_journals_post_ref"
    ),
    CheckConstraint(
        "(kind = 'reversal') = (reverses_id IS NOT NULL)",
        name="ck_ledger_journals_reversal_ref",
    ),
    CheckConstraint("expires_at IS NULL OR kind = 'pending'", name="ck_ledger_journals_expiry"),
)

postings = Table(
    "ledger_postings",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("journal_id", BigInteger, nullable=False),  # checked by triggers (0001_ledger)
    Column("account_id", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("slot", SmallInteger, nullable=False, server_default="0"),
    Column("amount", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, primary_key=True),  # its journal's: the same month
    CheckConstraint("amount <> 0", name="ck_ledger_postings_amount"),
    Index("ix_ledger_postings_account", "account_id", "id"),
    Index("ix_ledger_postings_journal", "journal_id"),
)

journal_keys = Table(  # PostgreSQL: a table, one row per journal, never archived
    "ledger_journal_keys",
    metadata,
    Column("client_id", String(128), primary_key=True),
    Column("journal_id", BigInteger, nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("pending_id", BigInteger, ForeignKey("ledger_journal_keys.journal_id")),
    Column("reverses_id", BigInteger, ForeignKey("ledger_journal_keys.journal_id")),
    Index(
        "uq_ledger_journals_pending_id",
        "pending_id",
        unique=True,
        postgresql_where=text("pending_id IS NOT NULL"),
    ),
    Index(
        "uq_ledger_journals_reverses_id",
        "reverses_id",
        unique=True,
        postgresql_where=text("reverses_id IS NOT NULL"),
    ),
)

pending_resolutions = Table(
    "ledger_pending_resolutions",
    metadata,
    Column(
        "pending_id", BigInteger, ForeignKey("ledger_journal_keys.journal_id"), primary_key=True
    ),
    Column("outcome", String(8), nullable=False),
    Column("client_id", String(128), nullable=False, unique=True),
    Column("journal_id", BigInteger, ForeignKey("ledger_journal_keys.journal_id")),
    Column("resolved_at", UTCDateTime, nullable=False),
    CheckConstraint(
        "outcome IN ('posted', 'voided', 'expired')", name="ck_ledger_resolutions_outcome"
    ),
    CheckConstraint(
        "(outcome = 'posted') = (journal_id IS NOT NULL)", name="ck_ledger_resolutions_post"
    ),
)

archived_months = Table(  # a month taken out of the books' tables (ledger.partitions)
    "ledger_archived_months",
    metadata,
    Column("month", String(7), primary_key=True),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("journals", BigInteger, nullable=False),
    Column("postings", BigInteger, nullable=False),
    Column("archived_at", UTCDateTime, nullable=False),
)

archived_totals = Table(  # what the month's postings did to each account's slot
    "ledger_archived_totals",
    metadata,
    Column("month", String(7), ForeignKey("ledger_archived_months.month"), primary_key=True),
    Column("account_id", BigInteger, ForeignKey("ledger_accounts.id"), primary_key=True),
    Column("slot", SmallInteger, primary_key=True),
    Column("balance", BigInteger, nullable=False),
)
