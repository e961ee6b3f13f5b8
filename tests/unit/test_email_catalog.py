"""The email catalogs and the address rule: every subject and text only an email says is
translated in every locale with the same placeholders (and nothing the code no longer
sends is kept); an address is refused unless it is plausible and at most 254 characters."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from simkeep.i18n import LOCALE_DIR, LOCALES, email
from simkeep.retention.notices import SUBJECTS
from simkeep.subscribers.emails import CODE_SUBJECT, CODE_TEXT
from simkeep.subscribers.model import InvalidEmail, check_email

SENT = {*SUBJECTS.values(), CODE_SUBJECT, CODE_TEXT}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@pytest.mark.parametrize("locale", LOCALES)
def test_every_email_text_is_translated_with_its_placeholders(locale: str) -> None:
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "email.po").open("rb") as po_file:
        catalog = read_po(po_file, locale=locale)
    translated = {m.id: m.string for m in catalog if m.id and m.context == "email" and m.string}
    assert set(translated) == SENT
    for message, text in translated.items():
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(message)), text


def test_the_code_email_reads_in_each_language() -> None:
    texts = {locale: email(locale, CODE_TEXT, code="123456", minutes=5) for locale in LOCALES}
    assert texts["zh_Hant_HK"].startswith("你的 simkeep 電郵確認碼：123456（5 分鐘內有效）")
    assert texts["zh_Hans_CN"].startswith("你的 simkeep 邮箱确认码：123456（5 分钟内有效）")
    assert texts["en"].startswith("Your simkeep code to confirm this email address: 123456")


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("chan@example.hk", "chan@example.hk"),
        ("  Chan.Tai-Man+sim@Mail.Example.COM.hk ", "Chan.Tai-Man+sim@mail.example.com.hk"),
        ("o'brien@example.co.uk", "o'brien@example.co.uk"),
    ],
)
def test_a_plausible_address_is_kept_with_its_domain_in_lower_case(typed: str, kept: str) -> None:
    assert check_email(typed) == kept


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "chan",
        "chan@",
        "@example.hk",
        "chan@example",
        "chan@@example.hk",
        "chan..tai@example.hk",
        ".chan@example.hk",
        "chan@-example.hk",
        "chan@example.123",
        "chan tai@example.hk",
        "chan@example.hk\r\nBcc: all@example.hk",
        "陳@例子.香港",
        "x" * 65 + "@example.hk",
        "x@" + "a" * 64 + ".hk",
        "x@" + ".".join(["abcdefgh"] * 30) + ".hk",  # 277 characters
    ],
)
def test_anything_else_is_refused(typed: str) -> None:
    with pytest.raises(InvalidEmail):
        check_email(typed)
