"""``simkeep staff``: add members of staff and list them.

``add`` prints the new member's TOTP secret and ``otpauth://`` URI once — they are not
shown again (the member can also scan the QR code at their first login, until they confirm
it). The password is asked for twice, or generated and printed with ``--generate-password``.
Adding is recorded in the audit log as done from the command line.
"""

from __future__ import annotations

import secrets

import typer
from rich.console import Console
from rich.table import Table

from simkeep.cli.common import run_with_db, settings
from simkeep.clock import SystemClock
from simkeep.db import Database
from simkeep.staff import service as staff
from simkeep.staff.audit import CLI
from simkeep.staff.service import NewStaff, StaffAccount

app = typer.Typer(help="Staff accounts: add and list.", no_args_is_help=True)
console = Console()


@app.command("add")
def add_command(
    username: str = typer.Option(..., "--username", help="2 to 32 of a-z, 0-9, '.', '_', '-'."),
    name: str = typer.Option(..., "--name", help="The name shown on the pages."),
    role: str = typer.Option(
        ...,
        "--role",
        help="operator (reads and changes everything), support (reads, decides refunds),"
        " finance (reads, reconciles, enters and decides balance adjustments) or auditor"
        " (reads only).",
    ),
    generate_password: bool = typer.Option(
        False, "--generate-password", help="Generate a password and print it."
    ),
) -> None:
    """Add a member of staff; print their TOTP secret and URI once."""
    config = settings()
    if generate_password:
        password = secrets.token_urlsafe(12)
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def work(db: Database) -> NewStaff:
        return await staff.add_staff(
            db,
            username=username,
            display_name=name,
            role=role,
            password=password,
            actor=CLI,
            now=SystemClock().now(),
        )

    new = run_with_db(config, work)
    console.print(f"Added [bold]{new.username}[/bold] ({role}), id {new.id}.")
    if generate_password:
        console.print(f"Password: {password}")
    console.print(f"TOTP secret: {new.totp_secret}")
    console.print(f"TOTP URI: {new.totp_uri}", soft_wrap=True)
    console.print("[dim]Shown once: add it to an authenticator app now.[/dim]")


@app.command("list")
def list_command() -> None:
    """List the members of staff."""
    accounts: list[StaffAccount] = run_with_db(settings(), staff.list_staff)
    table = Table(title="Staff")
    for column in ("id", "username", "name", "role", "authenticator", "disabled", "last login"):
        table.add_column(column)
    for account in accounts:
        table.add_row(
            str(account.id),
            account.username,
            account.display_name,
            account.role,
            "confirmed" if account.enrolled else "not yet",
            "yes" if account.disabled else "no",
            f"{account.last_login_at:%Y-%m-%d %H:%M} UTC" if account.last_login_at else "never",
        )
    console.print(table)
