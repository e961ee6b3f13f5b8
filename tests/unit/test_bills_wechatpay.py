"""WeChat Pay's daily bills: the simulators write the Mainland trade bill (27 columns) and
WeChat Pay HK's global statement (38) byte for byte — a byte-order mark, CRLF, every value
after a backtick, refunds as rows of their own, the fee with five decimals, the summary — the
reader turns them into rows, and a file whose digest or totals are off, or that does not
read, is refused.

A worked day, 2026-11-25 in Beijing: 100.00 paid at 10:00 and 30.00 of it refunded at 15:00;
50.00 paid at 23:59:59 — on the day, whenever its notification arrives; 20.00 paid at
00:00:01 the next day — not on it. WeChat Pay's fee is 0.6 % (HK: 1.0 %), given back pro rata.
On WeChat Pay HK the 50.00 is paid from a Mainland wallet: 46.00 yuan at 0.92.
"""

from __future__ import annotations

import gzip
import hashlib
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from simkeep.clock import SHANGHAI, FixedClock
from simkeep.money import Money
from simkeep.payment_methods import Provider
from simkeep.payments.bills import wechatpay as reader
from simkeep.payments.signing import KeyPair
from simkeep.reconciliation.bill import BillRefused, RowKind
from simkeep.simulators.delivery import Reply
from simkeep.simulators.wechatpay import WeChatPayPlatform, WeChatPaySimulator
from simkeep.simulators.wechatpay_global import WeChatPayGlobalSimulator
from simkeep.simulators.wechatpay_trades import SimulatorError

DAY = date(2026, 11, 25)
NEXT = DAY + timedelta(days=1)
MERCHANT = KeyPair.generate()
HK = WeChatPayGlobalSimulator
APIV3_KEY = "0123456789abcdef0123456789ABCDEF"
MAINLAND_HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
    "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,"
    "费率备注"
)
GLOBAL_HEADER = (
    "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,充值券币种,充值券金额,优惠券币种,优惠券金额,微信退款单号,商户退款单号,"
    "退款类型,退款状态,商品名称,商户数据包,手续费,费率,标价币种,订单金额(标价币种),"
    "用户支付币种,用户支付金额,结算币种,应结订单金额,支付汇率,退款汇率,申请退款金额,"
    "用户退款币种,用户退款金额,退款结算币种,退款应结订单金额,充值券退款金额,优惠券退款金额"
)
SUMMARY_HEADER = (
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)


def at(hour: int, minute: int, second: int = 0, *, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=SHANGHAI)


async def taken(url: str, headers: object, body: bytes) -> Reply:
    return Reply(204)


def platform(kind: type[WeChatPayPlatform], clock: FixedClock) -> WeChatPayPlatform:
    mchid, appid = ("1900006811", "wx5f3a9c2e8b7d4a61")
    if kind is WeChatPaySimulator:
        mchid, appid = ("1900000109", "wxd678efh567hg6787")
        return WeChatPaySimulator(
            mchid=mchid,
            appid=appid,
            merchant_public_key_pem=MERCHANT.public_pem,
            merchant_serial_no="5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
            apiv3_key=APIV3_KEY,
            clock=clock,
        )
    return WeChatPayGlobalSimulator(
        mchid=mchid,
        appid=appid,
        merchant_public_key_pem=MERCHANT.public_pem,
        merchant_serial_no="6B2E1A5F0C3D9E8B7A6F5E4D3C2B1A0F9E8D7C6B",
        apiv3_key=APIV3_KEY,
        clock=clock,
        public_base_url="http://wechatpay.sim",
        deliver=taken,
    )


async def paid(
    sim: WeChatPayPlatform, clock: FixedClock, number: str, total: int, when: datetime, wallet: str
) -> None:
    """A Native order made a minute before ``when`` and paid then, from ``wallet``."""
    order: dict[str, Any] = {
        "appid": sim.appid,
        "mchid": sim.mchid,
        "description": "中港卡充值",
        "out_trade_no": number,
        "notify_url": "https://merchant.test/notify",
        "amount": {"total": total, "currency": sim.api.currency},
        "trade_type": "NATIVE",
        "merchant_category_code": "4814",
    }
    clock.set(when - timedelta(minutes=1))
    sim.create_trade(kind="native", order=order)
    clock.set(when)
    await sim.pay(number, success=True, wallet=wallet, notify=False)


