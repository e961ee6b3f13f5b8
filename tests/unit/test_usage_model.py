"""Usage rules without a database: a record checked field by field, barring per state, a
wallet paying buckets then bonus then balance, and a journal's name. (How several SIMs' usage
is packed into journals is ``ledger.rules.batched``, tested with the posting rules.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from simkeep.sims.model import SimState
from simkeep.usage.model import (
    Barring,
    Bucket,
    Record,
    Refused,
    Wallet,
    barring,
    journal_id,
    parse_record,
)

NOW = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
GOOD = {
    "id": "cdr-1",
    "number": "+85291234567",
    "kind": "data",
    "zone": "mainland",
    "quantity": 300,
    "occurred_at": "2026-11-30T11:59:00+08:00",
}


def test_a_record_is_read_or_refused_field_by_field() -> None:
    record = parse_record(GOOD, now=NOW)
    assert isinstance(record, Record)
    assert record.occurred_at == NOW - timedelta(minutes=1)
    refusals = {
        "invalid_record": [[], "x", None],
        "invalid_id": [{**GOOD, "id": ""}, {**GOOD, "id": "a b"}, {**GOOD, "id": 7}],
        "invalid_number": [{**GOOD, "number": "+8529123456"}, {**GOOD, "number": "+12025550100"}],
        "unknown_kind": [{**GOOD, "kind": ["voice"]}, {**GOOD, "kind": "VOICE"}],
        "unknown_zone": [{**GOOD, "zone": None}],
        "invalid_quantity": [{**GOOD, "quantity": q} for q in (0, -1, 1.0, "3", 102_401, 10**30)],
        "invalid_time": [
            {**GOOD, "occurred_at": "2026-11-30T04:11:00+00:00"},
            {**GOOD, "occurred_at": 1764475200},
            {**GOOD, "occurred_at": "yesterday"},
        ],
    }
    for code, raws in refusals.items():
        for raw in raws:
            refused = parse_record(raw, now=NOW)
            assert isinstance(refused, Refused), raw
            assert refused.code == code, raw


def test_grace_receives_only_and_suspended_nothing() -> None:
    assert barring(SimState.ACTIVE) == Barring(False, False, False, False, False)
    grace = barring(SimState.GRACE)
    assert (grace.outgoing_voice, grace.outgoing_sms, grace.data) == (True, True, True)
    assert (grace.incoming_voice, grace.incoming_sms) == (False, False)
    assert barring(SimState.SUSPENDED) == Barring(True, True, True, True, True)


def test_a_wallet_pays_buckets_then_bonus_then_balance_and_keeps_the_rest_unpaid() -> None:
    record = parse_record({**GOOD, "kind": "voice", "zone": "hk", "quantity": 10}, now=NOW)
    assert isinstance(record, Record)
    later = NOW + timedelta(days=9)
    wallet = Wallet(
        "HKD",
        [
            Bucket(1, "voice", None, 3, NOW + timedelta(days=1)),
            Bucket(2, "voice", "mainland", 50, NOW + timedelta(days=2)),
            Bucket(3, "money", None, 30, NOW + timedelta(days=3)),
            Bucket(4, "voice", "hk", 5, later),
        ],
        bonus=30,
        balance=15,
    )
    charge = wallet.pay(record, rate=25, barred=False)
    assert (charge.bucket_units, charge.amount, charge.bonus, charge.balance) == (8, 50, 30, 15)
    assert charge.unpaid == 5
    assert charge.status == "unpaid"
    assert dict(wallet.spent) == {1: 3, 4: 5, 3: 30}
    assert (wallet.bonus, wallet.balance, wallet.from_bonus, wallet.from_balance) == (0, 0, 30, 15)


def test_a_journal_is_named_after_its_first_record() -> None:
    name = journal_id(7, "cdr_2026-11-30/000001 +852")
    assert name == journal_id(7, "cdr_2026-11-30/000001 +852")
    assert name != journal_id(8, "cdr_2026-11-30/000001 +852")
    assert name.startswith("usage:7:")
    assert len(name) <= 128
