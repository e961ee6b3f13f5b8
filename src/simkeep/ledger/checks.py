"""``simkeep ledger check``: proof, from the database alone, that the books are sound.

Each check is one set-based query over the whole ledger (``ledger.statements``), so it runs
the same on SQLite and PostgreSQL and finds every problem, not only the first. A problem
names accounts by their code and journals by their client id, and every amount is money
with its currency, as in the trial balance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.ledger import statements as sql
from simkeep.money import Money


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
    report = CheckReport()
    counts = await sql.COUNTS.row(conn)
    assert counts is not None
    report.accounts, report.journals, report.postings = (int(counts[i]) for i in range(3))
    for row in await sql.UNBALANCED.rows(conn):
        off = Money(int(row[2]), row[1])
        report.problems.append(f"journal {row[0]} does not balance: it is off by {off}")
    for row in await sql.POSTING_COUNT.rows(conn):
        report.problems.append(
            f"journal {row[0]} has {row[2]} postings, declared {row[1]} (need 2 or more)"
        )
    for row in await sql.STORED_VS_POSTINGS.rows(conn):
        report.problems.append(_stored_vs_postings(*(row[i] for i in range(9))))
    for row in await sql.BELOW_FLOOR.rows(conn):
        code, currency, slot = row[0], row[1], row[2]
        balance, held, floor = (Money(int(row[i]), currency) for i in (3, 4, 5))
        report.problems.append(
            f"account {code} slot {slot} is below its floor: {balance} less {held} held < {floor}"
        )
    for row in await sql.HOT_WITH_FLOOR.rows(conn):
        report.problems.append(f"hot account {row[0]} has a floor")
    for row in await sql.TRIAL_BALANCE.rows(conn):
        currency, net = row[0], int(row[1])
        report.trial_balances.append(TrialBalance(currency, int(row[2]), net))
        if net != 0:
            report.problems.append(
                f"trial balance in {currency} is {Money(net, currency)}, not zero"
            )
    return report


def _stored_vs_postings(
    code: str,
    currency: str | None,
    slot: int,
    stored: int | None,
    expected: int,
    stored_out: int | None,
    expected_out: int,
    stored_in: int | None,
    expected_in: int,
) -> str:
    if currency is None or stored is None or stored_out is None or stored_in is None:
        return f"account {code} slot {slot} has postings but no stored balance"

    def money(minor: int) -> Money:
        return Money(int(minor), currency)

    return (
        f"account {code} slot {slot}: stored balance {money(stored)}, held out "
        f"{money(stored_out)}, held in {money(stored_in)}; the postings say "
        f"{money(expected)}, {money(expected_out)}, {money(expected_in)}"
    )
