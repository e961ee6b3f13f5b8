"""``simkeep simulators``: the provider simulators in a process of their own."""

from __future__ import annotations

import typer
import uvicorn
from rich.console import Console

from simkeep.cli.common import settings
from simkeep.clock import SystemClock

app = typer.Typer(help="The payment provider simulators.", no_args_is_help=True)


@app.command("serve")
def serve_command(
    port: int = typer.Option(..., help="The port of SIMKEEP_SIMULATORS_URL."),
    time_scale: float = typer.Option(
        1.0, min=0.0001, max=1.0, help="Notification retry delays times this."
    ),
    echo_percent: int = typer.Option(
        0, min=0, max=100, help="Notification attempts also sent once more, later."
    ),
    seed: int = typer.Option(1, help="The random seed of the echoes."),
) -> None:
    """Serve the provider simulators at SIMKEEP_SIMULATORS_URL (on 127.0.0.1), for web apps
    and workers with the same SIMKEEP_KEYS_DIR and SIMKEEP_SIMULATORS_URL; with
    SIMKEEP_SIMULATOR_RECORDS, they keep their records in that directory across restarts."""
    from simkeep.simulators.records import RecordsUnreadable
    from simkeep.simulators.server import simulators_server

    config = settings()
    if not config.simulators_url:
        Console(stderr=True).print("[red]set SIMKEEP_SIMULATORS_URL[/red] (where they serve)")
        raise typer.Exit(2)
    try:
        server = simulators_server(
            config, SystemClock(), time_scale=time_scale, echo_percent=echo_percent, seed=seed
        )
    except RecordsUnreadable as error:
        Console(stderr=True).print(f"[red]refused:[/red] {error}")
        raise typer.Exit(2) from error
    uvicorn.run(server, host="127.0.0.1", port=port, log_config=None, access_log=False)
