"""The retention run's notices: reminders 14, 3 and 0 days before a SIM's last day kept, and
each state change, by SMS to the SIM's Hong Kong number and by email to its reader's verified
address, in the reader's language.

Design overview
---------------
The run decides which SIMs get a notice (``model.Step.notice``); ``queue`` reads, for those
SIMs only, the number and the reader — the subscriber whose own number it is, else the
account that linked the SIM first, else nobody (the default language) — with the reader's
language and verified email address (``subscribers.emails``; an address waiting for its
code gets nothing), in one query, before the batch ends any link. It puts the SMS in the
outbox in one insert and the emails in another, in the batch's transaction: the run works
on a SIM once a day, so each notice goes once by each way. An email's text is the SMS; its
subject is its own (``SUBJECTS``, message ids of email.po).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from babel.dates import format_skeleton
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.i18n import DEFAULT_LOCALE, email, sms
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
SUBJECTS = {  # the subject of each notice's email: message ids of email.po
    "reminder": "simkeep reminder: top up %(number)s by %(date)s to keep it",
    "grace": "simkeep: %(number)s is in grace",
    "suspended": "simkeep: %(number)s is suspended",
    "recycled": "simkeep: %(number)s has been recycled",
}


@dataclass(frozen=True, slots=True)
class Reader:
    number: str  # the SIM's Hong Kong number, E.164
    language: str
    email: str | None  # the reader's verified address


async def queue(conn: AsyncConnection, steps: Sequence[Step], *, now: datetime) -> None:
    """Queue the SMS, and the emails to verified addresses, of the steps that carry a
    notice."""
    noticed = [done for done in steps if done.notice is not None]
    if not noticed:
        return
    readers = await _readers(conn, [done.sim_id for done in noticed])
    texts: list[tuple[str, str]] = []
    emails: list[notifications.Email] = []
    for done in noticed:
        assert done.notice is not None
        reader = readers[done.sim_id]
        until = done.notice.until
        values = {
            "number": Number(reader.number, Region.HK).masked(),
            "date": format_skeleton("yMMMd", until, locale=reader.language) if until else "",
        }
        text = sms(reader.language, TEXTS[done.notice.kind], **values)
        texts.append((reader.number, text))
        if reader.email is not None:
            subject = email(reader.language, SUBJECTS[done.notice.kind], **values)
            emails.append(notifications.Email(reader.email, subject, text))
    await notifications.queue_many(conn, messages=texts, now=now)
    await notifications.queue_emails(conn, messages=emails, now=now)


async def _readers(conn: AsyncConnection, sim_ids: list[int]) -> dict[int, Reader]:
    """Each SIM's Hong Kong number, and the language and verified address of its reader."""
    sub = subscriber_tables.subscribers
    hk = st.lines.c
    own = select(sub.c.id).where(sub.c.phone == hk.e164).scalar_subquery()
    holder = (
        select(st.holdings.c.subscriber_id)
        .where(st.holdings.c.sim_id == hk.sim_id)
        .order_by(st.holdings.c.linked_at)
        .limit(1)
        .scalar_subquery()
    )
    reader = sub.alias("reader")
    rows = await conn.execute(
        select(
            hk.sim_id,
            hk.e164,
            func.coalesce(reader.c.language, DEFAULT_LOCALE),
            reader.c.email,
        )
        .select_from(st.lines.outerjoin(reader, reader.c.id == func.coalesce(own, holder)))
        .where(hk.sim_id.in_(sim_ids), hk.region == Region.HK.value)
    )
    return {sim_id: Reader(number, language, address) for sim_id, number, language, address in rows}
