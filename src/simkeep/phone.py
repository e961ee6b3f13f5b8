"""Phone numbers of the two lines a China–Hong Kong SIM carries.

Design overview
---------------
A Hong Kong mobile number is ``+852`` and 8 digits, a Mainland one ``+86`` and 11 digits.
``parse_number`` reads any usual spelling (spaces, dashes, ``00`` or ``+`` prefixes, or no
country code at all: 8 digits are Hong Kong, 11 digits the Mainland), checks it is a valid
mobile number with ``phonenumbers`` and returns it in E.164, the only form simkeep stores.
Subscribers log in with such a number and SIMs are found by either of theirs, so both
domains use this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers

from simkeep.errors import Refusal


class InvalidNumber(Refusal):
    code = "invalid_number"


class Region(StrEnum):
    HK = "HK"
    CN = "CN"


_COUNTRY_CODE = {Region.HK: 852, Region.CN: 86}
_MOBILE = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


@dataclass(frozen=True, slots=True)
class Number:
    e164: str
    region: Region

    def masked(self) -> str:
        """``+852 9***4567`` style: enough to recognise, not to read out."""
        local = self.e164.removeprefix(f"+{_COUNTRY_CODE[self.region]}")
        return f"+{_COUNTRY_CODE[self.region]} {local[:1]}{'*' * (len(local) - 5)}{local[-4:]}"


def parse_number(text: str, *, expect: Region | None = None) -> Number:
    """A Hong Kong or Mainland mobile number, in any usual spelling, as E.164."""
    digits = re.sub(r"[\s\-()]", "", text or "")
    if not digits:
        raise InvalidNumber("enter a phone number")
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if not digits.startswith("+"):
        guess = Region.HK if len(digits) == 8 else Region.CN if len(digits) == 11 else None
        if guess is None:
            raise InvalidNumber(
                f"{text!r} is neither an 8-digit HK nor an 11-digit Mainland number"
            )
        digits = f"+{_COUNTRY_CODE[guess]}{digits}"
    try:
        parsed = phonenumbers.parse(digits, None)
    except phonenumbers.NumberParseException as error:
        raise InvalidNumber(f"{text!r} is not a phone number") from error
    region_code = phonenumbers.region_code_for_number(parsed)
    if region_code not in ("HK", "CN") or not phonenumbers.is_valid_number(parsed):
        raise InvalidNumber(f"{text!r} is not a valid Hong Kong or Mainland number")
    if phonenumbers.number_type(parsed) not in _MOBILE:
        raise InvalidNumber(f"{text!r} is not a mobile number")
    region = Region(region_code)
    if expect is not None and region is not expect:
        raise InvalidNumber(
            f"{text!r} is not a {'Hong Kong' if expect is Region.HK else 'Mainland'} number"
        )
    return Number(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), region)
