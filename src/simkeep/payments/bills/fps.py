"""The receiving bank's daily statement of the merchant's account, which is FPS's bill: its
layout, shared by the simulated bank that writes it and the reader that turns it into a
``Bill`` (docs/payments.md, "Bills").

Design overview
---------------
A statement is the ISO 20022 camt.053 bank-to-customer statement in the bank API's own
JSON (snake_case, amounts integer cents, times ISO 8601 in Hong Kong time): the account,
the day it covers (``from`` 00:00 to ``to`` 24:00, UTC+8), the opening balance (camt's
``OPBD``), the entries booked that day in booking order, the summary (camt's
``TxsSummry``: credit and debit entries counted and summed, and the charges), and the
closing balance (``CLBD``). An entry is a credit (``CRDT``, bank transaction code
``PMNT-RCDT-DMCT``: an FPS transfer received, with the bill reference as the payer's bank
carried it — possibly empty or another order's — and the bank's charge on it) or a debit
(``DBIT``, ``PMNT-ICDT-DMCT``: a payout, our refund, with our instruction id as its
end-to-end id, ``REFUND <order number>`` as its reference and the credit it pays back).
The file is that JSON indented by two spaces, keys in the order written here, with a final
line end.

The bank hands it over from its statement API, ``GET /v1/fps/statements?date=yyyy-MM-dd``,
signed both ways like every call of its API (``providers.fps_bank``): ``{"statement_id",
"date", "file_name", "content": base64, "sha256": hex}``; a day not over yet is 404
``statement_not_ready``. ``read_answer`` decodes the file, refuses it when the SHA-256 is
not its own, and parses it.

``parse`` refuses (``BillRefused``) what is not such a statement of ``day``: another
shape, an entry booked outside the day, a debit with charges, an FPS reference seen twice,
a summary other than what the entries add up to, or a closing balance other than the
opening one moved by them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from simkeep.clock import HONG_KONG
from simkeep.money import InvalidAmount, Money
from simkeep.payment_methods import Provider
from simkeep.payments.providers.fps_bank import stamp
from simkeep.reconciliation.bill import Bill, BillRefused, BillRow, RowKind

STATEMENTS_PATH = "/v1/fps/statements"
NOT_READY = "statement_not_ready"
MAX_FILE_BYTES = 64 * 1024 * 1024
CREDIT, DEBIT = "CRDT", "DBIT"
CODES = {CREDIT: "PMNT-RCDT-DMCT", DEBIT: "PMNT-ICDT-DMCT"}
REFUND_REFERENCE = re.compile(r"^REFUND (\S+)$")
MAX_TEXT = 140


@dataclass(frozen=True, slots=True)
class Counterparty:
    proxy: str
    bank_code: str
    name: str


@dataclass(frozen=True, slots=True)
class Entry:
    """One booking on the account: a transfer received, or a payout sent."""

    credit_debit: str  # CRDT, DBIT
    fps_txn_id: str
    booked_at: datetime
    amount: int  # cents, positive
    charges: int  # the bank's charge on a credit (cents); a debit has none
    counterparty: Counterparty
    bill_reference: str = ""  # as the payer carried it; a payout's remittance reference
    end_to_end_id: str = ""  # a payout's instruction id (our refund number)
    original_fps_txn_id: str = ""  # the credit a payout pays back


@dataclass(frozen=True, slots=True)
class Statement:
    proxy: str
    name: str
    currency: str
    day: date
    opening: int
    entries: tuple[Entry, ...]


def statement_id(proxy: str, day: date) -> str:
    return f"STMT-{proxy}-{day:%Y%m%d}"


def statement_file(statement: Statement, *, totals_off_by: int = 0) -> bytes:
    """The statement's bytes; ``totals_off_by`` misstates the credits' sum."""
    credits = [e for e in statement.entries if e.credit_debit == CREDIT]
    debits = [e for e in statement.entries if e.credit_debit == DEBIT]
    charges = sum(e.charges for e in statement.entries)
    moved = sum(e.amount for e in credits) - sum(e.amount for e in debits) - charges
    start = datetime.combine(statement.day, time(), tzinfo=HONG_KONG)
    document = {
        "statement_id": statement_id(statement.proxy, statement.day),
        "account": {
            "proxy": statement.proxy,
            "name": statement.name,
            "currency": statement.currency,
        },
        "from": stamp(start),
        "to": stamp(start + timedelta(days=1)),
        "opening_balance": statement.opening,
        "entries": [_entry(entry) for entry in statement.entries],
        "summary": {
            "credits": {
                "count": len(credits),
                "sum": sum(e.amount for e in credits) + totals_off_by,
            },
            "debits": {"count": len(debits), "sum": sum(e.amount for e in debits)},
            "charges": charges,
        },
        "closing_balance": statement.opening + moved,
    }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def digest(data: bytes) -> str:
    """The statement's digest, as the bank's answer states it."""
    return hashlib.sha256(data).hexdigest()


def read_answer(answer: Mapping[str, Any], *, day: date) -> Bill:
    """The statement a verified answer hands over, once its SHA-256 is the file's own."""
    content, stated = answer.get("content"), answer.get("sha256")
    if not isinstance(content, str) or len(content) > MAX_FILE_BYTES * 4 // 3 + 4:
        raise BillRefused(f"content is missing or larger than {MAX_FILE_BYTES} bytes")
    try:
        data = base64.b64decode(content, validate=True)
    except binascii.Error as error:
        raise BillRefused(f"content is not base64: {error}") from error
    if not isinstance(stated, str) or not hmac.compare_digest(digest(data), stated.lower()):
        raise BillRefused("the statement's SHA-256 is not the one the bank vouches for")
    return parse(data, day=day)


