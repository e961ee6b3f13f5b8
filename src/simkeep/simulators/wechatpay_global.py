"""WeChat Pay HK's v3 global API, platform side: a simulator for the embedded default, the
fault harness and the tests.

Design overview
---------------
``WeChatPayGlobalSimulator`` is the Mainland simulator's platform (``WeChatPayPlatform``:
request signatures, signed answers, trades and their states, the cashier, the notifier with
its v3 retry schedule and faults, ``records()``) on the global API's ``V3Api``: orders at
``/v3/global/transactions/native`` and ``…/mweb``, query and close under
``/v3/global/transactions/out-trade-no/…``, HKD, and WeChat Pay's transaction number in
``id``. It has its own platform key pair (``key_dir`` / ``wechatpay_hk``) and merchant.

What the global API asks more of an order: its ``trade_type`` (``NATIVE`` at ``native``,
``MWEB`` at ``mweb``) and a four-digit ``merchant_category_code``.

The payer: WeChat Pay HK serves Hong Kong wallets paying HKD and Mainland WeChat wallets
paying CNY at WeChat Pay's rate. The payer picks the wallet on the cashier page (the test
hook takes ``wallet=HKD|CNY``); left unsaid, a trade's own number decides, so about half of
the trades are paid from a CNY wallet. A CNY payment states ``payer_total`` (the CNY charged,
rounded half up to the fen), ``payer_currency`` and the ``exchange_rate`` (CNY per HKD ×10⁸);
the merchant's money stays ``total`` HKD.

Notifications go out through the generic ``simulators.delivery.Deliver``; ``accepted``
says which ``Reply`` the v3 protocol takes as delivered (200 or 204).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from simkeep.payments.providers.wechatpay_global import GLOBAL
from simkeep.simulators.wechatpay import WeChatPayPlatform
from simkeep.simulators.wechatpay_trades import (
    TRADE_TYPES,
    SimTrade,
    SimulatorError,
    accepted,
    price,
)

RATE_SCALE = 10**8  # exchange_rate.rate is the rate × 10⁸
CNY_PER_HKD = 92_000_000  # 0.92
WALLETS = ("HKD", "CNY")


class WeChatPayGlobalSimulator(WeChatPayPlatform):
    """WeChat Pay HK's platform for one merchant: HKD trades, paid from HKD or CNY wallets."""

    api = GLOBAL
    key_name = "wechatpay_hk"
    default_fee_rate_bp = 100  # WeChat Pay HK's fee on a payment, 1.0 %
    cny_per_hkd = CNY_PER_HKD  # WeChat Pay's rate for Mainland wallets, ×10⁸

    def wallet_choices(self, trade: SimTrade) -> dict[str, str]:
        """The payer's two kinds of wallet, each with what it would be charged."""
        cny = price(self._in_cny(trade.total), "CNY")
        return {
            "HKD": f"WeChat Pay HK 香港錢包 {price(trade.total, trade.currency)}",
            "CNY": f"微信支付 内地钱包 Mainland wallet {cny} (1 HKD = {self._rate_text()} CNY)",
        }

    def _check_order(self, kind: str, order: Mapping[str, Any]) -> None:
        if order.get("trade_type") != TRADE_TYPES[kind]:
            raise SimulatorError(400, "PARAM_ERROR", f"trade_type must be {TRADE_TYPES[kind]}")
        code = order.get("merchant_category_code")
        if not isinstance(code, str) or len(code) != 4 or not code.isdigit():
            raise SimulatorError(400, "PARAM_ERROR", "merchant_category_code is four digits")

    def _charge(self, trade: SimTrade, wallet: str | None) -> None:
        chosen = wallet or _default_wallet(trade.out_trade_no)
        if chosen not in WALLETS:
            raise SimulatorError(400, "PARAM_ERROR", f"wallet is one of {', '.join(WALLETS)}")
        if chosen == trade.currency:
            super()._charge(trade, chosen)
            return
        trade.payer_total, trade.payer_currency = self._in_cny(trade.total), chosen

    def _amount(self, trade: SimTrade, total: int) -> dict[str, Any]:
        amount: dict[str, Any] = {"total": total, "currency": trade.currency}
        if trade.payer_currency:
            rate = RATE_SCALE if trade.payer_currency == trade.currency else self.cny_per_hkd
            amount |= {
                "payer_total": trade.payer_total,
                "payer_currency": trade.payer_currency,
                "exchange_rate": {"type": "SETTLEMENT_RATE", "rate": rate},
            }
        return amount

    def _in_cny(self, hkd_minor: int) -> int:
        return (hkd_minor * self.cny_per_hkd + RATE_SCALE // 2) // RATE_SCALE

    def _rate_text(self) -> str:
        whole, fraction = divmod(self.cny_per_hkd, RATE_SCALE)
        return f"{whole}.{fraction:08d}".rstrip("0").rstrip(".")


def _default_wallet(out_trade_no: str) -> str:
    """HKD or CNY, the same for a trade in every process: its number's digest decides."""
    return WALLETS[hashlib.sha256(out_trade_no.encode()).digest()[0] % 2]


__all__ = ["WeChatPayGlobalSimulator", "accepted"]
