"""The outlet finder's world for end-to-end tests: the real app on a database of each kind
holding the demo's agents and outlets (the shipped data files), at a fixed time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import httpx

from simkeep.app import create_app
from simkeep.clock import HONG_KONG, FixedClock
from simkeep.db import Database
from simkeep.demo.outlets import ensure_demo_outlets
from simkeep.settings import load_settings
from tests.e2e.test_app import serve

WEDNESDAY_NOON = datetime(2026, 12, 2, 12, 0, tzinfo=HONG_KONG)
CENTRAL = {"lat": "22.281900", "lon": "114.158100"}  # Central MTR station
TSIM_SHA_TSUI = {"lat": "22.297500", "lon": "114.172200"}


@asynccontextmanager
async def finder(
    database_url: str,
    db: Database,
    tmp_path: Path,
    *,
    at: datetime = WEDNESDAY_NOON,
    **settings: str,
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on an app whose database holds the demo outlets, with its clock at ``at``."""
    clock = FixedClock(at)
    await ensure_demo_outlets(db, now=clock.now())
    config = load_settings(
        database_url=database_url,
        keys_dir=str(tmp_path / "keys"),
        public_url="http://127.0.0.1:9",
        environment="test",
        **settings,
    )
    async with serve(create_app(config, db=db, clock=clock)) as http:
        yield http
