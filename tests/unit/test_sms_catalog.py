"""The SMS catalogs: every text message the code sends is translated in every locale, with
the same placeholders, and the catalogs hold nothing the code no longer sends."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from simkeep.i18n import LOCALE_DIR, LOCALES
from simkeep.keepalive import charging as keepalive
from simkeep.refunds import sending as refunds
from simkeep.retention.notices import TEXTS as RETENTION_TEXTS
from simkeep.sims.holdings import LINKED_TEXT
from simkeep.subscribers.codes import CODE_TEXTS
from simkeep.topups.crediting import CREDIT_TEXT

SENT = {*CODE_TEXTS.values(), CREDIT_TEXT, LINKED_TEXT, *RETENTION_TEXTS.values()}
SENT |= {keepalive.NOTICE, keepalive.DECLINED, keepalive.GAVE_UP}
SENT |= {refunds.PAID_TEXT, refunds.FAILED_TEXT}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@pytest.mark.parametrize("locale", LOCALES)
def test_every_sms_is_translated_with_its_placeholders(locale: str) -> None:
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "sms.po").open("rb") as po_file:
        catalog = read_po(po_file, locale=locale)
    translated = {m.id: m.string for m in catalog if m.id and m.context == "sms" and m.string}
    assert set(translated) == SENT
    for message, text in translated.items():
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(message)), text
