"""The outbox statement every credited top-up runs (``simkeep.statements``)."""

from __future__ import annotations

from simkeep.statements import Statement

QUEUE_SMS = Statement(
    "INSERT INTO outbox (kind, recipient, body, created_at, due_at)"
    " VALUES ('sms', :recipient, :body, :now, :now)"
)
