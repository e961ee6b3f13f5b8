"""``simkeep outlets`` and ``simkeep agents``: the operator's outlets from a CSV file, and the
agents that own them.

``outlets import FILE.csv`` checks every row first and names each mistake by line and field;
a file with any mistake changes nothing. A good file is saved in one transaction, upserting
by outlet code, with a progress bar. ``agents add`` adds an agent. Both are recorded in the
audit log as done from the command line. The columns are in docs/outlets.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from simkeep.cli.common import run_with_db, settings
from simkeep.clock import SystemClock
from simkeep.db import Database
from simkeep.names import Names
from simkeep.outlets import importing
from simkeep.outlets import service as outlets
from simkeep.outlets.importing import Imported, ImportRefused
from simkeep.outlets.model import Agent
from simkeep.staff.audit import CLI

outlets_app = typer.Typer(help="Outlets: import the operator's CSV file.", no_args_is_help=True)
agents_app = typer.Typer(help="Agents, the companies owning outlets.", no_args_is_help=True)
console = Console()
MAX_FILE_BYTES = 512 * 1024 * 1024


@outlets_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A UTF-8 CSV file.")],
) -> None:
    """Add or update the outlets of a CSV file (by code), all of them or none."""
    config = settings()
    if file.stat().st_size > MAX_FILE_BYTES:
        console.print(f"[red]refused:[/red] {file} is over {MAX_FILE_BYTES // 2**20} MB")
        raise typer.Exit(2)
    try:
        rows = importing.read_outlets(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        console.print(f"[red]refused:[/red] {file} is not UTF-8 text ({error.reason})")
        raise typer.Exit(2) from error
    except ImportRefused as refused:
        _show_problems(refused)
        raise typer.Exit(2) from refused

    async def work(db: Database) -> Imported:
        columns = (TextColumn("outlets"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("outlets", total=len(rows))

            def advance(done: int) -> None:
                bar.update(task, completed=done)

            return await importing.import_outlets(
                db, rows=rows, now=SystemClock().now(), progress=advance, actor=CLI
            )

    done = run_with_db(config, work)
    console.print(f"{done.added} outlets added, {done.updated} updated.")


def _show_problems(refused: ImportRefused) -> None:
    table = Table(title="Nothing imported: fix these and import the file again")
    for column in ("line", "field", "problem"):
        table.add_column(column)
    for problem in refused.problems:
        table.add_row(str(problem.line), problem.field, problem.message)
    Console(stderr=True).print(table)


@agents_app.command("add")
def add_agent_command(
    code: str = typer.Option(..., "--code", help="2 to 16 of A-Z, 0-9 and '-'."),
    name_zh_hant: str = typer.Option(..., "--name-zh-hant", help="Its name in zh-Hant."),
    name_zh_hans: str = typer.Option(..., "--name-zh-hans", help="Its name in zh-Hans."),
    name_en: str = typer.Option(..., "--name-en", help="Its name in English."),
    commission_bp: int = typer.Option(
        ..., "--commission-bp", help="Commission in basis points of each sale: 0 to 2000."
    ),
    credit_limit_minor: int = typer.Option(
        0, "--credit-limit-minor", help="How far below zero its float may go, in minor units."
    ),
) -> None:
    """Add an agent."""
    try:
        names = Names(zh_hant_hk=name_zh_hant, zh_hans_cn=name_zh_hans, en=name_en)
    except ValueError as error:
        console.print(f"[red]refused:[/red] {error}")
        raise typer.Exit(2) from error

    async def work(db: Database) -> Agent:
        return await outlets.create_agent(
            db,
            code=code,
            names=names,
            commission_bp=commission_bp,
            credit_limit_minor=credit_limit_minor,
            now=SystemClock().now(),
            actor=CLI,
        )

    agent = run_with_db(settings(), work)
    console.print(f"Added agent [bold]{agent.code}[/bold], id {agent.id}.")


@agents_app.command("list")
def list_agents_command() -> None:
    """List the agents."""

    async def work(db: Database) -> list[Agent]:
        return await db.read(outlets.list_agents)

    table = Table(title="Agents")
    for column in ("id", "code", "name", "commission (bp)", "credit limit (minor)", "state"):
        table.add_column(column)
    for agent in run_with_db(settings(), work):
        table.add_row(
            str(agent.id),
            agent.code,
            agent.names.en,
            str(agent.commission_bp),
            str(agent.credit_limit_minor),
            agent.state.value,
        )
    console.print(table)
