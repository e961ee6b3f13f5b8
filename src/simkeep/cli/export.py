"""``simkeep export orders|refunds|reconciliation --from D --to D [--out FILE]``: the CSV file that
``/staff/exports`` downloads, from the same code (``staff.exports``), for a range of Hong
Kong days (at most 366).

With ``--out`` the file is written there, with a progress line counting what is written;
without it, to standard output, byte for byte the same (the byte order mark included). Each
export is recorded in the audit log as done from the command line, before the first row.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import BinaryIO

import typer
from rich.console import Console
from rich.progress import DownloadColumn, Progress, SpinnerColumn, TextColumn

from simkeep.cli.common import run_with_db, settings
from simkeep.clock import SystemClock
from simkeep.days import DayRange, InvalidRange
from simkeep.db import Database
from simkeep.staff import exports
from simkeep.staff.audit import CLI
from simkeep.staff.exports import Export

app = typer.Typer(
    help="Export orders, refunds and reconciliation as CSV files.", no_args_is_help=True
)
console = Console(stderr=True)

FIRST = typer.Option(..., "--from", help="The first Hong Kong day, YYYY-MM-DD.")
LAST = typer.Option(..., "--to", help="The last Hong Kong day, YYYY-MM-DD (included).")
OUT = typer.Option(None, "--out", help="The file to write; default: standard output.")


@app.command("orders")
def orders_command(first: str = FIRST, last: str = LAST, out: Path | None = OUT) -> None:
    """The orders created on the days, whatever became of them."""
    export(Export.ORDERS, first, last, out)


@app.command("refunds")
def refunds_command(first: str = FIRST, last: str = LAST, out: Path | None = OUT) -> None:
    """The refunds asked for on the days, whatever became of them."""
    export(Export.REFUNDS, first, last, out)


@app.command("reconciliation")
def reconciliation_command(first: str = FIRST, last: str = LAST, out: Path | None = OUT) -> None:
    """The differences found reconciling the providers' bills of the days."""
    export(Export.RECONCILIATION, first, last, out)


def export(what: Export, first: str, last: str, out: Path | None) -> None:
    days = _days(first, last)
    config = settings()
    with ExitStack() as stack:
        target = stack.enter_context(out.open("wb")) if out else sys.stdout.buffer
        progress = stack.enter_context(_progress(shown=out is not None))
        task = progress.add_task(exports.file_name(what, days), total=None)

        async def work(db: Database) -> None:
            now = SystemClock().now()
            await exports.record_export(db, what=what, days=days, actor=CLI, now=now)
            async for text in exports.csv_text(db, what=what, days=days):
                progress.advance(task, _write(target, text.encode()))

        run_with_db(config, work)
    if out:
        console.print(f"wrote {out}")


def _days(first: str, last: str) -> DayRange:
    try:
        return DayRange.of(date.fromisoformat(first), date.fromisoformat(last))
    except InvalidRange as error:
        console.print(f"[red]refused ({error.code}):[/red] {error}")
        raise typer.Exit(2) from error
    except ValueError as error:
        console.print(f"[red]--from and --to are YYYY-MM-DD:[/red] {first}, {last}")
        raise typer.Exit(2) from error


def _progress(*, shown: bool) -> Progress:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), DownloadColumn())
    return Progress(*columns, console=console, disable=not shown, transient=False)


def _write(target: BinaryIO, data: bytes) -> int:
    target.write(data)
    return len(data)
