"""Alipay's daily trade bill: the simulator writes it byte for byte as Alipay does (GBK, the
``#`` lines, IDs with a trailing tab, refunds negative, the fee as the merchant's cost), the
reader turns it into rows, and refuses a zip that does not read or does not add up.

A worked day, 2026-11-25 in Beijing: ¥100.00 paid at 10:00 and ¥30.00 of it refunded at
15:00; ¥10.00 paid and refunded in two parts (¥3.33, then the ¥6.67 left); ¥50.00 paid at
23:59:59 — on the day, whenever its notification arrives; ¥20.00 paid at 00:00:01 the next
day — not on it. Alipay's fee is 0.6 %: 0.60, 0.06 and 0.30 charged, and given back 0.18 for
the ¥30.00, 0.02 for the ¥3.33 and what was left, 0.04, for the last ¥6.67.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from simkeep.clock import SHANGHAI, FixedClock
from simkeep.money import Money
from simkeep.payment_methods import Provider
from simkeep.payments.bills import alipay as reader
from simkeep.payments.providers.alipay_signing import (
    beijing_time,
    compact_json,
    response_key,
    sign_params,
)
from simkeep.payments.signing import KeyPair, load_private_key
from simkeep.reconciliation.bill import BillRefused, RowKind
from simkeep.simulators.alipay import AlipaySimulator
from simkeep.simulators.alipay_bills import BILL_METHOD, zip_files
from simkeep.simulators.bill_rules import fee_back, fee_of

APP_ID, PID = "2021000000000001", "2088000000000001"
DAY = date(2026, 11, 25)
NEXT = DAY + timedelta(days=1)
MERCHANT = KeyPair.generate()
SUBJECT = "中港卡充值 13800138000 ¥100.00"  # GBK has no ¥: the bill writes ?

DETAIL = [
    "#支付宝业务明细查询",
    "#账号：[20880000000000010156]",
    "#起始日期：[2026年11月25日 00:00:00]   终止日期：[2026年11月26日 00:00:00]",
    "#-----------------------------------------业务明细列表----------------------------------------",
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,"
    "对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,"
    "商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,"
    "退款批次号/请求号,服务费（元）,分润（元）,备注",
    "2026112522001000000001\t,TOPUP_0001\t,交易\t,中港卡充值 13800138000 ?100.00,"
    "2026-11-25 09:59:00,2026-11-25 10:00:00,\t,\t,\t,\t,159****5620\t,100.00,100.00,"
    "0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,-0.60,0.00,",
    "2026112522001000000002\t,TOPUP_0002\t,交易\t,中港卡充值 13800138000 ?100.00,"
    "2026-11-25 11:00:00,2026-11-25 11:00:05,\t,\t,\t,\t,159****5620\t,10.00,10.00,"
    "0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,-0.06,0.00,",
    "2026112522001000000002\t,TOPUP_0002\t,退款\t,中港卡充值 13800138000 ?100.00,"
    "2026-11-25 11:00:00,2026-11-25 12:00:00,\t,\t,\t,\t,159****5620\t,-3.33,-3.33,"
    "0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,RF_0002_A\t,0.02,0.00,",
    "2026112522001000000002\t,TOPUP_0002\t,退款\t,中港卡充值 13800138000 ?100.00,"
    "2026-11-25 11:00:00,2026-11-25 12:30:00,\t,\t,\t,\t,159****5620\t,-6.67,-6.67,"
    "0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,RF_0002_B\t,0.04,0.00,",
    "2026112522001000000001\t,TOPUP_0001\t,退款\t,中港卡充值 13800138000 ?100.00,"
    "2026-11-25 09:59:00,2026-11-25 15:00:00,\t,\t,\t,\t,159****5620\t,-30.00,-30.00,"
    "0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,RF_0001_A\t,0.18,0.00,",
    "2026112522001000000003\t,TOPUP_0003\t,交易\t,中港卡充值 13800138000 ?100.00,"
    "2026-11-25 23:59:50,2026-11-25 23:59:59,\t,\t,\t,\t,159****5620\t,50.00,50.00,"
    "0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,-0.30,0.00,",
    "#-----------------------------------------业务明细列表结束------------------------------------",
    "#交易合计：3笔，商家实收共160.00元，商家优惠共0.00元",
    "#退款合计：3笔，商家实收退款共-40.00元，商家优惠退款共0.00元",
    "#导出时间：[2026年11月26日 00:30:00]",
]
SUMMARY = [
    "#支付宝业务汇总查询",
    "#账号：[20880000000000010156]",
    "#起始日期：[2026年11月25日 00:00:00]   终止日期：[2026年11月26日 00:00:00]",
    "#-----------------------------------------业务汇总列表----------------------------------------",
    "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,"
    "商家优惠（元）,卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）",
    "合计,,3,3,120.00,120.00,0.00,0.00,0.00,-0.72,0.00,119.28",
    "#-----------------------------------------业务汇总列表结束------------------------------------",
    "#导出时间：[2026年11月26日 00:30:00]",
]
DETAIL_NAME = "2088000000000001_20261125_业务明细.csv"
SUMMARY_NAME = "2088000000000001_20261125_业务明细(汇总).csv"


def at(hour: int, minute: int, second: int = 0, *, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=SHANGHAI)


def call(sim: AlipaySimulator, method: str, biz: dict[str, str]) -> dict[str, Any]:
    """One gateway call signed by the merchant, as the adapter would send it."""
    params = {
        "app_id": APP_ID,
        "method": method,
        "format": "JSON",
        "charset": "utf-8",
        "sign_type": "RSA2",
        "timestamp": beijing_time(sim.clock.now()),
        "version": "1.0",
        "biz_content": compact_json(biz),
    }
    params["sign"] = sign_params(load_private_key(MERCHANT.private_pem), params)
    answer = sim.gateway(params)
    assert answer.json_text is not None
    body: dict[str, dict[str, Any]] = json.loads(answer.json_text)
    return body.get(response_key(method)) or body["error_response"]


def paid(
    sim: AlipaySimulator, number: str, amount: str, *, created: datetime, when: datetime
) -> None:
    """A QR trade made at ``created`` and paid at ``when``."""
    clock = sim.clock
    assert isinstance(clock, FixedClock)
    clock.set(created)
    biz = {"out_trade_no": number, "total_amount": amount, "subject": SUBJECT}
    assert call(sim, "alipay.trade.precreate", biz)["code"] == "10000"
    clock.set(when)
    sim.pay(number)


def refunded(
    sim: AlipaySimulator, number: str, refund_no: str, amount: str, when: datetime
) -> None:
    assert isinstance(sim.clock, FixedClock)
    sim.clock.set(when)
    biz = {"out_trade_no": number, "refund_amount": amount, "out_request_no": refund_no}
    assert call(sim, "alipay.trade.refund", biz)["fund_change"] == "Y"


@pytest.fixture(scope="module")
def platform_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Alipay's key pair, made once and kept for every simulator of the module."""
    return tmp_path_factory.mktemp("alipay_keys")


