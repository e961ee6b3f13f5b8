"""The console's one search box: what was typed, what it can be, and the SIMs it leads to
(docs/staff.md, "Search").

Design overview
---------------
* ``recognise`` has no I/O. The text is capped at the edge (``MAX_QUERY`` characters of
  digits, letters, spaces and ``+ - ( ) .``) and read as everything it can be:

  - a phone number in any usual spelling — ``+852 9123 4567``, ``852-9123-4567``,
    ``+86 139 …``, ``86139…`` or the bare 8 or 11 digits (``phone.parse_number``) — looked
    up as either of a SIM's two numbers and as a subscriber's login, whose SIMs it finds;
  - an order number (``T`` and 18 digits), a receipt number (``R`` and 16 digits: a
    top-up's, online or at a counter — the counter's receipt is its order's), a refund
    number (``F``, 6 digits and 12 hex digits; a paid refund's receipt carries it);
  - a voucher serial (12 to 19 digits whose last is their check digit), which leads to
    the SIM its redemption credited.

  Text that can be none of these is refused (``BadQuery``): the page says what it takes.
* ``find`` looks each reading up by a unique or primary-key index (``sim_lines.e164``,
  ``subscribers.phone``, ``topup_orders.order_no`` and ``receipt_no``,
  ``refunds.refund_no``, ``vouchers.serial``) through the domain that owns it, in one read,
  and answers the SIMs found, each with every way it was found. One SIM: the page goes to
  it; several: a list; none: "nothing found".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.errors import Refusal
from simkeep.phone import InvalidNumber, parse_number
from simkeep.refunds import queries as refunds
from simkeep.sims import service as sims
from simkeep.sims.model import Sim
from simkeep.subscribers.codes import subscriber_id_of
from simkeep.topups import queries as topups
from simkeep.topups.model import Order
from simkeep.vouchers import service as vouchers
from simkeep.vouchers.model import VoucherError, check_serial

MAX_QUERY = 64
_ALLOWED = re.compile(r"[0-9A-Za-z +\-().]*")
_SEPARATORS = re.compile(r"[\s\-().]")
_ORDER = re.compile(r"T\d{18}")
_RECEIPT = re.compile(r"R\d{16}")
_REFUND = re.compile(r"F\d{6}[0-9A-F]{12}")
_SERIAL = re.compile(r"\d{12,19}")


class BadQuery(Refusal):
    """Text the search cannot read: ``query_characters`` (too long, or characters no
    number has) or ``query_unknown`` (none of the things the search knows)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Kind(StrEnum):
    """What the text was read as (a phone number, or a number of ours), and how a SIM was
    found by it (a phone number: as one of its lines, or an account's login)."""

    PHONE = "phone"  # a phone number typed: looked up as a line and as a login
    HK_NUMBER = "hk_number"  # the SIM's Hong Kong number
    CN_NUMBER = "cn_number"  # the SIM's Mainland number
    SUBSCRIBER = "subscriber"  # the login of an account that holds the SIM
    ORDER = "order"
    RECEIPT = "receipt"
    REFUND = "refund"
    VOUCHER = "voucher"


_CODES = ((Kind.ORDER, _ORDER), (Kind.RECEIPT, _RECEIPT), (Kind.REFUND, _REFUND))


@dataclass(frozen=True, slots=True)
class Reading:
    """One thing the text can be: a phone number (E.164), or a number of ours."""

    kind: Kind
    value: str


@dataclass
class Hit:
    """A SIM found, and every way it was found."""

    sim: Sim
    found_by: list[Reading] = field(default_factory=list)


