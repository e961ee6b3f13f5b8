"""``/api/v1/pos``: the counter for a clerk's device — shifts, looking a number up, the ID
check, top-ups and voucher sales (each with an ``Idempotency-Key``), whether a key's sale
went through, receipts (JSON and PDF) and a shift's Z-report; refunds of the agent's counter
top-ups are ``api.pos_refunds``, under the same prefix.

Every route takes the bearer token of a device that belongs to a clerk (``simkeep pos
add-device``): no token, or an unknown or revoked one, is a 401; an agent's device is a
403. The clerk's outlet is the device's, never one named in the request. A sale sent again
with the same key and body answers the first sale (200, ``replayed``: nothing new); with
another body, 409 ``idempotency_conflict`` (``api.pos_answers``, shared with the refunds).
Thin: each route calls ``counter.service`` (or ``receipts.service`` for papers) once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response

from simkeep.api import pos_refunds
from simkeep.api.deps import LanguageDep
from simkeep.api.devices import ClerkDeviceDep
from simkeep.api.pos_answers import (
    KEY_PATTERN,
    PDF,
    POS_ERRORS,
    IdempotencyKey,
    PaperLanguageDep,
    actor,
    pdf_answer,
    replay_status,
    replayed,
    typed_document,
)
from simkeep.api.pos_schemas import (
    CloseShiftRequest,
    IdCheckOut,
    IdCheckRequest,
    LookupOut,
    OpenShiftRequest,
    SaleOut,
    SaleReceiptOut,
    ShiftOut,
    ShiftReportOut,
    TopUpRequest,
    VoucherSaleRequest,
)
from simkeep.api.schemas import link_to
from simkeep.counter import service as counter
from simkeep.counter.model import Payer, TopUp, VoucherSale, check_payer
from simkeep.counter.service import Device, ShiftReport
from simkeep.receipts import service as receipts
from simkeep.receipts.service import Receipt, SaleReceipt
from simkeep.services import Services, ServicesDep
from simkeep.sqltypes import MAX_ID

router = APIRouter(prefix="/api/v1/pos", tags=["pos"], responses=POS_ERRORS)
router.include_router(pos_refunds.router)  # refunds at the counter
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
SOLD = {**replayed(SaleOut, "sale"), 201: link_to("sale_receipt", sale_id="$response.body#/id")}


@router.post("/shifts", status_code=201, summary="Open my shift with the cash in the drawer")
async def open_shift(
    body: OpenShiftRequest, device: ClerkDeviceDep, services: ServicesDep, request: Request
) -> ShiftOut:
    shift = await counter.open_shift(
        services.db,
        clerk=device.member,
        opening_minor=body.opening_cash_minor,
        actor=actor(device, request),
        now=services.clock.now(),
    )
    return ShiftOut.of(shift)


@router.get("/shift", summary="My open shift")
async def current_shift(device: ClerkDeviceDep, services: ServicesDep) -> ShiftOut:
    shift = await counter.current_shift(services.db, clerk=device.member)
    if shift is None:
        raise HTTPException(404, "no shift of yours is open")
    return ShiftOut.of(shift)


@router.post("/shifts/{shift_id}/close", summary="Close my shift with the cash counted")
async def close_shift(
    shift_id: RowId,
    body: CloseShiftRequest,
    device: ClerkDeviceDep,
    services: ServicesDep,
    request: Request,
) -> ShiftOut:
    shift = await counter.close_shift(
        services.db,
        clerk=device.member,
        shift_id=shift_id,
        counted_minor=body.counted_cash_minor,
        actor=actor(device, request),
        now=services.clock.now(),
    )
    return ShiftOut.of(shift)


@router.get("/shifts/{shift_id}", summary="A shift's Z-report (its figures so far while open)")
async def shift_report(
    shift_id: RowId, device: ClerkDeviceDep, services: ServicesDep, language: LanguageDep
) -> ShiftReportOut:
    return ShiftReportOut.of(await _report(services, device, shift_id), language)


@router.get(
    "/shifts/{shift_id}/z-report.pdf",
    summary="A shift's Z-report as a PDF (80 mm)",
    response_class=Response,
    responses=PDF,
)
async def shift_report_pdf(
    shift_id: RowId, device: ClerkDeviceDep, services: ServicesDep, language: PaperLanguageDep
) -> Response:
    report = await _report(services, device, shift_id)
    pdf = await receipts.z_report_pdf(report, language=language)
    return pdf_answer(pdf, f"z-report-{shift_id}")


@router.get("/numbers/{number}", summary="Look a number up before a top-up")
async def look_up(
    number: Annotated[str, Path(min_length=6, max_length=32)],
    device: ClerkDeviceDep,
    services: ServicesDep,
    language: LanguageDep,
) -> LookupOut:
    found = await counter.look_up(
        services.db,
        clerk=device.member,
        number=number,
        policy=services.id_policy,
        now=services.clock.now(),
    )
    return LookupOut.of(found, language)


@router.post("/id-checks", summary="Check the holder's ID document: match or no match")
async def check_id(
    body: IdCheckRequest, device: ClerkDeviceDep, services: ServicesDep, request: Request
) -> IdCheckOut:
    document = typed_document(body, device, request, services)
    matched = await counter.check_id(services.db, number=body.number, **document)
    return IdCheckOut(matched=matched)


@router.post(
    "/topups",
    status_code=201,
    summary="Top a number up, paid in cash or by card at the counter",
    responses=SOLD,
)
async def top_up(
    body: TopUpRequest,
    key: IdempotencyKey,
    device: ClerkDeviceDep,
    services: ServicesDep,
    response: Response,
) -> SaleOut:
    request = TopUp(key=key, number=body.number, amount_minor=body.amount_minor, payer=_payer(body))
    sale = await counter.top_up(
        services.db,
        clerk=device.member,
        device_id=device.id,
        request=request,
        policy=services.id_policy,
        now=services.clock.now(),
    )
    replay_status(sale, response)
    return SaleOut.of(sale)


@router.post(
    "/voucher-sales",
    status_code=201,
    summary="Sell vouchers, paid in cash or by card at the counter",
    responses=SOLD,
)
async def sell_vouchers(
    body: VoucherSaleRequest,
    key: IdempotencyKey,
    device: ClerkDeviceDep,
    services: ServicesDep,
    response: Response,
) -> SaleOut:
    request = VoucherSale(key=key, serials=tuple(body.serials), payer=_payer(body))
    sale = await counter.sell_vouchers(
        services.db,
        clerk=device.member,
        device_id=device.id,
        request=request,
        now=services.clock.now(),
    )
    replay_status(sale, response)
    return SaleOut.of(sale)


@router.get("/sales", summary="Whether the sale sent with this key went through")
async def sale_by_key(
    key: Annotated[str, Query(pattern=KEY_PATTERN, description="The sale's Idempotency-Key")],
    device: ClerkDeviceDep,
    services: ServicesDep,
) -> SaleOut:
    sale = await counter.find_sale(services.db, clerk=device.member, key=key)
    if sale is None:
        raise HTTPException(404, "no sale was made with this key: it did not go through")
    return SaleOut.of(sale)


@router.get("/sales/{sale_id}/receipt", summary="A sale's receipt")
async def sale_receipt(
    sale_id: RowId, device: ClerkDeviceDep, services: ServicesDep, language: LanguageDep
) -> SaleReceiptOut:
    return SaleReceiptOut.of(await _receipt(services, device, sale_id), language)


@router.get(
    "/sales/{sale_id}/receipt.pdf",
    summary="A sale's receipt as a PDF (80 mm), with its verification QR code",
    response_class=Response,
    responses=PDF,
)
async def sale_receipt_pdf(
    sale_id: RowId, device: ClerkDeviceDep, services: ServicesDep, language: PaperLanguageDep
) -> Response:
    receipt = await _receipt(services, device, sale_id)
    if isinstance(receipt, SaleReceipt):
        pdf = await receipts.sale_receipt_pdf(receipt, language=language)
    else:
        pdf = await receipts.receipt_pdf(receipt, language=language)
    return pdf_answer(pdf, receipt.view.receipt_no)


def _payer(body: TopUpRequest | VoucherSaleRequest) -> Payer:
    return check_payer(body.payment, body.terminal_ref)


async def _report(services: Services, device: Device, shift_id: int) -> ShiftReport:
    report = await counter.shift_report(services.db, shift_id=shift_id, viewer=device.member)
    if report is None:
        raise HTTPException(404, "no such shift that you may read")
    return report


async def _receipt(services: Services, device: Device, sale_id: int) -> Receipt | SaleReceipt:
    receipt = await receipts.receipt_for_sale(
        services.db, sale_id=sale_id, viewer=device.member, signing=services.receipts
    )
    if receipt is None:
        raise HTTPException(404, "no such sale that you may read")
    return receipt
