"""Network clients: the carrier's systems that read line states and report usage.

Design overview
---------------
A client has a name and a bearer token of its own, shown once when the client is added
(``simkeep network add-client NAME``) and kept only as its SHA-256 digest. Its tokens live
in their own table, apart from subscribers' sessions (and staff's): a network token finds
nothing where a subscriber's is looked up, and a subscriber's finds nothing here, so each is
refused on the other's routes. A token is ``snk_`` and 43 URL-safe characters (256 random
bits), so a leaked one is recognisable for what it is.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.usage import statements as sql
from simkeep.usage import tables as t
from simkeep.usage.model import UsageError

TOKEN_PREFIX = "snk_"  # noqa: S105 - a prefix, not a secret
MAX_TOKEN = 128


class DuplicateClient(UsageError):
    code = "duplicate_client"


@dataclass(frozen=True, slots=True)
class NetworkClient:
    id: int
    name: str


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def add_client(db: Database, *, name: str, now: datetime) -> tuple[NetworkClient, str]:
    """Add a network client; its token is returned here and never again."""
    name = name.strip()
    if not 1 <= len(name) <= 64:
        raise UsageError("a network client's name is 1–64 characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)

    async def insert(conn: AsyncConnection) -> int:
        statement = t.clients.insert().values(
            name=name, token_digest=token_digest(token), created_at=now
        )
        try:
            return int((await conn.execute(statement.returning(t.clients.c.id))).scalar_one())
        except IntegrityError as error:
            raise DuplicateClient(f"a network client named {name!r} exists") from error

    client_id = await db.transaction(insert)
    return NetworkClient(client_id, name), token


async def authenticate(db: Database, *, token: str) -> NetworkClient | None:
    """The network client a bearer token belongs to, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN:
        return None

    async def read(conn: AsyncConnection) -> NetworkClient | None:
        row = await sql.CLIENT_OF_TOKEN.row(conn, digest=token_digest(token))
        return NetworkClient(row["id"], row["name"]) if row else None

    return await db.read(read)
