"""Who holds a SIM: the accounts that linked it, the SMS that tells the SIM of a new one, and
letting go of one's own link.

Design overview
---------------
A SIM may be held by several accounts — a family shares a card. The code sent to the SIM
proves it is in the linker's hands, nothing more, and every holder sees the SIM's balance and
history; so that no one holds a SIM unseen:

* each new link is texted to the number that proved it (``tell_the_sim``), naming the
  account (its phone masked) — in the language of the number's subscriber, else the
  linker's (``subscribers.reader_language``);
* every holder sees which accounts hold the SIM and since when (``holders``);
* a holder may let go of their own link (``unlink_sim``); the SIM is then not found for
  them, as for anyone who never held it, and a new code links it again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.i18n import sms
from simkeep.notifications import service as notifications
from simkeep.phone import parse_number
from simkeep.sims import tables as t
from simkeep.sims.model import Holder
from simkeep.subscribers import service as subscribers

LINKED_TEXT = (  # the SMS to a SIM that one more account holds: a message id of sms.po
    "simkeep: this SIM (%(number)s) was linked to the account %(account)s, which can now see"
    " its balance and top-ups."
)


async def holders(conn: AsyncConnection, *, sim_id: int) -> list[Holder]:
    """The accounts that hold the SIM, earliest link first, their phones masked."""
    rows = (
        await conn.execute(
            select(t.holdings.c.subscriber_id, t.holdings.c.linked_at)
            .where(t.holdings.c.sim_id == sim_id)
            .order_by(t.holdings.c.linked_at, t.holdings.c.subscriber_id)
        )
    ).all()
    phones = await subscribers.phones(conn, subscriber_ids=[row.subscriber_id for row in rows])
    return [
        Holder(row.subscriber_id, parse_number(phones[row.subscriber_id]).masked(), row.linked_at)
        for row in rows
    ]


async def tell_the_sim(
    conn: AsyncConnection, *, number: str, subscriber_id: int, language: str, now: datetime
) -> None:
    """Text ``number`` (E.164) that the subscriber's account now holds its SIM; ``language``
    is the linker's."""
    phones = await subscribers.phones(conn, subscriber_ids=[subscriber_id])
    reader = await subscribers.reader_language(conn, phone=number, otherwise=language)
    text = sms(
        reader,
        LINKED_TEXT,
        number=parse_number(number).masked(),
        account=parse_number(phones[subscriber_id]).masked(),
    )
    await notifications.queue_sms(conn, to=number, text=text, now=now)


async def unlink_sim(conn: AsyncConnection, *, subscriber_id: int, sim_id: int) -> bool:
    """Let go of the subscriber's link to the SIM; False if they did not hold it."""
    removed = await conn.execute(
        t.holdings.delete()
        .where(t.holdings.c.subscriber_id == subscriber_id, t.holdings.c.sim_id == sim_id)
        .returning(t.holdings.c.sim_id)
    )
    return removed.first() is not None
