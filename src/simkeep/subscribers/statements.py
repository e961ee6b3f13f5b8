"""The subscriber statements every request runs (``simkeep.statements``): the session lookup."""

from __future__ import annotations

from simkeep.statements import Statement

SESSION_SUBSCRIBER = Statement(
    """
    SELECT s.id, s.phone FROM subscribers s JOIN subscriber_sessions n ON n.subscriber_id = s.id
    WHERE n.token_digest = :digest AND n.ended_at IS NULL AND n.expires_at > :now
    """
)
