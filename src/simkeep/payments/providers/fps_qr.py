"""FPS payee-presented QR codes: EMVCo merchant-presented TLV, built and read back.

Design overview
---------------
A payload is a string of data objects ``ID(2) LEN(2) VALUE``, the value at most 99
characters, ending with the CRC object ``6304`` + four uppercase hex digits:
CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no reflection, no final XOR)
over the whole payload up to and including ``6304``.

What is written follows HKMA/HKICL's *Payee-presented QR Code Specification for FPS*
(v1.2, built on EMV QRCPS merchant-presented mode and Hong Kong's Common QR Code
Specification), as far as it could be established from the specification's public copies
and independent implementations of it (Odoo's ``l10n_hk``, ``hkqr-fps``, ``hkqr``):

* ``00`` payload format ``01``; ``01`` point of initiation ``12`` (dynamic: one code per
  order, the amount fixed);
* ``26`` the FPS merchant account template: ``00`` globally unique identifier
  ``hk.com.hkicl``, ``01`` the payee's bank (clearing code, optional), then exactly one
  proxy: ``02`` FPS ID (7 to 9 digits), ``03`` mobile number (``+852-XXXXXXXX``) or ``04``
  e-mail address;
* ``52`` merchant category code (ISO 18245; ``4814`` telecommunication services), ``53``
  currency (ISO 4217 numeric: ``344`` HKD, ``156`` CNY), ``54`` amount (``100.00``: at most
  13 characters, written from integer minor units, never a float), ``58`` ``HK``, ``59``
  merchant name (at most 25 characters), ``60`` city ``HK``;
* ``62`` additional data with ``05`` reference label (at most 25 characters): the bill
  reference the payer's bank carries with the transfer — the order number.

A sub-object some implementations put in ``26`` as the code's expiry time is not written: a
transfer that arrives after the order expired is still reported and the payments service
decides. ``parse_payload`` reads a payload back and refuses a wrong CRC, a malformed or
duplicated object, a foreign template or a malformed amount (``QrError``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from simkeep.money import Money

GUID = "hk.com.hkicl"
MAX_VALUE = 99
MAX_NAME = 25
MAX_REFERENCE = 25
MAX_AMOUNT = 13
DYNAMIC, STATIC = "12", "11"
MCC_TELECOM = "4814"
CURRENCY_CODES = {"HKD": "344", "CNY": "156"}
CURRENCIES = {code: currency for currency, code in CURRENCY_CODES.items()}
CRC_TAG = "6304"
AMOUNT = re.compile(r"(?P<units>0|[1-9][0-9]*)(?:\.(?P<cents>[0-9]{1,2}))?")
TEXT = re.compile(r"[\x20-\x7e]*")  # the printable ASCII the objects here are written in


class QrError(ValueError):
    """A payload that is not a well-formed FPS QR code, or values that cannot be one."""


class ProxyType(StrEnum):
    """How the payee is named in template ``26``: its sub-object id."""

    FPS_ID = "02"
    MOBILE = "03"
    EMAIL = "04"

    @classmethod
    def of(cls, proxy: str) -> ProxyType:
        """The kind of ``proxy``: ``+852-…`` a mobile number, ``…@…`` an e-mail address,
        7 to 9 digits an FPS ID."""
        if re.fullmatch(r"\+852-[0-9]{8}", proxy):
            return cls.MOBILE
        if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", proxy):
            return cls.EMAIL
        if re.fullmatch(r"[0-9]{7,9}", proxy):
            return cls.FPS_ID
        raise QrError(f"{proxy!r} is not an FPS ID, a +852- mobile number or an e-mail")


@dataclass(frozen=True, slots=True)
class FpsQr:
    """What a dynamic FPS QR code says: who is paid, how much, with which reference."""

    proxy: str
    merchant_name: str
    amount: Money
    reference: str
    merchant_category_code: str = MCC_TELECOM
    city: str = "HK"
    clearing_code: str = ""

    @property
    def proxy_type(self) -> ProxyType:
        return ProxyType.of(self.proxy)


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: polynomial 0x1021, initial 0xFFFF, MSB first, no final XOR."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def tlv(tag: str, value: str) -> str:
    """One data object; refuses a value longer than 99 characters or not printable ASCII."""
    if not re.fullmatch(r"[0-9]{2}", tag):
        raise QrError(f"a data object's id is two digits, not {tag!r}")
    if len(value) > MAX_VALUE:
        raise QrError(f"object {tag} is {len(value)} characters, more than {MAX_VALUE}")
    if not TEXT.fullmatch(value):
        raise QrError(f"object {tag} holds characters other than printable ASCII")
    return f"{tag}{len(value):02d}{value}"


def parse_tlv(text: str) -> dict[str, str]:
    """The data objects of ``text`` by id, in order; a cut short or repeated one is refused."""
    objects: dict[str, str] = {}
    index = 0
    while index < len(text):
        head = text[index : index + 4]
        if not re.fullmatch(r"[0-9]{4}", head):
            raise QrError(f"no data object header at character {index}")
        tag, length = head[:2], int(head[2:])
        value = text[index + 4 : index + 4 + length]
        if len(value) != length:
            raise QrError(f"object {tag} is cut short")
        if tag in objects:
            raise QrError(f"object {tag} appears twice")
        objects[tag] = value
        index += 4 + length
    return objects


def format_amount(amount: Money) -> str:
    """``Money(10050, "HKD")`` → ``100.50``: integer arithmetic only."""
    if amount.minor <= 0:
        raise QrError("an FPS QR amount is positive")
    text = f"{amount.minor // 100}.{amount.minor % 100:02d}"
    if len(text) > MAX_AMOUNT:
        raise QrError(f"the amount {text} is longer than {MAX_AMOUNT} characters")
    return text


def parse_amount(text: str, currency: str) -> Money:
    """``100.5`` → ``Money(10050, currency)``; anything but plain decimal digits is refused."""
    match = AMOUNT.fullmatch(text)
    if match is None or len(text) > MAX_AMOUNT:
        raise QrError(f"{text!r} is not an amount")
    cents = (match["cents"] or "0").ljust(2, "0")
    minor = int(match["units"]) * 100 + int(cents)
    if minor <= 0:
        raise QrError("an FPS QR amount is positive")
    return Money(minor, currency)


def build_payload(qr: FpsQr) -> str:
    """The payload of a dynamic FPS QR code for ``qr``, its CRC last."""
    if qr.amount.currency not in CURRENCY_CODES:
        raise QrError(f"FPS pays in HKD or CNY, not {qr.amount.currency}")
    if not qr.merchant_name or len(qr.merchant_name) > MAX_NAME:
        raise QrError(f"the merchant name is 1 to {MAX_NAME} characters")
    if not qr.reference or len(qr.reference) > MAX_REFERENCE:
        raise QrError(f"the reference is 1 to {MAX_REFERENCE} characters")
    if qr.clearing_code and not re.fullmatch(r"[0-9]{3}", qr.clearing_code):
        raise QrError("a clearing code is three digits")
    if not re.fullmatch(r"[0-9]{4}", qr.merchant_category_code):
        raise QrError("a merchant category code is four digits")
    account = tlv("00", GUID)
    if qr.clearing_code:
        account += tlv("01", qr.clearing_code)
    account += tlv(qr.proxy_type.value, qr.proxy)
    body = (
        tlv("00", "01")
        + tlv("01", DYNAMIC)
        + tlv("26", account)
        + tlv("52", qr.merchant_category_code)
        + tlv("53", CURRENCY_CODES[qr.amount.currency])
        + tlv("54", format_amount(qr.amount))
        + tlv("58", "HK")
        + tlv("59", qr.merchant_name)
        + tlv("60", qr.city)
        + tlv("62", tlv("05", qr.reference))
        + CRC_TAG
    )
    return f"{body}{crc16_ccitt_false(body.encode('ascii')):04X}"


def parse_payload(payload: str) -> FpsQr:
    """What a dynamic FPS QR code says, after its CRC and every object are checked."""
    text = payload.strip()
    if not TEXT.fullmatch(text) or len(text) < 8 or text[-8:-4] != CRC_TAG:
        raise QrError("the payload does not end with a CRC object (6304….)")
    if f"{crc16_ccitt_false(text[:-4].encode('ascii')):04X}" != text[-4:].upper():
        raise QrError("the CRC does not match: the code was damaged or altered")
    objects = parse_tlv(text)
    if list(objects)[:2] != ["00", "01"] or list(objects)[-1] != "63" or objects["00"] != "01":
        raise QrError("a payload starts with the format indicator 01 and the initiation method")
    if objects["01"] not in (DYNAMIC, STATIC):
        raise QrError("the point of initiation is 11 or 12")
    account = parse_tlv(_required(objects, "26"))
    if account.get("00", "").lower() != GUID:
        raise QrError(f"template 26 is not an FPS account ({GUID})")
    proxies = [(t, account[t.value]) for t in ProxyType if t.value in account]
    if len(proxies) != 1 or ProxyType.of(proxies[0][1]) is not proxies[0][0]:
        raise QrError("template 26 names exactly one FPS ID, mobile number or e-mail")
    currency = CURRENCIES.get(_required(objects, "53"))
    if currency is None:
        raise QrError("the currency is not HKD (344) or CNY (156)")
    reference = parse_tlv(objects.get("62", "")).get("05", "")
    return FpsQr(
        proxy=proxies[0][1],
        merchant_name=_required(objects, "59"),
        amount=parse_amount(_required(objects, "54"), currency),
        reference=reference,
        merchant_category_code=objects.get("52", ""),
        city=objects.get("60", ""),
        clearing_code=account.get("01", ""),
    )


def _required(objects: dict[str, str], tag: str) -> str:
    value = objects.get(tag)
    if not value:
        raise QrError(f"object {tag} is missing")
    return value
