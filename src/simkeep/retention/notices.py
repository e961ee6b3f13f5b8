"""The retention run's SMS: reminders 14, 3 and 0 days before a SIM's last day kept, and
each state change, to the SIM's Hong Kong number in its reader's language.

Design overview
---------------
The run decides which SIMs get a notice (``model.Step.notice``); ``queue`` reads, for those
SIMs only, the number and the reader — the subscriber whose own number it is, else the
account that linked the SIM first, else the default language — in one query, before the
batch ends any link, and puts the messages in the outbox in one insert.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from babel.dates import format_skeleton
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.i18n import DEFAULT_LOCALE, sms
from simkeep.notifications import service as notifications
from simkeep.phone import Number, Region
from simkeep.retention.model import Step
from simkeep.sims import tables as st
from simkeep.subscribers import tables as subscriber_tables

TEXTS = {  # the SMS of each notice: message ids of sms.po
    "reminder": (
        "simkeep: %(number)s keeps its number until %(date)s. Top up before then to keep it."
    ),
    "grace": (
        "simkeep: %(number)s is in grace and can only receive calls and SMS until %(date)s. "
        "Top up to reactivate it."
    ),
    "suspended": (
        "simkeep: %(number)s is suspended until %(date)s; after that the number is recycled. "
        "Top up to reactivate it."
    ),
    "recycled": "simkeep: %(number)s has been recycled and its remaining balance forfeited.",
}


async def queue(conn: AsyncConnection, steps: Sequence[Step], *, now: datetime) -> None:
    """Queue the SMS of the steps that carry a notice."""
    noticed = [done for done in steps if done.notice is not None]
    if not noticed:
        return
    readers = await _readers(conn, [done.sim_id for done in noticed])
    messages = []
    for done in noticed:
        assert done.notice is not None
        number, language = readers[done.sim_id]
        until = done.notice.until
        text = sms(
            language,
            TEXTS[done.notice.kind],
            number=Number(number, Region.HK).masked(),
            date=format_skeleton("yMMMd", until, locale=language) if until else "",
        )
        messages.append((number, text))
    await notifications.queue_many(conn, messages=messages, now=now)


async def _readers(conn: AsyncConnection, sim_ids: list[int]) -> dict[int, tuple[str, str]]:
    """Each SIM's Hong Kong number and the language its notices are written in."""
    sub = subscriber_tables.subscribers.c
    hk = st.lines.c
    own = select(sub.language).where(sub.phone == hk.e164).scalar_subquery()
    holder = (
        select(sub.language)
        .join(st.holdings, st.holdings.c.subscriber_id == sub.id)
        .where(st.holdings.c.sim_id == hk.sim_id)
        .order_by(st.holdings.c.linked_at)
        .limit(1)
        .scalar_subquery()
    )
    rows = await conn.execute(
        select(hk.sim_id, hk.e164, func.coalesce(own, holder, DEFAULT_LOCALE)).where(
            hk.sim_id.in_(sim_ids), hk.region == Region.HK.value
        )
    )
    return {sim_id: (number, language) for sim_id, number, language in rows}
