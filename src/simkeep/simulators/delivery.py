"""How the newer simulators hand a notification to the merchant: one shape for all of them.

Design overview
---------------
A simulator's notifier calls a ``Deliver`` with the notify URL, the headers and the raw body
it signed, and reads the merchant's ``Reply`` (status and body) by its own protocol's rule
of what "taken" means. ``http_deliver`` posts it over HTTP, as the real providers do; the
embedded default and the demo data hand it in-process to the notify endpoint's handler
instead (``simulators.embedded``). An unreachable merchant is status 0.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import httpx

TIMEOUT = 10.0  # seconds a merchant has to answer


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes = b""


Deliver = Callable[[str, Mapping[str, str], bytes], Awaitable[Reply]]


async def http_deliver(url: str, headers: Mapping[str, str], body: bytes) -> Reply:
    """POST the notification over HTTP; an unreachable merchant is status 0."""
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            response = await client.post(url, content=body, headers=dict(headers))
    except httpx.HTTPError:
        return Reply(0)
    return Reply(response.status_code, response.content)
