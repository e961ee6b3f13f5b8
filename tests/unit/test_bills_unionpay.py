"""UnionPay's flow file (the ZM file the file transfer hands over) as worked examples, no
HTTP: the simulator writes a Beijing day of consumes and a refund byte for byte as spelled
out here — UnionPay's 0.55 % fee, a refund giving its share back, a consume at 23:59:59 in
its day and one at 00:00:01 in the next — the reader turns it into the day's rows, and
refuses, with its reason, every file that does not add up."""

from __future__ import annotations

import base64
import io
import zipfile
import zlib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from simkeep.clock import SHANGHAI, FixedClock
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.payments.bills.unionpay import parse, read_file_content
from simkeep.payments.bills.unionpay_flow import (
    FIELDS,
    FlowRecord,
    file_content,
    flow_file,
    flow_name,
    zipped,
)
from simkeep.payments.model import PaymentRequest
from simkeep.payments.providers.unionpay_signing import signed
from simkeep.payments.signing import load_private_key
from simkeep.reconciliation.bill import BillRefused, BillRow, RowKind
from simkeep.simulators.delivery import Reply
from simkeep.simulators.keys import kept_key_pair
from simkeep.simulators.unionpay import UnionPaySimulator
from simkeep.simulators.unionpay_setup import (
    MER_ID,
    MERCHANT_CERT_ID,
    build_simulator,
    simulator_adapter,
)

DAY = date(2026, 11, 25)
AT_17 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # 17:00 in Beijing
LAST_SECOND = datetime(2026, 11, 25, 15, 59, 59, tzinfo=UTC)
NEXT_DAY = datetime(2026, 11, 25, 16, 0, 1, tzinfo=UTC)
MORNING_AFTER = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
FIRST, LATE, EARLY = "T202611250000000001", "T202611250000000002", "T202611260000000003"
REFUND_NO = "F261125A1B2C3D4E5F6"
BASE_URL = "http://simkeep.test/_sim/unionpay"


def blank(width: int) -> str:
    return " " * width


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


async def _taken(url: str, headers: object, body: bytes) -> Reply:
    return Reply(200, b"ok")


async def _a_day(keys_dir: Path) -> tuple[UnionPaySimulator, FixedClock]:
    """¥123.45 paid on a desktop at 17:00 and ¥23.45 of it refunded (paid back 30 s later),
    ¥500.00 on a phone at 23:59:59, ¥88.00 at 00:00:01 the next day."""
    clock = FixedClock(AT_17)
    sim = build_simulator(keys_dir, clock, base_url=BASE_URL, deliver=_taken)
    async with httpx.AsyncClient() as http:
        adapter = simulator_adapter(keys_dir, clock, base_url=BASE_URL, http=http)
        for at, order_no, minor, channel in (
            (AT_17, FIRST, 12345, Channel.PAGE),
            (LAST_SECOND, LATE, 50000, Channel.WAP),
            (NEXT_DAY, EARLY, 8800, Channel.PAGE),
        ):
            clock.set(at)
            request = PaymentRequest(
                out_trade_no=order_no,
                amount=Money(minor, "CNY"),
                subject="中港卡充值",
                channel=channel,
                notify_url="https://merchant.test/notify",
                return_url=None,
                expires_at=at + timedelta(minutes=15),
            )
            form = (await adapter.start(request)).form
            assert form is not None
            sim.open_trade(form)
            await sim.pay(order_no, success=True)
            if order_no == FIRST:
                assert _refund(keys_dir, sim, REFUND_NO, 2345)["respCode"] == "00"
    clock.set(MORNING_AFTER)
    return sim, clock


