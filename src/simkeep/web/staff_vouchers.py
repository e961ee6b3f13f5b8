"""Voucher batches on the operator's pages: ``/staff/vouchers`` lists the batches with their
vouchers counted by state, makes a new batch and looks a voucher up by serial;
``/staff/vouchers/batches/{id}`` shows one batch and blocks its unsold vouchers.

Design overview
---------------
A voucher looked up by serial shows its story: its batch, when it was sold and at which
outlet by which clerk (``counter.service.sale_for``), when and for which masked number it
was redeemed. Making a batch answers, in that same response, with the printer's CSV file
as a download (serial, PIN, value, currency, expiry) — the only time the PINs leave the
server; nothing can show them again (the batch is marked exported). A refusal shows the
form again with the field marked (400) and writes nothing. Every POST is behind
``StaffGuard`` (operators; auditors read) and the CSRF token, and is audited by
``vouchers.service`` without PINs.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import HTTPException, Path, Request
from fastapi.responses import Response

from simkeep.counter import service as counter
from simkeep.money import InvalidAmount, Money
from simkeep.services import Services, ServicesDep
from simkeep.vouchers import service as vouchers
from simkeep.vouchers.model import (
    InvalidBatch,
    UnknownVoucher,
    VoucherError,
    VoucherState,
    printer_file,
)
from simkeep.web.forms import FormState, read_form, see_other
from simkeep.web.pages import PagesDep
from simkeep.web.staff_session import SignedInStaff, StaffDep, staff_page, staff_router

router = staff_router()
BatchId = Annotated[int, Path(ge=1, le=2**62)]
CURRENCIES = ("HKD", "CNY")
FACES = ("50", "100", "200", "300")


@router.get("/staff/vouchers")
async def batches_page(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep
) -> Response:
    serial = request.query_params.get("serial", "")[:32]
    form = FormState({"serial": serial, "currency": "HKD", "face": "100"})
    return await _list_page(request, pages, services, staff, form)


@router.post("/staff/vouchers")
async def create_batch(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep
) -> Response:
    form = await read_form(request, staff.viewer)
    try:
        made = await vouchers.create_batch(
            services.db,
            face=_face(form),
            count=_count(form),
            expires_on=_day(form),
            key=vouchers.pin_key(services.settings.secret_key),
            actor=staff.actor,
            now=services.clock.now(),
        )
    except InvalidBatch as error:
        form.fail(error.field, error)
        return await _list_page(request, pages, services, staff, form)
    filename = f"{made.batch.batch_no}.csv"
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    }
    return Response(printer_file(made.printed), media_type="text/csv", headers=headers)


@router.get("/staff/vouchers/batches/{batch_id}")
async def batch_page(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep, batch_id: BatchId
) -> Response:
    batch = await services.db.transaction(lambda conn: vouchers.get_batch(conn, batch_id=batch_id))
    if batch is None:
        raise HTTPException(404, "no such voucher batch")
    counts = await services.db.transaction(
        lambda conn: vouchers.state_counts(conn, batch_ids=[batch_id])
    )
    context = {
        "batch": batch,
        "counts": counts.get(batch_id, {}),
        "states": list(VoucherState),
        "blocked": request.query_params.get("blocked", "")[:9],
    }
    return staff_page(pages, request, "staff/voucher_batch.html", staff, context)


@router.post("/staff/vouchers/batches/{batch_id}/block")
async def block_batch(
    request: Request, services: ServicesDep, staff: StaffDep, batch_id: BatchId
) -> Response:
    await read_form(request, staff.viewer)
    try:
        blocked = await vouchers.block_batch(
            services.db, batch_id=batch_id, actor=staff.actor, now=services.clock.now()
        )
    except vouchers.UnknownBatch as error:
        raise HTTPException(404, str(error)) from error
    return see_other(f"/staff/vouchers/batches/{batch_id}", blocked=str(blocked))


async def _list_page(
    request: Request, pages: PagesDep, services: ServicesDep, staff: SignedInStaff, form: FormState
) -> Response:
    listed = await services.db.transaction(lambda conn: vouchers.list_batches(conn))
    found = await _look_up(services, form) if form.text("serial") else None
    sold_by = None
    if found is not None and found.sale_id is not None:
        sold_by = await counter.sale_for(services.db, sale_id=found.sale_id, viewer=staff.member)
    context = {
        "form": form,
        "listed": listed,
        "found": found,
        "sold_by": sold_by,
        "states": list(VoucherState),
        "currencies": CURRENCIES,
        "faces": FACES,
    }
    status = 200 if form.ok else 400
    return staff_page(pages, request, "staff/vouchers.html", staff, context, status_code=status)


async def _look_up(services: Services, form: FormState) -> vouchers.VoucherView | None:
    """The voucher of the serial typed; the field marked if there is none."""
    try:
        found = await services.db.read(
            lambda conn: vouchers.look_up(conn, serial=form.text("serial"))
        )
    except VoucherError as error:
        form.fail("serial", error)
        return None
    if found is None:
        form.fail("serial", UnknownVoucher("no voucher has this serial", field="serial"))
    return found


def _face(form: FormState) -> Money:
    currency = form.text("currency")
    if currency not in CURRENCIES:
        raise InvalidBatch("choose HKD or CNY", field="currency")
    if form.text("face") not in FACES:
        raise InvalidBatch("the face value is 50, 100, 200 or 300", field="face")
    try:
        return Money.parse(form.text("face"), currency)
    except InvalidAmount as error:
        raise InvalidBatch("the face value is 50, 100, 200 or 300", field="face") from error


def _count(form: FormState) -> int:
    text = form.text("count")
    if not (text.isascii() and text.isdigit() and len(text) <= 6):
        raise InvalidBatch("enter a whole number of vouchers", field="count")
    return int(text)


def _day(form: FormState) -> date:
    try:
        return date.fromisoformat(form.text("expires")[:10])
    except ValueError as error:
        raise InvalidBatch("enter the expiry day as 2027-12-31", field="expires") from error
