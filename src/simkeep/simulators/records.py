"""The simulators' records kept in a directory, so that a provider remembers its trades when
the process that simulates it starts again.

Design overview
---------------
A real provider never forgets a trade. With ``simulator_records`` set
(``SIMKEEP_SIMULATOR_RECORDS``, ``var/simulators`` under ``make run``), each provider's
simulators keep what a later query, refund or bill needs — trades and payments, refunds,
payouts, agreements and contracts, fees, notifications and their attempts — in
``<directory>/<provider>.records``. Every simulator gives its records in one place
(``snapshot``: plain dataclasses of text, numbers, instants and enums, never a clock, key,
lock or client) and takes them back once built (``restore``). ``KeptRecords.load`` restores
every provider whose file exists; ``save`` pickles each provider's records and writes the
file when they changed, atomically (a temporary file in the same directory, then
``os.replace``), so a crash leaves the old file or the new one, never half of one. The
simulators' app saves before it answers a request (``SavingRecords``), the notifiers after
each round of deliveries, and the demo data when it is done.

A file that cannot be read — damaged, or written by a version whose records had other fields
(``LAYOUT``, a digest of the record types' fields, is written with them) — stops the start
with ``RecordsUnreadable`` naming it: records are never dropped silently. Deleting the
directory starts the providers over. Only the record types (``RECORD_TYPES``: a record a
simulator comes to keep is added there) and the instants' own classes are unpickled from a
file.

One process writes a directory at a time — the web process of the embedded default
(``simkeep serve``, one process) or ``simkeep simulators serve``, with ``simkeep demo seed``
run before it — and nothing locks it: several processes given the same directory would each
write over the others' records. Unset, the records live in memory only, as the tests want:
they build simulators in many places on one keys directory, with fresh databases whose order
numbers repeat.
"""

from __future__ import annotations

import copyreg
import dataclasses
import hashlib
import io
import os
import pickle
import tempfile
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simkeep.errors import Refusal
from simkeep.money import Money
from simkeep.payments.providers import fps_payouts as fps_orders
from simkeep.simulators import (
    alipay_agreements,
    alipay_trades,
    alipayplus_payments,
    alipayplus_refunds,
    delivery,
    fps_payouts,
    fps_transfers,
    unionpay_refunds,
    unionpay_trades,
    wechatpay_papay,
    wechatpay_trades,
)

SUFFIX = ".records"
RECORD_TYPES: tuple[type, ...] = (
    Money,
    delivery.Reply,
    alipay_trades.SimTrade,
    alipay_trades.SimRefund,
    alipay_trades.Delivery,
    alipay_agreements.SimAgreement,
    wechatpay_trades.SimTrade,
    wechatpay_trades.SimRefund,
    wechatpay_trades.Delivery,
    wechatpay_papay.SimContract,
    unionpay_trades.SimTrade,
    unionpay_trades.TradeState,
    unionpay_trades.Delivery,
    unionpay_refunds.SimRefund,
    alipayplus_payments.SimPayment,
    alipayplus_payments.Delivery,
    alipayplus_refunds.SimRefund,
    fps_transfers.Transfer,
    fps_transfers.State,
    fps_transfers.Notice,
    fps_payouts.Payout,
    fps_orders.PayoutOrder,
    fps_orders.Payee,
    fps_orders.PayoutStatus,
)
_UNPICKLED = {
    (kind.__module__, kind.__qualname__): kind
    for kind in (*RECORD_TYPES, datetime, timedelta, timezone, ZoneInfo)
}


def _layout() -> str:
    """A digest of the record types' fields: records pickled with other fields are refused."""
    described = [
        f"{kind.__module__}.{kind.__qualname__}:{[f.name for f in dataclasses.fields(kind)]}"
        for kind in RECORD_TYPES
        if dataclasses.is_dataclass(kind)
    ]
    return hashlib.sha256("\n".join(described).encode()).hexdigest()[:16]


LAYOUT = _layout()


class Kept(Protocol):
    """A simulator whose records are kept."""

    def snapshot(self) -> dict[str, Any]:
        """Everything it must remember, as plain records."""
        ...

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Take back what ``snapshot`` gave, just after being built."""
        ...


class RecordsUnreadable(Refusal):
    """A records file that cannot be read back: the simulators refuse to start without it."""

    code = "simulator_records_unreadable"

    def __init__(self, path: Path, why: object) -> None:
        super().__init__(
            f"the simulator records {path} cannot be read ({why}); "
            f"delete {path.parent} to start the simulated providers over"
        )


class KeptRecords:
    """Each provider's simulators (``books``: provider → part → simulator) kept in
    ``directory``, one file per provider."""

    def __init__(self, directory: Path, books: Mapping[str, Mapping[str, Kept]]) -> None:
        self.directory = directory
        self.books = books
        self._written: dict[str, bytes] = {}  # provider → what its file holds

    def load(self) -> None:
        """Restore every provider whose file exists; ``RecordsUnreadable`` if one cannot be."""
        for name, parts in self.books.items():
            path = self._path(name)
            if not path.exists():
                continue
            data = path.read_bytes()
            try:
                kept = _RecordsUnpickler(io.BytesIO(data)).load()
                if kept["layout"] != LAYOUT:
                    raise ValueError("written by a version whose records had other fields")
                for part, simulator in parts.items():
                    simulator.restore(kept["parts"][part])
            except Exception as error:  # whatever is wrong with it, the file is named
                raise RecordsUnreadable(path, error) from error
            self._written[name] = data

    def save(self) -> None:
        """Write each provider's file whose records changed since it was last written."""
        for name, parts in self.books.items():
            snapshot = {part: simulator.snapshot() for part, simulator in parts.items()}
            data = _dumps({"layout": LAYOUT, "parts": snapshot})
            if self._written.get(name) != data:
                _replace(self._path(name), data)
                self._written[name] = data

    def _path(self, name: str) -> Path:
        return self.directory / f"{name}{SUFFIX}"


class SavingRecords:
    """ASGI middleware: the records are saved before each answer of the app starts, so the
    merchant never hears of a change that a restart would forget."""

    def __init__(self, app: ASGIApp, records: KeptRecords) -> None:
        self.app = app
        self.records = records

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def saving(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.records.save()
            await send(message)

        await self.app(scope, receive, saving)


class _RecordsUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        kind = _UNPICKLED.get((module, name))
        if kind is None:
            raise pickle.UnpicklingError(f"{module}.{name} is not a simulator record")
        return kind


def _dumps(kept: object) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    # A zone by its name alone (its own pickling goes through ``getattr``)
    pickler.dispatch_table = copyreg.dispatch_table | {ZoneInfo: _zone}
    pickler.dump(kept)
    return buffer.getvalue()


def _zone(zone: ZoneInfo) -> tuple[type[ZoneInfo], tuple[str]]:
    return ZoneInfo, (zone.key,)


def _replace(path: Path, data: bytes) -> None:
    """Put ``data`` at ``path`` whole: written beside it, flushed to disk, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