async def a_day(kind: type[WeChatPayPlatform], clock: FixedClock) -> WeChatPayPlatform:
    """The worked day's trades at ``kind``'s platform, the clock left at 10:30 the next day."""
    sim = platform(kind, clock)
    currency = sim.api.currency
    await paid(sim, clock, "TOPUP_0001", 10000, at(10, 0), currency)
    clock.set(at(15, 0))
    refund: dict[str, Any] = {
        "out_trade_no": "TOPUP_0001",
        "out_refund_no": "RF_0001_A",
        "amount": {"refund": 3000, "total": 10000, "currency": currency},
    }
    sim.create_refund(refund | {"mchid": sim.mchid, "appid": sim.appid})
    await paid(sim, clock, "TOPUP_0002", 5000, at(23, 59, 59), "CNY" if kind is HK else currency)
    await paid(sim, clock, "TOPUP_0003", 2000, at(0, 0, 1, day=NEXT), currency)
    clock.set(at(10, 30, day=NEXT))
    return sim


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(at(9, 0))


@pytest.fixture
async def mainland(clock: FixedClock) -> WeChatPayPlatform:
    return await a_day(WeChatPaySimulator, clock)


@pytest.fixture
async def hk(clock: FixedClock) -> WeChatPayPlatform:
    return await a_day(HK, clock)


def ids(sim: WeChatPayPlatform, number: str) -> tuple[str, str]:
    """WeChat Pay's transaction number of a trade, and its payer's openid."""
    trade = sim.trades[number]
    return trade.transaction_id, "o" + trade.transaction_id[-16:]


def crlf(lines: list[str]) -> bytes:
    return ("\ufeff" + "".join(line + "\r\n" for line in lines)).encode("utf-8")


def test_the_mainland_bill_is_wechat_pays_csv_byte_for_byte(mainland: WeChatPayPlatform) -> None:
    (t1, o1), (t2, o2) = ids(mainland, "TOPUP_0001"), ids(mainland, "TOPUP_0002")
    r1 = mainland.refunds["RF_0001_A"].refund_id
    merchant = "`wxd678efh567hg6787,`1900000109,`0,`"

    assert mainland.bills.bill_file(DAY).data == crlf(
        [
            MAINLAND_HEADER,
            f"`2026-11-25 10:00:00,{merchant},`{t1},`TOPUP_0001,`{o1},`NATIVE,`SUCCESS,"
            "`OTHERS,`CNY,`100.00,`0.00,`0,`0,`0.00,`0.00,`,`,`中港卡充值,`,`0.60000,`0.60%,"
            "`100.00,`0.00,`",
            f"`2026-11-25 15:00:00,{merchant},`{t1},`TOPUP_0001,`{o1},`NATIVE,`REFUND,"
            f"`OTHERS,`CNY,`0.00,`0.00,`{r1},`RF_0001_A,`30.00,`0.00,`ORIGINAL,`SUCCESS,"
            "`中港卡充值,`,`-0.18000,`0.60%,`0.00,`30.00,`",
            f"`2026-11-25 23:59:59,{merchant},`{t2},`TOPUP_0002,`{o2},`NATIVE,`SUCCESS,"
            "`OTHERS,`CNY,`50.00,`0.00,`0,`0,`0.00,`0.00,`,`,`中港卡充值,`,`0.30000,`0.60%,"
            "`50.00,`0.00,`",
            SUMMARY_HEADER,
            "`3,`150.00,`30.00,`0.00,`0.72000,`150.00,`30.00",
        ]
    )


