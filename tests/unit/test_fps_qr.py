"""FPS QR codes: what ``fps_qr`` builds, read back by a TLV reader written here and checked
with ``binascii.crc_hqx`` (CRC-CCITT, the same polynomial, started at 0xFFFF); payloads
published by other FPS implementations read by ``fps_qr``; every refusal."""

from __future__ import annotations

import binascii

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simkeep.money import Money
from simkeep.payments.providers.fps_qr import (
    FpsQr,
    ProxyType,
    QrError,
    build_payload,
    crc16_ccitt_false,
    format_amount,
    parse_amount,
    parse_payload,
    tlv,
)

ORDER_NO = "T202611250000000042"


def _read(text: str) -> dict[str, str]:
    """EMVCo ``ID(2) LEN(2) VALUE`` objects, read without the code under test."""
    objects, index = {}, 0
    while index < len(text):
        tag, length = text[index : index + 2], int(text[index + 2 : index + 4])
        objects[tag] = text[index + 4 : index + 4 + length]
        assert len(objects[tag]) == length
        index += 4 + length
    return objects


def _qr(**changes: object) -> FpsQr:
    fields: dict[str, object] = {
        "proxy": "1234567",
        "merchant_name": "SIMKEEP DEMO LTD",
        "amount": Money(10050, "HKD"),
        "reference": ORDER_NO,
    }
    fields.update(changes)
    return FpsQr(**fields)  # type: ignore[arg-type]


def _crc_ok(payload: str) -> bool:
    body, crc = payload[:-4], payload[-4:]
    return crc == crc.upper() and int(crc, 16) == binascii.crc_hqx(body.encode(), 0xFFFF)


def test_a_dynamic_payload_has_every_object_the_fps_specification_asks_for() -> None:
    payload = build_payload(_qr())
    objects = _read(payload)
    assert list(objects) == ["00", "01", "26", "52", "53", "54", "58", "59", "60", "62", "63"]
    assert objects["00"] == "01"
    assert objects["01"] == "12"
    assert _read(objects["26"]) == {"00": "hk.com.hkicl", "02": "1234567"}
    assert objects["52"] == "4814"
    assert objects["53"] == "344"
    assert objects["54"] == "100.50"
    assert (objects["58"], objects["59"], objects["60"]) == ("HK", "SIMKEEP DEMO LTD", "HK")
    assert _read(objects["62"]) == {"05": ORDER_NO}
    assert payload[-8:-4] == "6304"
    assert _crc_ok(payload)


def test_the_whole_payload_as_text() -> None:
    body = (
        "000201010212"
        "26270012hk.com.hkicl02071234567"
        "520448145303344540"
        "6100.50"
        "5802HK5916SIMKEEP DEMO LTD6002HK"
        "62230519T202611250000000042"
        "6304"
    )
    payload = build_payload(_qr())
    assert payload[:-4] == body
    assert payload[-4:] == f"{binascii.crc_hqx(body.encode(), 0xFFFF):04X}"


@pytest.mark.parametrize(
    ("proxy", "tag"),
    [("1234567", "02"), ("+852-67891234", "03"), ("pay@simkeep.example", "04")],
)
def test_the_proxy_goes_under_its_own_sub_tag(proxy: str, tag: str) -> None:
    objects = _read(build_payload(_qr(proxy=proxy)))
    assert _read(objects["26"]) == {"00": "hk.com.hkicl", tag: proxy}
    assert ProxyType.of(proxy).value == tag


def test_the_crc_is_crc16_ccitt_false() -> None:
    assert crc16_ccitt_false(b"123456789") == 0x29B1  # the catalogue's check value
    for data in (b"", b"6304", b"000201010212" * 9):
        assert crc16_ccitt_false(data) == binascii.crc_hqx(data, 0xFFFF)


@pytest.mark.parametrize(
    ("payload", "proxy", "minor", "reference", "clearing"),
    [
        (  # Odoo's l10n_hk test vector
            "00020101021226330012hk.com.hkicl0313+852-6789123452040000530334454031005802HK"
            "5914company_1_data6002HK62170513INV/TEST/00016304A154",
            "+852-67891234",
            10000,
            "INV/TEST/0001",
            "",
        ),
        (  # a payment app's sample, FPS ID and reference label
            "00020101021226320012hk.com.hkicl0207600050906011520400005303344540510.505802HK"
            "5902NA6002HK62270523HKTEST202103190606259626304BCD1",
            "6000509",
            1050,
            "HKTEST20210319060625962",
            "",
        ),
        (  # a scanner's sample, static, with the payee bank's clearing code
            "00020101021126400012hk.com.hkicl01030040313+852-8765432152040000530334454041.23"
            "5802HK5902NA6002HK6304C246",
            "+852-87654321",
            123,
            "",
            "004",
        ),
    ],
)
def test_payloads_made_by_other_implementations_are_read(
    payload: str, proxy: str, minor: int, reference: str, clearing: str
) -> None:
    qr = parse_payload(payload)
    assert (qr.proxy, qr.amount, qr.reference) == (proxy, Money(minor, "HKD"), reference)
    assert qr.clearing_code == clearing


