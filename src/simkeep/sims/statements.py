"""The SIM statements every credited top-up runs (``simkeep.statements``)."""

from __future__ import annotations

from simkeep.statements import Statement

SIM_AFTER_TOPUP = Statement(
    "UPDATE sims SET state = :state, validity_until = :validity_until,"
    " state_since = coalesce(:moved_at, state_since) WHERE id = :sim_id"
)
