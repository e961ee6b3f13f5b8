"""Time is injected and aware; settings are validated once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from simkeep.clock import FixedClock, in_hong_kong, in_shanghai, require_aware
from simkeep.settings import load_settings


def test_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock(datetime(2026, 1, 31, 16, 0, tzinfo=UTC))
    assert clock.now() == clock.now()
    clock.advance(timedelta(days=30))
    assert clock.now() == datetime(2026, 3, 2, 16, 0, tzinfo=UTC)


def test_people_see_local_time() -> None:
    instant = datetime(2026, 1, 31, 16, 30, tzinfo=UTC)
    assert in_hong_kong(instant).isoformat() == "2026-02-01T00:30:00+08:00"
    assert in_shanghai(instant).hour == 0


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        require_aware(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        FixedClock(datetime(2026, 1, 1))


def test_production_needs_a_secret_and_postgresql() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        load_settings(environment="production", database_url="postgresql://db/simkeep")
    with pytest.raises(ValidationError, match="PostgreSQL"):
        load_settings(environment="production", secret_key="x" * 40)
    with pytest.raises(ValidationError, match="simulators"):
        load_settings(
            environment="production", secret_key="x" * 40, database_url="postgresql://db/simkeep"
        )
    with pytest.raises(ValidationError, match="SIMKEEP_PUBLIC_URL"):  # not derived from the port
        load_settings(
            environment="production",
            secret_key="x" * 40,
            database_url="postgresql://db/simkeep",
            simulators=False,
        )
    with pytest.raises(ValidationError, match="https://"):
        load_settings(
            environment="production",
            secret_key="x" * 40,
            database_url="postgresql://db/simkeep",
            simulators=False,
            public_url="http://topup.example.com",
        )
    settings = load_settings(
        environment="production",
        secret_key="x" * 40,
        database_url="postgresql://db/simkeep",
        simulators=False,
        public_url="https://topup.example.com",
    )
    assert not settings.is_sqlite


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMKEEP_PORT", "9001")
    monkeypatch.setenv("SIMKEEP_DATABASE_URL", "sqlite:///var/x.db")
    settings = load_settings()
    assert settings.port == 9001
    assert str(settings.sqlite_path()) == "var/x.db"


def test_body_caps_are_read_once_and_kept_in_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMKEEP_BODY_LIMIT_BYTES", "8192")
    settings = load_settings()
    assert (settings.body_limit_bytes, settings.notify_body_limit_bytes) == (8192, 64 * 1024)

    with pytest.raises(ValidationError, match="body_limit_bytes"):
        load_settings(body_limit_bytes=100)  # smaller than any form simkeep shows
    with pytest.raises(ValidationError, match="notify_body_limit_bytes"):
        load_settings(notify_body_limit_bytes=64 * 1024 * 1024)  # what the cap is there to stop


@pytest.mark.parametrize(
    ("environment", "public_url"),
    [
        ({"SIMKEEP_PORT": "8123"}, "http://127.0.0.1:8123"),
        ({"SIMKEEP_HOST": "0.0.0.0", "SIMKEEP_PORT": "8124"}, "http://127.0.0.1:8124"),
        ({"SIMKEEP_HOST": "192.168.1.20"}, "http://192.168.1.20:8000"),
        ({"SIMKEEP_HOST": "::"}, "http://[::1]:8000"),
        ({"SIMKEEP_HOST": "fd00::20", "SIMKEEP_PORT": "9"}, "http://[fd00::20]:9"),
        (
            {"SIMKEEP_PORT": "8123", "SIMKEEP_PUBLIC_URL": "https://topup.example.com"},
            "https://topup.example.com",
        ),
    ],
)
def test_the_public_url_follows_host_and_port_unless_set(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], public_url: str
) -> None:
    for name in ("SIMKEEP_HOST", "SIMKEEP_PORT", "SIMKEEP_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert load_settings().public_url == public_url


def test_a_port_given_on_the_command_line_moves_the_public_url_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SIMKEEP_PORT", "8123")
    monkeypatch.delenv("SIMKEEP_PUBLIC_URL", raising=False)
    assert load_settings(port=8200).public_url == "http://127.0.0.1:8200"
    monkeypatch.setenv("SIMKEEP_PUBLIC_URL", "https://topup.example.com")
    assert load_settings(port=8200).public_url == "https://topup.example.com"