def recognise(text: str) -> list[Reading]:
    """Everything ``text`` can be; ``BadQuery`` if it can be nothing the search knows."""
    typed = text.strip()
    if len(typed) > MAX_QUERY or not _ALLOWED.fullmatch(typed):
        raise BadQuery(
            "query_characters", f"type at most {MAX_QUERY} letters, digits, spaces and + - ( ) ."
        )
    if not typed:
        raise BadQuery("query_unknown", "type a number, or an order, receipt or refund number")
    code = _SEPARATORS.sub("", typed).upper()
    readings = [Reading(kind, code) for kind, pattern in _CODES if pattern.fullmatch(code)]
    if _SERIAL.fullmatch(code) and _is_serial(code):
        readings.append(Reading(Kind.VOUCHER, code))
    if (number := _phone(code)) is not None:
        readings.append(Reading(Kind.PHONE, number))
    if not readings:
        raise BadQuery(
            "query_unknown",
            "this is not a phone number, an order, receipt or refund number, or a voucher serial",
        )
    return readings


def _phone(code: str) -> str | None:
    """The E.164 number ``code`` spells (without separators), if it is a HK or Mainland
    mobile: with ``+`` or ``00``, bare, or with the country code and no ``+``."""
    candidates = [code]
    if code.isdigit() and (
        (code.startswith("852") and len(code) == 11) or (code.startswith("86") and len(code) == 13)
    ):
        candidates.append(f"+{code}")
    for candidate in candidates:
        try:
            return parse_number(candidate).e164
        except InvalidNumber:
            continue
    return None


def _is_serial(code: str) -> bool:
    try:
        check_serial(code)
    except VoucherError:
        return False
    return True


async def find(db: Database, *, text: str) -> list[Hit]:
    """The SIMs ``text`` leads to, each with how it was found, in the order first found."""
    readings = recognise(text)

    async def read(conn: AsyncConnection) -> list[Hit]:
        hits: dict[int, Hit] = {}
        for reading in readings:
            for how, sim in await _look_up(conn, reading):
                hits.setdefault(sim.id, Hit(sim)).found_by.append(how)
        return list(hits.values())

    return await db.read(read)


async def _look_up(conn: AsyncConnection, reading: Reading) -> list[tuple[Reading, Sim]]:
    """The SIMs one reading finds, each with the reading as it matched."""
    if reading.kind is Kind.PHONE:
        return await _by_phone(conn, reading.value)
    order: Order | None = None
    if reading.kind is Kind.ORDER:
        order = await topups.get_order(conn, order_no=reading.value)
    elif reading.kind is Kind.RECEIPT:
        order = await topups.get_order_by_receipt(conn, receipt_no=reading.value)
    elif reading.kind is Kind.REFUND:
        refund = await refunds.get_refund(conn, refund_no=reading.value)
        return await _sim(conn, reading, refund.sim_id if refund else None)
    elif reading.kind is Kind.VOUCHER:
        voucher = await vouchers.look_up(conn, serial=reading.value)
        if voucher is not None and voucher.order_no:
            order = await topups.get_order(conn, order_no=voucher.order_no)
    return await _sim(conn, reading, order.sim_id if order else None)


async def _by_phone(conn: AsyncConnection, e164: str) -> list[tuple[Reading, Sim]]:
    """The SIM with this number as one of its lines, and the SIMs the account with this
    login holds."""
    found: list[tuple[Reading, Sim]] = []
    own = await sims.find_by_number(conn, number=e164)
    if own is not None:
        kind = Kind.HK_NUMBER if own.hk_number.e164 == e164 else Kind.CN_NUMBER
        found.append((Reading(kind, e164), own))
    subscriber_id = await subscriber_id_of(conn, e164)
    if subscriber_id is not None:
        held = await sims.held_sims(conn, subscriber_id=subscriber_id)
        found += [(Reading(Kind.SUBSCRIBER, e164), account.sim) for account in held]
    return found


async def _sim(
    conn: AsyncConnection, reading: Reading, sim_id: int | None
) -> list[tuple[Reading, Sim]]:
    sim = None if sim_id is None else await sims.get_sim(conn, sim_id=sim_id)
    return [] if sim is None else [(reading, sim)]
