"""The ledger's hand-written statements (``simkeep.statements``): the writer's, the reads
every top-up makes, releasing a hold, and the checks of ``simkeep ledger check``.

Design overview
---------------
* Writing a journal is one call of ``ledger_write_journal`` on PostgreSQL (migration 0001)
  and three statements on SQLite: the header, the postings (one statement for all of them,
  read from a JSON array with ``json_each``), and the balance changes they cause.
* Account ids by code and a balance are read on every top-up: one statement each.
* The checks are set-based queries over the whole ledger, the same on both databases but for
  ``greatest`` (PostgreSQL) and the two-argument ``max`` (SQLite).
"""

from __future__ import annotations

from simkeep.statements import Statement

WRITE_JOURNAL = Statement(  # PostgreSQL only: the function does it all in one round trip
    """
    SELECT journal_id, known_accounts FROM ledger_write_journal(
      :client_id, :content_hash, :kind, :pending_id, :reverses_id, :description, :metadata,
      :expires_at, :now, :accounts, :currencies, :amounts, :hold)
    """
)

INSERT_JOURNAL = Statement(  # SQLite
    """
    INSERT INTO ledger_journals (client_id, content_hash, kind, pending_id, reverses_id,
                                 posting_count, description, metadata, expires_at, created_at)
    VALUES (:client_id, :content_hash, :kind, :pending_id, :reverses_id, :posting_count,
            :description, :metadata, :expires_at, :now)
    ON CONFLICT (client_id) DO NOTHING
    RETURNING id
    """
)

INSERT_POSTINGS = Statement(  # SQLite: ``postings`` is a list of [account, currency, amount]
    """
    INSERT INTO ledger_postings (journal_id, account_id, currency, slot, amount, created_at)
    SELECT :journal_id, json_extract(p.value, '$[0]'), json_extract(p.value, '$[1]'), 0,
           json_extract(p.value, '$[2]'), :now
    FROM json_each(:postings) AS p ORDER BY p.key
    """
)

_BALANCE_CHANGES = """
    UPDATE ledger_balances SET {effect}
    FROM (
        SELECT p.account_id, sum(p.amount * a.normal_sign) AS delta,
               sum(max(-p.amount * a.normal_sign, 0)) AS out_amount,
               sum(max(p.amount * a.normal_sign, 0)) AS in_amount
        FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id
        WHERE p.journal_id = :journal_id GROUP BY p.account_id
    ) AS d
    WHERE ledger_balances.account_id = d.account_id AND ledger_balances.slot = 0
"""
POST_BALANCES = Statement(_BALANCE_CHANGES.format(effect="balance = balance + d.delta"))
HOLD_BALANCES = Statement(
    _BALANCE_CHANGES.format(
        effect="pending_out = pending_out + d.out_amount, pending_in = pending_in + d.in_amount"
    )
)

ACCOUNT_IDS = Statement(
    "SELECT code, id FROM ledger_accounts WHERE code = ANY(:codes)",
    sqlite="SELECT code, id FROM ledger_accounts"
    " WHERE code IN (SELECT value FROM json_each(:codes))",
)

BALANCE = Statement(
    """
    SELECT a.currency, sum(b.balance), sum(b.pending_out), sum(b.pending_in),
           max(b.min_balance)
    FROM ledger_accounts a JOIN ledger_balances b ON b.account_id = a.id
    WHERE a.id = :account_id
    GROUP BY a.currency
    """
)


def _both(sql: str) -> Statement:
    """A statement that says ``{greatest}`` where PostgreSQL and SQLite spell it apart."""
    return Statement(sql.format(greatest="greatest"), sqlite=sql.format(greatest="max"))


RELEASE_HOLD = _both(
    """
    UPDATE ledger_balances SET pending_out = pending_out - d.out_amount,
                               pending_in = pending_in - d.in_amount
    FROM (
        SELECT p.account_id, p.slot,
               sum({greatest}(-p.amount * a.normal_sign, 0)) AS out_amount,
               sum({greatest}(p.amount * a.normal_sign, 0)) AS in_amount
        FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id
        WHERE p.journal_id = :pending_id GROUP BY p.account_id, p.slot
    ) AS d
    WHERE ledger_balances.account_id = d.account_id AND ledger_balances.slot = d.slot
    """
)

COUNTS = Statement(  # the archived months' journals and postings count too
    """
    SELECT (SELECT count(*) FROM ledger_accounts),
           (SELECT count(*) FROM ledger_journals)
             + (SELECT coalesce(sum(journals), 0) FROM ledger_archived_months),
           (SELECT count(*) FROM ledger_postings)
             + (SELECT coalesce(sum(postings), 0) FROM ledger_archived_months)
    """
)

