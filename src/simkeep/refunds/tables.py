"""Refund tables (migrations 0022_refunds, 0025_counter_refunds)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from simkeep.sqltypes import UTCDateTime, id_column_type

metadata = MetaData()

refunds = Table(
    "refunds",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("refund_no", String(32), nullable=False, unique=True),
    Column("order_no", String(32), nullable=False),  # topup_orders.order_no
    Column("sim_id", BigInteger, nullable=False),
    Column("provider", String(16), nullable=False),
    Column("requested_by", String(32), nullable=False),  # subscriber:<id> or staff:<id>
    Column("idempotency_key", String(128)),
    Column("request_hash", String(64), nullable=False),
    Column("reason", String(16), nullable=False),
    Column("note", Text, nullable=False),
    Column("state", String(12), nullable=False),
    Column("taken_minor", BigInteger, nullable=False),  # leaves the SIM
    Column("deducted_minor", BigInteger, nullable=False),  # of it, used bonus money
    Column("bonus_back_minor", BigInteger, nullable=False),
    Column("credit_currency", String(3), nullable=False),
    Column("pay_minor", BigInteger, nullable=False),  # goes back to the payer
    Column("pay_currency", String(3), nullable=False),
    Column("full", Boolean, nullable=False),
    Column("hold_journal_id", BigInteger),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("decided_at", UTCDateTime),
    Column("decided_by", String(32)),  # staff:<id> or rule:<name>
    Column("decision_note", Text),
    Column("next_try_at", UTCDateTime),  # when the provider is asked (again)
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", String(500)),
    Column("provider_refund_no", String(64)),
    Column("paid_at", UTCDateTime),
    # an outlet top-up's refund: the agent whose float it is paid to, the commission back
    Column("agent_id", BigInteger),
    Column("commission_back_minor", BigInteger),
    # paid out at a counter: where, in which shift, by whom, how, with the POS's key
    Column("outlet_id", BigInteger),
    Column("shift_id", BigInteger),
    Column("clerk_id", BigInteger),
    Column("payout", String(8)),  # cash | card
    Column("terminal_ref", String(64)),  # a card's
    Column("paid_out_at", UTCDateTime),
    Column("payout_key", String(128)),
    CheckConstraint(
        "state IN ('requested', 'approved', 'processing', 'paid', 'refused', 'failed')",
        name="ck_refunds_state",
    ),
    CheckConstraint(
        "taken_minor > 0 AND pay_minor > 0 AND deducted_minor >= 0 AND bonus_back_minor >= 0"
        " AND deducted_minor < taken_minor",
        name="ck_refunds_amounts",
    ),
    UniqueConstraint("requested_by", "idempotency_key", name="uq_refunds_idempotency"),
    UniqueConstraint("clerk_id", "payout_key", name="uq_refunds_payout_key"),
    Index("ix_refunds_order", "order_no"),
    Index("ix_refunds_state_next", "state", "next_try_at"),
    Index("ix_refunds_shift", "shift_id", "id"),
    Index("ix_refunds_agent_waiting", "agent_id", "state", "paid_out_at"),
)
