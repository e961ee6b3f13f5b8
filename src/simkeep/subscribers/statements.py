"""The subscriber statements (``simkeep.statements``): the session lookup every request runs,
and the rule of which language an SMS to a number is written in.

Design overview
---------------
``READER_LANGUAGE`` is that rule, one text for every statement that needs it: the language
of the subscriber whose phone the number is, if it is registered, else ``otherwise`` (the
language of whoever caused the message). ``reader_language`` asks it alone; the crediting of
a top-up embeds it (``topups.statements``).
"""

from __future__ import annotations

from simkeep.statements import Statement

SESSION_SUBSCRIBER = Statement(
    """
    SELECT s.id, s.phone, s.language
    FROM subscribers s JOIN subscriber_sessions n ON n.subscriber_id = s.id
    WHERE n.token_digest = :digest AND n.ended_at IS NULL AND n.expires_at > :now
    """
)

READER_LANGUAGE = """
    coalesce((SELECT r.language FROM subscribers r WHERE r.phone = {phone}), {otherwise})
"""
READER_LANGUAGE_OF = Statement(
    f"SELECT {READER_LANGUAGE.format(phone=':phone', otherwise=':otherwise')} AS language"
)
