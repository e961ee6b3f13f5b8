"""The demo's vouchers: a batch of twenty HK$100 vouchers and one of twenty ¥50, made as on
the command line, their printer's file at ``var/demo-vouchers.csv`` (beside the keys
directory, ``var/keys`` by default; readable by its owner only) so that a tester holds the
PINs; the first five of each batch are sold at a demo counter — by ``clerk.mk`` (Hong Kong
dollars) and ``clerk.ft`` (renminbi) through the counter's own sale, when those clerks
exist — so that they can be redeemed at once.

Seeding again changes nothing while the file's vouchers are in the database; a file left
from another database is made again.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import in_hong_kong
from simkeep.counter import service as counter
from simkeep.counter.model import Payer, Payment, VoucherSale
from simkeep.db import Database
from simkeep.errors import Refusal
from simkeep.money import Money
from simkeep.staff import service as staff
from simkeep.staff.audit import CLI
from simkeep.vouchers import service as vouchers
from simkeep.vouchers.model import PrintedVoucher, VoucherState, printer_file

DEMO_FILE = "demo-vouchers.csv"  # beside the keys directory
DEMO_BATCHES = (Money(10_000, "HKD"), Money(5_000, "CNY"))
PER_BATCH = 20
SOLD = 5  # of each batch, at a demo counter
SELLERS = {"HKD": "clerk.mk", "CNY": "clerk.ft"}


@dataclass(frozen=True)
class DemoVoucher:
    serial: str
    pin: str
    face: str  # as the file writes it: "100.00 HKD"
    sold: bool


@dataclass(frozen=True)
class DemoVouchers:
    path: Path  # the printer's file: every PIN
    samples: tuple[DemoVoucher, ...]  # the first of each batch


async def ensure_demo_vouchers(
    db: Database,
    *,
    secret_key: str,
    keys_dir: str,
    now: datetime,
    sellers: Mapping[str, str] = SELLERS,
) -> DemoVouchers:
    """The demo batches and their file (made if missing): where it is, and one sample
    voucher per batch."""
    path = Path(keys_dir).parent / DEMO_FILE
    lines = _read(path)
    if lines and await _known(db, lines[0][0]):
        return DemoVouchers(path, await _samples(db, lines))
    expires_on = in_hong_kong(now).date() + timedelta(days=365)
    printed: list[PrintedVoucher] = []
    for face in DEMO_BATCHES:
        made = await vouchers.create_batch(
            db,
            face=face,
            count=PER_BATCH,
            expires_on=expires_on,
            key=vouchers.pin_key(secret_key),
            actor=CLI,
            now=now,
        )
        printed += made.printed
        await _sell(db, made.printed[:SOLD], sellers.get(face.currency), now)
    _write(path, printed)
    return DemoVouchers(path, await _samples(db, _read(path)))


async def _sell(
    db: Database, cards: list[PrintedVoucher], username: str | None, now: datetime
) -> None:
    """Sell ``cards`` at the clerk's counter, if the clerk exists and may sell them."""
    clerk = await db.read(lambda conn: staff.find_member(conn, username=username or ""))
    if clerk is None:
        return
    try:
        if await counter.current_shift(db, clerk=clerk) is None:
            await counter.open_shift(db, clerk=clerk, opening_minor=0, actor=CLI, now=now)
        sale = VoucherSale(
            key=f"demo-vouchers-{cards[0].serial}",
            serials=tuple(card.serial for card in cards),
            payer=Payer(Payment.CASH),
        )
        await counter.sell_vouchers(db, clerk=clerk, device_id=None, request=sale, now=now)
    except Refusal:
        return  # the counter cannot sell them (no float yet): they stay for the POS to sell


def _write(path: Path, printed: list[PrintedVoucher]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as file:
        file.write(printer_file(printed))


def _read(path: Path) -> list[list[str]]:
    """The file's voucher lines (serial, PIN, value, currency, last day), if it exists."""
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.reader(file))[1:]


async def _known(db: Database, serial: str) -> bool:
    async def read(conn: AsyncConnection) -> bool:
        return await vouchers.look_up(conn, serial=serial) is not None

    try:
        return await db.read(read)
    except Refusal:
        return False  # not a serial at all: the file is not ours


async def _samples(db: Database, lines: list[list[str]]) -> tuple[DemoVoucher, ...]:
    """The first voucher of each batch in the file, and whether it was sold."""
    firsts = [lines[0], *(row for before, row in pairwise(lines) if row[3] != before[3])]

    async def read(conn: AsyncConnection) -> tuple[DemoVoucher, ...]:
        found = []
        for serial, pin, value, currency, _ in firsts:
            view = await vouchers.look_up(conn, serial=serial)
            sold = view is not None and view.state is VoucherState.SOLD
            found.append(DemoVoucher(serial, pin, f"{value} {currency}", sold))
        return tuple(found)

    return await db.read(read)
