"""The provider simulators in a process of their own: ``simkeep simulators serve``.

Design overview
---------------
``simulators_server`` serves every provider's simulator (``embedded.build_simulators``: the
merchant's and the providers' keys kept in ``keys_dir``) under ``/_sim/<provider>`` at
``simulators_url``. A web app and workers given the same ``keys_dir`` and
``SIMKEEP_SIMULATORS_URL`` reach them over HTTP exactly as they reach the real gateways, and
each paid trade's notification goes over HTTP to the notify URL its order gave (the web
app's public URL), on the providers' retry ladders scaled by ``time_scale`` — a background
task sends what is due every ``TICK``. So the providers outlive any crash of simkeep's own
processes, as real ones do; the fault harness (``make chaos``) runs them this way. Given
``simulator_records``, they outlive their own restarts too: their records are read back from
that directory at start and saved before each answer and after each round of notifications
(``simulators.records``).

Echoes: a real provider sometimes delivers a notification twice, the copy late and out of
order. ``echo_percent`` of the attempts are sent once more after a random 0.5–15 s (random
with a fixed ``seed``), whatever the first copy's answer was.

``GET /_sim/records`` gives the providers' own records — every trade with its state and
amount, the provider's fee on it and on each refund, whether its notification was
acknowledged, and the echoes sent — which the fault harness's checker holds simkeep's books
against.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import FastAPI

from simkeep.clock import Clock
from simkeep.settings import Settings
from simkeep.simulators import alipay_trades as alipay_simulator
from simkeep.simulators import wechatpay_trades as wechatpay_simulator
from simkeep.simulators.alipay import AlipaySimulator
from simkeep.simulators.delivery import Deliver, Reply, http_deliver
from simkeep.simulators.embedded import Simulators, build_simulators, simulators_app
from simkeep.simulators.kits import KIT_BY_PROVIDER
from simkeep.simulators.wechatpay import WeChatPaySimulator
from simkeep.simulators.wechatpay_trades import ACCEPTED

TICK = 0.2  # seconds between looks for due notifications
ECHO_DELAY = (0.5, 15.0)  # seconds after the first copy
log = structlog.get_logger(__name__)


@dataclass
class Echoes:
    """Second copies of some notification attempts, sent later and so out of order."""

    percent: int
    rng: random.Random
    delay: tuple[float, float] = ECHO_DELAY
    sent: int = 0
    acknowledged: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def alipay(self, deliver: alipay_simulator.Deliver) -> alipay_simulator.Deliver:
        async def echoing(url: str, form: Mapping[str, str]) -> str:
            answer = await deliver(url, form)
            self._maybe(lambda: deliver(url, form), lambda reply: reply == "success")
            return answer

        return echoing

    def wechatpay(self, deliver: wechatpay_simulator.Deliver) -> wechatpay_simulator.Deliver:
        async def echoing(url: str, headers: Mapping[str, str], body: bytes) -> int:
            status = await deliver(url, headers, body)
            self._maybe(lambda: deliver(url, headers, body), lambda reply: reply in ACCEPTED)
            return status

        return echoing

    def kit(self, deliver: Deliver, accepted: Callable[[Reply], bool]) -> Deliver:
        async def echoing(url: str, headers: Mapping[str, str], body: bytes) -> Reply:
            reply = await deliver(url, headers, body)
            self._maybe(lambda: deliver(url, headers, body), accepted)
            return reply

        return echoing

    def _maybe(self, send: Callable[[], Awaitable[Any]], accepted: Callable[[Any], bool]) -> None:
        if self.rng.randrange(100) >= self.percent:
            return
        delay = self.rng.uniform(*self.delay)

        async def later() -> None:
            await asyncio.sleep(delay)
            self.sent += 1
            try:
                reply = await send()
            except Exception as error:  # an unreachable merchant is an unanswered copy
                log.info("simulators.echo_failed", error=str(error))
                return
            self.acknowledged += int(accepted(reply))

        task = asyncio.get_running_loop().create_task(later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()


def simulators_server(
    settings: Settings, clock: Clock, *, time_scale: float, echo_percent: int, seed: int
) -> FastAPI:
    """The simulators' own app, served at ``settings.simulators_url``."""
    echoes = Echoes(echo_percent, random.Random(seed))  # noqa: S311 - a test schedule
    simulators = build_simulators(
        settings,
        clock,
        base_url=f"{settings.simulators_url.rstrip('/')}/_sim",
        deliver_alipay=echoes.alipay(alipay_simulator.http_deliver),
        deliver_wechatpay=echoes.wechatpay(wechatpay_simulator.http_deliver),
        deliver=lambda provider: echoes.kit(http_deliver, KIT_BY_PROVIDER[provider].accepted),
        time_scale=time_scale,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        notifier = asyncio.create_task(_notify_forever(simulators))
        try:
            yield
        finally:
            notifier.cancel()
            echoes.cancel()
            with suppress(asyncio.CancelledError):
                await notifier

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan)

    @app.get("/_sim/records")
    async def records() -> dict[str, Any]:
        others = simulators.others
        kits = {provider.value: simulator.records() for provider, simulator in others.items()}
        return provider_records(simulators.alipay, simulators.wechatpay, echoes) | kits

    app.mount("/_sim", simulators_app(simulators))
    return app


