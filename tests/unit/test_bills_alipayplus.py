"""Alipay+'s transaction details report for AlipayHK as worked examples, no HTTP: the
simulator writes a Hong Kong day of payments and a refund byte for byte as spelled out here
— Alipay+'s 1.2 % fee, a refund giving its share back, a payment at 23:59:59 in its day and
one at 00:00:01 in the next — the reader turns it into the day's rows, and refuses, with
its reason, every report that does not add up or whose digest is not its own."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from simkeep.clock import FixedClock
from simkeep.money import Money
from simkeep.payment_methods import Provider
from simkeep.payments.bills.alipayplus import (
    ReportItem,
    digest,
    parse,
    read_answer,
    report_file,
)
from simkeep.reconciliation.bill import BillRefused, BillRow, RowKind
from simkeep.simulators.alipayplus import AlipayPlusSimulator
from simkeep.simulators.alipayplus_payments import DEFAULT_ACCOUNT, DEMO_PASSWORD
from simkeep.simulators.alipayplus_setup import CLIENT_ID, build_simulator
from simkeep.simulators.delivery import Reply

DAY = date(2026, 11, 25)
AT_17 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # 17:00 in Hong Kong
LAST_SECOND = datetime(2026, 11, 25, 15, 59, 59, tzinfo=UTC)
NEXT_DAY = datetime(2026, 11, 25, 16, 0, 1, tzinfo=UTC)
MORNING_AFTER = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
FIRST, LATE, EARLY = "TOPUP_000001", "TOPUP_000002", "TOPUP_000003"
REFUND_NO = "F2611250001"
HEADER = (
    "customerId,PSP,transactionId,originalTransactionId,transactionRequestId,"
    "originalTransactionRequestId,paymentMethodType,transactionType,transactionTime,"
    "transactionAmountValue,transactionCurrency,feeAmountValue,feeCurrency"
)
SUMMARY = (
    "transactionCount,paymentCount,paymentAmountValue,refundCount,refundAmountValue,"
    "feeAmountValue,transactionCurrency"
)


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


async def _taken(url: str, headers: object, body: bytes) -> Reply:
    return Reply(200)


def _payment(otn: str, minor: int) -> dict[str, Any]:
    amount = {"currency": "HKD", "value": str(minor)}
    return {
        "productCode": "CASHIER_PAYMENT",
        "paymentRequestId": otn,
        "order": {"orderDescription": "中港卡充值", "orderAmount": amount},
        "paymentAmount": amount,
        "paymentMethod": {"paymentMethodType": "ALIPAY_HK"},
        "paymentNotifyUrl": "https://merchant.test/notify",
        "env": {"terminalType": "WAP"},
    }


def _a_day(keys_dir: Path) -> tuple[AlipayPlusSimulator, FixedClock]:
    """HK$123.45 paid at 17:00 and HK$23.45 of it refunded, HK$500.00 at 23:59:59,
    HK$88.00 at 00:00:01 the next day."""
    clock = FixedClock(AT_17)
    sim = build_simulator(
        keys_dir, clock, base_url="http://simkeep.test/_sim/alipayhk", deliver=_taken
    )
    for at, otn, minor in (
        (AT_17, FIRST, 12345),
        (LAST_SECOND, LATE, 50000),
        (NEXT_DAY, EARLY, 8800),
    ):
        clock.set(at)
        sim.create_payment(_payment(otn, minor))
        sim.pay(otn, account=DEFAULT_ACCOUNT, password=DEMO_PASSWORD)
        if otn == FIRST:
            refund = {
                "refundRequestId": REFUND_NO,
                "paymentRequestId": FIRST,
                "refundAmount": {"currency": "HKD", "value": "2345"},
            }
            assert sim.refund(refund)["result"]["resultStatus"] == "S"
    clock.set(MORNING_AFTER)
    return sim, clock


def test_a_day_is_written_byte_for_byte(keys_dir: Path) -> None:
    sim, _ = _a_day(keys_dir)
    first, late = sim.find(FIRST).payment_id, sim.find(LATE).payment_id
    [refund] = sim.refund_desk.refunds.values()
    expected = (
        f"{HEADER}\r\n"
        f"{CLIENT_ID},ANTOM,{first},,{FIRST},,ALIPAY_HK,PAYMENT,2026-11-25T17:00:00+08:00,"
        "12345,HKD,148,HKD\r\n"
        f"{CLIENT_ID},ANTOM,{refund.refund_id},{first},{REFUND_NO},{FIRST},ALIPAY_HK,REFUND,"
        "2026-11-25T17:00:00+08:00,-2345,HKD,-28,HKD\r\n"
        f"{CLIENT_ID},ANTOM,{late},,{LATE},,ALIPAY_HK,PAYMENT,2026-11-25T23:59:59+08:00,"
        "50000,HKD,600,HKD\r\n"
        f"{SUMMARY}\r\n"
        "3,2,62345,1,-2345,720,HKD\r\n"
        "<END>\r\n"
    )
    assert sim.bills.report(DAY) == expected.encode("utf-8")
    answer = sim.bills.answer({"reportType": "TRANSACTION_DETAILS", "reportDate": "2026-11-25"})
    assert answer["fileName"] == "transactionItems_ANTOM_HKD_001.csv"
    assert base64.b64decode(answer["fileContent"]) == expected.encode()
    assert (answer["digestAlgorithm"], answer["digest"]) == ("SHA-256", digest(expected.encode()))


def test_the_next_day_and_a_day_without_payments(keys_dir: Path) -> None:
    sim, clock = _a_day(keys_dir)
    clock.set(datetime(2026, 11, 28, 1, 0, tzinfo=UTC))
    early = sim.find(EARLY).payment_id
    assert sim.bills.report(date(2026, 11, 26)).decode() == (
        f"{HEADER}\r\n"
        f"{CLIENT_ID},ANTOM,{early},,{EARLY},,ALIPAY_HK,PAYMENT,2026-11-26T00:00:01+08:00,"
        "8800,HKD,106,HKD\r\n"
        f"{SUMMARY}\r\n1,1,8800,0,0,106,HKD\r\n<END>\r\n"
    )
    assert sim.bills.report(date(2026, 11, 27)).decode() == (
        f"{HEADER}\r\n{SUMMARY}\r\n0,0,0,0,0,0,HKD\r\n<END>\r\n"
    )


def test_the_report_reads_back_as_the_days_rows(keys_dir: Path) -> None:
    sim, _ = _a_day(keys_dir)
    first, late = sim.find(FIRST).payment_id, sim.find(LATE).payment_id
    [refund] = sim.refund_desk.refunds.values()
    answer = sim.bills.answer({"reportType": "TRANSACTION_DETAILS", "reportDate": "2026-11-25"})
    bill = read_answer(answer, day=DAY)
    hkd = "HKD"
    assert (bill.provider, bill.day) == (Provider.ALIPAYHK, DAY)
    assert bill.rows == (
        BillRow(RowKind.PAY, FIRST, "", first, Money(12345, hkd), Money(148, hkd), AT_17),
        BillRow(
            RowKind.REFUND,
            FIRST,
            REFUND_NO,
            refund.refund_id,
            Money(2345, hkd),
            Money(28, hkd),
            AT_17,
        ),
        BillRow(RowKind.PAY, LATE, "", late, Money(50000, hkd), Money(600, hkd), LAST_SECOND),
    )
    assert [r["fee_minor"] for r in sim.records()] == [148, 600, 106]


def test_a_digest_that_is_not_the_files_is_refused(keys_dir: Path) -> None:
    sim, _ = _a_day(keys_dir)
    answer = sim.bills.answer({"reportType": "TRANSACTION_DETAILS", "reportDate": "2026-11-25"})
    for changed, reason in (
        ({"digest": digest(b"another file")}, "not the digest"),
        ({"digestAlgorithm": "MD5"}, "states no SHA-256"),
        ({"fileContent": "not base64!"}, "not base64"),
        ({"fileContent": None}, "missing"),
    ):
        with pytest.raises(BillRefused, match=reason):
            read_answer({**answer, **changed}, day=DAY)


# The reader's refusals, on a report written from items, each changed in one way.

PAID = ReportItem(CLIENT_ID, "PAYMENT", "P1", FIRST, AT_17, 12345, "HKD", 148)
BACK = ReportItem(CLIENT_ID, "REFUND", "R1", REFUND_NO, AT_17, -2345, "HKD", -28, "P1", FIRST)


def _text() -> str:
    return report_file([PAID, BACK], currency="HKD").decode()


def _swap(old: str, new: str) -> Callable[[str], str]:
    return lambda text: text.replace(old, new, 1)


REFUSALS: dict[str, tuple[Callable[[str], str], str]] = {
    "cut short": (lambda text: text[: -len("<END>\r\n")], "cut short"),
    "another header": (_swap("customerId,PSP", "merchantId,PSP"), "not the transaction details"),
    "no summary": (lambda text: text.replace(f"{SUMMARY}\r\n", ""), "summary header"),
    "a line too short": (_swap(",HKD,148,HKD", ",HKD,148"), "12 values, not 13"),
    "an unknown type": (_swap("PAYMENT,2026", "CAPTURE,2026"), "no payment or refund"),
    "no request id": (_swap(f",{FIRST},,ALIPAY", ",,,ALIPAY"), "transactionRequestId missing"),
    "a refund of nothing": (_swap(f"P1,{REFUND_NO},{FIRST}", f"P1,{REFUND_NO},"), "original"),
    "a payment paid back": (_swap(",12345,HKD", ",-12345,HKD"), "wrong sign for a PAYMENT"),
    "a refund paid out": (_swap(",-2345,", ",2345,"), "wrong sign for a REFUND"),
    "a fee given on a payment": (_swap(",148,HKD", ",-148,HKD"), "fee -148 has the wrong sign"),
    "a decimal amount": (_swap(",12345,", ",123.45,"), "not whole minor units"),
    "a fee in another currency": (_swap(",148,HKD", ",148,CNY"), "fee is in another currency"),
    "another day": (
        _swap("2026-11-25T17:00:00+08:00,12345", "2026-11-26T17:00:00+08:00,12345"),
        "not on 2026-11-25",
    ),
    "no time": (_swap("2026-11-25T17:00:00+08:00,12345", "yesterday,12345"), "is no time"),
    "a short summary": (_swap("2,1,12345,1,-2345,120,HKD", "2,1,12345,1,-2345,120"), "6 values"),
    "a count off": (_swap("2,1,12345,1", "3,1,12345,1"), "transactionCount 3"),
    "the payments off": (_swap("2,1,12345,1", "2,1,12346,1"), "paymentAmountValue 12346"),
    "the refunds off": (_swap("1,-2345,120", "1,-2344,120"), "refundAmountValue -2344"),
    "the fee off": (_swap("-2345,120,HKD", "-2345,121,HKD"), "feeAmountValue 121"),
    "a summary in another currency": (_swap("120,HKD\r\n", "120,CNY\r\n"), "another currency"),
    "a summary not a number": (_swap("2,1,12345,1", "two,1,12345,1"), "transactionCount two"),
}


def test_the_items_report_reads_before_it_is_changed() -> None:
    assert _text().endswith(f"{SUMMARY}\r\n2,1,12345,1,-2345,120,HKD\r\n<END>\r\n")
    paid, back = parse(_text().encode(), day=DAY).rows
    assert (paid.order_no, paid.refund_no, paid.fee) == (FIRST, "", Money(148, "HKD"))
    assert (back.order_no, back.refund_no, back.fee) == (FIRST, REFUND_NO, Money(28, "HKD"))


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_report_that_does_not_add_up_is_refused(case: str) -> None:
    change, reason = REFUSALS[case]
    changed = change(_text())
    assert changed != _text()
    with pytest.raises(BillRefused, match=reason):
        parse(changed.encode(), day=DAY)


def test_a_transaction_twice_is_refused() -> None:
    twice = report_file([PAID, PAID, BACK], currency="HKD")
    with pytest.raises(BillRefused, match="PAYMENT P1 appears twice"):
        parse(twice, day=DAY)


def test_a_report_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(BillRefused, match="not UTF-8"):
        parse(b"\xff" + _text().encode(), day=DAY)
