"""The counter's rules without I/O: refusals, labels, amounts, payment types, shift figures.

Design overview
---------------
Everything here is pure: the services in this package call these rules before and after
they touch the database. A refusal is a ``Refusal`` with a stable code, so the POS page
marks the field and the API answers ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

from simkeep.errors import Refusal

MAX_LABEL = 64


class CounterError(Refusal):
    code = "counter_error"


class DeviceError(CounterError):
    code = "invalid_device"


def check_label(label: str) -> str:
    """A device's label: 1 to 64 characters, trimmed."""
    shown = label.strip()
    if not 1 <= len(shown) <= MAX_LABEL:
        raise DeviceError(f"a device's label has 1 to {MAX_LABEL} characters")
    return shown