def test_the_hk_statement_is_the_global_csv_byte_for_byte(hk: WeChatPayPlatform) -> None:
    (t1, o1), (t2, o2) = ids(hk, "TOPUP_0001"), ids(hk, "TOPUP_0002")
    r1 = hk.refunds["RF_0001_A"].refund_id
    merchant = "`wx5f3a9c2e8b7d4a61,`1900006811,`0,`"

    assert hk.bills.bill_file(DAY).data == crlf(
        [
            GLOBAL_HEADER,
            f"`2026-11-25 10:00:00,{merchant},`{t1},`TOPUP_0001,`{o1},`NATIVE,`SUCCESS,"
            "`OTHERS,`HKD,`0.00,`HKD,`0.00,`0,`0,`,`,`中港卡充值,`,`1.00000,`1.00%,`HKD,"
            "`100.00,`HKD,`100.00,`HKD,`100.00,`100000000,`,`0.00,`,`0.00,`,`0.00,`0.00,`0.00",
            f"`2026-11-25 15:00:00,{merchant},`{t1},`TOPUP_0001,`{o1},`NATIVE,`REFUND,"
            f"`OTHERS,`HKD,`0.00,`HKD,`0.00,`{r1},`RF_0001_A,`ORIGINAL,`SUCCESS,`中港卡充值,"
            "`,`-0.30000,`1.00%,`HKD,`0.00,`,`0.00,`HKD,`0.00,`,`100000000,`30.00,`HKD,"
            "`30.00,`HKD,`30.00,`0.00,`0.00",
            f"`2026-11-25 23:59:59,{merchant},`{t2},`TOPUP_0002,`{o2},`NATIVE,`SUCCESS,"
            "`OTHERS,`HKD,`0.00,`HKD,`0.00,`0,`0,`,`,`中港卡充值,`,`0.50000,`1.00%,`HKD,"
            "`50.00,`CNY,`46.00,`HKD,`50.00,`92000000,`,`0.00,`,`0.00,`,`0.00,`0.00,`0.00",
            SUMMARY_HEADER,
            "`3,`150.00,`30.00,`0.00,`1.20000,`150.00,`30.00",
        ]
    )


@pytest.mark.parametrize("which", ["mainland", "hk"])
async def test_the_reader_gives_every_payment_and_refund_with_its_fee(which: str) -> None:
    sim = await a_day(WeChatPaySimulator if which == "mainland" else HK, FixedClock(at(9, 0)))
    made = sim.bills.bill_file(DAY)
    provider, currency, fees = (
        (Provider.WECHATPAY, "CNY", (60, 18, 30))
        if which == "mainland"
        else (Provider.WECHATPAY_HK, "HKD", (100, 30, 50))
    )

    reader.check_digest(made.data, made.digest, day=DAY, provider=provider)
    bill = reader.parse(made.data, day=DAY, provider=provider)

    assert bill.provider is provider
    assert [
        (row.kind, row.order_no, row.refund_no, row.amount, row.fee.minor, row.at)
        for row in bill.rows
    ] == [
        (RowKind.PAY, "TOPUP_0001", "", Money(10000, currency), fees[0], at(10, 0)),
        (RowKind.REFUND, "TOPUP_0001", "RF_0001_A", Money(3000, currency), fees[1], at(15, 0)),
        (RowKind.PAY, "TOPUP_0002", "", Money(5000, currency), fees[2], at(23, 59, 59)),
    ]
    assert bill.rows[0].trade_no == sim.trades["TOPUP_0001"].transaction_id
    assert bill.rows[1].trade_no == sim.refunds["RF_0001_A"].refund_id


def test_the_next_day_holds_the_payment_made_a_second_after_midnight(
    mainland: WeChatPayPlatform, clock: FixedClock
) -> None:
    clock.set(at(0, 0, day=NEXT + timedelta(days=1)))

    made = mainland.bills.bill_file(NEXT)

    orders = [row.order_no for row in reader.parse(made.data, day=NEXT).rows]
    assert orders == ["TOPUP_0003"]


def test_no_bill_before_the_day_is_over_and_none_for_a_day_without_trades(
    mainland: WeChatPayPlatform,
) -> None:
    with pytest.raises(SimulatorError, match="账单生成中") as creating:
        mainland.bills.bill_file(NEXT)
    with pytest.raises(SimulatorError) as empty:
        mainland.bills.bill_file(DAY - timedelta(days=1))

    assert creating.value.code == "STATEMENT_CREATING"
    assert empty.value.code == "NO_STATEMENT_EXIST"


def test_the_simulator_records_the_fees(mainland: WeChatPayPlatform) -> None:
    records = {record["out_trade_no"]: record for record in mainland.records()}

    assert records["TOPUP_0001"]["fee_minor"] == 60
    assert records["TOPUP_0001"]["refunds"] == [
        {"refund_no": "RF_0001_A", "amount_minor": 3000, "fee_refunded_minor": 18}
    ]


