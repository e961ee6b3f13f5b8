"""Delivering the outbox by kind, on SQLite and PostgreSQL: an SMS through the SMS gateway,
an email through the email gateway (the simulated mailbox, or SMTP to a mail server this
test starts on 127.0.0.1), with the same retries and back-off; an email waits while there is
no email gateway."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.notifications import service as notifications
from simkeep.notifications.smtp import SmtpGateway, SmtpServer
from simkeep.notifications.tables import outbox
from simkeep.simulators.email import SimulatedMailbox

ADDRESS = "holder@example.hk"
SUBJECT = "simkeep：+852 9***0037 已進入寬限期"
TEXT = "simkeep：+852 9***0037 已進入寬限期，增值即可恢復使用。"
SENDER = "simkeep <noreply@simkeep.test>"


class Phone:
    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []

    async def send(self, *, to: str, text: str) -> None:
        self.received.append((to, text))


class BrokenMailServer:
    async def send(self, *, to: str, subject: str, text: str) -> None:
        raise ConnectionRefusedError("the mail server is down")


class MailServer:
    """Just enough SMTP (RFC 5321) to receive: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT."""

    def __init__(self, *, refuse_recipients: bool = False) -> None:
        self.refuse_recipients = refuse_recipients
        self.logins: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.received: list[EmailMessage] = []

    async def talk(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def say(*lines: str) -> None:
            writer.write("".join(f"{line}\r\n" for line in lines).encode())

        say("220 mail.test ESMTP")
        sender, recipients = "", []
        while line := (await reader.readline()).decode().rstrip("\r\n"):
            verb, _, rest = line.partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                say("250-mail.test", "250-AUTH PLAIN", "250 8BITMIME")
            elif verb == "AUTH":
                self.logins.append(base64.b64decode(rest.split()[1]))
                say("235 2.7.0 accepted")
            elif verb == "MAIL":
                sender, recipients = rest, []
                say("250 ok")
            elif verb == "RCPT":
                recipients.append(rest)
                say("550 5.1.1 no such mailbox" if self.refuse_recipients else "250 ok")
            elif verb == "DATA":
                say("354 end with .")
                await writer.drain()
                data = await reader.readuntil(b"\r\n.\r\n")
                message = message_from_bytes(data[: -len(b".\r\n")], policy=policy.default)
                assert isinstance(message, EmailMessage)
                self.received.append(message)
                self.envelopes.append((sender, recipients))
                say("250 queued")
            elif verb == "QUIT":
                say("221 bye")
                await writer.drain()
                break
            else:
                say("250 ok")
            await writer.drain()
        writer.close()


@asynccontextmanager
async def listening(server: MailServer) -> AsyncIterator[int]:
    """The mail server on 127.0.0.1, on a free port."""
    listener = await asyncio.start_server(server.talk, "127.0.0.1", 0)
    try:
        yield int(listener.sockets[0].getsockname()[1])
    finally:
        listener.close()
        await listener.wait_closed()


async def queue_both(db: Database, clock: FixedClock) -> None:
    async def queue(conn: AsyncConnection) -> None:
        now = clock.now()
        await notifications.queue_sms(conn, to="+85291230037", text=TEXT, now=now)
        await notifications.queue_email(conn, to=ADDRESS, subject=SUBJECT, text=TEXT, now=now)

    await db.transaction(queue)


async def email_row(db: Database) -> dict[str, Any]:
    async def read(conn: AsyncConnection) -> dict[str, Any]:
        row = (await conn.execute(select(outbox).where(outbox.c.kind == "email"))).one()
        return dict(row._mapping)

    return await db.transaction(read)


async def test_each_row_goes_through_the_gateway_of_its_kind(
    db: Database, clock: FixedClock
) -> None:
    await queue_both(db, clock)
    phone, mailbox = Phone(), SimulatedMailbox(db, clock)

    sent = await notifications.deliver_due(db, gateway=phone, email=mailbox, now=clock.now())

    assert sent == 2
    assert phone.received == [("+85291230037", TEXT)]
    [delivered] = await mailbox.messages()
    assert (delivered.recipient, delivered.subject, delivered.body) == (ADDRESS, SUBJECT, TEXT)
    assert await notifications.deliver_due(db, gateway=phone, email=mailbox, now=clock.now()) == 0


async def test_without_an_email_gateway_an_email_waits(db: Database, clock: FixedClock) -> None:
    await queue_both(db, clock)
    phone = Phone()

    assert await notifications.deliver_due(db, gateway=phone, now=clock.now()) == 1

    row = await email_row(db)
    assert (row["sent_at"], row["attempts"]) == (None, 0)
    mailbox = SimulatedMailbox(db, clock)
    assert await notifications.deliver_due(db, gateway=phone, email=mailbox, now=clock.now()) == 1
    assert len(await mailbox.messages(to=ADDRESS)) == 1


async def test_a_failed_email_is_retried_with_back_off(db: Database, clock: FixedClock) -> None:
    await queue_both(db, clock)
    phone = Phone()
    start = clock.now()

    sent = await notifications.deliver_due(db, gateway=phone, email=BrokenMailServer(), now=start)

    assert sent == 1  # the SMS
    row = await email_row(db)
    assert row["sent_at"] is None
    assert row["attempts"] == 1
    assert "ConnectionRefusedError: the mail server is down" in row["last_error"]
    assert row["due_at"] == start + timedelta(seconds=30)  # 15 s × 2^1
    mailbox = SimulatedMailbox(db, clock)
    early = start + timedelta(seconds=29)
    assert await notifications.deliver_due(db, gateway=phone, email=mailbox, now=early) == 0
    later = start + timedelta(seconds=30)
    assert await notifications.deliver_due(db, gateway=phone, email=mailbox, now=later) == 1
    assert (await email_row(db))["attempts"] == 2


async def test_smtp_hands_the_email_to_the_mail_server(db: Database, clock: FixedClock) -> None:
    server = MailServer()
    async with listening(server) as port:
        url = f"smtp://simkeep:p%40ss@127.0.0.1:{port}?tls=off"
        gateway = SmtpGateway(SmtpServer.parse(url), sender=SENDER)
        await queue_both(db, clock)

        sent = await notifications.deliver_due(db, gateway=Phone(), email=gateway, now=clock.now())

    assert sent == 2
    assert server.logins == [b"\0simkeep\0p@ss"]
    assert server.envelopes == [("FROM:<noreply@simkeep.test>", ["TO:<holder@example.hk>"])]
    [message] = server.received
    assert (message["From"], message["To"], message["Subject"]) == (SENDER, ADDRESS, SUBJECT)
    assert message.get_content().strip() == TEXT
    assert (await email_row(db))["sent_at"] == clock.now()


@pytest.mark.parametrize(
    ("url", "refuse", "error"),
    [
        ("smtp://127.0.0.1:{port}?tls=off", True, "SMTPRecipientsRefused"),
        ("smtp://127.0.0.1:{port}", False, "SMTPNotSupportedError"),  # no STARTTLS offered
    ],
    ids=["recipient-refused", "no-starttls"],
)
async def test_a_mail_server_refusal_is_recorded_and_retried(
    db: Database, clock: FixedClock, url: str, refuse: bool, error: str
) -> None:
    server = MailServer(refuse_recipients=refuse)
    async with listening(server) as port:
        gateway = SmtpGateway(SmtpServer.parse(url.format(port=port)), sender=SENDER)
        await queue_both(db, clock)

        sent = await notifications.deliver_due(db, gateway=Phone(), email=gateway, now=clock.now())

    assert sent == 1  # the SMS only
    row = await email_row(db)
    assert row["sent_at"] is None
    assert row["attempts"] == 1
    assert row["last_error"].startswith(error)
    assert server.received == []


def test_an_smtp_url_says_where_and_how() -> None:
    assert SmtpServer.parse("smtp://u:p@mail.example.hk") == SmtpServer(
        "mail.example.hk", 587, implicit_tls=False, starttls=True, username="u", password="p"
    )
    assert SmtpServer.parse("smtps://mail.example.hk").port == 465
    assert SmtpServer.parse("smtps://mail.example.hk").implicit_tls
    assert not SmtpServer.parse("smtp://localhost:25?tls=off").starttls
    for bad in ("http://mail.example.hk", "smtp://", "smtp://h?tls=maybe"):
        with pytest.raises(ValueError, match="SMTP URL"):
            SmtpServer.parse(bad)
