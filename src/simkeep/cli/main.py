"""``simkeep``: serve, migrate, seed, check the books."""

from __future__ import annotations

import asyncio

import typer
import uvicorn
from rich.console import Console

from simkeep.cli import (
    agents,
    db,
    demo,
    export,
    ledger,
    network,
    outlets,
    pos,
    reconcile,
    retention,
    simulators,
    staff,
    vouchers,
)
from simkeep.cli.common import settings

app = typer.Typer(help="simkeep: prepaid top-ups for China–Hong Kong dual-number SIM cards.")
app.add_typer(db.app, name="db")
app.add_typer(ledger.app, name="ledger")
app.add_typer(demo.app, name="demo")
app.add_typer(simulators.app, name="simulators")
app.add_typer(retention.app, name="retention")
app.add_typer(staff.app, name="staff")
app.add_typer(network.app, name="network")
app.add_typer(pos.app, name="pos")
app.add_typer(outlets.outlets_app, name="outlets")
app.add_typer(outlets.agents_app, name="agents")
agents.register(outlets.agents_app)  # add-clerk, add-user
app.add_typer(vouchers.app, name="vouchers")
app.add_typer(export.app, name="export")
app.command("reconcile")(reconcile.reconcile_command)


@app.command("serve")
def serve_command(
    host: str | None = typer.Option(None, help="Default: SIMKEEP_HOST."),
    port: int | None = typer.Option(None, help="Default: SIMKEEP_PORT."),
) -> None:
    """Serve the web pages, the API and the simulators (at SIMKEEP_PUBLIC_URL, or else at
    the host and port served)."""
    from simkeep.app import create_app
    from simkeep.simulators.records import RecordsUnreadable

    config = settings(host=host, port=port)
    try:
        served = create_app(config)
    except RecordsUnreadable as error:
        Console(stderr=True).print(f"[red]refused:[/red] {error}")
        raise typer.Exit(2) from error
    uvicorn.run(served, host=config.host, port=config.port, log_config=None, access_log=False)


@app.command("worker")
def worker_command(
    every: float = typer.Option(1.0, min=0.05, max=60.0, help="Seconds between job runs."),
) -> None:
    """Run the background jobs (SMS, polls, expiry and closing) in a process of their own,
    beside web processes started with SIMKEEP_RUN_JOBS=false. The simulators must then run
    in their own process too (SIMKEEP_SIMULATORS_URL). With SIMKEEP_QUEUE_URL (RabbitMQ),
    any number of workers share the work as a fleet (docs/scaling.md)."""
    from simkeep.clock import SystemClock
    from simkeep.jobs.worker import run_worker

    config = settings()
    if config.simulators and not config.simulators_url:
        Console(stderr=True).print(
            "[red]refused:[/red] the simulators live in the web process; "
            "serve them with `simkeep simulators serve` and set SIMKEEP_SIMULATORS_URL"
        )
        raise typer.Exit(2)
    asyncio.run(run_worker(config, SystemClock(), every=every))
