"""Receipts of sales at a counter on SQLite and PostgreSQL: a top-up's receipt is its order's
with the outlet, the clerk and the payment; a voucher sale's lists its vouchers; both are
verified by their signed link (a tampered signature or receipt number fails); who may read
them; and the PDFs (a Z-report too) in Chinese and English."""

from __future__ import annotations

import io

from pypdf import PdfReader

from simkeep.clock import FixedClock
from simkeep.counter import service as counter
from simkeep.counter.model import Payer, Payment, VoucherSale
from simkeep.db import Database
from simkeep.receipts import service as receipts
from simkeep.receipts.model import receipt_signature
from simkeep.receipts.service import Receipt, ReceiptSigning, SaleReceipt
from simkeep.staff import service as staff
from simkeep.staff.audit import CLI
from simkeep.staff.service import StaffMember
from tests.counter_world import (
    CASH,
    HERE,
    POLICY,
    Place,
    open_shift,
    place,
    sim,
    topup,
    vouchers,
)

SIGNING = ReceiptSigning(b"receipt key", "https://simkeep.test")
CARD = Payer(Payment.CARD, "VISA-0042")


async def sold(db: Database, clock: FixedClock) -> tuple[Place, int, int]:
    """A clerk's open shift with a card top-up and a cash voucher sale: their sale ids."""
    where = await place(db, now=clock.now())
    card = await sim(db, n=1, now=clock.now())
    serials = await vouchers(db, face_minor=10_000, count=3, now=clock.now())
    await open_shift(db, where, now=clock.now())
    up = await counter.top_up(
        db,
        clerk=where.clerk,
        device_id=None,
        request=topup("key-receipt-1", card.hk_number.e164, 120, CARD),
        policy=POLICY,
        now=clock.now(),
    )
    request = VoucherSale(key="key-receipt-2", serials=tuple(serials[:2]), payer=CASH)
    vs = await counter.sell_vouchers(
        db, clerk=where.clerk, device_id=None, request=request, now=clock.now()
    )
    return where, up.id, vs.id


