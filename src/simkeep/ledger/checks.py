"""``simkeep ledger check``: proof, from the database alone, that the books are sound.

Each check is one set-based query over the whole ledger, so it runs the same on SQLite and
PostgreSQL and finds every problem, not only the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_UNBALANCED = """
SELECT journal_id, currency, sum(amount) FROM ledger_postings
GROUP BY journal_id, currency HAVING sum(amount) <> 0 ORDER BY journal_id LIMIT 50
"""

_POSTING_COUNT = """
SELECT j.id, j.posting_count, count(p.id) FROM ledger_journals j
LEFT JOIN ledger_postings p ON p.journal_id = j.id
GROUP BY j.id, j.posting_count HAVING count(p.id) <> j.posting_count OR count(p.id) < 2
ORDER BY j.id LIMIT 50
"""

_STORED_VS_POSTINGS = """
WITH expected AS (
    SELECT p.account_id, p.slot,
           sum(CASE WHEN j.kind <> 'pending' THEN p.amount * a.normal_sign ELSE 0 END) AS balance,
           sum(CASE WHEN j.kind = 'pending' AND r.pending_id IS NULL
                    THEN {greatest}(-p.amount * a.normal_sign, 0) ELSE 0 END) AS pending_out,
           sum(CASE WHEN j.kind = 'pending' AND r.pending_id IS NULL
                    THEN {greatest}(p.amount * a.normal_sign, 0) ELSE 0 END) AS pending_in
    FROM ledger_postings p
    JOIN ledger_journals j ON j.id = p.journal_id
    JOIN ledger_accounts a ON a.id = p.account_id
    LEFT JOIN ledger_pending_resolutions r ON r.pending_id = j.id
    GROUP BY p.account_id, p.slot
)
SELECT coalesce(b.account_id, e.account_id), coalesce(b.slot, e.slot),
       b.balance, coalesce(e.balance, 0), b.pending_out, coalesce(e.pending_out, 0),
       b.pending_in, coalesce(e.pending_in, 0)
FROM ledger_balances b FULL OUTER JOIN expected e
     ON e.account_id = b.account_id AND e.slot = b.slot
WHERE b.account_id IS NULL
   OR b.balance <> coalesce(e.balance, 0)
   OR b.pending_out <> coalesce(e.pending_out, 0)
   OR b.pending_in <> coalesce(e.pending_in, 0)
ORDER BY 1, 2 LIMIT 50
"""

_FLOORS = """
SELECT account_id, slot, balance, pending_out, min_balance FROM ledger_balances
WHERE min_balance IS NOT NULL AND balance - pending_out < min_balance
ORDER BY account_id LIMIT 50
"""

_HOT_WITH_FLOOR = """
SELECT a.id FROM ledger_accounts a JOIN ledger_balances b ON b.account_id = a.id
WHERE a.hot_slots > 1 AND b.min_balance IS NOT NULL GROUP BY a.id LIMIT 50
"""

_TRIAL_BALANCE = """
SELECT a.currency, sum(b.balance * a.normal_sign),
       sum(CASE WHEN b.balance * a.normal_sign > 0 THEN b.balance * a.normal_sign ELSE 0 END)
FROM ledger_balances b JOIN ledger_accounts a ON a.id = b.account_id
GROUP BY a.currency ORDER BY a.currency
"""

_COUNTS = """
SELECT (SELECT count(*) FROM ledger_accounts), (SELECT count(*) FROM ledger_journals),
       (SELECT count(*) FROM ledger_postings)
"""


@dataclass(frozen=True, slots=True)
class TrialBalance:
    currency: str
    debits: int
    net: int


@dataclass
class CheckReport:
    accounts: int = 0
    journals: int = 0
    postings: int = 0
    trial_balances: list[TrialBalance] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def check_books(conn: AsyncConnection) -> CheckReport:
    """Run every invariant of the books and report what is wrong, if anything."""
    greatest = "greatest" if conn.dialect.name == "postgresql" else "max"
    report = CheckReport()
    report.accounts, report.journals, report.postings = (await conn.execute(text(_COUNTS))).one()
    for journal_id, currency, total in await conn.execute(text(_UNBALANCED)):
        report.problems.append(f"journal {journal_id} does not balance: {currency} {int(total):+d}")
    for journal_id, declared, actual in await conn.execute(text(_POSTING_COUNT)):
        report.problems.append(
            f"journal {journal_id} has {actual} postings, declared {declared} (need 2 or more)"
        )
    for row in await conn.execute(text(_STORED_VS_POSTINGS.format(greatest=greatest))):
        account, slot, stored, expected, out_s, out_e, in_s, in_e = row
        report.problems.append(
            f"account {account} slot {slot}: stored balance {stored} / pending {out_s}+{in_s}, "
            f"postings say {expected} / pending {out_e}+{in_e}"
        )
    for account, slot, balance, pending_out, floor in await conn.execute(text(_FLOORS)):
        report.problems.append(
            f"account {account} slot {slot} is below its floor: "
            f"{balance} - {pending_out} held < {floor}"
        )
    for (account,) in await conn.execute(text(_HOT_WITH_FLOOR)):
        report.problems.append(f"hot account {account} has a floor")
    for currency, net, debits in await conn.execute(text(_TRIAL_BALANCE)):
        report.trial_balances.append(TrialBalance(currency, int(debits), int(net)))
        if net != 0:
            report.problems.append(f"trial balance in {currency} is {int(net):+d}, not zero")
    return report
