"""The simulators keep their records in ``simulator_records`` (``simulators.records``): every
provider built again on that directory remembers what the one before it did.

For each online provider: a trade is paid at one build of the simulators; the next build
answers its query as paid and takes a refund of it; the one after, the next day, lists the
payment and the refund in that day's bill. Payment agreements (Alipay 商家扣款, WeChat Pay
委托代扣) signed at one build charge at the next. Without the setting nothing is written; a
file that cannot be read stops the build with its name."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from simkeep.cli.main import app as cli
from simkeep.clock import FixedClock
from simkeep.money import Money
from simkeep.payment_methods import PROVIDERS, Channel, Provider
from simkeep.payments import methods
from simkeep.payments.agreements import (
    AgreementAdapter,
    AgreementRequest,
    AgreementState,
    Deduction,
    DeductionOutcome,
)
from simkeep.payments.model import (
    Acknowledgement,
    PaymentProviderAdapter,
    PaymentRequest,
    RawNotification,
    RefundRequest,
    RefundStatus,
    TradeStatus,
)
from simkeep.payments.service import CheckoutUrls
from simkeep.reconciliation.bill import RowKind
from simkeep.refunds.model import refund_number
from simkeep.settings import Settings, load_settings
from simkeep.simulators import records
from simkeep.simulators.embedded import EmbeddedProviders, simulator_adapters
from simkeep.simulators.fps_transfers import PAYER
from simkeep.simulators.records import LAYOUT, RecordsUnreadable
from simkeep.simulators.server import simulators_server

PUBLIC = "http://127.0.0.1:8000"
SIM_URL = "http://simulators.test"
DAY = date(2025, 3, 1)
NOON = datetime(2025, 3, 1, 4, 0, tzinfo=UTC)  # 12:00 in Beijing and Hong Kong
ONLINE = [provider for provider, spec in PROVIDERS.items() if spec.online]
EMPTY_ALIPAY = {"gateway": {"trades": {}, "deliveries": []}, "agreements": {"agreements": {}}}


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One merchant and its providers' keys for every test here (made once: it is slow)."""
    return tmp_path_factory.mktemp("keys")


@pytest.fixture
def settings(tmp_path: Path, keys_dir: Path) -> Settings:
    return _settings(tmp_path, keys_dir)


def _settings(tmp_path: Path, keys_dir: Path, *, kept: bool = True) -> Settings:
    return load_settings(
        keys_dir=str(keys_dir),
        public_url=PUBLIC,
        environment="test",
        simulator_records=str(tmp_path / "simulators") if kept else "",
    )


async def _taken(adapter: PaymentProviderAdapter, raw: RawNotification) -> Acknowledgement:
    """The merchant takes every notification."""
    return adapter.acknowledge(True)


def _built(settings: Settings, clock: FixedClock) -> EmbeddedProviders:
    return EmbeddedProviders.build(settings, clock, notify=_taken)


def _records_under(root: Path) -> list[Path]:
    return list(root.rglob(f"*{records.SUFFIX}"))


def _currency(provider: Provider) -> str:
    return "HKD" if "HKD" in PROVIDERS[provider].currencies else "CNY"


async def _paid(
    providers: EmbeddedProviders, provider: Provider, clock: FixedClock, *, tick: bool = True
) -> str:
    """A trade of 100.00 started by our adapter and paid at the simulator (its notification
    sent, unless not ``tick``): its number."""
    order_no = f"T{DAY:%Y%m%d}{len(provider.value):08d}"
    amount = Money(10_000, _currency(provider))
    start = await providers.adapters[provider].start(
        PaymentRequest(
            out_trade_no=order_no,
            amount=amount,
            subject="Top-up",
            channel=methods.channels_for(PROVIDERS[provider], phone=False)[0],
            notify_url=CheckoutUrls(PUBLIC).notify(provider),
            return_url=f"{PUBLIC}/topups/{order_no}",
            expires_at=clock.now() + timedelta(minutes=15),
        )
    )
    if start.redirect_url and start.form:  # the payer's browser posts the gateway's form
        await providers.http.post(start.redirect_url, data=dict(start.form))
    elif start.redirect_url:  # … or opens the cashier
        await providers.http.get(start.redirect_url)
    paid = await providers.http.post(
        f"{PUBLIC}/_sim/{provider.value}/pay/{order_no}",
        params={"outcome": "success", "amount_minor": str(amount.minor)},
    )
    paid.raise_for_status()
    if tick:
        await providers.tick(clock.now())
    return order_no


