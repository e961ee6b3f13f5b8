"""``simkeep demo``: demo data for the embedded default."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from simkeep.cli.common import run_with_db, settings
from simkeep.clock import SystemClock
from simkeep.db import Database
from simkeep.demo.service import SeedSummary, seed_demo

app = typer.Typer(help="Demo data.", no_args_is_help=True)
console = Console()


@app.command("seed")
def seed_command() -> None:
    """Create the demo SIMs, logins and their top-ups (idempotent: running it again changes
    nothing)."""
    config = settings()

    async def work(db: Database) -> SeedSummary:
        return await seed_demo(db, settings=config, clock=SystemClock())

    summary = run_with_db(config, work)
    console.print(
        f"demo ready: {summary.sims} SIMs, {summary.orders} top-up orders "
        f"({summary.credited} paid and credited)"
    )
    logins = Table(title="Demo logins (log in at /login)")
    for column in ("phone", "password", "their SIMs (HK numbers)"):
        logins.add_column(column)
    for person in summary.subscribers:
        logins.add_row(person.phone, person.password, ", ".join(person.hk_numbers))
    console.print(logins)
    staff = Table(title="Demo staff (log in at /staff/login with a code from the TOTP secret)")
    for column in ("username", "password", "role", "TOTP secret"):
        staff.add_column(column)
    for member in summary.staff:
        staff.add_row(member.username, member.password, member.role, member.totp_secret)
    console.print(staff)
    if summary.vouchers is not None:
        where = summary.vouchers.path
        cards = Table(title=f"Demo vouchers (every PIN in {where}; redeem at /vouchers/redeem)")
        for column in ("serial", "PIN", "value", "sold"):
            cards.add_column(column)
        for card in summary.vouchers.samples:
            cards.add_row(card.serial, card.pin, card.face, "yes" if card.sold else "no")
        console.print(cards)
