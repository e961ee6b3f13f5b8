"""The demo's agents and outlets: the data files shipped with the package
(``outlets/data/agents.csv`` and ``outlets.csv``), loaded as the operator's own files would
be (``outlets.importing``). The operator's own shops, a Hong Kong convenience-store chain, a
mall-kiosk company and a Shenzhen chain; 73 outlets in every district of Hong Kong and in
Shenzhen and Guangzhou. An agent that exists is left as it is and outlets are upserted by
code, so seeding again changes nothing."""

from __future__ import annotations

from datetime import datetime
from importlib import resources

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.outlets import importing

DATA = resources.files("simkeep.outlets") / "data"


def demo_text(name: str) -> str:
    """A data file shipped with the package."""
    return (DATA / name).read_text(encoding="utf-8")


async def ensure_demo_outlets(db: Database, *, now: datetime) -> int:
    """Load the demo's agents and outlets; how many outlets there are in the file."""
    agents = importing.read_agents(demo_text("agents.csv"))
    rows = importing.read_outlets(demo_text("outlets.csv"))

    async def add_agents(conn: AsyncConnection) -> int:
        return await importing.ensure_agents(conn, rows=agents, now=now)

    await db.transaction(add_agents)
    await importing.import_outlets(db, rows=rows, now=now)
    return len(rows)