def _refund(keys_dir: Path, sim: UnionPaySimulator, number: str, minor: int) -> dict[str, str]:
    """A refund of FIRST, signed by the merchant as the adapter signs one."""
    fields = {
        **{"version": "5.1.0", "encoding": "UTF-8", "signMethod": "01", "accessType": "0"},
        **{"txnType": "04", "txnSubType": "00", "bizType": "000201", "channelType": "07"},
        "merId": MER_ID,
        "orderId": number,
        "txnTime": "20261125000000",
        "origQryId": sim.by_order(FIRST).query_id,
        "txnAmt": str(minor),
        "currencyCode": "156",
        "backUrl": "https://merchant.test/notify",
        "certId": MERCHANT_CERT_ID,
    }
    key = load_private_key(kept_key_pair(keys_dir, "merchant").private_pem)
    return sim.refund_answer(signed(key, fields))


def _flow_file(zip_data: bytes, day: date = DAY) -> bytes:
    with zipfile.ZipFile(io.BytesIO(zip_data)) as archive:
        assert archive.namelist() == [f"INN{day:%y%m%d}88ZM_{MER_ID}"]
        return archive.read(archive.namelist()[0])


async def test_a_day_is_written_byte_for_byte(keys_dir: Path) -> None:
    sim, _ = await _a_day(keys_dir)
    first, late = sim.by_order(FIRST), sim.by_order(LATE)
    [refund] = sim.refund_book.refunds.values()
    consume = [
        *("S22", "48020000   ", "48020000   ", first.trace_no, "1125170000"),
        *("6216****0016" + blank(7), "000000012345", "4814", "07", first.query_id, blank(2)),
        *(FIRST + blank(13), "01", blank(6), blank(10), "D000000000068", "C000000012345"),
        *(blank(4), blank(15), "01", "01", "000201", "01", blank(4), blank(32), blank(1)),
        *(blank(21), MER_ID, blank(1), blank(15), blank(32), blank(13), "C000000012277"),
        *(blank(8), blank(32), blank(13), blank(13), blank(12), blank(2), blank(1)),
        *(blank(32), "156" + blank(95)),
    ]
    refunded = [
        *("S30", "48020000   ", "48020000   ", refund.trace_no, "1125170030"),
        *("6216****0016" + blank(7), "000000002345", "4814", "07", refund.query_id, blank(2)),
        *(REFUND_NO + blank(13), "01", first.trace_no, "1125170000", "C000000000013"),
        *("D000000002345", blank(4), blank(15), "04", "00", "000201", "01", blank(4)),
        *(blank(32), blank(1), first.query_id, MER_ID, blank(1), blank(15), blank(32)),
        *(blank(13), "D000000002332", blank(8), blank(32), blank(13), blank(13), blank(12)),
        *(blank(2), blank(1), FIRST + blank(13), "156" + blank(95)),
    ]
    at_midnight = [
        *("S22", "48020000   ", "48020000   ", late.trace_no, "1125235959"),
        *("6216****0016" + blank(7), "000000050000", "4814", "08", late.query_id, blank(2)),
        *(LATE + blank(13), "01", blank(6), blank(10), "D000000000275", "C000000050000"),
        *(blank(4), blank(15), "01", "01", "000201", "01", blank(4), blank(32), blank(1)),
        *(blank(21), MER_ID, blank(1), blank(15), blank(32), blank(13), "C000000049725"),
        *(blank(8), blank(32), blank(13), blank(13), blank(12), blank(2), blank(1)),
        *(blank(32), "156" + blank(95)),
    ]
    trailer = (
        "TOT 156 0000000003 0000000000062345 0000000000002345 D000000000000330 C000000000059670"
    )
    assert [len(line) for line in (consume, refunded, at_midnight)] == [42] * 3
    expected = "".join(" ".join(line) + "\r\n" for line in (consume, refunded, at_midnight)) + (
        trailer + "\r\n"
    )
    assert _flow_file(sim.bills.zip(DAY)) == expected.encode("gbk")
    answer = sim.bills.answer(_transfer_form(keys_dir, "1125"))
    assert (answer["respCode"], answer["fileName"]) == ("00", f"{MER_ID}_20261125.zip")
    assert _flow_file(zlib.decompress(base64.b64decode(answer["fileContent"]))) == expected.encode()


