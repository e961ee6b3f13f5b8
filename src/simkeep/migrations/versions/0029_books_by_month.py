"""The books by month (``simkeep.ledger.partitions``, docs/ledger.md "Books by month").

Both databases:

* ``ledger_postings.created_at``: the journal's time, on each of its postings;
* ``ledger_archived_months`` and ``ledger_archived_totals``: a month taken out of the books'
  tables, and its per-account, per-slot totals, which ``ledger check`` adds to the postings.

PostgreSQL: ``ledger_journals`` and ``ledger_postings`` become range-partitioned by
``created_at``, one partition per Hong Kong month (those the data spans, this month and
``AHEAD`` after it) and a default one; their primary keys become ``(id, created_at)``. A
unique index on a partitioned table must hold its partition key, so what must be unique
across months moves to ``ledger_journal_keys``, one row per journal, never detached: the
client id (its primary key), the journal id, and each hold posted or journal reversed at
most once (``uq_ledger_journals_pending_id``, ``uq_ledger_journals_reverses_id``, the names
the writer translates). ``ledger_write_journal`` inserts the key first (``ON CONFLICT
(client_id) DO NOTHING``: a client id taken writes nothing), then the journal, postings and
balances. The references to journals (a post's hold, a reversal's journal, a resolution's
hold and post, an adjustment's journal) now point at the key's journal id. SQLite keeps its
tables; ``ledger_journal_keys`` is a view of its journals there.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-01
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from simkeep.ledger.partitions import AHEAD, Month, months_from

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
FIRST = importlib.import_module("simkeep.migrations.versions.0001_ledger")

PG_WRITE_JOURNAL = """
CREATE OR REPLACE FUNCTION ledger_write_journal(
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
    WITH k AS (  -- unique across months: the client id, a hold posted or journal reversed once
        INSERT INTO ledger_journal_keys (client_id, journal_id, created_at, pending_id,
                                         reverses_id)
        VALUES (p_client_id, new_id, p_now, p_pending_id, p_reverses_id)
        ON CONFLICT (client_id) DO NOTHING  -- the client id is taken: nothing more happens
        RETURNING ledger_journal_keys.journal_id AS taken
    ), j AS (
        INSERT INTO ledger_journals (id, client_id, content_hash, kind, pending_id,
                                     reverses_id, posting_count, description, metadata,
                                     expires_at, created_at)
        SELECT k.taken, p_client_id, p_content_hash, p_kind, p_pending_id, p_reverses_id,
               cardinality(p_accounts), p_description, p_metadata, p_expires_at, p_now
        FROM k
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
        WHERE EXISTS (SELECT 1 FROM k)
    ), p AS (
        INSERT INTO ledger_postings (journal_id, account_id, currency, slot, amount, created_at)
        SELECT j.id, v.account_id, v.currency, v.slot, v.amount, p_now FROM j, v ORDER BY v.ord
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

# At commit: the journal holds the key of its client id (so a client id is used once across
# months), and its postings — read in its own month's partition only — are all there, on
# known accounts in their currencies, and balance.
PG_JOURNAL_BALANCED = """
CREATE OR REPLACE FUNCTION ledger_journal_balanced() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
DECLARE
    actual bigint;
    known bigint;
    balanced boolean;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ledger_journal_keys k
                   WHERE k.client_id = NEW.client_id AND k.journal_id = NEW.id) THEN
        RAISE EXCEPTION 'journal % does not hold the key of its client_id %', NEW.id,
            NEW.client_id USING ERRCODE = 'unique_violation', CONSTRAINT = 'ledger_journal_keys_pkey';
    END IF;
    SELECT coalesce(sum(n), 0), coalesce(sum(k), 0), coalesce(bool_and(total = 0), true)
      INTO actual, known, balanced
      FROM (SELECT sum(p.amount) AS total, count(*) AS n, count(a.found) AS k
              FROM ledger_postings p
              LEFT JOIN LATERAL (  -- OFFSET 0: one primary-key lookup per posting
                  SELECT 1 AS found FROM ledger_accounts la
                  WHERE la.id = p.account_id AND la.currency = p.currency OFFSET 0
              ) a ON true
             WHERE p.journal_id = NEW.id AND p.created_at = NEW.created_at
             GROUP BY p.currency) per_currency;
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

JOURNAL_COLUMNS = (
    "id, client_id, content_hash, kind, pending_id, reverses_id, posting_count, description,"
    " metadata, expires_at, created_at"
)
REFERENCES = (  # (table, column, constraint) of the references to a journal
    ("ledger_pending_resolutions", "pending_id", "ledger_pending_resolutions_pending_id_fkey"),
    ("ledger_pending_resolutions", "journal_id", "ledger_pending_resolutions_journal_id_fkey"),
    ("balance_adjustments", "journal_id", "balance_adjustments_journal_id_fkey"),
)
ARCHIVE = ("ledger_archived_months", "ledger_archived_totals")  # append-only, as the books
SQLITE_KEYS = (
    "CREATE VIEW ledger_journal_keys AS SELECT client_id, id AS journal_id, created_at,"
    " pending_id, reverses_id FROM ledger_journals"
)


def upgrade() -> None:
    op.create_table(
        "ledger_archived_months",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("journals", sa.BigInteger, nullable=False),
        sa.Column("postings", sa.BigInteger, nullable=False),
        sa.Column("archived_at", TS, nullable=False),
    )
    op.create_table(
        "ledger_archived_totals",
        sa.Column(
            "month",
            sa.String(7),
            sa.ForeignKey("ledger_archived_months.month"),
            primary_key=True,
        ),
        sa.Column(
            "account_id", sa.BigInteger, sa.ForeignKey("ledger_accounts.id"), primary_key=True
        ),
        sa.Column("slot", sa.SmallInteger, primary_key=True),
        sa.Column("balance", sa.BigInteger, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        _partition_postgresql()
        for table in ARCHIVE:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
            )
    else:
        _sqlite_upgrade()
        for table in ARCHIVE:
            op.execute(_sqlite_append_only(table, "UPDATE"))
            op.execute(_sqlite_append_only(table, "DELETE"))


def _sqlite_upgrade() -> None:
    op.execute(
        "ALTER TABLE ledger_postings ADD COLUMN created_at DATETIME NOT NULL"
        " DEFAULT '1970-01-01 00:00:00.000000'"
    )
    op.execute("DROP TRIGGER ledger_postings_no_update")
    op.execute(
        "UPDATE ledger_postings SET created_at = (SELECT j.created_at FROM ledger_journals j"
        " WHERE j.id = ledger_postings.journal_id)"
    )
    op.execute(_sqlite_append_only("ledger_postings", "UPDATE"))
    op.execute(SQLITE_KEYS)


def _sqlite_append_only(table: str, action: str) -> str:
    return (
        f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} BEGIN "
        f"SELECT RAISE(ABORT, '{table} is append-only: fix a mistake with a reversing "
        "journal'); END"
    )


def _partition_postgresql() -> None:
    op.execute(
        """
        CREATE TABLE ledger_journal_keys (
            client_id varchar(128) PRIMARY KEY,
            journal_id bigint NOT NULL CONSTRAINT uq_ledger_journal_keys_journal UNIQUE,
            created_at timestamptz NOT NULL,
            pending_id bigint REFERENCES ledger_journal_keys (journal_id),
            reverses_id bigint REFERENCES ledger_journal_keys (journal_id)
        )
        """
    )
    op.execute(
        "INSERT INTO ledger_journal_keys (client_id, journal_id, created_at, pending_id,"
        " reverses_id) SELECT client_id, id, created_at, pending_id, reverses_id"
        " FROM ledger_journals ORDER BY id"
    )
    op.execute(
        f"""
        CREATE TABLE ledger_journals_by_month (
            id bigint NOT NULL DEFAULT nextval('ledger_journals_id_seq'),
            client_id varchar(128) NOT NULL,
            content_hash varchar(64) NOT NULL,
            kind varchar(10) NOT NULL,
            pending_id bigint,
            reverses_id bigint,
            posting_count smallint NOT NULL,
            description text NOT NULL DEFAULT '',
            metadata text NOT NULL DEFAULT '{{}}',
            expires_at timestamptz,
            created_at timestamptz NOT NULL,
            PRIMARY KEY (id, created_at),
            {_journal_checks()}
        ) PARTITION BY RANGE (created_at)
        """
    )
    op.execute(
        """
        CREATE TABLE ledger_postings_by_month (
            id bigint NOT NULL DEFAULT nextval('ledger_postings_id_seq'),
            journal_id bigint NOT NULL,
            account_id bigint NOT NULL,
            currency varchar(3) NOT NULL,
            slot smallint NOT NULL DEFAULT 0,
            amount bigint NOT NULL,
            created_at timestamptz NOT NULL,
            PRIMARY KEY (id, created_at),
            CONSTRAINT ck_ledger_postings_amount CHECK (amount <> 0)
        ) PARTITION BY RANGE (created_at)
        """
    )
    now = datetime.now(UTC)
    first = op.get_bind().execute(sa.text("SELECT min(created_at) FROM ledger_journals")).scalar()
    last = Month.of(now)
    for _ in range(AHEAD):
        last = last.next()
    for month in months_from(min(Month.of(first or now), Month.of(now)), last):
        for table in ("ledger_journals", "ledger_postings"):
            op.execute(month.create_sql(table, parent=f"{table}_by_month"))
    for table in ("ledger_journals", "ledger_postings"):
        op.execute(f"CREATE TABLE {table}_default PARTITION OF {table}_by_month DEFAULT")
    op.execute(
        f"INSERT INTO ledger_journals_by_month ({JOURNAL_COLUMNS})"  # noqa: S608 - column names
        f" SELECT {JOURNAL_COLUMNS} FROM ledger_journals"
    )
    op.execute(
        "INSERT INTO ledger_postings_by_month (id, journal_id, account_id, currency, slot,"
        " amount, created_at) SELECT p.id, p.journal_id, p.account_id, p.currency, p.slot,"
        " p.amount, j.created_at FROM ledger_postings p JOIN ledger_journals j"
        " ON j.id = p.journal_id"
    )
    for table, column, constraint in REFERENCES:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {constraint}")
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {constraint} FOREIGN KEY ({column})"
            " REFERENCES ledger_journal_keys (journal_id)"
        )
    _swap("ledger_journals")
    _swap("ledger_postings")
    for column in ("pending_id", "reverses_id"):
        op.execute(
            f"CREATE UNIQUE INDEX uq_ledger_journals_{column} ON ledger_journal_keys ({column})"
            f" WHERE {column} IS NOT NULL"
        )
    op.execute(
        "CREATE INDEX ix_ledger_journals_expires_at ON ledger_journals (expires_at)"
        " WHERE expires_at IS NOT NULL"
    )
    op.execute("CREATE INDEX ix_ledger_postings_account ON ledger_postings (account_id, id)")
    op.execute("CREATE INDEX ix_ledger_postings_journal ON ledger_postings (journal_id)")
    op.execute(PG_WRITE_JOURNAL)
    op.execute(PG_JOURNAL_BALANCED)
    _postgresql_triggers(append_only=("ledger_journals", "ledger_postings", "ledger_journal_keys"))


def _journal_checks() -> str:
    return """
            CONSTRAINT ck_ledger_journals_kind
                CHECK (kind IN ('standard', 'pending', 'post', 'reversal')),
            CONSTRAINT ck_ledger_journals_posting_count CHECK (posting_count >= 2),
            CONSTRAINT ck_ledger_journals_post_ref
                CHECK ((kind = 'post') = (pending_id IS NOT NULL)),
            CONSTRAINT ck_ledger_journals_reversal_ref
                CHECK ((kind = 'reversal') = (reverses_id IS NOT NULL)),
            CONSTRAINT ck_ledger_journals_expiry CHECK (expires_at IS NULL OR kind = 'pending')
    """


def _swap(table: str) -> None:
    """Put ``{table}_by_month`` in ``table``'s place: its sequence moves over, the old
    table goes, the new one takes its name and its primary key's."""
    op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY NONE")
    op.execute(f"DROP TABLE {table}")
    op.execute(f"ALTER TABLE {table}_by_month RENAME TO {table}")
    op.execute(f"ALTER INDEX {table}_by_month_pkey RENAME TO {table}_pkey")
    op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")


def _postgresql_triggers(*, append_only: tuple[str, ...]) -> None:
    op.execute(
        "CREATE TRIGGER ledger_postings_by_writer BEFORE INSERT ON ledger_postings "
        "FOR EACH ROW WHEN (NEW.journal_id::text IS DISTINCT FROM "
        "current_setting('simkeep.writing_journal', true)) "
        "EXECUTE FUNCTION ledger_refuse_posting()"
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER ledger_journals_balanced AFTER INSERT ON ledger_journals "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_journal_balanced()"
    )
    for table in append_only:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _unpartition_postgresql()
    else:
        op.execute("DROP VIEW ledger_journal_keys")
        op.execute("DROP TRIGGER ledger_postings_no_update")
        op.execute("ALTER TABLE ledger_postings DROP COLUMN created_at")
        op.execute(_sqlite_append_only("ledger_postings", "UPDATE"))
    op.drop_table("ledger_archived_totals")
    op.drop_table("ledger_archived_months")


def _unpartition_postgresql() -> None:
    """Back to one table each (the archived months stay detached tables: their journals
    are gone from the books, as they were before)."""
    op.execute(
        f"""
        CREATE TABLE ledger_journals_by_month (
            id bigint PRIMARY KEY DEFAULT nextval('ledger_journals_id_seq'),
            client_id varchar(128) NOT NULL CONSTRAINT ledger_journals_client_id_key UNIQUE,
            content_hash varchar(64) NOT NULL,
            kind varchar(10) NOT NULL,
            pending_id bigint REFERENCES ledger_journals_by_month (id),
            reverses_id bigint REFERENCES ledger_journals_by_month (id),
            posting_count smallint NOT NULL,
            description text NOT NULL DEFAULT '',
            metadata text NOT NULL DEFAULT '{{}}',
            expires_at timestamptz,
            created_at timestamptz NOT NULL,
            {_journal_checks()}
        )
        """
    )
    op.execute(
        """
        CREATE TABLE ledger_postings_by_month (
            id bigint PRIMARY KEY DEFAULT nextval('ledger_postings_id_seq'),
            journal_id bigint NOT NULL,
            account_id bigint NOT NULL,
            currency varchar(3) NOT NULL,
            slot smallint NOT NULL DEFAULT 0,
            amount bigint NOT NULL,
            CONSTRAINT ck_ledger_postings_amount CHECK (amount <> 0)
        )
        """
    )
    op.execute(
        f"INSERT INTO ledger_journals_by_month ({JOURNAL_COLUMNS})"  # noqa: S608 - column names
        f" SELECT {JOURNAL_COLUMNS} FROM ledger_journals ORDER BY id"
    )
    op.execute(
        "INSERT INTO ledger_postings_by_month (id, journal_id, account_id, currency, slot,"
        " amount) SELECT id, journal_id, account_id, currency, slot, amount FROM ledger_postings"
    )
    for table, _, constraint in REFERENCES:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {constraint}")
    op.execute("DROP TABLE ledger_journal_keys")
    _swap("ledger_journals")
    _swap("ledger_postings")
    for table, column, constraint in REFERENCES:
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {constraint} FOREIGN KEY ({column})"
            " REFERENCES ledger_journals (id)"
        )
    for column, unique in (("pending_id", True), ("reverses_id", True), ("expires_at", False)):
        op.execute(
            f"CREATE {'UNIQUE ' if unique else ''}INDEX "
            f"{'uq' if unique else 'ix'}_ledger_journals_{column} ON ledger_journals ({column})"
            f" WHERE {column} IS NOT NULL"
        )
    op.execute("CREATE INDEX ix_ledger_postings_account ON ledger_postings (account_id, id)")
    op.execute("CREATE INDEX ix_ledger_postings_journal ON ledger_postings (journal_id)")
    op.execute("DROP FUNCTION ledger_write_journal")
    op.execute(FIRST.PG_WRITE_JOURNAL)
    op.execute(FIRST.PG_JOURNAL_BALANCED.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    _postgresql_triggers(append_only=("ledger_journals", "ledger_postings"))
