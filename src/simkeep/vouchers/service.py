"""Voucher use cases (docs/outlets.md, "Vouchers"): the one module entry points and other
domains call.

Design overview
---------------
* Selling at a counter (``selling``): ``quote_sale``, ``sell``, ``vouchers_of_sale``, inside
  the POS's own sale transaction.
"""

from __future__ import annotations

from simkeep.vouchers.selling import quote_sale, sell, vouchers_of_sale

__all__ = ["quote_sale", "sell", "vouchers_of_sale"]
