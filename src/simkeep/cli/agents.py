"""``simkeep agents add-clerk`` and ``add-user``: an agent's people, from the command line.

``add-clerk --agent CODE --outlet CODE --username … --name …`` adds a clerk at one of the
agent's outlets, ``add-user --agent CODE --username … --name …`` a user of the agent (who
reads its outlets, floats and sales at ``/agent``). The password is asked for twice, or
generated and printed with ``--generate-password``; the new member's TOTP secret and
``otpauth://`` URI are printed once, as ``simkeep staff add`` does. Adding is recorded in the
audit log as done from the command line. The commands join the ``agents`` group
(``register``).
"""

from __future__ import annotations

import secrets

import typer
from rich.console import Console

from simkeep.cli.common import run_with_db, settings
from simkeep.clock import SystemClock
from simkeep.db import Database
from simkeep.outlets import staffing
from simkeep.staff.audit import CLI
from simkeep.staff.service import NewStaff

console = Console()


def register(app: typer.Typer) -> None:
    """Add the commands to the ``agents`` group."""
    app.command("add-clerk")(add_clerk_command)
    app.command("add-user")(add_user_command)


def add_clerk_command(
    agent: str = typer.Option(..., "--agent", help="The agent's code."),
    outlet: str = typer.Option(..., "--outlet", help="The code of one of its outlets."),
    username: str = typer.Option(..., "--username", help="2 to 32 of a-z, 0-9, '.', '_', '-'."),
    name: str = typer.Option(..., "--name", help="The name shown on the pages."),
    generate_password: bool = typer.Option(
        False, "--generate-password", help="Generate a password and print it."
    ),
) -> None:
    """Add a clerk at one of an agent's outlets; print their TOTP secret and URI once."""
    _add(agent, outlet, username, name, generate_password)


def add_user_command(
    agent: str = typer.Option(..., "--agent", help="The agent's code."),
    username: str = typer.Option(..., "--username", help="2 to 32 of a-z, 0-9, '.', '_', '-'."),
    name: str = typer.Option(..., "--name", help="The name shown on the pages."),
    generate_password: bool = typer.Option(
        False, "--generate-password", help="Generate a password and print it."
    ),
) -> None:
    """Add a user of an agent (its own pages and API); print their TOTP secret and URI once."""
    _add(agent, None, username, name, generate_password)


def _add(agent: str, outlet: str | None, username: str, name: str, generate_password: bool) -> None:
    config = settings()
    if generate_password:
        password = secrets.token_urlsafe(12)
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def work(db: Database) -> NewStaff:
        place = await staffing.placement(db, agent_code=agent, outlet_code=outlet)
        return await staffing.add_agent_staff(
            db,
            place=place,
            username=username,
            display_name=name,
            password=password,
            actor=CLI,
            now=SystemClock().now(),
        )

    new = run_with_db(config, work)
    role = f"clerk at {outlet}" if outlet else "user"
    console.print(f"Added [bold]{new.username}[/bold], {role} of agent {agent}, id {new.id}.")
    if generate_password:
        console.print(f"Password: {password}")
    console.print(f"TOTP secret: {new.totp_secret}")
    console.print(f"TOTP URI: {new.totp_uri}", soft_wrap=True)
    console.print("[dim]Shown once: add it to an authenticator app now.[/dim]")
