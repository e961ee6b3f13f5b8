"""What every command needs: settings read once, a database, a clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.console import Console

from simkeep.db import Database
from simkeep.errors import Refusal
from simkeep.ledger.model import LedgerError
from simkeep.logs import configure_logging
from simkeep.settings import Settings, load_settings

T = TypeVar("T")


def settings(**overrides: object) -> Settings:
    """The settings from the environment; a command's options (not None) win."""
    given = {name: value for name, value in overrides.items() if value is not None}
    loaded = load_settings(**given)
    configure_logging(json=loaded.log_json, level=loaded.log_level)
    return loaded


def run_with_db(config: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Open the database, run ``work`` on it, and close it again."""

    async def main() -> T:
        db = Database.from_settings(config)
        try:
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except (LedgerError, Refusal) as error:
        Console(stderr=True).print(f"[red]refused ({error.code}):[/red] {error}")
        raise typer.Exit(2) from error
