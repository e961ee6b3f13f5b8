"""The one base of every refusal a person can act on.

Design overview
---------------
A service refuses bad input by raising a subclass of ``Refusal`` whose class attribute
``code`` is a stable, machine-readable word (``invalid_number``, ``locked_out`` …) and whose
message a person can act on. Entry points catch ``Refusal`` once: the API answers
``{"error": {"code", "message"}}`` (``api.errors``), the pages mark the field, the command
line prints it. Anything else that escapes a service is a bug, answered with a 500.
"""

from __future__ import annotations


class Refusal(ValueError):
    """Bad input or a request that cannot be honoured; ``code`` is machine-readable."""

    code = "invalid_request"
