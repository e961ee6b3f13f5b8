"""FPS's bill — the receiving bank's statement of our account — as worked examples, no
HTTP: the simulated bank writes a Hong Kong day byte for byte as spelled out here — three
transfers received (one carrying another order's number), each with the bank's charge of
HK$1.50, a payout paying a payer back, a transfer at 23:59:59 in its day and one at
00:00:01 in the next, the balances the day opened and closed with — the reader turns it
into the day's rows, and refuses, with its reason, every statement that does not add up or
whose SHA-256 is not its own."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from simkeep.clock import FixedClock
from simkeep.money import Money
from simkeep.payment_methods import Provider
from simkeep.payments.bills.fps import (
    Counterparty,
    Entry,
    Statement,
    digest,
    parse,
    read_answer,
    statement_file,
)
from simkeep.payments.providers.fps_bank import json_bytes
from simkeep.payments.providers.fps_payouts import Payee, PayoutOrder
from simkeep.reconciliation.bill import BillRefused, BillRow, RowKind
from simkeep.simulators.delivery import Reply
from simkeep.simulators.fps import FpsBankSimulator
from simkeep.simulators.fps_setup import build_simulator

DAY = date(2026, 11, 25)
AT_17 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # 17:00 in Hong Kong
AT_18 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
LAST_SECOND = datetime(2026, 11, 25, 15, 59, 59, tzinfo=UTC)
NEXT_DAY = datetime(2026, 11, 25, 16, 0, 1, tzinfo=UTC)
MORNING_AFTER = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
FIRST, LATE, EARLY = "T202611250000000001", "T202611250000000002", "T202611260000000003"
ANOTHER = "T202611250000000099"
REFUND_NO = "F2611250001"


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


async def _taken(url: str, headers: object, body: bytes) -> Reply:
    return Reply(200, b'{"received":true}')


async def _a_day(keys_dir: Path) -> tuple[FpsBankSimulator, FixedClock]:
    """HK$123.45 received at 17:00 and HK$23.45 of it paid back; HK$9.99 carrying another
    order's number at 18:00; HK$500.00 at 23:59:59; HK$88.00 at 00:00:01 the next day. The
    bank charges HK$1.50 on each."""
    clock = FixedClock(AT_17)
    sim = build_simulator(keys_dir, clock, base_url="http://simkeep.test/_sim/fps", deliver=_taken)
    sim.fee_minor = 150
    for at, reference, minor in (
        (AT_17, FIRST, 12345),
        (AT_18, ANOTHER, 999),
        (LAST_SECOND, LATE, 50000),
        (NEXT_DAY, EARLY, 8800),
    ):
        clock.set(at)
        transfer = await sim.pay(reference, success=True, amount_minor=minor)
        if reference == FIRST:
            order = PayoutOrder(
                instruction_id=REFUND_NO,
                amount_minor=2345,
                currency="HKD",
                payee=Payee.of("012:+852-9***1234"),
                remittance_reference=f"REFUND {FIRST}",
                original_fps_txn_id=transfer.fps_txn_id,
            )
            payout, _ = sim.payouts.instruct(json_bytes(order.to_json()))
            assert payout.fps_txn_id
    clock.set(MORNING_AFTER)
    return sim, clock


def _by_reference(sim: FpsBankSimulator) -> dict[str, str]:
    """Each transfer's FPS reference, by the reference it carried; the payout's by REFUND_NO."""
    ids = {t.reference: t.fps_txn_id for t in sim.transfers.values()}
    return ids | {p.order.instruction_id: p.fps_txn_id or "" for p in sim.payouts.payouts.values()}


def _entry(fps_txn_id: str, kind: str, at: str, minor: int, charges: int, **more: str) -> str:
    credit = kind == "CRDT"
    return (
        "    {\n"
        f'      "fps_txn_id": "{fps_txn_id}",\n'
        f'      "credit_debit": "{kind}",\n'
        f'      "bank_transaction_code": "{"PMNT-RCDT-DMCT" if credit else "PMNT-ICDT-DMCT"}",\n'
        f'      "booked_at": "2026-11-25T{at}+08:00",\n'
        f'      "amount": {minor},\n'
        f'      "charges": {charges},\n'
        f'      "bill_reference": "{more["bill_reference"]}",\n'
        f'      "end_to_end_id": "{more.get("end_to_end_id", "")}",\n'
        f'      "original_fps_txn_id": "{more.get("original_fps_txn_id", "")}",\n'
        '      "counterparty": {\n'
        '        "proxy": "+852-9***1234",\n'
        '        "bank_code": "012",\n'
        f'        "name": "{"CHAN T** M**" if credit else ""}"\n'
        "      }\n"
        "    }"
    )


async def test_a_day_is_written_byte_for_byte(keys_dir: Path) -> None:
    sim, _ = await _a_day(keys_dir)
    ids = _by_reference(sim)
    entries = ",\n".join(
        (
            _entry(ids[FIRST], "CRDT", "17:00:00", 12345, 150, bill_reference=FIRST),
            _entry(
                ids[REFUND_NO],
                "DBIT",
                "17:00:00",
                2345,
                0,
                bill_reference=f"REFUND {FIRST}",
                end_to_end_id=REFUND_NO,
                original_fps_txn_id=ids[FIRST],
            ),
            _entry(ids[ANOTHER], "CRDT", "18:00:00", 999, 150, bill_reference=ANOTHER),
            _entry(ids[LATE], "CRDT", "23:59:59", 50000, 150, bill_reference=LATE),
        )
    )
    expected = (
        "{\n"
        '  "statement_id": "STMT-1234567-20261125",\n'
        '  "account": {\n'
        '    "proxy": "1234567",\n'
        '    "name": "SIMKEEP DEMO LTD",\n'
        '    "currency": "HKD"\n'
        "  },\n"
        '  "from": "2026-11-25T00:00:00+08:00",\n'
        '  "to": "2026-11-26T00:00:00+08:00",\n'
        '  "opening_balance": 0,\n'
        '  "entries": [\n'
        f"{entries}\n"
        "  ],\n"
        '  "summary": {\n'
        '    "credits": {\n'
        '      "count": 3,\n'
        '      "sum": 63344\n'
        "    },\n"
        '    "debits": {\n'
        '      "count": 1,\n'
        '      "sum": 2345\n'
        "    },\n"
        '    "charges": 450\n'
        "  },\n"
        '  "closing_balance": 60549\n'
        "}\n"
    )
    assert sim.bills.statement(DAY).decode() == expected
    answer = sim.bills.answer("2026-11-25")
    assert (answer["statement_id"], answer["file_name"]) == (
        "STMT-1234567-20261125",
        "STMT-1234567-20261125.json",
    )
    assert base64.b64decode(answer["content"]) == expected.encode()
    assert answer["sha256"] == digest(expected.encode())


async def test_the_next_day_opens_where_the_day_closed(keys_dir: Path) -> None:
    sim, clock = await _a_day(keys_dir)
    clock.set(datetime(2026, 11, 27, 1, 0, tzinfo=UTC))
    statement = json.loads(sim.bills.statement(date(2026, 11, 26)))
    assert (statement["opening_balance"], statement["closing_balance"]) == (60549, 60549 + 8650)
    [entry] = statement["entries"]
    assert (entry["bill_reference"], entry["booked_at"]) == (EARLY, "2026-11-26T00:00:01+08:00")


async def test_the_statement_reads_back_as_the_days_rows(keys_dir: Path) -> None:
    sim, _ = await _a_day(keys_dir)
    ids = _by_reference(sim)
    bill = read_answer(sim.bills.answer("2026-11-25"), day=DAY)
    fee, zero = Money(150, "HKD"), Money(0, "HKD")
    assert (bill.provider, bill.day) == (Provider.FPS, DAY)
    assert bill.rows == (
        BillRow(RowKind.PAY, FIRST, "", ids[FIRST], Money(12345, "HKD"), fee, AT_17),
        BillRow(RowKind.REFUND, FIRST, REFUND_NO, ids[REFUND_NO], Money(2345, "HKD"), zero, AT_17),
        BillRow(RowKind.PAY, ANOTHER, "", ids[ANOTHER], Money(999, "HKD"), fee, AT_18),
        BillRow(RowKind.PAY, LATE, "", ids[LATE], Money(50000, "HKD"), fee, LAST_SECOND),
    )
    assert [record["fee_minor"] for record in sim.records()] == [150, 150, 150, 150]
    assert sim.records()[0]["refunds"] == [
        {"refund_no": REFUND_NO, "amount_minor": 2345, "fee_refunded_minor": 0}
    ]


async def test_a_sha256_that_is_not_the_files_is_refused(keys_dir: Path) -> None:
    sim, _ = await _a_day(keys_dir)
    answer = sim.bills.answer("2026-11-25")
    for changed, reason in (
        ({"sha256": digest(b"another file")}, "not the one the bank vouches for"),
        ({"sha256": None}, "not the one the bank vouches for"),
        ({"content": "not base64!"}, "not base64"),
        ({"content": 12}, "missing"),
    ):
        with pytest.raises(BillRefused, match=reason):
            read_answer({**answer, **changed}, day=DAY)


# The reader's refusals, on a statement written from entries, each changed in one way.

PAYER = Counterparty("+852-9***1234", "012", "CHAN T** M**")
CREDIT = Entry("CRDT", "FRN1", AT_17, 12345, 150, PAYER, bill_reference=FIRST)
DEBIT = Entry(
    "DBIT",
    "FRN2",
    AT_17,
    2345,
    0,
    PAYER,
    bill_reference=f"REFUND {FIRST}",
    end_to_end_id=REFUND_NO,
    original_fps_txn_id="FRN1",
)


def _document() -> dict[str, Any]:
    statement = Statement("1234567", "SIMKEEP DEMO LTD", "HKD", DAY, 1000, (CREDIT, DEBIT))
    parsed: dict[str, Any] = json.loads(statement_file(statement))
    return parsed


def _set(*path: str | int, to: object) -> Callable[[dict[str, Any]], object]:
    def change(document: dict[str, Any]) -> object:
        place: Any = document
        for step in path[:-1]:
            place = place[step]
        place[path[-1]] = to
        return document

    return change


REFUSALS: dict[str, tuple[Callable[[dict[str, Any]], object], str]] = {
    "not an object": (lambda document: [document], "not a JSON object"),
    "no account": (_set("account", to="1234567"), "account is not a JSON object"),
    "another day": (_set("from", to="2026-11-24T00:00:00+08:00"), "does not cover 2026-11-25"),
    "a time without offset": (_set("to", to="2026-11-26T00:00:00"), "with an offset"),
    "no entries": (_set("entries", to={}), "entries is not a list"),
    "an entry not an object": (_set("entries", 0, to="FRN1"), "entry 1 is not a JSON object"),
    "neither credit nor debit": (_set("entries", 0, "credit_debit", to="CHRG"), "neither"),
    "a code against the direction": (
        _set("entries", 1, "bank_transaction_code", to="PMNT-RCDT-DMCT"),
        "entry 2: neither",
    ),
    "a zero amount": (_set("entries", 0, "amount", to=0), "a zero amount"),
    "an amount in dollars": (_set("entries", 0, "amount", to=123.45), "whole number of cents"),
    "an amount that is true": (_set("entries", 0, "amount", to=True), "whole number of cents"),
    "charges on a payout": (_set("entries", 1, "charges", to=5), "charges on a payout"),
    "booked the next day": (
        _set("entries", 0, "booked_at", to="2026-11-26T00:00:00+08:00"),
        "outside the statement's day",
    ),
    "no FPS reference": (_set("entries", 0, "fps_txn_id", to=""), "fps_txn_id is not a text"),
    "a reference too long": (_set("entries", 0, "bill_reference", to="T" * 141), "at most 140"),
    "a payout without our number": (_set("entries", 1, "end_to_end_id", to=""), "end_to_end_id"),
    "no payer": (_set("entries", 0, "counterparty", to=None), "counterparty"),
    "a reference twice": (_set("entries", 1, "fps_txn_id", to="FRN1"), "appears twice"),
    "the credits off": (_set("summary", "credits", "sum", to=12346), "1 credits of 12346"),
    "the debits off": (_set("summary", "debits", "count", to=2), "2 debits of 2345"),
    "the charges off": (_set("summary", "charges", to=151), "charges are not the entries' 150"),
    "no summary": (_set("summary", to=[]), "summary is not a JSON object"),
    "the closing off": (_set("closing_balance", to=8851), "closing balance 8851"),
    "an opening not a number": (_set("opening_balance", to="1000"), "opening_balance"),
    "no currency": (_set("account", "currency", to="HK"), "currency is not one"),
}


def test_the_entries_statement_reads_before_it_is_changed() -> None:
    document = _document()
    assert (document["opening_balance"], document["closing_balance"]) == (1000, 10850)
    credit, debit = parse(json.dumps(document).encode(), day=DAY).rows
    assert (credit.order_no, credit.trade_no, credit.fee) == (FIRST, "FRN1", Money(150, "HKD"))
    assert (debit.order_no, debit.refund_no, debit.kind) == (FIRST, REFUND_NO, RowKind.REFUND)


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_statement_that_does_not_add_up_is_refused(case: str) -> None:
    change, reason = REFUSALS[case]
    with pytest.raises(BillRefused, match=reason):
        parse(json.dumps(change(_document())).encode(), day=DAY)


def test_a_statement_that_is_not_json_is_refused() -> None:
    with pytest.raises(BillRefused, match="not JSON"):
        parse(b'{"statement_id": ', day=DAY)


def test_a_payout_for_no_order_of_ours_has_no_order_number() -> None:
    document = _set("entries", 1, "bill_reference", to="refund")(_document())
    [_, debit] = parse(json.dumps(document).encode(), day=DAY).rows
    assert (debit.order_no, debit.refund_no) == ("", REFUND_NO)
