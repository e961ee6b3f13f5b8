"""Voucher use cases (docs/outlets.md, "Vouchers"): the one module entry points and other
domains call.

Design overview
---------------
* The operator's batches (``console``, ``batches``): ``create_batch`` (the printer's file,
  once), ``block_batch``, ``list_batches``, ``get_batch``, ``state_counts``, ``look_up`` by
  serial.
* Selling at a counter (``selling``): ``quote_sale``, ``sell``, ``vouchers_of_sale``, inside
  the POS's own sale transaction.
* Redeeming a PIN (``redeeming``): ``redeem_voucher`` — the limits, one conditional update,
  a top-up order credited from the vouchers' liability.
* Expiry (``expiring``): ``expire_vouchers``, the worker's job and ``simkeep vouchers
  expire``: sold vouchers' value to breakage income.
* ``pin_key`` derives the PINs' digest key from the secret key.
"""

from __future__ import annotations

from simkeep.vouchers.batches import GeneratedBatch, get_batch, list_batches, state_counts
from simkeep.vouchers.console import UnknownBatch, VoucherView, block_batch, create_batch, look_up
from simkeep.vouchers.expiring import Expired, expire_vouchers
from simkeep.vouchers.model import pin_key
from simkeep.vouchers.redeeming import Redeemer, Redemption, redeem_voucher
from simkeep.vouchers.selling import quote_sale, sell, vouchers_of_sale

__all__ = [
    "Expired",
    "GeneratedBatch",
    "Redeemer",
    "Redemption",
    "UnknownBatch",
    "VoucherView",
    "block_batch",
    "create_batch",
    "expire_vouchers",
    "get_batch",
    "list_batches",
    "look_up",
    "pin_key",
    "quote_sale",
    "redeem_voucher",
    "sell",
    "state_counts",
    "vouchers_of_sale",
]
