"""The demo's email address: the first demo subscriber's reminders go by email as well as SMS.

Design overview
---------------
``ensure_demo_email`` sets the address through ``subscribers.emails.set_email`` — which
puts the code in the outbox, addressed to it, as for anyone — reads the code from that
email as the subscriber would in their mailbox, and confirms it with
``subscribers.emails.verify_email``. An address verified already is left as it is, so
seeding again changes nothing.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select

from simkeep.db import Database
from simkeep.errors import Refusal
from simkeep.notifications.tables import outbox
from simkeep.subscribers import emails
from simkeep.subscribers.model import Limits, auth_key

DEMO_EMAIL = "chan.taiman@example.com"


class DemoEmailFailed(Refusal):
    code = "demo_refused"


async def ensure_demo_email(
    db: Database, *, secret_key: str, subscriber_id: int, now: datetime
) -> None:
    """The subscriber's verified address is DEMO_EMAIL (set and confirmed now if not)."""
    status = await db.read(lambda conn: emails.email_status(conn, subscriber_id=subscriber_id))
    if status.email == DEMO_EMAIL:
        return
    key, limits = auth_key(secret_key), Limits()
    await emails.set_email(
        db, subscriber_id=subscriber_id, address=DEMO_EMAIL, key=key, limits=limits, now=now
    )
    newest = (
        select(outbox.c.body)
        .where(outbox.c.kind == "email", outbox.c.recipient == DEMO_EMAIL)
        .order_by(outbox.c.id.desc())
        .limit(1)
    )
    body = await db.read(lambda conn: conn.scalar(newest))
    code = re.search(r"(?<!\d)\d{6}(?!\d)", body or "")
    if code is None:
        raise DemoEmailFailed("the demo's address got no code")
    await emails.verify_email(
        db, subscriber_id=subscriber_id, code=code.group(), key=key, limits=limits, now=now
    )
