"""``simkeep db``: schema migrations."""

from __future__ import annotations

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.cli.common import run_with_db, settings
from simkeep.clock import SystemClock
from simkeep.db import Database
from simkeep.ledger import partitions
from simkeep.ledger import service as ledger
from simkeep.migrations import current_revision, head_revision, upgrade

app = typer.Typer(help="Database schema.", no_args_is_help=True)
console = Console()


@app.command("upgrade")
def upgrade_command(revision: str = typer.Argument("head")) -> None:
    """Migrate the schema to REVISION (default: the newest), open the chart of accounts and
    the books' months to come (PostgreSQL)."""
    config = settings()

    async def work(db: Database) -> str | None:
        await upgrade(db, revision)

        async def chart(conn: AsyncConnection) -> None:
            now = SystemClock().now()
            await ledger.ensure_chart(conn, now=now, hot_slots=config.ledger_hot_slots)
            await partitions.ensure_months(conn, now=now)

        await db.transaction(chart)
        return await current_revision(db)

    console.print(f"schema at revision [bold]{run_with_db(config, work)}[/bold]")


@app.command("current")
def current_command() -> None:
    """Show the schema revision of the database and of this code."""
    revision = run_with_db(settings(), current_revision)
    console.print(f"database: {revision or 'empty'}   code: {head_revision()}")
