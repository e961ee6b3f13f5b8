"""``simkeep retention``: the daily run that keeps numbers alive (fees, lapses, states)."""

from __future__ import annotations

from datetime import date

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from simkeep.cli.common import run_with_db, settings
from simkeep.clock import SystemClock, in_hong_kong
from simkeep.db import Database
from simkeep.retention import calendar
from simkeep.retention import service as retention
from simkeep.retention.service import Totals
from simkeep.sims import pool

app = typer.Typer(help="Keeping numbers alive: the daily retention run.", no_args_is_help=True)
console = Console()


@app.command("run")
def run_command(
    day: str | None = typer.Option(
        None, "--date", help="The Hong Kong day to run up to (YYYY-MM-DD); default: today."
    ),
) -> None:
    """Charge the monthly fees due, move SIMs whose validity or grace ended, recycle those
    suspended long enough — for every day since the last run, in order. Safe to repeat, and
    to run again after it was stopped: nothing is done twice for a SIM and a day."""
    config = settings()
    clock = SystemClock()
    try:
        until = date.fromisoformat(day) if day else in_hong_kong(clock.now()).date()
    except ValueError as error:
        console.print(f"[red]--date is YYYY-MM-DD:[/red] {day}")
        raise typer.Exit(2) from error

    async def work(db: Database) -> dict[date, Totals]:
        days = await calendar.days_to_run(db, day=until)
        total = await calendar.sims_to_run(db) * len(days)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("SIMs", total=total)

            def advance(seen: int) -> None:
                bar.advance(task, seen)

            return await retention.run_until(db, day=until, clock=clock, progress=advance)

    done = run_with_db(config, work)
    table = Table(title="Retention runs")
    for column in ("day", "SIMs", "fees charged", "fees owed", "states moved"):
        table.add_column(column)
    for run_day, totals in done.items():
        table.add_row(
            run_day.isoformat(),
            str(totals.sims),
            str(totals.fees_charged),
            str(totals.fees_owed),
            str(totals.moved),
        )
    console.print(table if done else f"nothing to run: {until} is done already")


@app.command("pool")
def pool_command() -> None:
    """The numbers of recycled SIMs: how many wait in quarantine, how many may be issued
    again, and when the next one may."""
    config = settings()
    today = in_hong_kong(SystemClock().now()).date()

    async def work(db: Database) -> pool.PoolSummary:
        return await db.transaction(lambda conn: pool.summary(conn, today=today))

    summary = run_with_db(config, work)
    table = Table(title=f"Number pool ({pool.QUARANTINE_DAYS} days' quarantine)")
    for column in ("in quarantine", "free to issue", "next free on"):
        table.add_column(column)
    table.add_row(str(summary.waiting), str(summary.free), str(summary.next_free_on or "—"))
    console.print(table)
