"""Email through a real mail server: the ``EmailGateway`` that ``SIMKEEP_SMTP_URL`` turns on.

Design overview
---------------
``SmtpGateway`` speaks SMTP with the standard library's ``smtplib``, in a worker thread
(``asyncio.to_thread``) so that a slow server never blocks the event loop; a connection per
message is enough for reminders (the worker sends at most a batch a second). The URL says
where and how: ``smtp://user:password@host:587`` upgrades the connection with STARTTLS and
refuses a server that does not offer it; ``smtps://…:465`` is TLS from the first byte;
``smtp://host:25?tls=off`` sends in the clear, for a relay on the same machine only. A
password in the URL is percent-decoded. Each message is plain text in UTF-8 from
``SIMKEEP_MAIL_FROM``; any refusal (connection, TLS, login, recipient) raises, and the outbox
retries it with back-off.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

TIMEOUT = 30.0  # seconds for each step of a conversation with the server
PORTS = {"smtp": 587, "smtps": 465}


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str
    password: str

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        """The server an ``smtp://`` or ``smtps://`` URL names; ``ValueError`` otherwise."""
        parts = urlsplit(url)
        if parts.scheme not in PORTS or not parts.hostname:
            raise ValueError("an SMTP URL looks like smtp://user:password@host:587")
        tls = parse_qs(parts.query).get("tls", ["on"])[-1]
        if tls not in ("on", "off"):
            raise ValueError("an SMTP URL's tls is on or off")
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or PORTS[parts.scheme],
            implicit_tls=implicit,
            starttls=not implicit and tls == "on",
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
        )


class SmtpGateway:
    """Sends each email through one SMTP conversation."""

    def __init__(self, server: SmtpServer, *, sender: str) -> None:
        self.server = server
        self.sender = sender

    async def send(self, *, to: str, subject: str, text: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.server.host)
        message.set_content(text, charset="utf-8")
        await asyncio.to_thread(self._deliver, message)

    def _deliver(self, message: EmailMessage) -> None:
        server = self.server
        context = ssl.create_default_context()
        client = (
            smtplib.SMTP_SSL(server.host, server.port, timeout=TIMEOUT, context=context)
            if server.implicit_tls
            else smtplib.SMTP(server.host, server.port, timeout=TIMEOUT)
        )
        with client:
            client.ehlo()
            if server.starttls:
                client.starttls(context=context)  # SMTPNotSupportedError if not offered
                client.ehlo()
            if server.username:
                client.login(server.username, server.password)
            client.send_message(message)
