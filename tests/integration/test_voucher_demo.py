"""The demo's vouchers (``demo.vouchers``): two batches whose printer's file a tester holds
(readable by its owner only), five of each sold at a demo counter when its clerk exists, a
sample PIN that redeems; seeding again changes nothing."""

from __future__ import annotations

import csv
import stat
from pathlib import Path

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.demo.vouchers import ensure_demo_vouchers
from simkeep.promotions.model import SalesChannel
from simkeep.vouchers import service as vouchers
from simkeep.vouchers.model import PinLimits, pin_key
from tests.factories import issue_sim
from tests.integration.voucher_world import shop

SECRET = "demo secret"


async def test_the_demo_vouchers_are_printed_once_and_some_sold(
    db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    await shop(db, now=clock.now())  # its clerk, clerk.vouchers, sells the HKD batch
    keys_dir = str(tmp_path / "keys")
    sellers = {"HKD": "clerk.vouchers", "CNY": "nobody"}
    made = await ensure_demo_vouchers(
        db, secret_key=SECRET, keys_dir=keys_dir, now=clock.now(), sellers=sellers
    )
    assert made.path == tmp_path / "demo-vouchers.csv"
    assert stat.S_IMODE(made.path.stat().st_mode) == 0o600
    rows = list(csv.reader(made.path.open()))[1:]
    assert len(rows) == 40
    assert [(card.face, card.sold) for card in made.samples] == [
        ("100.00 HKD", True),
        ("50.00 CNY", False),
    ]
    listed = await db.read(lambda conn: vouchers.list_batches(conn))
    assert sorted(counts.get("sold", 0) for _, counts in listed) == [0, 5]

    again = await ensure_demo_vouchers(
        db, secret_key=SECRET, keys_dir=keys_dir, now=clock.now(), sellers=sellers
    )
    assert again == made
    assert len(await db.read(lambda conn: vouchers.list_batches(conn))) == 2

    holder = await db.transaction(
        lambda conn: issue_sim(conn, n=1, plan="HK-VALID", now=clock.now())
    )
    done = await vouchers.redeem_voucher(
        db,
        pin=made.samples[0].pin,
        number=holder.hk_number.e164,
        confirm_number=None,
        redeemer=vouchers.Redeemer(None, "192.0.2.1", SalesChannel.WEB),
        key=pin_key(SECRET),
        limits=PinLimits(),
        now=clock.now(),
    )
    assert done.serial == made.samples[0].serial
