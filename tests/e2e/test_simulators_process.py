"""The simulators in a process of their own: our adapters reach them over HTTP from the
keys both sides keep, their records say what was paid and acknowledged, and echoes send
some notifications once more, later. The worker refuses to run without them."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import httpx
from typer.testing import CliRunner

from simkeep.cli.main import app as cli
from simkeep.clock import FixedClock
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.payments.model import PaymentRequest, TradeStatus
from simkeep.settings import load_settings
from simkeep.simulators.embedded import simulator_adapters
from simkeep.simulators.server import Echoes, simulators_server

SIM_URL = "http://simulators.test"


def order(out_trade_no: str, channel: Channel) -> PaymentRequest:
    return PaymentRequest(
        out_trade_no=out_trade_no,
        amount=Money(4_617, "CNY"),
        subject="中港卡充值",
        channel=channel,
        notify_url="http://127.0.0.1:9/notify",  # nobody listens: the attempt goes unanswered
        return_url="http://127.0.0.1:9/done",
        expires_at=datetime(2026, 11, 30, 9, 15, tzinfo=UTC),
        payer_ip="127.0.0.1",
    )


async def test_adapters_in_another_process_pay_and_the_records_say_so(tmp_path: Path) -> None:
    settings = load_settings(simulators_url=SIM_URL, keys_dir=str(tmp_path / "keys"))
    clock = FixedClock(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    server = simulators_server(settings, clock, time_scale=0.01, echo_percent=0, seed=1)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=server), base_url=SIM_URL
    ) as http:
        adapters = simulator_adapters(settings, clock, base_url=f"{SIM_URL}/_sim", http=http)
        alipay = await adapters[Provider.ALIPAY].start(order("T000000001", Channel.QR))
        await adapters[Provider.WECHATPAY].start(order("T000000002", Channel.QR))
        assert alipay.qr_payload == f"{SIM_URL}/_sim/alipay/cashier/T000000001"
        paid = await http.post("/_sim/alipay/pay/T000000001")
        assert paid.status_code == 200

        records = (await http.get("/_sim/records")).json()

        assert (await adapters[Provider.ALIPAY].query("T000000001")).status is TradeStatus.PAID
        assert (await adapters[Provider.WECHATPAY].query("T000000002")).status is (
            TradeStatus.UNPAID
        )
    assert records["alipay"] == [
        {
            "out_trade_no": "T000000001",
            "paid": True,
            "state": "TRADE_SUCCESS",
            "amount_minor": 4_617,
            "currency": "CNY",
            "attempts": 1,
            "acknowledged": False,
            "fee_minor": 28,  # 0.6 % of ¥46.17, rounded half up to the fen
            "refunded_minor": 0,
            "refunds": [],
        }
    ]
    assert records["wechatpay"][0]["paid"] is False
    assert records["wechatpay"][0]["attempts"] == 0
    assert records["echoes"] == {"sent": 0, "acknowledged": 0}


async def test_echoes_send_a_copy_later_and_count_its_answer() -> None:
    sent: list[tuple[str, dict[str, str]]] = []

    async def deliver(url: str, form: Mapping[str, str]) -> str:
        sent.append((url, dict(form)))
        return "success"

    echoes = Echoes(100, random.Random(7), delay=(0.01, 0.02))
    echoing = echoes.alipay(deliver)

    assert await echoing("http://merchant/notify", {"out_trade_no": "T1"}) == "success"
    assert len(sent) == 1
    await asyncio.sleep(0.1)

    assert sent == [("http://merchant/notify", {"out_trade_no": "T1"})] * 2
    assert (echoes.sent, echoes.acknowledged) == (1, 1)


async def test_no_echoes_at_zero_percent() -> None:
    calls = 0

    async def deliver(url: str, headers: Mapping[str, str], body: bytes) -> int:
        nonlocal calls
        calls += 1
        return 204

    echoes = Echoes(0, random.Random(7), delay=(0.01, 0.02))
    for _ in range(20):
        await echoes.wechatpay(deliver)("http://merchant/notify", {}, b"{}")
    await asyncio.sleep(0.1)
    assert (calls, echoes.sent) == (20, 0)


def test_the_worker_needs_the_simulators_in_their_own_process() -> None:
    result = CliRunner().invoke(
        cli, ["worker"], env={"SIMKEEP_SIMULATORS_URL": "", "SIMKEEP_SIMULATORS": "true"}
    )
    assert result.exit_code == 2
    assert "SIMKEEP_SIMULATORS_URL" in result.output


def test_the_simulators_need_their_url() -> None:
    result = CliRunner().invoke(
        cli, ["simulators", "serve", "--port", "9999"], env={"SIMKEEP_SIMULATORS_URL": ""}
    )
    assert result.exit_code == 2
