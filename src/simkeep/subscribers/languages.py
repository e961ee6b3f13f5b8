"""The language a subscriber reads, and the language of an SMS to a number.

Design overview
---------------
* A subscriber's language is stored with the account: set at registration to the language
  the person was using (the page's, or the API request's), changed when they switch
  language on the site while signed in (``set_language``). It is one of the three locales
  of ``simkeep.i18n``.
* An SMS goes out in the language of the subscriber whose phone the number is, if it is
  registered; otherwise in the language of whoever caused it — the page's language of the
  person asking for a registration code, the payer's for a top-up of someone else's number
  (``reader_language``, one rule written once: ``statements.READER_LANGUAGE``).
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.i18n import check_locale
from simkeep.subscribers import statements as sql
from simkeep.subscribers import tables as t


async def reader_language(conn: AsyncConnection, *, phone: str, otherwise: str) -> str:
    """The language of an SMS to ``phone`` (E.164): its subscriber's, else ``otherwise``."""
    row = await sql.READER_LANGUAGE_OF.row(conn, phone=phone, otherwise=check_locale(otherwise))
    assert row is not None  # one row, always
    return str(row["language"])


async def set_language(db: Database, *, subscriber_id: int, language: str) -> None:
    """Remember the language the subscriber chose; their SMS go out in it from now on."""
    values = {"language": check_locale(language)}

    async def store(conn: AsyncConnection) -> None:
        await conn.execute(
            update(t.subscribers).where(t.subscribers.c.id == subscriber_id).values(**values)
        )

    await db.transaction(store)
