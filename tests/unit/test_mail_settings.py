"""Where emails go, chosen once from the settings: the mail server at ``SIMKEEP_SMTP_URL``
(which needs ``SIMKEEP_MAIL_FROM``), else the simulated mailbox while the simulators run,
else nowhere — the emails wait in the outbox."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from simkeep.clock import SystemClock
from simkeep.db import Database
from simkeep.notifications.smtp import SmtpGateway
from simkeep.services import mail_gateway
from simkeep.settings import load_settings
from simkeep.simulators.email import SimulatedMailbox


def test_the_smtp_url_names_the_mail_server() -> None:
    settings = load_settings(
        smtp_url="smtp://simkeep:secret@mail.example.hk:587", mail_from="simkeep <a@example.hk>"
    )
    db = Database.from_settings(settings)
    gateway = mail_gateway(settings, db, SystemClock())
    assert isinstance(gateway, SmtpGateway)
    assert (gateway.server.host, gateway.server.port, gateway.server.starttls) == (
        "mail.example.hk",
        587,
        True,
    )
    assert gateway.sender == "simkeep <a@example.hk>"


def test_without_a_mail_server_the_simulated_mailbox_or_nothing() -> None:
    with_simulators = load_settings()
    db = Database.from_settings(with_simulators)
    assert isinstance(mail_gateway(with_simulators, db, SystemClock()), SimulatedMailbox)
    without = load_settings(simulators=False)
    assert mail_gateway(without, db, SystemClock()) is None


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"smtp_url": "http://mail.example.hk", "mail_from": "a@example.hk"}, "smtp://"),
        ({"smtp_url": "smtp://mail.example.hk"}, "SIMKEEP_MAIL_FROM"),
    ],
)
def test_a_wrong_mail_setting_stops_the_start(overrides: dict[str, str], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        load_settings(**overrides)
