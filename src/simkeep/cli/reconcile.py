"""``simkeep reconcile``: a provider's day matched against its bill (docs/reconciliation.md)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from simkeep.cli.common import run_with_db, settings
from simkeep.clock import Clock, SystemClock
from simkeep.db import Database
from simkeep.payment_methods import ONLINE_PROVIDERS, Provider
from simkeep.payments.gateways import Gateways
from simkeep.reconciliation import service as reconciliation
from simkeep.reconciliation.model import NoBill, Stage
from simkeep.reconciliation.queries import Reconciliation
from simkeep.reconciliation.sources import BillSource, FileBill
from simkeep.services import outside_gateways
from simkeep.settings import Settings

console = Console()
STAGES = {Stage.LOAD: "bill rows", Stage.ASK: "asked the provider"}
CHOICES = ", ".join(provider.value for provider in ONLINE_PROVIDERS)


def reconcile_command(
    provider: Annotated[str, typer.Option("--provider", help=f"One of {CHOICES}.")],
    day: Annotated[
        str, typer.Option("--date", help="The Beijing (and Hong Kong) day, YYYY-MM-DD.")
    ],
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            exists=True,
            dir_okay=False,
            help="The bill as downloaded from the provider's console; default: ask its gateway.",
        ),
    ] = None,
) -> None:
    """Match a provider's day against its bill: count what matched, credit what the
    provider was paid and simkeep missed (after asking it), flag the rest, book the day's
    fees. Safe to run again: nothing is done twice. Exits 2 when the bill is refused or not
    out yet."""
    try:
        chosen = Provider(provider)
        when = date.fromisoformat(day)
    except ValueError as error:
        console.print(f"[red]--provider is one of {CHOICES}; --date is YYYY-MM-DD[/red]")
        raise typer.Exit(2) from error
    if chosen not in ONLINE_PROVIDERS:
        console.print(f"[red]{chosen.value} has no bill:[/red] --provider is one of {CHOICES}")
        raise typer.Exit(2)
    config = settings()
    clock = SystemClock()
    data = file.read_bytes() if file else None

    async def work(db: Database) -> Reconciliation:
        gateways = _gateways(config, clock)
        try:
            adapter = gateways.adapters.get(chosen)
            source: BillSource | None = FileBill(chosen, data) if data is not None else adapter
            if source is None:
                raise NoBill(f"{chosen.value} has no gateway configured here: pass --file")
            return await _run(db, chosen, when, source, gateways, config, clock)
        finally:
            await gateways.close()

    _show(run_with_db(config, work))


async def _run(
    db: Database,
    provider: Provider,
    day: date,
    source: BillSource,
    gateways: Gateways,
    config: Settings,
    clock: Clock,
) -> Reconciliation:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task(STAGES[Stage.LOAD], total=None)

        def advance(stage: Stage, done: int, total: int) -> None:
            bar.update(task, description=STAGES[stage], completed=done, total=total)

        return await reconciliation.reconcile(
            db,
            provider=provider,
            day=day,
            source=source,
            adapter=gateways.adapters.get(provider),
            by=reconciliation.BY_CLI,
            clock=clock,
            carry=config.reconcile_carry,
            progress=advance,
        )


def _gateways(config: Settings, clock: Clock) -> Gateways:
    """The providers' gateways, reached as a worker reaches them; the simulators of the
    embedded default at the web process that serves them."""
    if config.simulators and not config.simulators_url:
        config = config.model_copy(update={"simulators_url": config.public_url})
    return outside_gateways(config, clock)


def _show(done: Reconciliation) -> None:
    counts = done.counts
    table = Table(title=f"{done.provider.value} {done.day}: {done.state.value}")
    for column in ("class", "rows"):
        table.add_column(column)
    for name, count in (
        ("matched", counts.matched),
        ("amount mismatch", counts.amount_mismatch),
        ("paid, not credited", counts.paid_not_credited),
        ("provider only", counts.provider_only),
        ("simkeep only", counts.local_only),
        ("carried to the next day", counts.carried),
    ):
        table.add_row(name, str(count))
    console.print(table)
    for totals in done.totals:
        console.print(
            f"{totals.currency}: {totals.payments} payments {totals.paid}, {totals.refunds}"
            f" refunds {totals.paid_back}, fees {totals.net_fee}"
        )
    if done.open:
        console.print(f"{done.open} differences wait for staff: /staff/reconciliation")