@pytest.fixture
def day_of_trades(platform_keys: Path) -> AlipaySimulator:
    clock = FixedClock(at(9, 0))
    sim = AlipaySimulator(
        app_id=APP_ID,
        seller_id=PID,
        merchant_public_key_pem=MERCHANT.public_pem,
        clock=clock,
        key_dir=platform_keys,
    )
    paid(sim, "TOPUP_0001", "100.00", created=at(9, 59), when=at(10, 0))
    paid(sim, "TOPUP_0002", "10.00", created=at(11, 0), when=at(11, 0, 5))
    refunded(sim, "TOPUP_0002", "RF_0002_A", "3.33", at(12, 0))
    refunded(sim, "TOPUP_0002", "RF_0002_B", "6.67", at(12, 30))
    refunded(sim, "TOPUP_0001", "RF_0001_A", "30.00", at(15, 0))
    paid(sim, "TOPUP_0003", "50.00", created=at(23, 59, 50), when=at(23, 59, 59))
    paid(sim, "TOPUP_0004", "20.00", created=at(0, 0, day=NEXT), when=at(0, 0, 1, day=NEXT))
    clock.set(at(0, 30, day=NEXT))
    return sim


def text(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode("gbk")


def test_the_bill_is_alipays_two_gbk_files_byte_for_byte(day_of_trades: AlipaySimulator) -> None:
    files = day_of_trades.bills.files(DAY)

    assert list(files) == [DETAIL_NAME, SUMMARY_NAME]
    assert files[DETAIL_NAME] == text(DETAIL)
    assert files[SUMMARY_NAME] == text(SUMMARY)


def test_the_zip_names_its_files_in_gbk(day_of_trades: AlipaySimulator) -> None:
    data = zip_files(day_of_trades.bills.files(DAY), at=day_of_trades.clock.now())

    raw_names = [info.filename for info in zipfile.ZipFile(io.BytesIO(data)).infolist()]
    assert raw_names[0].encode("cp437") == DETAIL_NAME.encode("gbk")  # no UTF-8 flag
    assert zipfile.ZipFile(io.BytesIO(data), metadata_encoding="gbk").namelist() == [
        DETAIL_NAME,
        SUMMARY_NAME,
    ]


def test_the_next_day_holds_the_payment_made_a_second_after_midnight(
    day_of_trades: AlipaySimulator,
) -> None:
    assert isinstance(day_of_trades.clock, FixedClock)
    day_of_trades.clock.set(at(0, 0, day=NEXT + timedelta(days=1)))
    bill = reader.parse(zipped(day_of_trades, NEXT), day=NEXT)

    assert [(row.order_no, row.amount, row.at) for row in bill.rows] == [
        ("TOPUP_0004", Money(2000, "CNY"), at(0, 0, 1, day=NEXT))
    ]


def zipped(sim: AlipaySimulator, day: date) -> bytes:
    return zip_files(sim.bills.files(day), at=sim.clock.now())


def test_the_reader_gives_every_payment_and_refund_with_its_fee(
    day_of_trades: AlipaySimulator,
) -> None:
    bill = reader.parse(zipped(day_of_trades, DAY), day=DAY)

    assert bill.provider is Provider.ALIPAY
    assert bill.day == DAY
    assert [
        (row.kind, row.order_no, row.refund_no, row.amount.minor, row.fee.minor, row.at)
        for row in bill.rows
    ] == [
        (RowKind.PAY, "TOPUP_0001", "", 10000, 60, at(10, 0)),
        (RowKind.PAY, "TOPUP_0002", "", 1000, 6, at(11, 0, 5)),
        (RowKind.REFUND, "TOPUP_0002", "RF_0002_A", 333, 2, at(12, 0)),
        (RowKind.REFUND, "TOPUP_0002", "RF_0002_B", 667, 4, at(12, 30)),
        (RowKind.REFUND, "TOPUP_0001", "RF_0001_A", 3000, 18, at(15, 0)),
        (RowKind.PAY, "TOPUP_0003", "", 5000, 30, at(23, 59, 59)),
    ]
    assert bill.rows[0].trade_no == "2026112522001000000001"  # without its tab


def test_a_planted_amount_difference_is_in_the_bill_and_still_adds_up(
    day_of_trades: AlipaySimulator,
) -> None:
    day_of_trades.bills.differences.shifted["TOPUP_0003"] = 100

    bill = reader.parse(zipped(day_of_trades, DAY), day=DAY)

    assert bill.rows[-1].amount == Money(5100, "CNY")


def test_the_fee_is_rounded_half_up_and_a_last_refund_gives_back_the_rest() -> None:
    assert fee_of(75, 60) == 0  # 0.45 fen
    assert fee_of(125, 60) == 1  # 0.75 fen
    assert fee_of(10000, 60) == 60
    assert fee_back(fee=6, total=1000, refunded_before=0, refund=333, fee_back_before=0) == 2
    assert fee_back(fee=6, total=1000, refunded_before=333, refund=667, fee_back_before=2) == 4
    # 7 fen back in thirds: 2, 2, then the 3 left (its own share would round to 2)
    assert fee_back(fee=7, total=1000, refunded_before=0, refund=333, fee_back_before=0) == 2
    assert fee_back(fee=7, total=1000, refunded_before=666, refund=334, fee_back_before=4) == 3


def test_the_simulator_records_the_fees(day_of_trades: AlipaySimulator) -> None:
    trade = day_of_trades.trades["TOPUP_0002"]

    assert trade.fee == Money(6, "CNY")
    assert [refund.fee_back.minor for refund in trade.refunds.values()] == [2, 4]


def replaced(files: dict[str, bytes], name: str, old: str, new: str) -> bytes:
    changed = dict(files)
    changed[name] = files[name].replace(old.encode("gbk"), new.encode("gbk"), 1)
    assert changed[name] != files[name]
    return zip_files(changed, at=datetime(2026, 11, 26, tzinfo=SHANGHAI))


@pytest.mark.parametrize(
    ("name", "old", "new", "reason"),
    [
        (SUMMARY_NAME, "合计,,3,3,120.00", "合计,,3,3,120.01", "订单金额（元） is 120.01"),
        (SUMMARY_NAME, "-0.72,0.00,119.28", "-0.71,0.00,119.29", "服务费（元） is -0.71"),
        (SUMMARY_NAME, "合计,,3,3", "合计,,4,3", "交易订单总笔数 is 4"),
        (DETAIL_NAME, "商家实收共160.00元", "商家实收共160.01元", "the detail's totals"),
        (DETAIL_NAME, ",-30.00,-30.00,", ",-30.00,-29.00,", "the detail's totals"),
        (DETAIL_NAME, "2026-11-25 12:00:00", "2026-11-26 12:00:00", "not on the day"),
        (DETAIL_NAME, "2026-11-25 12:00:00", "yesterday noon", "is not a time"),
        (DETAIL_NAME, ",交易\t,中港卡充值", ",转账\t,中港卡充值", "neither a payment nor a refund"),
        (DETAIL_NAME, ",-6.67,-6.67,", ",6.67,6.67,", "neither a payment nor a refund"),
        (DETAIL_NAME, "RF_0002_B\t", "\t", "has no refund number"),
        (DETAIL_NAME, ",-0.30,0.00,", ",-0.3O,0.00,", "is not an amount in yuan"),
        (DETAIL_NAME, ",-0.30,0.00,", ",-0.30,", "columns, not 25"),
        (DETAIL_NAME, "商户订单号,业务类型", "商户单号,业务类型", "the header is not Alipay's"),
        (
            DETAIL_NAME,
            "2026年11月25日 00:00:00",
            "2026年11月24日 00:00:00",
            "is not 支付宝业务明细查询",
        ),
    ],
)
def test_a_bill_that_does_not_add_up_or_read_is_refused(
    day_of_trades: AlipaySimulator, name: str, old: str, new: str, reason: str
) -> None:
    data = replaced(day_of_trades.bills.files(DAY), name, old, new)

    with pytest.raises(BillRefused, match=reason):
        reader.parse(data, day=DAY)


def test_planted_bad_totals_are_refused(day_of_trades: AlipaySimulator) -> None:
    day_of_trades.bills.differences.bad_totals = True

    with pytest.raises(BillRefused, match=r"订单金额（元） is 120\.01, its rows add up to 120\.00"):
        reader.parse(zipped(day_of_trades, DAY), day=DAY)


def test_a_download_that_is_not_the_days_zip_is_refused(day_of_trades: AlipaySimulator) -> None:
    files = day_of_trades.bills.files(DAY)
    now = day_of_trades.clock.now()

    with pytest.raises(BillRefused, match="not a zip"):
        reader.parse(b"<html>expired</html>", day=DAY)
    with pytest.raises(BillRefused, match=r"named …_20261124_业务明细\.csv"):
        reader.parse(zip_files(files, at=now), day=DAY - timedelta(days=1))
    with pytest.raises(BillRefused, match="汇总"):
        reader.parse(zip_files({DETAIL_NAME: files[DETAIL_NAME]}, at=now), day=DAY)
    with pytest.raises(BillRefused, match="GBK"):
        reader.parse(zip_files({**files, DETAIL_NAME: b"\xff\xfe\xff"}, at=now), day=DAY)
    other = {SUMMARY_NAME.replace(PID, "2088999999999999"): files[SUMMARY_NAME]}
    with pytest.raises(BillRefused, match="different accounts"):
        reader.parse(zip_files({DETAIL_NAME: files[DETAIL_NAME], **other}, at=now), day=DAY)


def test_the_gateway_answers_a_download_url_good_for_30_seconds(
    day_of_trades: AlipaySimulator,
) -> None:
    answer = call(day_of_trades, BILL_METHOD, {"bill_type": "trade", "bill_date": "2026-11-25"})
    url = answer["bill_download_url"]
    token = url.rpartition("token=")[2]

    assert url.startswith("http://alipay.sim/downloadBillFile.resource?bizType=trade&userId=2088")
    assert reader.parse(day_of_trades.bills.download(token) or b"", day=DAY).rows
    assert isinstance(day_of_trades.clock, FixedClock)
    day_of_trades.clock.advance(timedelta(seconds=31))
    assert day_of_trades.bills.download(token) is None


@pytest.mark.parametrize(
    ("biz", "sub_code"),
    [
        ({"bill_type": "trade", "bill_date": "2026-11-26"}, "isp.bill_not_exist"),  # today
        ({"bill_type": "trade", "bill_date": "2026-12-01"}, "isp.bill_not_exist"),
        ({"bill_type": "signcustomer", "bill_date": "2026-11-25"}, "invalid_arguments"),
        ({"bill_type": "trade", "bill_date": "2026-11"}, "invalid_arguments"),
    ],
)
def test_no_bill_for_a_day_not_over_or_a_bill_not_simulated(
    day_of_trades: AlipaySimulator, biz: dict[str, str], sub_code: str
) -> None:
    answer = call(day_of_trades, BILL_METHOD, biz)

    assert (answer["code"], answer["sub_code"]) == ("40004", sub_code)
