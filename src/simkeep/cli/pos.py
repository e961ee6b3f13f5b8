"""``simkeep pos``: the devices of the counters and of agents' own systems.

``add-device`` prints the new device's token once — only its digest is kept; put it in the
device's settings now. ``revoke-device`` stops a token at once. Both are recorded in the
audit log as done from the command line.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from simkeep.cli.common import run_with_db, settings
from simkeep.clock import SystemClock
from simkeep.counter import service as counter
from simkeep.counter.service import DeviceRow, NewDevice
from simkeep.db import Database
from simkeep.staff.audit import CLI

app = typer.Typer(help="The counters' devices: add, revoke, list.", no_args_is_help=True)
console = Console()


@app.command("add-device")
def add_device_command(
    username: str = typer.Option(..., "--username", help="The clerk or agent it belongs to."),
    label: str = typer.Option(..., "--label", help="Which device: 1 to 64 characters."),
) -> None:
    """Issue a device token for a clerk or an agent; print it once."""

    async def work(db: Database) -> NewDevice:
        staff_id = await counter.member_id(db, username=username)
        return await counter.issue_device(
            db, staff_id=staff_id, label=label, actor=CLI, now=SystemClock().now()
        )

    new = run_with_db(settings(), work)
    console.print(f"Device {new.id} of [bold]{username}[/bold]: {label}")
    console.print(f"Token: {new.token}", soft_wrap=True)
    console.print("[dim]Shown once: only its digest is kept.[/dim]")


@app.command("revoke-device")
def revoke_device_command(
    device_id: int = typer.Option(..., "--id", help="The device's id (see `pos devices`)."),
) -> None:
    """Revoke a device's token."""

    async def work(db: Database) -> None:
        await counter.revoke_device(db, device_id=device_id, actor=CLI, now=SystemClock().now())

    run_with_db(settings(), work)
    console.print(f"Device {device_id} revoked.")


@app.command("devices")
def devices_command() -> None:
    """List the devices, newest first."""
    rows: list[DeviceRow] = run_with_db(settings(), counter.list_devices)
    table = Table(title="Devices")
    for column in ("id", "staff id", "label", "created", "last used", "revoked"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row.id),
            str(row.staff_id),
            row.label,
            f"{row.created_at:%Y-%m-%d %H:%M}",
            f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never",
            f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "no",
        )
    console.print(table)
