"""Read models of the books: accounts, balances (O(1) in history length), journals, history,
the journals of an owner's accounts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import Row, Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.keyset import Keyset, older_than
from simkeep.ledger import statements as sql
from simkeep.ledger import tables as t
from simkeep.ledger.model import (
    Account,
    AccountType,
    Balance,
    HistoryLine,
    HistoryPage,
    Journal,
    JournalKind,
    Posting,
    UnknownAccount,
)
from simkeep.money import Money
from simkeep.sqltypes import as_utc

MAX_PAGE = 500


@cache  # statements are immutable; building one (and its cache key) each call is not free
def _account_query() -> Select[tuple[object, ...]]:
    floor = (
        select(func.max(t.balances.c.min_balance))
        .where(t.balances.c.account_id == t.accounts.c.id)
        .scalar_subquery()
        .label("min_balance")
    )
    return select(t.accounts, floor)


def _account(row: Row[tuple[object, ...]]) -> Account:
    m = row._mapping
    return Account(
        id=m["id"],
        code=m["code"],
        name=m["name"],
        currency=m["currency"],
        type=AccountType(m["type"]),
        owner_type=m["owner_type"],
        owner_id=m["owner_id"],
        hot_slots=m["hot_slots"],
        min_balance=m["min_balance"],
    )


async def get_account(conn: AsyncConnection, *, account_id: int) -> Account | None:
    """One account by id."""
    row = (await conn.execute(_account_query().where(t.accounts.c.id == account_id))).first()
    return _account(row) if row else None


async def get_account_by_code(conn: AsyncConnection, *, code: str) -> Account | None:
    """One account by its business code."""
    row = (await conn.execute(_account_query().where(t.accounts.c.code == code))).first()
    return _account(row) if row else None


async def account_ids(conn: AsyncConnection, *, codes: Sequence[str]) -> dict[str, int]:
    """The ids of the accounts with these codes, in one query (unknown codes are left out)."""
    rows = await sql.ACCOUNT_IDS.rows(conn, codes=list(codes))
    return {row["code"]: row["id"] for row in rows}


async def list_accounts(conn: AsyncConnection) -> list[Account]:
    """Every account, in creation order."""
    rows = await conn.execute(_account_query().order_by(t.accounts.c.id))
    return [_account(row) for row in rows]


async def get_balance(conn: AsyncConnection, *, account_id: int) -> Balance:
    """The account's balance: a sum over its slot rows, never over its history."""
    row = await sql.BALANCE.row(conn, account_id=account_id)
    if row is None:
        raise UnknownAccount(f"no account {account_id}")
    return Balance(
        account_id=account_id,
        currency=row[0],
        posted=int(row[1]),
        pending_out=int(row[2]),
        pending_in=int(row[3]),
        min_balance=None if row[4] is None else int(row[4]),
    )


async def get_journal(conn: AsyncConnection, *, journal_id: int) -> Journal | None:
    """A journal with its postings, in the order they were written."""
    row = (await conn.execute(select(t.journals).where(t.journals.c.id == journal_id))).first()
    if row is None:
        return None
    lines = await conn.execute(
        select(t.postings.c.account_id, t.postings.c.amount, t.postings.c.currency)
        .where(t.postings.c.journal_id == journal_id)
        .order_by(t.postings.c.id)
    )
    return Journal(
        id=row.id,
        client_id=row.client_id,
        kind=JournalKind(row.kind),
        postings=tuple(Posting(a, amount, c) for a, amount, c in lines),
        description=row.description,
        metadata=json.loads(row.metadata),
        created_at=row.created_at,
        expires_at=row.expires_at,
        pending_id=row.pending_id,
        reverses_id=row.reverses_id,
    )


async def get_journal_by_client_id(conn: AsyncConnection, *, client_id: str) -> Journal | None:
    """A journal by the id its client chose."""
    keys = t.journal_keys.c
    journal_id = (
        await conn.execute(select(keys.journal_id).where(keys.client_id == client_id))
    ).scalar()
    return None if journal_id is None else await get_journal(conn, journal_id=journal_id)


@dataclass(frozen=True, slots=True)
class OwnerJournal:
    """A journal as an owner's accounts saw it: what it changed on each of them."""

    id: int
    client_id: str
    kind: JournalKind
    description: str
    created_at: datetime
    changes: tuple[tuple[str, Money], ...]  # (account code, change on its normal side)


async def owner_journals(
    conn: AsyncConnection,
    *,
    owner_type: str,
    owner_id: str,
    before: Keyset | None,
    limit: int,
) -> list[OwnerJournal]:
    """The journals touching an owner's accounts (a SIM's balance and bonus), newest
    first: at most ``limit`` before ``before``, each with the change it made to each of
    those accounts on the account's normal side (+100.00 is 100.00 more on a SIM)."""
    a, p, j = t.accounts.c, t.postings.c, t.journals.c
    owned = select(a.id).where(a.owner_type == owner_type, a.owner_id == owner_id)
    heads = (
        await conn.execute(
            select(j.id, j.client_id, j.kind, j.description, j.created_at)
            .where(
                j.id.in_(select(p.journal_id).where(p.account_id.in_(owned))),
                older_than(j.created_at, j.id, before),
            )
            .order_by(j.created_at.desc(), j.id.desc())
            .limit(limit)
        )
    ).all()
    changes: dict[int, list[tuple[str, Money]]] = {head.id: [] for head in heads}
    lines = await conn.execute(
        select(p.journal_id, a.code, a.normal_sign, p.amount, p.currency)
        .join(t.accounts, a.id == p.account_id)
        .where(p.journal_id.in_(list(changes)), a.owner_type == owner_type, a.owner_id == owner_id)
        .order_by(p.id)
    )
    for line in lines:
        change = Money(line.amount * line.normal_sign, line.currency)
        changes[line.journal_id].append((line.code, change))
    return [
        OwnerJournal(
            id=head.id,
            client_id=head.client_id,
            kind=JournalKind(head.kind),
            description=head.description,
            created_at=as_utc(head.created_at),
            changes=tuple(changes[head.id]),
        )
        for head in heads
    ]


async def history(
    conn: AsyncConnection, *, account_id: int, limit: int = 50, before: int | None = None
) -> HistoryPage:
    """An account's postings, newest first, a page at a time (keyset on the posting id)."""
    limit = max(1, min(limit, MAX_PAGE))
    query = (
        select(
            t.postings.c.id,
            t.postings.c.journal_id,
            t.journals.c.client_id,
            t.journals.c.kind,
            t.postings.c.amount,
            t.postings.c.currency,
            t.journals.c.description,
            t.journals.c.created_at,
        )
        .join(  # the same month: one partition's index per posting
            t.journals,
            and_(
                t.journals.c.id == t.postings.c.journal_id,
                t.journals.c.created_at == t.postings.c.created_at,
            ),
        )
        .where(t.postings.c.account_id == account_id)
        .order_by(t.postings.c.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        query = query.where(t.postings.c.id < before)
    rows = (await conn.execute(query)).all()
    lines = tuple(
        HistoryLine(
            posting_id=r[0],
            journal_id=r[1],
            client_id=r[2],
            kind=JournalKind(r[3]),
            amount=r[4],
            currency=r[5],
            description=r[6],
            created_at=r[7],
        )
        for r in rows[:limit]
    )
    return HistoryPage(lines=lines, next_before=lines[-1].posting_id if len(rows) > limit else None)