@pytest.mark.parametrize("provider", ONLINE, ids=[p.value for p in ONLINE])
async def test_a_provider_built_again_remembers_its_trades_refunds_and_bills(
    tmp_path: Path, settings: Settings, provider: Provider
) -> None:
    clock = FixedClock(NOON)
    first = _built(settings, clock)
    order_no = await _paid(first, provider, clock)
    await first.close()

    second = _built(settings, clock)
    adapter = second.adapters[provider]
    trade = await adapter.query(order_no)
    assert trade.status is TradeStatus.PAID
    refund_no = refund_number(clock.now())
    refund = await adapter.refund(
        RefundRequest(
            out_trade_no=order_no,
            out_refund_no=refund_no,
            amount=Money(4_000, _currency(provider)),
            total=Money(10_000, _currency(provider)),
            reason="wrong_number",
            provider_trade_no=trade.provider_trade_no,
            payer_account=PAYER["proxy"],
        )
    )
    assert refund.status is not RefundStatus.FAILED, refund
    clock.advance(timedelta(minutes=5))  # refunds in process are paid back meanwhile
    await second.tick(clock.now())
    await second.close()

    clock.set(NOON + timedelta(days=1))
    third = _built(settings, clock)
    bill = await third.adapters[provider].bill(DAY)
    await third.close()
    rows = {(row.kind, row.order_no, row.amount.minor) for row in bill.rows}
    assert (RowKind.PAY, order_no, 10_000) in rows
    assert (RowKind.REFUND, order_no, 4_000) in rows
    assert sorted(path.name for path in (tmp_path / "simulators").iterdir()) == sorted(
        f"{p.value}.records" for p in ONLINE
    )


@pytest.mark.parametrize("provider", [Provider.ALIPAY, Provider.WECHATPAY], ids=str)
async def test_an_agreement_signed_before_charges_after(
    settings: Settings, provider: Provider
) -> None:
    clock = FixedClock(NOON)
    first = _built(settings, clock)
    adapter = first.adapters[provider]
    assert isinstance(adapter, AgreementAdapter)
    signing = await adapter.start_signing(
        AgreementRequest(
            agreement_ref="K000000001",
            display_account="+852 6***4567",
            notify_url=f"{PUBLIC}/api/v1/keepalive/{provider.value}/notify",
            return_url=f"{PUBLIC}/keepalive",
        )
    )
    page = await first.http.get(signing)  # Alipay's gateway sends the payer on to its page
    signed = await first.http.post(
        page.headers.get("location", signing), data={"password": "123456", "action": "sign"}
    )
    assert signed.status_code in (200, 303), signed.text
    await first.close()

    second = _built(settings, clock)
    adapter = second.adapters[provider]
    assert isinstance(adapter, AgreementAdapter)
    status = await adapter.query_agreement("K000000001")
    assert status.state is AgreementState.ACTIVE
    assert status.provider_agreement_no is not None
    charged = await adapter.deduct(
        Deduction(
            out_trade_no=f"T{DAY:%Y%m%d}00000099",
            provider_agreement_no=status.provider_agreement_no,
            amount=Money(10_000, "CNY"),
            subject="Keep-alive",
            notify_url=CheckoutUrls(PUBLIC).notify(provider),
        )
    )
    await second.close()
    assert charged.outcome is not DeductionOutcome.DECLINED, charged


