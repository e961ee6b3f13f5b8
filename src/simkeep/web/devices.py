"""Whether a page is drawn for a phone, read from the browser's User-Agent.

Design overview
---------------
One choice depends on the device: which ways to pay the review page lists first and
pre-selects (docs/payments.md). On a phone, the wallet opens on the phone itself (Alipay
WAP, WeChat Pay H5); elsewhere, a QR code that a phone scans. Every way stays offered
either way, so a wrong guess costs the payer a tap, never a payment. The guess is the usual
server-side one: phone browsers put ``Mobi`` (``Mobile``) in their User-Agent, and an
iPhone, a Windows Phone or an OpenHarmony phone (``(Phone; …``) names itself. A tablet is
not a phone here: an iPad asks for desktop pages as a Mac, an Android tablet leaves
``Mobile`` out.
"""

from __future__ import annotations

import re

PHONE = re.compile(r"Mobi|iPhone|Windows Phone|\(Phone;")


def is_phone(user_agent: str | None) -> bool:
    """Whether the browser that sent ``user_agent`` runs on a phone."""
    return bool(user_agent and PHONE.search(user_agent))
