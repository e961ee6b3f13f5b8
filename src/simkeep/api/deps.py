"""Request dependencies shared by the API routers: what the composition root put on app.state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from simkeep.db import Database


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


DatabaseDep = Annotated[Database, Depends(get_database)]