async def test_the_next_day_and_a_day_without_trades(keys_dir: Path) -> None:
    sim, clock = await _a_day(keys_dir)
    clock.set(MORNING_AFTER + timedelta(days=2))
    tomorrow = DAY + timedelta(days=1)
    lines = _flow_file(sim.bills.zip(tomorrow), tomorrow).decode().split("\r\n")
    assert lines[1:] == [
        "TOT 156 0000000001 0000000000008800 0000000000000000 D000000000000048 C000000000008752",
        "",
    ]
    [row] = parse(sim.bills.zip(tomorrow), day=tomorrow).rows
    assert (row.order_no, row.at, row.fee) == (EARLY, NEXT_DAY, Money(48, "CNY"))
    empty = _flow_file(sim.bills.zip(DAY + timedelta(days=2)), DAY + timedelta(days=2))
    assert empty.decode() == (
        "TOT 156 0000000000 0000000000000000 0000000000000000 D000000000000000 C000000000000000\r\n"
    )


async def test_the_file_reads_back_as_the_days_rows(keys_dir: Path) -> None:
    sim, _ = await _a_day(keys_dir)
    first, late = sim.by_order(FIRST), sim.by_order(LATE)
    [refund] = sim.refund_book.refunds.values()
    bill = parse(sim.bills.zip(DAY), day=DAY, mer_id=MER_ID)
    cny = "CNY"
    assert (bill.provider, bill.day) == (Provider.UNIONPAY, DAY)
    assert bill.rows == (
        BillRow(RowKind.PAY, FIRST, "", first.query_id, Money(12345, cny), Money(68, cny), AT_17),
        BillRow(
            RowKind.REFUND,
            FIRST,
            REFUND_NO,
            refund.query_id,
            Money(2345, cny),
            Money(13, cny),
            AT_17 + timedelta(seconds=30),
        ),
        BillRow(
            RowKind.PAY, LATE, "", late.query_id, Money(50000, cny), Money(275, cny), LAST_SECOND
        ),
    )
    assert read_file_content(file_content(sim.bills.zip(DAY)), day=DAY) == bill


async def test_the_last_refund_gives_back_what_is_left_of_the_fee(keys_dir: Path) -> None:
    sim, _ = await _a_day(keys_dir)  # ¥23.45 of ¥123.45 back already: 13 of the 68 fen
    _refund(keys_dir, sim, "F261125000000000002", 5000)  # 68 × 5000 / 12345 = 27.5 → 28
    _refund(keys_dir, sim, "F261125000000000003", 5000)  # the last of it: 68 − 13 − 28
    [record] = [r for r in sim.records() if r["out_trade_no"] == FIRST]
    assert [refund["fee_refunded_minor"] for refund in record["refunds"]] == [13, 28, 27]
    assert record["fee_minor"] == 68


async def test_the_file_transfer_is_checked_like_every_request(keys_dir: Path) -> None:
    sim, clock = await _a_day(keys_dir)
    assert sim.bills.answer(_transfer_form(keys_dir, "1126"))["respCode"] == "98"  # today
    assert sim.bills.answer(_transfer_form(keys_dir, "1125", fileType="01"))["respCode"] == "10"
    assert sim.bills.answer(_transfer_form(keys_dir, "1131"))["respCode"] == "10"
    assert sim.bills.answer(_transfer_form(keys_dir, "25"))["respCode"] == "10"
    forged = {**_transfer_form(keys_dir, "1125"), "settleDate": "1124"}
    assert sim.bills.answer(forged)["respCode"] == "11"
    clock.set(datetime(2027, 1, 5, 1, 0, tzinfo=UTC))
    last_year = sim.bills.answer(_transfer_form(keys_dir, "1125"))
    assert last_year["fileName"] == f"{MER_ID}_20261125.zip"  # MMDD: the latest such day