async def test_without_the_setting_nothing_is_written(
    tmp_path: Path, keys_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    clock = FixedClock(NOON)
    memory_only = _settings(tmp_path, keys_dir, kept=False)
    providers = _built(memory_only, clock)
    await _paid(providers, Provider.WECHATPAY, clock)
    await providers.close()

    assert providers.simulators.records is None
    assert _records_under(tmp_path) == []
    again = _built(memory_only, clock)
    assert again.wechatpay.trades == {}


@pytest.mark.parametrize(
    "content",
    [
        b"not a pickle at all",
        pickle.dumps({"layout": "written-by-another-version", "parts": EMPTY_ALIPAY}),
        pickle.dumps({"layout": LAYOUT, "parts": {"gateway": {}}}),  # no agreements, no trades
        pickle.dumps(print),  # a class or function that is no record is never called
    ],
    ids=["damaged", "other_fields", "incomplete", "foreign"],
)
def test_a_file_that_cannot_be_read_stops_the_build_naming_it(
    tmp_path: Path, settings: Settings, content: bytes
) -> None:
    kept = tmp_path / "simulators" / "alipay.records"
    kept.parent.mkdir()
    kept.write_bytes(content)

    with pytest.raises(RecordsUnreadable, match=str(kept)) as refused:
        _built(settings, FixedClock(NOON))
    assert refused.value.code == "simulator_records_unreadable"
    assert kept.read_bytes() == content  # nothing dropped


async def test_records_are_written_whole_and_only_when_they_change(
    tmp_path: Path, settings: Settings
) -> None:
    clock = FixedClock(NOON)
    providers = _built(settings, clock)
    await _paid(providers, Provider.WECHATPAY, clock)
    kept = tmp_path / "simulators" / "wechatpay.records"
    written = kept.stat().st_mtime_ns, kept.read_bytes()

    await providers.http.get(f"{PUBLIC}/_sim/wechatpay/cashier/nothing-here")  # changes nothing
    await providers.close()

    assert (kept.stat().st_mtime_ns, kept.read_bytes()) == written
    assert [path.name for path in kept.parent.iterdir() if path.name.startswith(".")] == []


async def test_every_answer_is_saved_before_it_is_given(settings: Settings) -> None:
    clock = FixedClock(NOON)
    crashed = _built(settings, clock)  # never closed: the process died after answering
    order_no = await _paid(crashed, Provider.UNIONPAY, clock, tick=False)

    again = _built(settings, clock)
    trade = await again.adapters[Provider.UNIONPAY].query(order_no)
    assert trade.status is TradeStatus.PAID


async def test_the_simulators_own_process_started_again_knows_what_it_paid(
    tmp_path: Path, keys_dir: Path
) -> None:
    settings = _settings(tmp_path, keys_dir).model_copy(update={"simulators_url": SIM_URL})
    clock = FixedClock(NOON)
    before = await _served_records(settings, clock, pay="T2025030100000001")
    after = await _served_records(settings, clock)

    [paid] = after["alipay"]
    assert paid == before["alipay"][0]
    assert (paid["out_trade_no"], paid["paid"], paid["amount_minor"]) == (
        "T2025030100000001",
        True,
        4_617,
    )


async def _served_records(
    settings: Settings, clock: FixedClock, *, pay: str | None = None
) -> dict[str, Any]:
    """``simkeep simulators serve`` once: pay a trade at it (if told), then its records."""
    server = simulators_server(settings, clock, time_scale=1.0, echo_percent=0, seed=1)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=server), base_url=SIM_URL
    ) as http:
        if pay is not None:
            adapter = simulator_adapters(settings, clock, base_url=f"{SIM_URL}/_sim", http=http)
            await adapter[Provider.ALIPAY].start(
                PaymentRequest(
                    out_trade_no=pay,
                    amount=Money(4_617, "CNY"),
                    subject="Top-up",
                    channel=Channel.QR,
                    notify_url="http://127.0.0.1:9/notify",  # nobody listens
                    return_url="http://127.0.0.1:9/done",
                    expires_at=clock.now() + timedelta(minutes=15),
                )
            )
            (await http.post(f"/_sim/alipay/pay/{pay}")).raise_for_status()
        records: dict[str, Any] = (await http.get("/_sim/records")).json()
        return records


@pytest.mark.parametrize(
    ("command", "env"),
    [
        (["serve"], {}),
        (["simulators", "serve", "--port", "9"], {"SIMKEEP_SIMULATORS_URL": SIM_URL}),
    ],
    ids=["serve", "simulators_serve"],
)
def test_a_server_refuses_to_start_on_records_it_cannot_read(
    tmp_path: Path, keys_dir: Path, command: list[str], env: dict[str, str]
) -> None:
    kept = tmp_path / "simulators" / "unionpay.records"
    kept.parent.mkdir()
    kept.write_bytes(b"\x80\x05 cut short")
    settings = {
        "SIMKEEP_KEYS_DIR": str(keys_dir),
        "SIMKEEP_SIMULATOR_RECORDS": str(kept.parent),
        "SIMKEEP_DATABASE_URL": f"sqlite:///{tmp_path / 'simkeep.db'}",
    }

    result = CliRunner().invoke(cli, command, env=settings | env)

    assert result.exit_code == 2, result.output
    assert str(kept) in "".join(result.output.split())  # however the console wrapped it
