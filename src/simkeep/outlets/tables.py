"""Outlet and agent tables (migration 0018_outlets): agents, their outlets, float deposits.

Foreign keys are the migration's; here a reference is a plain id column, since each domain
keeps its own ``MetaData``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    text,
)

from simkeep import names
from simkeep.sqltypes import UTCDateTime, id_column_type

metadata = MetaData()

agents = Table(
    "agents",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("code", String(16), nullable=False, unique=True),
    *names.columns(),
    Column("commission_bp", Integer, nullable=False),  # basis points of each sale
    Column("credit_limit_minor", BigInteger, nullable=False, server_default="0"),
    Column("state", String(16), nullable=False, server_default="active"),
    Column("created_at", UTCDateTime, nullable=False),
)

outlets = Table(
    "outlets",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("code", String(16), nullable=False, unique=True),
    Column("agent_id", BigInteger, nullable=False),
    Column("kind", String(24), nullable=False),  # operator_shop | convenience_store | mall_kiosk
    *names.columns(),
    *names.columns("address", length=200),
    Column("region", String(2), nullable=False),  # HK | SZ | GZ
    Column("district", String(32), nullable=False),
    Column("lat_e6", Integer, nullable=False),  # micro-degrees: integers, indexed
    Column("lon_e6", Integer, nullable=False),
    Column("hours", JSON, nullable=False),  # {"mon": [["08:00", "22:00"]], …}
    Column("sells_cash", Boolean, nullable=False),
    Column("sells_card", Boolean, nullable=False),
    Column("sells_vouchers", Boolean, nullable=False),
    Column("phone", String(20)),
    Column("currency", String(3), nullable=False),
    Column("state", String(16), nullable=False, server_default="open"),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_outlets_lat", "lat_e6", "lon_e6"),
    Index("ix_outlets_district", "district", "id"),
    Index("ix_outlets_agent", "agent_id", "id"),
)

float_deposits = Table(
    "float_deposits",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("agent_id", BigInteger, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reference", String(64), nullable=False),  # the bank transfer's reference
    Column("state", String(16), nullable=False),  # pending | approved | rejected
    Column("made_by", BigInteger, nullable=False),
    Column("made_at", UTCDateTime, nullable=False),
    Column("checked_by", BigInteger),
    Column("checked_at", UTCDateTime),
    Column("journal_id", BigInteger),
    Column("reason", String(200)),  # why a checker rejected it
    Index("ix_float_deposits_state", "state", "id"),
    Index("ix_float_deposits_agent", "agent_id", "id"),
    Index(
        "uq_float_deposits_reference",
        "agent_id",
        "reference",
        unique=True,
        sqlite_where=text("state <> 'rejected'"),
        postgresql_where=text("state <> 'rejected'"),
    ),
)