def _transfer_form(keys_dir: Path, settle_date: str, **changes: str) -> dict[str, str]:
    fields = {
        **{"version": "5.1.0", "encoding": "UTF-8", "signMethod": "01", "accessType": "0"},
        **{"txnType": "76", "txnSubType": "01", "bizType": "000000", "fileType": "00"},
        **{"merId": MER_ID, "settleDate": settle_date, "txnTime": "20261126090000"},
        "certId": MERCHANT_CERT_ID,
        **changes,
    }
    key = load_private_key(kept_key_pair(keys_dir, "merchant").private_pem)
    return signed(key, fields)


# The reader's refusals, on a file written from records, each changed in one way.

CONSUME = FlowRecord(
    code="S22",
    trace_no="123456",
    trace_time="1125170000",
    acc_no="6216****0016",
    amount=12345,
    channel_type="07",
    query_id="261125170000123456789",
    order_id=FIRST,
    fee=68,
    mer_id=MER_ID,
    currency_code="156",
)
REFUND = FlowRecord(
    code="S30",
    trace_no="654321",
    trace_time="1125170030",
    acc_no="6216****0016",
    amount=2345,
    channel_type="07",
    query_id="261125170000987654321",
    order_id=REFUND_NO,
    fee=13,
    mer_id=MER_ID,
    currency_code="156",
    orig_trace_no="123456",
    orig_trace_time="1125170000",
    orig_query_id="261125170000123456789",
    orig_order_id=FIRST,
)
TRAILER = "TOT 156 0000000002 0000000000012345 0000000000002345 D000000000000055 C000000000009945"


def _lines() -> list[str]:
    return flow_file([CONSUME, REFUND]).decode("gbk").split("\r\n")


def _with_field(line: str, name: str, value: str) -> str:
    start = 0
    for field in FIELDS:
        if field.name == name:
            return line[:start] + value.ljust(field.width) + line[start + field.width :]
        start += field.width + 1
    raise AssertionError(name)


def _in_zip(text: str, day: date = DAY) -> bytes:
    return zipped(flow_name(MER_ID, day), text.encode("gbk"), day=day)


def _changed(index: int, name: str, value: str) -> Callable[[list[str]], list[str]]:
    def change(lines: list[str]) -> list[str]:
        lines[index] = _with_field(lines[index], name, value)
        return lines

    return change


REFUSALS: dict[str, tuple[Callable[[list[str]], list[str]], str]] = {
    "cut short": (lambda lines: lines[:-1], "cut short"),
    "no trailer": (lambda lines: [*lines[:2], ""], "no trailer"),
    "a record after the trailer": (
        lambda lines: [lines[0], lines[2], lines[1], ""],
        "after the trailer",
    ),
    "two trailers": (lambda lines: [*lines[:3], lines[2], ""], "a second trailer"),
    "a line too short": (lambda lines: [lines[0][:-1], *lines[1:]], "606 characters, not 607"),
    "no space between": (
        lambda lines: [lines[0][:3] + "X" + lines[0][4:], *lines[1:]],
        "no space after txnCode",
    ),
    "an unknown code": (_changed(0, "txnCode", "S99"), "no consume or refund"),
    "a code against its type": (_changed(0, "txnType", "04"), "no consume or refund"),
    "another merchant": (_changed(0, "merId", "777290058110049"), "is not ours"),
    "no currency": (_changed(0, "reserved", ""), "no currency"),
    "another day": (_changed(0, "traceTime", "1124170000"), "not on 1125"),
    "a time that is none": (_changed(0, "traceTime", "1125250000"), "not a time"),
    "no queryId": (_changed(0, "queryId", ""), "queryId missing"),
    "a refund of nothing": (_changed(1, "origOrderId", ""), "origOrderId missing"),
    "a zero amount": (_changed(0, "txnAmt", "000000000000"), "not positive"),
    "an amount not digits": (_changed(0, "txnAmt", "00000001234x"), "not digits"),
    "a fee without C or D": (_changed(0, "merFee", "X000000000068"), "not C or D"),
    "a credited fee on a consume": (_changed(0, "merFee", "C000000000068"), "not positive"),
    "a settlement off the amount": (_changed(0, "settleAmt", "C000000012344"), "not the amount"),
    "a net off the fee": (_changed(0, "settleNetAmt", "C000000012278"), "less the fee"),
    "a queryId twice": (_changed(1, "queryId", CONSUME.query_id), "appears twice"),
    "a trailer of another shape": (lambda lines: [*lines[:2], lines[2][:-1], ""], "is not TOT"),
    "a trailer in no currency": (
        lambda lines: [*lines[:2], lines[2].replace("TOT 156", "TOT 840"), ""],
        "not 156 or 344",
    ),
    "a trailer in another one": (
        lambda lines: [*lines[:2], lines[2].replace("TOT 156", "TOT 344"), ""],
        "which currencies",
    ),
    "a trailer without its letter": (
        lambda lines: [*lines[:2], lines[2].replace(" D0", " X0"), ""],
        "without its C or D",
    ),
    "a count off": (
        lambda lines: [*lines[:2], TRAILER.replace("TOT 156 0000000002", "TOT 156 0000000003"), ""],
        "count 3",
    ),
    "the consumes off": (
        lambda lines: [*lines[:2], TRAILER.replace("12345", "12346"), ""],
        "consumes 12346",
    ),
    "the refunds off": (
        lambda lines: [*lines[:2], TRAILER.replace("2345 D", "2346 D"), ""],
        "refunds 2346",
    ),
    "the fee off": (
        lambda lines: [*lines[:2], TRAILER.replace("D000000000000055", "D000000000000056"), ""],
        "fee 56",
    ),
    "the net off": (
        lambda lines: [*lines[:2], TRAILER.replace("C000000000009945", "D000000000009945"), ""],
        "net -9945",
    ),
}


