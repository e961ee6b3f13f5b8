"""The notifications of the webhook storm that must credit nothing.

``BAD`` is the matrix: forged (another key), tampered (the amount or the order number
changed after signing), unsigned, another merchant's, stale or early WeChat Pay timestamps,
SIGNTEST probes, another amount or currency, an unknown order, another provider's order —
and Alipay's ``TRADE_CLOSED``, which is genuine but not a payment, so it is acknowledged and
moves nothing. For each kit provider, a paid order's captured notification signed by a
stranger, and one with its amount raised after signing (``storm_kits``). Each kind says
what the inbox must keep of it. Every one is signed by the simulator's own key unless it is
the point that it is not (``tests.e2e.notices``).
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from simkeep.clock import in_shanghai
from simkeep.money import Money
from simkeep.payment_methods import Provider
from simkeep.payments.providers.alipay_signing import yuan
from simkeep.payments.providers.wechatpay_signing import MAX_SKEW, SIGNTEST_PREFIX
from simkeep.payments.signing import KeyPair, load_private_key
from tests.e2e import storm_kits
from tests.e2e.notices import alipay_fields, wechatpay_event, wechatpay_headers
from tests.e2e.storm_kits import KIT_PROVIDERS, Headers
from tests.e2e.storm_notices import MAX_COPIES, TICK, Notice, form, signed
from tests.e2e.storm_world import Placed, Storm

STRANGER = load_private_key(KeyPair.generate().private_pem)  # anyone's key but the provider's
# A WeChat Pay timestamp this far ahead stays outside the ±300 s window even if the clock
# moves on (by a tick or two) between signing and checking.
AHEAD = MAX_SKEW + 2 * TICK + timedelta(seconds=1)

Make = Callable[[Storm, Placed, Placed], tuple[str, bytes, Headers]]  # → order named, body, …


def _alipay(
    storm: Storm,
    order: Placed,
    *,
    trade_status: str = "TRADE_SUCCESS",
    app_id: str | None = None,
    seller_id: str | None = None,
) -> dict[str, str]:
    return alipay_fields(
        storm.providers,
        out_trade_no=order.order_no,
        total_amount=yuan(order.pay),
        now=storm.clock.now(),
        trade_status=trade_status,
        app_id=app_id,
        seller_id=seller_id,
    )


def alipay_forged(storm: Storm, order: Placed, other: Placed) -> tuple[str, bytes, Headers]:
    fields = alipay_fields(
        storm.providers,
        out_trade_no=order.order_no,
        total_amount=yuan(order.pay),
        now=storm.clock.now(),
        key=STRANGER,
    )
    return (order.order_no, *form(fields))


def alipay_tampered_amount(
    storm: Storm, order: Placed, other: Placed
) -> tuple[str, bytes, Headers]:
    fields = _alipay(storm, order)
    fields["total_amount"] = yuan(order.pay + Money(10_000, "CNY"))  # after signing
    return (order.order_no, *form(fields))


def alipay_tampered_order(storm: Storm, order: Placed, other: Placed) -> tuple[str, bytes, Headers]:
    """A genuine payment of ``order``, its order number changed to another's after signing."""
    fields = _alipay(storm, order)
    fields["out_trade_no"] = other.order_no
    return (other.order_no, *form(fields))


def alipay_foreign_app(storm: Storm, order: Placed, other: Placed) -> tuple[str, bytes, Headers]:
    return (order.order_no, *form(_alipay(storm, order, app_id="2021009999999999")))


def alipay_foreign_seller(storm: Storm, order: Placed, other: Placed) -> tuple[str, bytes, Headers]:
    return (order.order_no, *form(_alipay(storm, order, seller_id="2088009999999999")))


def alipay_unsigned(storm: Storm, order: Placed, other: Placed) -> tuple[str, bytes, Headers]:
    fields = _alipay(storm, order)
    del fields["sign"]
    return (order.order_no, *form(fields))


def alipay_cent_short(storm: Storm, order: Placed, other: Placed) -> tuple[str, bytes, Headers]:
    fields = alipay_fields(
        storm.providers,
        out_trade_no=order.order_no,
        total_amount=yuan(order.pay - Money(1, "CNY")),
        now=storm.clock.now(),
    )
    return (order.order_no, *form(fields))


