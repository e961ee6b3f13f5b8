"""``simkeep``: serve, migrate, seed, check the books."""

from __future__ import annotations

import typer
import uvicorn

from simkeep.cli import db, demo, ledger
from simkeep.cli.common import settings

app = typer.Typer(help="simkeep: prepaid top-ups for China–Hong Kong dual-number SIM cards.")
app.add_typer(db.app, name="db")
app.add_typer(ledger.app, name="ledger")
app.add_typer(demo.app, name="demo")


@app.command("serve")
def serve_command(
    host: str | None = typer.Option(None, help="Default: SIMKEEP_HOST."),
    port: int | None = typer.Option(None, help="Default: SIMKEEP_PORT."),
) -> None:
    """Serve the web pages, the API and the simulators (at SIMKEEP_PUBLIC_URL, or else at
    the host and port served)."""
    from simkeep.app import create_app

    config = settings(host=host, port=port)
    uvicorn.run(
        create_app(config), host=config.host, port=config.port, log_config=None, access_log=False
    )
