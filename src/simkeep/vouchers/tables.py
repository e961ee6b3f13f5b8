"""Voucher tables (migration 0020_vouchers): batches, vouchers (PINs only as digests) and the
redemption attempts counted per number, account and address."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table

from simkeep.sqltypes import UTCDateTime, id_column_type

metadata = MetaData()

batches = Table(
    "voucher_batches",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("batch_no", String(16), nullable=False, unique=True),
    Column("face_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("count", Integer, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("created_by", BigInteger),  # None: made on the command line
    Column("created_at", UTCDateTime, nullable=False),
    Column("exported_at", UTCDateTime),  # the PIN file is exported once
)

vouchers = Table(
    "vouchers",
    metadata,
    Column("id", id_column_type(), primary_key=True),
    Column("serial", String(20), nullable=False, unique=True),  # public, printed on the card
    Column("batch_id", BigInteger, nullable=False),
    Column("pin_digest", String(64), nullable=False, unique=True),  # HMAC-SHA256 of the PIN
    Column("face_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("state", String(12), nullable=False),  # generated | sold | redeemed | expired | blocked
    Column("expires_at", UTCDateTime, nullable=False),
    Column("sold_at", UTCDateTime),
    Column("sale_id", BigInteger),  # the outlet sale that sold it
    Column("redeemed_at", UTCDateTime),
    Column("order_no", String(32)),  # the top-up order its redemption made
    Column("closed_at", UTCDateTime),  # expired or blocked
    Index("ix_vouchers_batch", "batch_id", "id"),
    Index("ix_vouchers_expiry", "state", "expires_at"),
)

attempts = Table(
    "voucher_attempts",
    metadata,
    Column("scope", String(8), primary_key=True),  # number | account | address
    Column("key", String(64), primary_key=True),
    Column("attempts", Integer, nullable=False),
    Column("window_ends_at", UTCDateTime, nullable=False),
)
