"""Auto keep-alive: a payment agreement and its rule per SIM, and one attempt per rule and
period.

``keepalive_rules`` holds a subscriber's agreement with Alipay (商家扣款) or WeChat Pay
(委托代扣) for one SIM — our agreement number, the provider's once signed, its state
(signing, active, ended) — and the rule: a fixed amount or "enough to stay active". A SIM
has at most one rule that has not ended (a partial unique index). ``keepalive_attempts``
holds one row per (rule, period): the period is the day the SIM would lapse, and the row is
claimed by one insert, so two workers or a repeat never notify or charge twice; it carries
the tries, when the next is due, the top-up order of the last try and its outcome.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "keepalive_rules",
        sa.Column("id", ID, primary_key=True),
        sa.Column("subscriber_id", sa.BigInteger, sa.ForeignKey("subscribers.id"), nullable=False),
        sa.Column("sim_id", sa.BigInteger, sa.ForeignKey("sims.id"), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("agreement_ref", sa.String(32), nullable=False, unique=True),
        sa.Column("provider_agreement_no", sa.String(64)),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("amount_minor", sa.BigInteger),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("signed_at", TS),
        sa.Column("ended_at", TS),
        sa.Column("end_reason", sa.String(32)),
        sa.CheckConstraint("state IN ('signing', 'active', 'ended')", name="ck_keepalive_state"),
        sa.CheckConstraint(
            "(mode = 'fixed' AND amount_minor > 0) OR (mode = 'enough' AND amount_minor IS NULL)",
            name="ck_keepalive_mode",
        ),
    )
    op.create_index(
        "uq_keepalive_rules_sim",
        "keepalive_rules",
        ["sim_id"],
        unique=True,
        sqlite_where=sa.text("state <> 'ended'"),
        postgresql_where=sa.text("state <> 'ended'"),
    )
    op.create_table(
        "keepalive_attempts",
        sa.Column("id", ID, primary_key=True),
        sa.Column("rule_id", sa.BigInteger, sa.ForeignKey("keepalive_rules.id"), nullable=False),
        sa.Column("period", sa.Date, nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("tries", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_at", TS),
        sa.Column("order_no", sa.String(32)),
        sa.Column("last_error", sa.String(200)),
        sa.Column("noticed_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("rule_id", "period", name="uq_keepalive_attempts_period"),
        sa.CheckConstraint(
            "state IN ('waiting', 'charging', 'pending', 'paid', 'failed', 'cancelled')",
            name="ck_keepalive_attempt_state",
        ),
    )
    op.create_index("ix_keepalive_attempts_due", "keepalive_attempts", ["state", "next_at"])


def downgrade() -> None:
    op.drop_index("ix_keepalive_attempts_due", "keepalive_attempts")
    op.drop_table("keepalive_attempts")
    op.drop_index("uq_keepalive_rules_sim", "keepalive_rules")
    op.drop_table("keepalive_rules")