UNBALANCED = Statement(
    """
    SELECT coalesce(j.client_id, '#' || p.journal_id), p.currency, sum(p.amount)
    FROM ledger_postings p LEFT JOIN ledger_journals j ON j.id = p.journal_id
    GROUP BY p.journal_id, j.client_id, p.currency HAVING sum(p.amount) <> 0
    ORDER BY p.journal_id LIMIT 50
    """
)

POSTING_COUNT = Statement(
    """
    SELECT j.client_id, j.posting_count, count(p.id) FROM ledger_journals j
    LEFT JOIN ledger_postings p ON p.journal_id = j.id
    GROUP BY j.id, j.client_id, j.posting_count
    HAVING count(p.id) <> j.posting_count OR count(p.id) < 2
    ORDER BY j.id LIMIT 50
    """
)

STORED_VS_POSTINGS = _both(
    """
    WITH expected AS (
        SELECT p.account_id, p.slot,
               sum(CASE WHEN j.kind <> 'pending' THEN p.amount * a.normal_sign ELSE 0 END)
                 AS balance,
               sum(CASE WHEN j.kind = 'pending' AND r.pending_id IS NULL
                        THEN {greatest}(-p.amount * a.normal_sign, 0) ELSE 0 END) AS pending_out,
               sum(CASE WHEN j.kind = 'pending' AND r.pending_id IS NULL
                        THEN {greatest}(p.amount * a.normal_sign, 0) ELSE 0 END) AS pending_in
        FROM ledger_postings p
        JOIN ledger_journals j ON j.id = p.journal_id
        JOIN ledger_accounts a ON a.id = p.account_id
        LEFT JOIN ledger_pending_resolutions r ON r.pending_id = j.id
        GROUP BY p.account_id, p.slot
        UNION ALL  -- the months archived: what their postings did, kept when detached
        SELECT account_id, slot, sum(balance), 0, 0 FROM ledger_archived_totals
        GROUP BY account_id, slot
    ), summed AS (
        SELECT account_id, slot, sum(balance) AS balance, sum(pending_out) AS pending_out,
               sum(pending_in) AS pending_in
        FROM expected GROUP BY account_id, slot
    ), compared AS (
        SELECT coalesce(b.account_id, e.account_id) AS account_id,
               coalesce(b.slot, e.slot) AS slot,
               b.balance AS stored, coalesce(e.balance, 0) AS expected,
               b.pending_out AS stored_out, coalesce(e.pending_out, 0) AS expected_out,
               b.pending_in AS stored_in, coalesce(e.pending_in, 0) AS expected_in
        FROM ledger_balances b FULL OUTER JOIN summed e
             ON e.account_id = b.account_id AND e.slot = b.slot
        WHERE b.account_id IS NULL
           OR b.balance <> coalesce(e.balance, 0)
           OR b.pending_out <> coalesce(e.pending_out, 0)
           OR b.pending_in <> coalesce(e.pending_in, 0)
    )
    SELECT coalesce(a.code, '#' || c.account_id) AS code, a.currency, c.slot, c.stored,
           c.expected, c.stored_out, c.expected_out, c.stored_in, c.expected_in
    FROM compared c LEFT JOIN ledger_accounts a ON a.id = c.account_id
    ORDER BY c.account_id, c.slot LIMIT 50
    """
)

BELOW_FLOOR = Statement(
    """
    SELECT a.code, a.currency, b.slot, b.balance, b.pending_out, b.min_balance
    FROM ledger_balances b JOIN ledger_accounts a ON a.id = b.account_id
    WHERE b.min_balance IS NOT NULL AND b.balance - b.pending_out < b.min_balance
    ORDER BY b.account_id LIMIT 50
    """
)

HOT_WITH_FLOOR = Statement(
    """
    SELECT a.code FROM ledger_accounts a JOIN ledger_balances b ON b.account_id = a.id
    WHERE a.hot_slots > 1 AND b.min_balance IS NOT NULL GROUP BY a.id, a.code LIMIT 50
    """
)

TRIAL_BALANCE = Statement(
    """
    SELECT a.currency, sum(b.balance * a.normal_sign),
           sum(CASE WHEN b.balance * a.normal_sign > 0 THEN b.balance * a.normal_sign
                    ELSE 0 END)
    FROM ledger_balances b JOIN ledger_accounts a ON a.id = b.account_id
    GROUP BY a.currency ORDER BY a.currency
    """
)