def alipay_unknown_order(storm: Storm, order: Placed, other: Placed) -> tuple[str, bytes, Headers]:
    nobody = f"T26112599{secrets.randbelow(10**9):09d}"
    fields = alipay_fields(
        storm.providers, out_trade_no=nobody, total_amount=yuan(order.pay), now=storm.clock.now()
    )
    return (nobody, *form(fields))


def alipay_exact(storm: Storm, order: Placed, other: Placed) -> tuple[str, bytes, Headers]:
    """A genuine Alipay payment of exactly the order's amount (aimed at another provider's
    order, it is not that order's payment)."""
    return (order.order_no, *form(_alipay(storm, order)))


def alipay_closed(storm: Storm, order: Placed, other: Placed) -> tuple[str, bytes, Headers]:
    return (order.order_no, *form(_alipay(storm, order, trade_status="TRADE_CLOSED")))


def _wechat(
    storm: Storm,
    order: Placed,
    *,
    out_trade_no: str | None = None,
    total: int | None = None,
    currency: str | None = None,
    mchid: str | None = None,
    appid: str | None = None,
) -> bytes:
    return wechatpay_event(
        storm.providers,
        out_trade_no=out_trade_no or order.order_no,
        total=order.pay.minor if total is None else total,
        currency=currency or order.pay.currency,
        now=in_shanghai(storm.clock.now()),
        mchid=mchid,
        appid=appid,
    )


def wechat_forged(storm: Storm, order: Placed, other: Placed) -> tuple[str, bytes, Headers]:
    body = _wechat(storm, order)

    def headers(now: datetime) -> dict[str, str]:
        return wechatpay_headers(
            storm.providers, body, timestamp=int(now.timestamp()), key=STRANGER
        )

    return order.order_no, body, headers


def wechat_tampered_amount(
    storm: Storm, order: Placed, other: Placed
) -> tuple[str, bytes, Headers]:
    """Signed over a genuine payment of the order; the body sent says 100 yuan more."""
    genuine = _wechat(storm, order)
    sent = _wechat(storm, order, total=order.pay.minor + 10_000)
    return order.order_no, sent, signed(storm, genuine)


def wechat_stale(storm: Storm, order: Placed, other: Placed) -> tuple[str, bytes, Headers]:
    body = _wechat(storm, order)
    return order.order_no, body, signed(storm, body, skew=-(MAX_SKEW + timedelta(seconds=1)))


def wechat_ahead(storm: Storm, order: Placed, other: Placed) -> tuple[str, bytes, Headers]:
    body = _wechat(storm, order)
    return order.order_no, body, signed(storm, body, skew=AHEAD)


def wechat_signtest(storm: Storm, order: Placed, other: Placed) -> tuple[str, bytes, Headers]:
    body = _wechat(storm, order)
    genuine = signed(storm, body)

    def headers(now: datetime) -> dict[str, str]:
        return {**genuine(now), "Wechatpay-Signature": SIGNTEST_PREFIX + secrets.token_hex(16)}

    return order.order_no, body, headers


def wechat_foreign_mchid(storm: Storm, order: Placed, other: Placed) -> tuple[str, bytes, Headers]:
    body = _wechat(storm, order, mchid="1900009999")
    return order.order_no, body, signed(storm, body)


def wechat_foreign_appid(storm: Storm, order: Placed, other: Placed) -> tuple[str, bytes, Headers]:
    body = _wechat(storm, order, appid="wx0000000000000000")
    return order.order_no, body, signed(storm, body)


def wechat_in_hkd(storm: Storm, order: Placed, other: Placed) -> tuple[str, bytes, Headers]:
    body = _wechat(storm, order, currency="HKD")
    return order.order_no, body, signed(storm, body)


def wechat_fen_short(storm: Storm, order: Placed, other: Placed) -> tuple[str, bytes, Headers]:
    body = _wechat(storm, order, total=order.pay.minor - 1)
    return order.order_no, body, signed(storm, body)


def wechat_unknown_order(storm: Storm, order: Placed, other: Placed) -> tuple[str, bytes, Headers]:
    nobody = f"T26112599{secrets.randbelow(10**9):09d}"
    body = _wechat(storm, order, out_trade_no=nobody)
    return nobody, body, signed(storm, body)