def text_of(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


async def test_a_counter_top_ups_receipt_names_the_outlet_clerk_and_card(
    db: Database, clock: FixedClock
) -> None:
    where, topup_id, _ = await sold(db, clock)

    receipt = await receipts.receipt_for_sale(
        db, sale_id=topup_id, viewer=where.clerk, signing=SIGNING
    )

    assert isinstance(receipt, Receipt)
    view = receipt.view
    assert view.receipt_no.startswith("R")
    assert view.counter is not None
    assert (view.counter.clerk_name, view.counter.payment) == ("Mandy Clerk", "card")
    assert view.counter.terminal_ref == "VISA-0042"
    assert view.counter.outlet.pick("zh_Hant_HK") == "灣仔店"
    assert view.credit.minor == 12_000
    assert view.validity_until is not None
    pdf = text_of(await receipts.receipt_pdf(receipt, language="zh_Hant_HK"))
    masked = f"+852 {view.msisdn[4]}***{view.msisdn[-4:]}"  # a paper that leaves the shop
    for words in ("灣仔店", "Mandy Clerk", "銀行卡", "VISA-0042", view.receipt_no, masked):
        assert words in pdf
    assert view.msisdn[4:] not in pdf.replace(" ", "")
    assert "Wan Chai shop" in text_of(await receipts.receipt_pdf(receipt, language="en"))


async def test_a_voucher_sales_receipt_lists_its_vouchers_and_no_pin(
    db: Database, clock: FixedClock
) -> None:
    where, _, voucher_id = await sold(db, clock)

    receipt = await receipts.receipt_for_sale(
        db, sale_id=voucher_id, viewer=where.clerk, signing=SIGNING
    )

    assert isinstance(receipt, SaleReceipt)
    view = receipt.view
    assert view.receipt_no.startswith("V")
    assert [line.face.minor for line in view.vouchers] == [10_000, 10_000]
    assert view.total.minor == 20_000
    pdf = text_of(await receipts.sale_receipt_pdf(receipt, language="zh_Hans_CN"))
    for words in ("充值卡收据", "湾仔店", "现金", view.vouchers[0].serial, "HK$200.00"):
        assert words in pdf


async def test_both_receipts_verify_by_their_signed_link_and_a_tampered_one_fails(
    db: Database, clock: FixedClock
) -> None:
    where, topup_id, voucher_id = await sold(db, clock)
    up = await receipts.receipt_for_sale(db, sale_id=topup_id, viewer=where.clerk, signing=SIGNING)
    vs = await receipts.receipt_for_sale(
        db, sale_id=voucher_id, viewer=where.clerk, signing=SIGNING
    )
    assert isinstance(up, Receipt)
    assert isinstance(vs, SaleReceipt)
    r_no, v_no = up.view.receipt_no, vs.view.receipt_no
    r_sig, v_sig = receipt_signature(SIGNING.key, r_no), receipt_signature(SIGNING.key, v_no)
    assert up.verify_url.endswith(f"/r/{r_no}/{r_sig}")
    assert vs.verify_url.endswith(f"/r/{v_no}/{v_sig}")

    genuine = await receipts.verify_sale_receipt(
        db, receipt_no=v_no, signature=v_sig, signing=SIGNING
    )
    assert genuine is not None
    assert genuine.view.total.minor == 20_000
    found = await receipts.verify_receipt(db, receipt_no=r_no, signature=r_sig, signing=SIGNING)
    assert found is not None
    assert found.view.counter is not None

    tampered = v_sig[:-1] + ("a" if v_sig[-1] != "a" else "b")
    other_no = v_no[:-1] + str((int(v_no[-1]) + 1) % 10)
    for receipt_no, signature in ((v_no, tampered), (other_no, v_sig), (r_no, v_sig)):
        assert (
            await receipts.verify_sale_receipt(
                db, receipt_no=receipt_no, signature=signature, signing=SIGNING
            )
            is None
        )
    assert (
        await receipts.verify_sale_receipt(db, receipt_no=r_no, signature=r_sig, signing=SIGNING)
        is None  # a top-up's receipt is the order's, not a voucher sale's
    )


async def test_who_may_read_a_sales_receipt_and_a_z_report(db: Database, clock: FixedClock) -> None:
    where, topup_id, _ = await sold(db, clock)
    other = await place(db, now=clock.now(), code="OTHER", username="clerk.other", books=False)
    agent = await member(db, clock, "agent.handy", "agent", agent_id=where.agent_id)
    stranger = await member(db, clock, "agent.other", "agent", agent_id=other.agent_id)
    auditor = await member(db, clock, "audrey", "auditor")
    shift = await counter.current_shift(db, clerk=where.clerk)
    assert shift is not None

    for viewer, allowed in (
        (where.clerk, True),
        (agent, True),
        (auditor, True),
        (other.clerk, False),
        (stranger, False),
    ):
        receipt = await receipts.receipt_for_sale(
            db, sale_id=topup_id, viewer=viewer, signing=SIGNING
        )
        report = await counter.shift_report(db, shift_id=shift.id, viewer=viewer)
        assert (receipt is not None, report is not None) == (allowed, allowed), viewer.username


async def test_the_z_report_pdf_prints_the_close(db: Database, clock: FixedClock) -> None:
    where, _, _ = await sold(db, clock)
    shift = await counter.current_shift(db, clerk=where.clerk)
    assert shift is not None
    await counter.close_shift(
        db, clerk=where.clerk, shift_id=shift.id, counted_minor=70_000, actor=HERE, now=clock.now()
    )

    report = await counter.shift_report(db, shift_id=shift.id, viewer=where.clerk)

    assert report is not None
    assert report.figures is not None
    assert report.expected_cash.minor == 50_000 + 20_000
    assert report.card.minor == 12_000
    assert report.figures.difference.minor == 0
    assert report.commission.minor == 180 + 300
    text = text_of(await receipts.z_report_pdf(report, language="zh_Hant_HK"))
    for words in ("Z 結算報告", "灣仔店", "HK$700.00", "HK$120.00", "應有現金"):
        assert words in text


async def member(
    db: Database, clock: FixedClock, username: str, role: str, agent_id: int | None = None
) -> StaffMember:
    new = await staff.add_staff(
        db,
        username=username,
        display_name=username,
        role=role,
        password="a good password",
        actor=CLI,
        now=clock.now(),
        agent_id=agent_id,
    )
    found = await db.read(lambda conn: staff.find_member(conn, staff_id=new.id))
    assert found is not None
    return found