def test_the_records_file_reads_before_it_is_changed() -> None:
    assert _lines() == [*_lines()[:2], TRAILER, ""]
    consume, refund = parse(_in_zip("\r\n".join(_lines())), day=DAY, mer_id=MER_ID).rows
    assert (consume.order_no, consume.refund_no, consume.fee) == (FIRST, "", Money(68, "CNY"))
    assert (refund.order_no, refund.refund_no, refund.trade_no) == (
        FIRST,
        REFUND_NO,
        REFUND.query_id,
    )
    assert refund.at == datetime(2026, 11, 25, 17, 0, 30, tzinfo=SHANGHAI)


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_file_that_does_not_add_up_is_refused(case: str) -> None:
    change, reason = REFUSALS[case]
    text = "\r\n".join(change(_lines()))
    with pytest.raises(BillRefused, match=reason):
        parse(_in_zip(text), day=DAY, mer_id=MER_ID)


def test_a_zip_that_does_not_read_is_refused() -> None:
    good = _in_zip("\r\n".join(_lines()))
    with pytest.raises(BillRefused, match="does not read"):
        parse(b"PK not a zip", day=DAY)
    with pytest.raises(BillRefused, match="no single flow file of 2026-11-25"):
        parse(_in_zip("\r\n".join(_lines()), DAY - timedelta(days=1)), day=DAY)
    crc = good.rindex(b"PK\x01\x02") + 16
    damaged = good[:crc] + b"\x00\x00\x00\x00" + good[crc + 4 :]
    with pytest.raises(BillRefused, match="CRC"):
        parse(damaged, day=DAY)
    with pytest.raises(BillRefused, match="not GBK"):
        parse(zipped(flow_name(MER_ID, DAY), b"\x80\x80\xff", day=DAY), day=DAY)


def test_file_content_that_does_not_read_is_refused() -> None:
    good = file_content(_in_zip("\r\n".join(_lines())))
    with pytest.raises(BillRefused, match="not base64"):
        read_file_content("not base64!", day=DAY)
    with pytest.raises(BillRefused, match="not base64 of deflated"):
        read_file_content(base64.b64encode(b"plain").decode(), day=DAY)
    with pytest.raises(BillRefused, match="cut short"):
        read_file_content(base64.b64encode(base64.b64decode(good)[:-8]).decode(), day=DAY)
