"""``simkeep vouchers``: make a batch of vouchers with its printer's file, expire vouchers."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from simkeep.cli.common import run_with_db, settings
from simkeep.clock import SystemClock
from simkeep.db import Database
from simkeep.money import InvalidAmount, Money
from simkeep.staff.audit import CLI
from simkeep.vouchers import service as vouchers
from simkeep.vouchers.model import printer_file

app = typer.Typer(help="Vouchers (充值卡): batches and their expiry.", no_args_is_help=True)
console = Console()


@app.command("generate")
def generate_command(
    face: str = typer.Option(..., help="The face value: 50, 100, 200 or 300."),
    currency: str = typer.Option(..., help="HKD or CNY."),
    count: int = typer.Option(..., min=1, max=100_000, help="How many vouchers."),
    expires: str = typer.Option(..., help="The last Hong Kong day of use, YYYY-MM-DD."),
    out_file: str = typer.Option(
        ..., "--out", help="The printer's CSV file to write (must not exist)."
    ),
) -> None:
    """Make a batch and write its printer's file (serial, PIN, value, currency, last day),
    readable by its owner only. The PINs exist nowhere else: keep the file safe."""
    config = settings()
    out = Path(out_file)
    try:
        value = Money.parse(face[:12], currency.upper()[:3])
        last_day = date.fromisoformat(expires[:10])
    except (InvalidAmount, ValueError) as error:
        console.print(f"[red]refused:[/red] {error}")
        raise typer.Exit(2) from error
    try:
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        console.print(f"[red]cannot create {out}:[/red] {error.strerror}")
        raise typer.Exit(2) from error
    with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as file:
        try:
            made = run_with_db(config, _generator(value, count, last_day, config.secret_key, file))
        except BaseException:
            out.unlink(missing_ok=True)
            raise
    console.print(
        f"Batch {made.batch.batch_no}: {count} vouchers of {value.format('en')}, "
        f"usable until {last_day.isoformat()} — PINs in {out}"
    )


def _generator(
    value: Money, count: int, last_day: date, secret_key: str, file: TextIO
) -> Callable[[Database], Awaitable[vouchers.GeneratedBatch]]:
    """The batch's making, with a progress bar; the file is written in its transaction."""

    async def work(db: Database) -> vouchers.GeneratedBatch:
        columns = (TextColumn("Vouchers"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("vouchers", total=count)

            def write(made: vouchers.GeneratedBatch) -> None:
                file.seek(0)
                file.truncate()
                file.write(printer_file(made.printed))
                file.flush()
                os.fsync(file.fileno())

            return await vouchers.create_batch(
                db,
                face=value,
                count=count,
                expires_on=last_day,
                key=vouchers.pin_key(secret_key),
                actor=CLI,
                now=SystemClock().now(),
                progress=lambda written: bar.advance(task, written),
                export=write,
            )

    return work


@app.command("expire")
def expire_command() -> None:
    """Expire the vouchers past their last day: the value of those sold and never redeemed
    becomes breakage income. Safe to repeat (the worker runs it too)."""
    config = settings()
    done = run_with_db(config, lambda db: vouchers.expire_vouchers(db, now=SystemClock().now()))
    breakage = ", ".join(money.format("en") for money in done.breakage) or "nothing"
    console.print(
        f"Expired {done.sold} sold and {done.unsold} unsold vouchers; breakage {breakage}"
    )
