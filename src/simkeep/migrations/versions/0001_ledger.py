"""The books: accounts, balances (with slots for hot accounts), journals, postings, holds.

The database itself refuses what must never be: duplicate journal ids, a broken floor, a
posting in another currency than its account, an edited or deleted journal or posting, and
an unbalanced journal (PostgreSQL: a deferred constraint trigger checked at commit; SQLite:
a trigger that checks when the journal's last posting arrives).

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)

PG_BALANCED = """
CREATE FUNCTION ledger_journal_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    expected integer;
    actual integer;
    currency_off text;
BEGIN
    SELECT posting_count INTO expected FROM ledger_journals WHERE id = NEW.journal_id;
    SELECT count(*) INTO actual FROM ledger_postings WHERE journal_id = NEW.journal_id;
    IF actual <> expected THEN
        RAISE EXCEPTION 'journal % has % postings, declared %', NEW.journal_id, actual, expected
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_journal_balanced';
    END IF;
    SELECT currency INTO currency_off FROM ledger_postings WHERE journal_id = NEW.journal_id
        GROUP BY currency HAVING sum(amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal % does not balance in %', NEW.journal_id, currency_off
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_journal_balanced';
    END IF;
    RETURN NULL;
END $$
"""

PG_APPEND_ONLY = """
CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: fix a mistake with a reversing journal', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$
"""

SQLITE_BALANCED = """
CREATE TRIGGER ledger_postings_balanced AFTER INSERT ON ledger_postings
WHEN (SELECT count(*) FROM ledger_postings WHERE journal_id = NEW.journal_id)
     >= (SELECT posting_count FROM ledger_journals WHERE id = NEW.journal_id)
BEGIN
    SELECT RAISE(ABORT, 'ledger_journal_balanced: more postings than declared')
    WHERE (SELECT count(*) FROM ledger_postings WHERE journal_id = NEW.journal_id)
          > (SELECT posting_count FROM ledger_journals WHERE id = NEW.journal_id);
    SELECT RAISE(ABORT, 'ledger_journal_balanced: journal does not balance')
    WHERE EXISTS (SELECT 1 FROM ledger_postings WHERE journal_id = NEW.journal_id
                  GROUP BY currency HAVING sum(amount) <> 0);
END
"""


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", ID, primary_key=True),
        sa.Column("code", sa.String(200), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("type", sa.String(10), nullable=False),
        sa.Column("normal_sign", sa.SmallInteger, nullable=False),
        sa.Column("owner_type", sa.String(32)),
        sa.Column("owner_id", sa.String(64)),
        sa.Column("hot_slots", sa.SmallInteger, nullable=False, server_default="1"),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("id", "currency", name="uq_ledger_accounts_id_currency"),
        sa.CheckConstraint(
            "type IN ('asset', 'liability', 'income', 'expense', 'equity')",
            name="ck_ledger_accounts_type",
        ),
        sa.CheckConstraint(
            "normal_sign = CASE WHEN type IN ('asset', 'expense') THEN 1 ELSE -1 END",
            name="ck_ledger_accounts_normal_sign",
        ),
        sa.CheckConstraint("hot_slots BETWEEN 1 AND 64", name="ck_ledger_accounts_hot_slots"),
    )
    op.create_index("ix_ledger_accounts_owner", "ledger_accounts", ["owner_type", "owner_id"])
    op.create_table(
        "ledger_balances",
        sa.Column(
            "account_id", sa.BigInteger, sa.ForeignKey("ledger_accounts.id"), primary_key=True
        ),
        sa.Column("slot", sa.SmallInteger, primary_key=True),
        sa.Column("balance", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("pending_out", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("pending_in", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("min_balance", sa.BigInteger),
        sa.CheckConstraint(
            "min_balance IS NULL OR balance - pending_out >= min_balance",
            name="ck_ledger_balances_floor",
        ),
        sa.CheckConstraint(
            "pending_out >= 0 AND pending_in >= 0", name="ck_ledger_balances_pending"
        ),
    )
    op.create_table(
        "ledger_journals",
        sa.Column("id", ID, primary_key=True),
        sa.Column("client_id", sa.String(128), nullable=False, unique=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("pending_id", sa.BigInteger, sa.ForeignKey("ledger_journals.id"), unique=True),
        sa.Column("reverses_id", sa.BigInteger, sa.ForeignKey("ledger_journals.id"), unique=True),
        sa.Column("posting_count", sa.SmallInteger, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("metadata", sa.Text, nullable=False, server_default="{}"),
        sa.Column("expires_at", TS),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint(
            "kind IN ('standard', 'pending', 'post', 'reversal')", name="ck_ledger_journals_kind"
        ),
        sa.CheckConstraint("posting_count >= 2", name="ck_ledger_journals_posting_count"),
        sa.CheckConstraint(
            "(kind = 'post') = (pending_id IS NOT NULL)", name="ck_ledger_journals_post_ref"
        ),
        sa.CheckConstraint(
            "(kind = 'reversal') = (reverses_id IS NOT NULL)",
            name="ck_ledger_journals_reversal_ref",
        ),
        sa.CheckConstraint(
            "expires_at IS NULL OR kind = 'pending'", name="ck_ledger_journals_expiry"
        ),
    )
    op.create_index("ix_ledger_journals_expires_at", "ledger_journals", ["expires_at"])
    op.create_table(
        "ledger_postings",
        sa.Column("id", ID, primary_key=True),
        sa.Column("journal_id", sa.BigInteger, sa.ForeignKey("ledger_journals.id"), nullable=False),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("slot", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id", "currency"],
            ["ledger_accounts.id", "ledger_accounts.currency"],
            name="fk_ledger_postings_account_currency",
        ),
        sa.CheckConstraint("amount <> 0", name="ck_ledger_postings_amount"),
    )
    op.create_index("ix_ledger_postings_account", "ledger_postings", ["account_id", "id"])
    op.create_index("ix_ledger_postings_journal", "ledger_postings", ["journal_id"])
    op.create_table(
        "ledger_pending_resolutions",
        sa.Column(
            "pending_id", sa.BigInteger, sa.ForeignKey("ledger_journals.id"), primary_key=True
        ),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False, unique=True),
        sa.Column("journal_id", sa.BigInteger, sa.ForeignKey("ledger_journals.id")),
        sa.Column("resolved_at", TS, nullable=False),
        sa.CheckConstraint(
            "outcome IN ('posted', 'voided', 'expired')", name="ck_ledger_resolutions_outcome"
        ),
        sa.CheckConstraint(
            "(outcome = 'posted') = (journal_id IS NOT NULL)", name="ck_ledger_resolutions_post"
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()


def _postgresql_triggers() -> None:
    op.execute(PG_BALANCED)
    op.execute(
        "CREATE CONSTRAINT TRIGGER ledger_postings_balanced AFTER INSERT ON ledger_postings "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_journal_balanced()"
    )
    op.execute(PG_APPEND_ONLY)
    for table in ("ledger_journals", "ledger_postings", "ledger_pending_resolutions"):
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
        )


def _sqlite_triggers() -> None:
    op.execute(SQLITE_BALANCED)
    for table in ("ledger_journals", "ledger_postings", "ledger_pending_resolutions"):
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} BEGIN "
                f"SELECT RAISE(ABORT, '{table} is append-only: fix a mistake with a reversing "
                "journal'); END"
            )


def downgrade() -> None:
    for table in (
        "ledger_pending_resolutions",
        "ledger_postings",
        "ledger_journals",
        "ledger_balances",
        "ledger_accounts",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION ledger_journal_balanced()")
        op.execute("DROP FUNCTION ledger_append_only()")
