"""The books: accounts, balances (with slots for hot accounts), journals, postings, holds.

The database itself refuses what must never be: duplicate journal ids, a broken floor, a
posting in another currency than its account, an edited or deleted account, journal or
posting, and an unbalanced journal. On PostgreSQL a statement trigger checks each insert of
postings (journal exists, accounts and currencies match, all postings present, balanced) and
a deferred constraint trigger checks every journal again at commit, so a journal whose
postings never arrive cannot commit either. On SQLite, row triggers check the references and,
when a journal's last posting arrives, its balance. Postings carry no foreign keys: the
triggers check the same thing without locking the hot account rows (FOR KEY SHARE).

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

PG_WRITE_JOURNAL = """
CREATE FUNCTION ledger_write_journal(
    p_client_id text, p_content_hash text, p_kind text, p_pending_id bigint,
    p_reverses_id bigint, p_description text, p_metadata text, p_expires_at timestamptz,
    p_now timestamptz, p_accounts bigint[], p_currencies text[], p_amounts bigint[],
    p_hold boolean
) RETURNS TABLE (journal_id bigint, known_accounts bigint)
LANGUAGE plpgsql
-- one statement, planned once per connection; index plans even if planned on small tables
SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $fn$
DECLARE
    new_id bigint := nextval('ledger_journals_id_seq');
BEGIN
    -- the postings trigger admits postings for this journal only, until the transaction ends
    PERFORM set_config('simkeep.writing_journal', new_id::text, true);
    RETURN QUERY
    WITH j AS (
        INSERT INTO ledger_journals (id, client_id, content_hash, kind, pending_id,
                                     reverses_id, posting_count, description, metadata,
                                     expires_at, created_at)
        VALUES (new_id, p_client_id, p_content_hash, p_kind, p_pending_id, p_reverses_id,
                cardinality(p_accounts), p_description, p_metadata, p_expires_at, p_now)
        ON CONFLICT (client_id) DO NOTHING  -- the client id is taken: nothing more happens
        RETURNING id
    ), v AS (
        SELECT x.ord, x.account_id, x.currency, x.amount, a.normal_sign, a.id AS known,
               CASE WHEN a.hot_slots > 1 THEN floor(random() * a.hot_slots)::smallint
                    ELSE 0::smallint END AS slot
        FROM unnest(p_accounts, p_currencies, p_amounts) WITH ORDINALITY
             AS x(account_id, currency, amount, ord)
        LEFT JOIN LATERAL (  -- OFFSET 0: a primary-key lookup per posting
            SELECT la.id, la.normal_sign, la.hot_slots FROM ledger_accounts la
            WHERE la.id = x.account_id AND la.currency = x.currency OFFSET 0
        ) a ON true
        WHERE EXISTS (SELECT 1 FROM j)
    ), p AS (
        INSERT INTO ledger_postings (journal_id, account_id, currency, slot, amount)
        SELECT j.id, v.account_id, v.currency, v.slot, v.amount FROM j, v ORDER BY v.ord
    ), d AS (
        SELECT v.account_id, v.slot,
               sum(v.amount * v.normal_sign) AS delta,
               sum(greatest(-v.amount * v.normal_sign, 0)) AS out_amount,
               sum(greatest(v.amount * v.normal_sign, 0)) AS in_amount
        FROM v WHERE v.known IS NOT NULL GROUP BY v.account_id, v.slot
        ORDER BY v.account_id, v.slot  -- rows are locked in this order: no lock cycles
    ), b AS (
        UPDATE ledger_balances lb
           SET balance = lb.balance + CASE WHEN p_hold THEN 0 ELSE d.delta END,
               pending_out = lb.pending_out + CASE WHEN p_hold THEN d.out_amount ELSE 0 END,
               pending_in = lb.pending_in + CASE WHEN p_hold THEN d.in_amount ELSE 0 END
        FROM d WHERE lb.account_id = d.account_id AND lb.slot = d.slot
        RETURNING 1
    )
    SELECT (SELECT id FROM j), (SELECT count(v.known) FROM v);
END $fn$
"""

PG_REFUSE_POSTING = """
CREATE FUNCTION ledger_refuse_posting() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'postings are written only by ledger_write_journal, with their journal'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_journal_balanced';
END $$
"""

PG_JOURNAL_BALANCED = """
CREATE FUNCTION ledger_journal_balanced() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
DECLARE
    actual bigint;
    known bigint;
    balanced boolean;