def wechat_exact(storm: Storm, order: Placed, other: Placed) -> tuple[str, bytes, Headers]:
    """A genuine WeChat Pay payment of exactly the order's amount."""
    body = _wechat(storm, order)
    return order.order_no, body, signed(storm, body)


def kit_forged(storm: Storm, order: Placed, other: Placed) -> tuple[str, bytes, Headers]:
    return (order.order_no, *storm_kits.forged(storm, order))


def kit_tampered_amount(storm: Storm, order: Placed, other: Placed) -> tuple[str, bytes, Headers]:
    return (order.order_no, *storm_kits.tampered(storm, order))


@dataclass(frozen=True, slots=True)
class Bad:
    """A kind of notification that must credit nothing: from whom, aimed at whose orders,
    how it is made, and what the inbox keeps of it."""

    make: Make
    sender: Provider
    aimed_at: Provider  # the provider of the orders it names
    status: str
    reason: str | None = None
    acknowledged: bool = False
    captured: bool = False  # made from a paid order's captured notification: paid orders only


A, W = Provider.ALIPAY, Provider.WECHATPAY
BAD = (
    Bad(alipay_forged, A, A, "rejected", "bad_signature"),
    Bad(alipay_tampered_amount, A, A, "rejected", "bad_signature"),
    Bad(alipay_tampered_order, A, A, "rejected", "bad_signature"),
    Bad(alipay_unsigned, A, A, "rejected", "bad_signature"),
    Bad(alipay_foreign_app, A, A, "rejected", "wrong_merchant"),
    Bad(alipay_foreign_seller, A, A, "rejected", "wrong_merchant"),
    Bad(alipay_cent_short, A, A, "amount_mismatch"),
    Bad(alipay_unknown_order, A, A, "unknown_order"),
    Bad(alipay_exact, A, W, "unknown_order"),  # another provider's order
    Bad(alipay_closed, A, A, "ignored", acknowledged=True),  # genuine, but not a payment
    Bad(wechat_forged, W, W, "rejected", "bad_signature"),
    Bad(wechat_tampered_amount, W, W, "rejected", "bad_signature"),
    Bad(wechat_stale, W, W, "rejected", "stale"),
    Bad(wechat_ahead, W, W, "rejected", "stale"),
    Bad(wechat_signtest, W, W, "rejected", "bad_signature"),
    Bad(wechat_foreign_mchid, W, W, "rejected", "wrong_merchant"),
    Bad(wechat_foreign_appid, W, W, "rejected", "wrong_merchant"),
    Bad(wechat_in_hkd, W, W, "amount_mismatch"),
    Bad(wechat_fen_short, W, W, "amount_mismatch"),
    Bad(wechat_unknown_order, W, W, "unknown_order"),
    Bad(wechat_exact, W, A, "unknown_order"),  # another provider's order
    *(
        Bad(make, kit, kit, "rejected", "bad_signature", captured=True)
        for kit in KIT_PROVIDERS
        for make in (kit_forged, kit_tampered_amount)
    ),
)
# Notifications of each kind: half aimed at unpaid orders, half at paid ones (all at paid
# ones, for the kinds made from a paid order's notification).
BAD_PER_KIND = 6


def bad_notices(
    storm: Storm, rng: random.Random, *, paid: list[Placed], unpaid: list[Placed]
) -> list[Notice]:
    """``BAD_PER_KIND`` notifications of every bad kind, each to be sent 1–8 times."""
    notices = []
    for bad in BAD:
        mine = [order for order in unpaid if order.provider is bad.aimed_at]
        theirs = [order for order in paid if order.provider is bad.aimed_at]
        half = 0 if bad.captured else BAD_PER_KIND // 2
        for order in rng.sample(mine, half) + rng.sample(theirs, BAD_PER_KIND - half):
            named, body, headers = bad.make(storm, order, rng.choice(unpaid))
            notices.append(
                Notice(
                    kind=bad.make.__name__,
                    provider=bad.sender,
                    order_no=named,
                    body=body,
                    headers=headers,
                    copies=rng.randint(1, MAX_COPIES),
                    status=bad.status,
                    reason=bad.reason,
                    acknowledged=bad.acknowledged,
                )
            )
    return notices