async def _notify_forever(simulators: Simulators) -> None:
    senders: list[Callable[[], Awaitable[object]]] = [
        simulators.alipay.deliver_pending,
        simulators.wechatpay.deliver_due,
        *(simulator.deliver_due for simulator in simulators.others.values()),
    ]
    while True:
        for send in senders:
            try:
                await send()
            except Exception:
                log.exception("simulators.notify_failed")
        try:
            simulators.save()
        except OSError:  # a full disk: the records stay in memory until the next round
            log.exception("simulators.save_failed")
        await asyncio.sleep(TICK)


def provider_records(
    alipay: AlipaySimulator, wechatpay: WeChatPaySimulator, echoes: Echoes
) -> dict[str, Any]:
    """Every trade as its provider records it: state, amount, notification attempts and
    whether one was acknowledged."""
    alipay_deliveries = {
        d.form["out_trade_no"]: d for d in alipay.deliveries if d.form.get("out_trade_no")
    }
    wechat_deliveries = {d.out_trade_no: d for d in wechatpay.deliveries}
    return {
        "alipay": [
            {
                "out_trade_no": trade.out_trade_no,
                "paid": trade.status in ("TRADE_SUCCESS", "TRADE_FINISHED"),
                "state": trade.status,
                "amount_minor": trade.amount.minor,
                "currency": trade.amount.currency,
                **_alipay_notified(alipay_deliveries.get(trade.out_trade_no)),
                "fee_minor": trade.fee.minor if trade.fee is not None else 0,
                "refunded_minor": trade.refunded.minor,
                "refunds": [
                    {
                        "refund_no": number,
                        "amount_minor": refund.amount.minor,
                        "fee_refunded_minor": refund.fee_back.minor,
                    }
                    for number, refund in trade.refunds.items()
                ],
            }
            for trade in alipay.trades.values()
        ],
        "wechatpay": [
            {
                "out_trade_no": trade.out_trade_no,
                "paid": trade.state == "SUCCESS",
                "state": trade.state,
                "amount_minor": trade.total,
                "currency": trade.currency,
                **_wechatpay_notified(wechat_deliveries.get(trade.out_trade_no)),
                **wechatpay.refund_records(trade),
            }
            for trade in wechatpay.trades.values()
        ],
        "echoes": {"sent": echoes.sent, "acknowledged": echoes.acknowledged},
    }


def _alipay_notified(delivery: alipay_simulator.Delivery | None) -> dict[str, Any]:
    if delivery is None:
        return {"attempts": 0, "acknowledged": False}
    return {"attempts": len(delivery.answers), "acknowledged": delivery.acknowledged}


def _wechatpay_notified(delivery: wechatpay_simulator.Delivery | None) -> dict[str, Any]:
    if delivery is None:
        return {"attempts": 0, "acknowledged": False}
    acknowledged = any(status in ACCEPTED for status in delivery.statuses)
    return {"attempts": len(delivery.statuses), "acknowledged": acknowledged}
