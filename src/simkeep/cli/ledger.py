"""``simkeep ledger``: prove the books are sound; read a balance; the books' months."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.cli.common import run_with_db, settings
from simkeep.clock import SystemClock
from simkeep.db import Database
from simkeep.ledger import partitions
from simkeep.ledger import service as ledger
from simkeep.money import Money

app = typer.Typer(help="The double-entry books.", no_args_is_help=True)
console = Console()


@app.command("check")
def check_command() -> None:
    """Check every journal balances, stored balances equal postings, floors hold, trial
    balance is zero. Exit code 0 when sound, 1 otherwise."""

    async def work(db: Database) -> ledger.CheckReport:
        return await db.transaction(ledger.check_books)

    report = run_with_db(settings(), work)
    table = Table(title="Trial balance", show_lines=False)
    table.add_column("currency")
    table.add_column("debits", justify="right")
    table.add_column("net", justify="right")
    for line in report.trial_balances:
        table.add_row(
            line.currency,
            str(Money(line.debits, line.currency)),
            str(Money(line.net, line.currency)),
        )
    console.print(
        f"{report.accounts} accounts, {report.journals} journals, {report.postings} postings"
    )
    console.print(table)
    if report.ok:
        console.print("[green]ledger check passed[/green]")
        return
    for problem in report.problems:
        console.print(f"[red]✗[/red] {problem}", soft_wrap=True)
    console.print(f"[red]ledger check failed: {len(report.problems)} problem(s)[/red]")
    raise typer.Exit(1)


@app.command("balance")
def balance_command(code: str) -> None:
    """Show the balance of the account with business code CODE."""

    async def work(db: Database) -> str:
        async def read(conn: AsyncConnection) -> str:
            account = await ledger.get_account_by_code(conn, code=code)
            if account is None:
                raise typer.BadParameter(f"no account {code}")
            balance = await ledger.get_balance(conn, account_id=account.id)
            return (
                f"{account.code} ({account.type.value}): {balance.money()} "
                f"available {balance.available_money()}"
            )

        return await db.transaction(read)

    console.print(run_with_db(settings(), work))


@app.command("months")
def months_command() -> None:
    """Create the books' partitions of this month and the next ones (PostgreSQL), then
    list the months in the books, the months archived, and the journals of no month's
    partition."""

    async def work(db: Database) -> tuple[list[str], partitions.Status]:
        async def run(conn: AsyncConnection) -> tuple[list[str], partitions.Status]:
            created = await partitions.ensure_months(conn, now=SystemClock().now())
            return created, await partitions.status(conn)

        return await db.transaction(run)

    created, found = run_with_db(settings(), work)
    if created:
        console.print(f"created: {', '.join(created)}")
    console.print(f"months in the books: {', '.join(found.months) or 'one table (SQLite)'}")
    console.print(f"archived: {', '.join(found.archived) or 'none'}")
    console.print(f"journals of no month's partition: {found.outside}")


@app.command("archive")
def archive_command(month: str) -> None:
    """Take MONTH (YYYY-MM), which has ended and holds no open hold, out of the books'
    tables: its totals per account are kept (``ledger check`` adds them) and its two
    partitions are detached as tables of their own, to dump and drop."""
    try:
        wanted = partitions.Month.parse(month)
    except partitions.ArchiveRefused as error:
        raise typer.BadParameter(str(error)) from error

    async def work(db: Database) -> partitions.Archived:
        return await db.transaction(
            lambda conn: partitions.archive_month(conn, month=wanted, now=SystemClock().now())
        )

    done = run_with_db(settings(), work)  # a refusal: its reason, exit code 2
    console.print(
        f"archived {done.month}: {done.journals} journals, {done.postings} postings; "
        f"totals of {done.accounts} account slot(s) kept; detached "
        f"{wanted.partition('ledger_journals')} and {wanted.partition('ledger_postings')}"
    )