def parse(data: bytes, *, day: date) -> Bill:
    """The statement of ``day`` as a ``Bill``; ``BillRefused`` if anything is off."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise BillRefused(f"the statement is not JSON: {error}") from error
    if not isinstance(document, dict):
        raise BillRefused("the statement is not a JSON object")
    currency = _text(_object(document, "account"), "currency")
    start = datetime.combine(day, time(), tzinfo=HONG_KONG)
    if (_instant(document, "from"), _instant(document, "to")) != (start, start + timedelta(1)):
        raise BillRefused(f"the statement does not cover {day}, 00:00 to 24:00 UTC+8")
    entries = document.get("entries")
    if not isinstance(entries, list):
        raise BillRefused("entries is not a list")
    read = [_read_entry(item, index, start) for index, item in enumerate(entries, start=1)]
    _check_summary(document, read)
    return Bill(provider=Provider.FPS, day=day, rows=_rows(read, currency))


def _entry(entry: Entry) -> dict[str, Any]:
    return {
        "fps_txn_id": entry.fps_txn_id,
        "credit_debit": entry.credit_debit,
        "bank_transaction_code": CODES[entry.credit_debit],
        "booked_at": stamp(entry.booked_at),
        "amount": entry.amount,
        "charges": entry.charges,
        "bill_reference": entry.bill_reference,
        "end_to_end_id": entry.end_to_end_id,
        "original_fps_txn_id": entry.original_fps_txn_id,
        "counterparty": {
            "proxy": entry.counterparty.proxy,
            "bank_code": entry.counterparty.bank_code,
            "name": entry.counterparty.name,
        },
    }


def _read_entry(item: object, index: int, start: datetime) -> Entry:
    where = f"entry {index}"
    if not isinstance(item, dict):
        raise BillRefused(f"{where} is not a JSON object")
    direction = item.get("credit_debit")
    if direction not in CODES or item.get("bank_transaction_code") != CODES[direction]:
        raise BillRefused(f"{where}: neither a received FPS credit nor a payout")
    amount, charges = _cents(item, "amount", where), _cents(item, "charges", where)
    if amount <= 0 or (direction == DEBIT and charges):
        raise BillRefused(f"{where}: a zero amount, or charges on a payout")
    booked_at = _instant(item, "booked_at")
    if not start <= booked_at < start + timedelta(days=1):
        raise BillRefused(f"{where}: booked {item['booked_at']}, outside the statement's day")
    counterparty = _object(item, "counterparty")
    return Entry(
        credit_debit=str(direction),
        fps_txn_id=_text(item, "fps_txn_id"),
        booked_at=booked_at,
        amount=amount,
        charges=charges,
        counterparty=Counterparty(
            _text(counterparty, "proxy"),
            _text(counterparty, "bank_code"),
            _text(counterparty, "name", required=False),
        ),
        bill_reference=_text(item, "bill_reference", required=False),
        end_to_end_id=_text(item, "end_to_end_id", required=direction == DEBIT),
        original_fps_txn_id=_text(item, "original_fps_txn_id", required=False),
    )


def _check_summary(document: Mapping[str, Any], entries: Sequence[Entry]) -> None:
    summary = _object(document, "summary")
    for direction, name in ((CREDIT, "credits"), (DEBIT, "debits")):
        chosen = [e.amount for e in entries if e.credit_debit == direction]
        said = _object(summary, name)
        stated = (_cents(said, "count", name), _cents(said, "sum", name))
        if stated != (len(chosen), sum(chosen)):
            raise BillRefused(
                f"the summary says {stated[0]} {name} of {stated[1]}, "
                f"the entries are {len(chosen)} of {sum(chosen)}"
            )
    charges = sum(e.charges for e in entries)
    if _cents(summary, "charges", "summary") != charges:
        raise BillRefused(f"the summary's charges are not the entries' {charges}")
    moved = sum(e.amount if e.credit_debit == CREDIT else -e.amount for e in entries) - charges
    opening = _cents(document, "opening_balance", "the statement", signed=True)
    closing = _cents(document, "closing_balance", "the statement", signed=True)
    if closing != opening + moved:
        raise BillRefused(f"the closing balance {closing} is not {opening} moved by {moved}")


def _rows(entries: Sequence[Entry], currency: str) -> tuple[BillRow, ...]:
    seen: set[str] = set()
    rows = []
    for entry in entries:
        if entry.fps_txn_id in seen:
            raise BillRefused(f"fps_txn_id {entry.fps_txn_id} appears twice")
        seen.add(entry.fps_txn_id)
        credit = entry.credit_debit == CREDIT
        refunded = REFUND_REFERENCE.fullmatch(entry.bill_reference)
        try:
            amount, fee = Money(entry.amount, currency), Money(entry.charges, currency)
        except InvalidAmount as error:
            raise BillRefused(f"the account's currency is not one: {error}") from error
        rows.append(
            BillRow(
                kind=RowKind.PAY if credit else RowKind.REFUND,
                order_no=entry.bill_reference if credit else (refunded[1] if refunded else ""),
                refund_no="" if credit else entry.end_to_end_id,
                trade_no=entry.fps_txn_id,
                amount=amount,
                fee=fee,
                at=entry.booked_at,
            )
        )
    return tuple(rows)


def _object(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name)
    if not isinstance(value, dict):
        raise BillRefused(f"{name} is not a JSON object")
    return value


def _text(data: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = data.get(name)
    if not isinstance(value, str) or len(value) > MAX_TEXT or (required and not value):
        raise BillRefused(f"{name} is not a text of at most {MAX_TEXT} characters")
    return value


def _cents(data: Mapping[str, Any], name: str, where: str, *, signed: bool = False) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or (value < 0 and not signed):
        raise BillRefused(f"{where}: {name} is not a whole number of cents")
    return value


def _instant(data: Mapping[str, Any], name: str) -> datetime:
    value = data.get(name)
    try:
        instant = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise BillRefused(f"{name} is not an ISO 8601 time with an offset")
    return instant
