"""The buckets table (migration 0012_buckets).

A bucket is one grant: ``granted`` units of one ``kind`` (``voice`` minutes, ``data`` MB,
``sms`` messages, or ``money`` in minor units of ``currency``), for one ``zone`` (``hk``,
``mainland``) or any zone when null, usable until ``expires_at``. ``remaining`` goes down as
usage spends it and never below zero; a money bucket's remaining is part of the SIM's bonus
account in the ledger. ``source_ref`` names the grant (``promotion:<id>:<order_no>``) and is
unique per kind and zone, so a grant repeated finds its bucket made.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

from simkeep.sqltypes import UTCDateTime, id_column_type

metadata = MetaData()

KINDS = ("voice", "data", "sms", "money")
ZONES = ("hk", "mainland")

buckets = Table(
    "sim_buckets",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("sim_id", BigInteger, nullable=False),  # sims.id (a foreign key in the schema)
    Column("kind", String(8), nullable=False),
    Column("zone", String(8)),
    Column("currency", String(3)),
    Column("granted", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
    Column("granted_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("expired_at", UTCDateTime),  # set when the expiry job closed it
    Column("source_ref", String(96), nullable=False),
    CheckConstraint("kind IN ('voice', 'data', 'sms', 'money')", name="ck_sim_buckets_kind"),
    CheckConstraint("zone IS NULL OR zone IN ('hk', 'mainland')", name="ck_sim_buckets_zone"),
    CheckConstraint("(kind = 'money') = (currency IS NOT NULL)", name="ck_sim_buckets_currency"),
    CheckConstraint(
        "granted > 0 AND remaining >= 0 AND remaining <= granted", name="ck_sim_buckets_amounts"
    ),
    UniqueConstraint("source_ref", "kind", "zone", name="uq_sim_buckets_source"),
    Index("ix_sim_buckets_sim", "sim_id", "expires_at"),
    Index("ix_sim_buckets_expiry", "expires_at"),  # migration 0014: the expiry job
)