@pytest.mark.parametrize(
    ("minor", "text"),
    [(1, "0.01"), (10, "0.10"), (100, "1.00"), (10050, "100.50"), (123456789, "1234567.89")],
)
def test_amounts_are_written_from_integer_cents(minor: int, text: str) -> None:
    assert format_amount(Money(minor, "HKD")) == text
    assert parse_amount(text, "HKD") == Money(minor, "HKD")


@pytest.mark.parametrize(("text", "minor"), [("100", 10000), ("1.5", 150), ("0.07", 7)])
def test_amounts_without_two_decimals_are_read_exactly(text: str, minor: int) -> None:
    assert parse_amount(text, "HKD").minor == minor


@pytest.mark.parametrize("text", ["1.234", "-1", "1e3", "", "01.00", "1,000", "0", "0.00", " 1"])
def test_anything_but_a_plain_positive_amount_is_refused(text: str) -> None:
    with pytest.raises(QrError):
        parse_amount(text, "HKD")


@given(
    minor=st.integers(min_value=1, max_value=10**12 - 1),
    reference=st.from_regex(r"[A-Za-z0-9_]{1,25}", fullmatch=True),
)
def test_what_is_built_reads_back_the_same(minor: int, reference: str) -> None:
    qr = _qr(amount=Money(minor, "HKD"), reference=reference)
    payload = build_payload(qr)
    assert _crc_ok(payload)
    assert parse_payload(payload) == qr


@pytest.mark.parametrize(
    "changes",
    [
        {"merchant_name": "X" * 26},
        {"merchant_name": ""},
        {"reference": "R" * 26},
        {"reference": ""},
        {"proxy": "not a proxy"},
        {"proxy": "123"},
        {"amount": Money(0, "HKD")},
        {"amount": Money(10**13, "HKD")},
        {"amount": Money(100, "USD")},
        {"merchant_name": "陳記"},
    ],
)
def test_values_that_cannot_be_in_an_fps_code_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(QrError):
        build_payload(_qr(**changes))


def test_a_value_longer_than_99_characters_is_refused() -> None:
    assert tlv("59", "x" * 99).startswith("5999")
    with pytest.raises(QrError, match="more than 99"):
        tlv("59", "x" * 100)


def _w(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def _resealed(*objects: str) -> str:
    body = "".join(objects) + "6304"
    return f"{body}{binascii.crc_hqx(body.encode(), 0xFFFF):04X}"


HEAD = _w("00", "01") + _w("01", "12")
FPS_ID = _w("00", "hk.com.hkicl") + _w("02", "1234567")
TAIL = _w("53", "344") + _w("54", "100") + _w("59", "A")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (build_payload(_qr()).replace("100.50", "900.50"), "CRC does not match"),
        (build_payload(_qr())[:-4] + "0000", "CRC does not match"),
        (build_payload(_qr())[:-8], "CRC object"),
        (_resealed(HEAD, TAIL), "object 26 is missing"),
        (
            _resealed(HEAD, _w("26", _w("00", "hk.com.other") + _w("02", "1234567")), TAIL),
            "not an FPS",
        ),
        (_resealed(HEAD, _w("26", FPS_ID + _w("03", "+852-67891234")), TAIL), "exactly one"),
        (
            _resealed(HEAD, _w("26", _w("00", "hk.com.hkicl") + _w("02", "12")), TAIL),
            "not an FPS ID",
        ),
        (_resealed(HEAD, _w("01", "12"), _w("26", FPS_ID), TAIL), "appears twice"),
        (_resealed(HEAD, "2699", FPS_ID), "cut short"),
        (_resealed(HEAD, _w("26", FPS_ID), TAIL.replace("344", "840")), "currency"),
        (_resealed(_w("00", "02"), _w("01", "12"), _w("26", FPS_ID), TAIL), "format indicator"),
        (_resealed(HEAD, _w("26", FPS_ID), TAIL.replace("5403100", "5403-10")), "not an amount"),
    ],
)
def test_damaged_or_foreign_payloads_are_refused(payload: str, reason: str) -> None:
    with pytest.raises(QrError, match=reason):
        parse_payload(payload)