BEGIN
    SELECT coalesce(sum(n), 0), coalesce(sum(k), 0), coalesce(bool_and(total = 0), true)
      INTO actual, known, balanced
      FROM (SELECT sum(p.amount) AS total, count(*) AS n, count(a.found) AS k
              FROM ledger_postings p
              LEFT JOIN LATERAL (  -- OFFSET 0: one primary-key lookup per posting
                  SELECT 1 AS found FROM ledger_accounts la
                  WHERE la.id = p.account_id AND la.currency = p.currency OFFSET 0
              ) a ON true
             WHERE p.journal_id = NEW.id GROUP BY p.currency) per_currency;
    IF actual <> NEW.posting_count THEN
        RAISE EXCEPTION 'journal % has % postings, declared %', NEW.id, actual, NEW.posting_count
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_journal_balanced';
    ELSIF known <> actual THEN
        RAISE EXCEPTION 'journal % names an unknown account or the wrong currency', NEW.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_journal_balanced';
    ELSIF NOT balanced THEN
        RAISE EXCEPTION 'journal % does not balance', NEW.id
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

SQLITE_POSTING_REFS = """
CREATE TRIGGER ledger_postings_refs BEFORE INSERT ON ledger_postings
BEGIN
    SELECT RAISE(ABORT, 'ledger_journal_balanced: postings for a missing journal')
    WHERE NOT EXISTS (SELECT 1 FROM ledger_journals WHERE id = NEW.journal_id);
    SELECT RAISE(ABORT, 'ledger_journal_balanced: unknown account or wrong currency')
    WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts
                      WHERE id = NEW.account_id AND currency = NEW.currency);
END
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


APPEND_ONLY = (
    "ledger_accounts",
    "ledger_journals",
    "ledger_postings",
    "ledger_pending_resolutions",
)


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
        sa.Column("pending_id", sa.BigInteger, sa.ForeignKey("ledger_journals.id")),
        sa.Column("reverses_id", sa.BigInteger, sa.ForeignKey("ledger_journals.id")),
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
    # partial indexes: most journals neither post a hold, reverse, nor expire
    for column, unique in (("pending_id", True), ("reverses_id", True), ("expires_at", False)):
        op.create_index(
            f"{'uq' if unique else 'ix'}_ledger_journals_{column}",
            "ledger_journals",
            [column],
            unique=unique,
            postgresql_where=sa.text(f"{column} IS NOT NULL"),
            sqlite_where=sa.text(f"{column} IS NOT NULL"),
        )
    op.create_table(
        "ledger_postings",
        sa.Column("id", ID, primary_key=True),
        sa.Column("journal_id", sa.BigInteger, nullable=False),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("slot", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("amount", sa.BigInteger, nullable=False),
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
    op.execute(PG_WRITE_JOURNAL)
    op.execute(PG_REFUSE_POSTING)
    # The WHEN test runs in the executor, not in PL/pgSQL: admitting a posting costs no
    # function call. ledger_write_journal sets the transaction-local setting to the journal
    # it is writing; any other posting (an old journal, another writer) is refused.
    op.execute(
        "CREATE TRIGGER ledger_postings_by_writer BEFORE INSERT ON ledger_postings "
        "FOR EACH ROW WHEN (NEW.journal_id::text IS DISTINCT FROM "
        "current_setting('simkeep.writing_journal', true)) "
        "EXECUTE FUNCTION ledger_refuse_posting()"
    )
    op.execute(PG_JOURNAL_BALANCED)
    op.execute(
        "CREATE CONSTRAINT TRIGGER ledger_journals_balanced AFTER INSERT ON ledger_journals "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_journal_balanced()"
    )
    op.execute(PG_APPEND_ONLY)
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
        )


def _sqlite_triggers() -> None:
    op.execute(SQLITE_POSTING_REFS)
    op.execute(SQLITE_BALANCED)
    for table in APPEND_ONLY:
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
        for function in (
            "ledger_journal_balanced()",
            "ledger_refuse_posting()",
            "ledger_append_only()",
        ):
            op.execute(f"DROP FUNCTION {function}")
        op.execute("DROP FUNCTION ledger_write_journal")