def test_the_mainland_digest_is_over_the_file_before_gzip(mainland: WeChatPayPlatform) -> None:
    query = {"bill_date": "2026-11-25", "bill_type": "ALL", "tar_type": "GZIP"}
    answer = mainland.bills.trade_bill(query)
    token = answer["download_url"].partition("token=")[2].partition("&")[0]
    unpacked = reader.gunzip(mainland.bills.download(token), day=DAY, provider=Provider.WECHATPAY)

    assert answer["hash_type"] == "SHA1"
    assert answer["hash_value"] == hashlib.sha1(unpacked, usedforsecurity=False).hexdigest()
    assert unpacked == mainland.bills.bill_file(DAY).data


def test_a_digest_that_is_not_the_files_is_refused(mainland: WeChatPayPlatform) -> None:
    mainland.bills.differences.bad_digest = True
    made = mainland.bills.bill_file(DAY)

    with pytest.raises(BillRefused, match="its SHA-1 is not the"):
        reader.check_digest(made.data, made.digest, day=DAY, provider=Provider.WECHATPAY)


def test_a_download_that_is_not_a_whole_gzip_is_refused(mainland: WeChatPayPlatform) -> None:
    packed = gzip.compress(mainland.bills.bill_file(DAY).data)

    with pytest.raises(BillRefused, match="not gzip"):
        reader.gunzip(b"<xml>error</xml>", day=DAY, provider=Provider.WECHATPAY)
    with pytest.raises(BillRefused, match="cut short"):
        reader.gunzip(packed[:-20], day=DAY, provider=Provider.WECHATPAY)


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("`3,`150.00", "`4,`150.00", "the summary counts '4' rows"),
        ("`150.00,`30.00,`0.00,`0.72000", "`150.00,`30.01,`0.00,`0.72000", "退款总金额 is 30.01"),
        ("`0.72000", "`0.73000", "手续费总金额 is 0.73000"),
        ("`CNY,`50.00,", "`CNY,`50.01,", "应结订单总金额 is 150.00"),
        ("`2026-11-25 23:59:59", "`2026-11-26 00:00:01", "not on the day"),
        ("`2026-11-25 23:59:59", "`23:59:59", "is not a time"),
        ("`SUCCESS,`OTHERS,`CNY,`50.00", "`REVOKED,`OTHERS,`CNY,`50.00", "交易状态 is 'REVOKED'"),
        ("`SUCCESS,`OTHERS,`CNY,`50.00", "`SUCCESS,`OTHERS,`USD,`50.00", "in 'USD', not CNY"),
        ("`RF_0001_A", "`0", "the REFUND row of 'TOPUP_0001' does not read"),
        ("`-0.18000", "`0.18000", "the REFUND row of 'TOPUP_0001' does not read"),
        ("`0.30000,", "`0.30001,", "'0.30001' is not an amount"),
        ("`0.30000,", "0.30000,", "marked values"),
        ("`0.30000,", "`0.30000,`,", "marked values"),
        ("交易时间,公众账号ID", "交易时间,公众号ID", "the header is not WeChat Pay's"),
        ("总交易单数,", "总单数,", "the summary header is missing"),
    ],
)
def test_a_bill_that_does_not_add_up_or_read_is_refused(
    mainland: WeChatPayPlatform, old: str, new: str, reason: str
) -> None:
    data = mainland.bills.bill_file(DAY).data
    changed = data.replace(old.encode(), new.encode(), 1)
    assert changed != data

    with pytest.raises(BillRefused, match=reason):
        reader.parse(changed, day=DAY)


def test_a_file_that_is_not_utf8_or_has_two_summaries_is_refused(
    mainland: WeChatPayPlatform,
) -> None:
    data = mainland.bills.bill_file(DAY).data

    with pytest.raises(BillRefused, match="not UTF-8"):
        reader.parse(data.replace("中港卡充值".encode(), "中港卡充值".encode("gbk")), day=DAY)
    with pytest.raises(BillRefused, match="2 rows, not one"):
        reader.parse(data + data.splitlines(keepends=True)[-1], day=DAY)


def test_an_hk_statement_in_another_currency_is_refused(hk: WeChatPayPlatform) -> None:
    data = hk.bills.bill_file(DAY).data.replace(b"`HKD,`50.00,`92000000", b"`CNY,`50.00,`92000000")

    with pytest.raises(BillRefused, match="in 'CNY', not HKD"):
        reader.parse(data, day=DAY, provider=Provider.WECHATPAY_HK)
