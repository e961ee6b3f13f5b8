"""Outlets and agents: where people top up at a counter, and who owns the counters.

* ``agents``: a company that owns outlets. Names in three languages, a commission rate in
  basis points (150 = 1.5 % of each sale), a credit limit in minor units that each of its
  float accounts may go below zero by (0: the float is a prepaid floor of zero), a state.
  The float and commission accounts themselves live in the ledger (``agent:<id>:float:<ccy>``,
  ``agent:<id>:commission:<ccy>``).
* ``outlets``: kind (``operator_shop``, ``convenience_store``, ``mall_kiosk``), names and
  addresses in three languages, region (``HK``, ``SZ``, ``GZ``) and district, coordinates in
  micro-degrees (integers; one index on latitude then longitude serves bounding-box
  searches — a second one on longitude alone led SQLite's planner to read a whole band of
  longitude), opening hours per weekday as JSON (``{"mon": [["08:00", "22:00"]], …}``, a
  range past midnight ends after 24:00), the services it offers, a phone, the currency its
  counter sells in, and a state.
* ``staff_members`` gains ``agent_id`` (an agent's and a clerk's company) and ``outlet_id``
  (the one outlet a clerk works at).
* ``float_deposits``: an agent's payment into its float, entered by one operator (maker) and
  approved or rejected (with a reason) by another (checker); only an approved deposit is
  booked, its journal kept. The database refuses the maker as checker, a checked deposit
  without its checker, and a bank reference used on another deposit of the agent that was
  not rejected.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
LOCALES = ("zh_hant_hk", "zh_hans_cn", "en")


def _three(prefix: str, length: int) -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column(f"{prefix}_{locale}", sa.String(length), nullable=False) for locale in LOCALES
    ]


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", ID, primary_key=True),
        sa.Column("code", sa.String(16), nullable=False, unique=True),
        *_three("name", 100),
        sa.Column("commission_bp", sa.Integer, nullable=False),
        sa.Column("credit_limit_minor", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("state", sa.String(16), nullable=False, server_default="active"),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("commission_bp BETWEEN 0 AND 2000", name="ck_agents_commission"),
        sa.CheckConstraint("credit_limit_minor >= 0", name="ck_agents_credit_limit"),
    )
    op.create_table(
        "outlets",
        sa.Column("id", ID, primary_key=True),
        sa.Column("code", sa.String(16), nullable=False, unique=True),
        sa.Column("agent_id", sa.BigInteger, sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        *_three("name", 100),
        *_three("address", 200),
        sa.Column("region", sa.String(2), nullable=False),
        sa.Column("district", sa.String(32), nullable=False),
        sa.Column("lat_e6", sa.Integer, nullable=False),
        sa.Column("lon_e6", sa.Integer, nullable=False),
        sa.Column("hours", sa.JSON, nullable=False),
        sa.Column("sells_cash", sa.Boolean, nullable=False),
        sa.Column("sells_card", sa.Boolean, nullable=False),
        sa.Column("sells_vouchers", sa.Boolean, nullable=False),
        sa.Column("phone", sa.String(20)),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="open"),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("lat_e6 BETWEEN -90000000 AND 90000000", name="ck_outlets_lat"),
        sa.CheckConstraint("lon_e6 BETWEEN -180000000 AND 180000000", name="ck_outlets_lon"),
    )
    op.create_index("ix_outlets_lat", "outlets", ["lat_e6", "lon_e6"])
    op.create_index("ix_outlets_district", "outlets", ["district", "id"])
    op.create_index("ix_outlets_agent", "outlets", ["agent_id", "id"])
    with op.batch_alter_table("staff_members") as batch:
        batch.add_column(sa.Column("agent_id", sa.BigInteger))
        batch.add_column(sa.Column("outlet_id", sa.BigInteger))
        batch.create_foreign_key("fk_staff_members_agent", "agents", ["agent_id"], ["id"])
        batch.create_foreign_key("fk_staff_members_outlet", "outlets", ["outlet_id"], ["id"])
    op.create_table(
        "float_deposits",
        sa.Column("id", ID, primary_key=True),
        sa.Column("agent_id", sa.BigInteger, sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("made_by", sa.BigInteger, sa.ForeignKey("staff_members.id"), nullable=False),
        sa.Column("made_at", TS, nullable=False),
        sa.Column("checked_by", sa.BigInteger, sa.ForeignKey("staff_members.id")),
        sa.Column("checked_at", TS),
        sa.Column("journal_id", sa.BigInteger),
        sa.Column("reason", sa.String(200)),
        sa.CheckConstraint("amount_minor > 0", name="ck_float_deposits_amount"),
        sa.CheckConstraint(
            "state IN ('pending', 'approved', 'rejected')", name="ck_float_deposits_state"
        ),
        sa.CheckConstraint(
            "checked_by IS NULL OR checked_by <> made_by", name="ck_float_deposits_four_eyes"
        ),
        sa.CheckConstraint(
            "(state = 'pending') = (checked_by IS NULL)", name="ck_float_deposits_checked"
        ),
    )
    op.create_index("ix_float_deposits_state", "float_deposits", ["state", "id"])
    op.create_index("ix_float_deposits_agent", "float_deposits", ["agent_id", "id"])
    op.create_index(
        "uq_float_deposits_reference",
        "float_deposits",
        ["agent_id", "reference"],
        unique=True,
        sqlite_where=sa.text("state <> 'rejected'"),
        postgresql_where=sa.text("state <> 'rejected'"),
    )


def downgrade() -> None:
    op.drop_table("float_deposits")
    with op.batch_alter_table("staff_members") as batch:
        batch.drop_constraint("fk_staff_members_outlet", type_="foreignkey")
        batch.drop_constraint("fk_staff_members_agent", type_="foreignkey")
        batch.drop_column("outlet_id")
        batch.drop_column("agent_id")
    op.drop_table("outlets")
    op.drop_table("agents")
