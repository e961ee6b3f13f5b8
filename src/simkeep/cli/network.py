"""``simkeep network``: the carrier's systems that read line states and report usage."""

from __future__ import annotations

import typer
from rich.console import Console

from simkeep.cli.common import run_with_db, settings
from simkeep.clock import SystemClock
from simkeep.db import Database
from simkeep.usage import clients
from simkeep.usage.clients import NetworkClient

app = typer.Typer(help="Network clients: line states and usage charging.", no_args_is_help=True)
console = Console()


@app.command("add-client")
def add_client_command(
    name: str = typer.Argument(..., help="The client's name, 1–64 characters."),
) -> None:
    """Add a network client and print its bearer token — shown this once, kept only as a
    digest."""

    async def work(db: Database) -> tuple[NetworkClient, str]:
        return await clients.add_client(db, name=name, now=SystemClock().now())

    client, token = run_with_db(settings(), work)
    console.print(f"network client {client.name!r} (id {client.id}); its token, shown once:")
    print(token)
