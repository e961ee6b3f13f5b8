"""UnionPay's file transfer (对账文件下载, ``txnType`` 76), merchant side: the form that asks
for a day's flow file, and reading the answer into a ``Bill``.

Design overview
---------------
The form names the day by ``settleDate`` (``MMDD``) alone, so a day not begun yet in Beijing
is not asked for (``BillNotReady`` at once: UnionPay would answer another year's file; today
it answers that it has none yet), nor one a year ago or more (``BillRefused``: ``MMDD``
would name a later one). The answer, its signature already checked by the adapter, is
``respCode`` 00 with ``fileName`` and ``fileContent`` (read by ``payments.bills.unionpay``,
which checks the zip's CRC-32, the lines and the trailer), or ``98`` 文件不存在 — no file
yet, ``BillNotReady`` — or a refusal (``ProviderError``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

from simkeep.clock import in_shanghai
from simkeep.payments.bills.unionpay import read_file_content
from simkeep.payments.model import ProviderError
from simkeep.payments.providers.unionpay_refunds import said
from simkeep.payments.providers.unionpay_signing import (
    ENCODING,
    SIGN_METHOD,
    SUCCESS,
    VERSION,
    beijing_time,
)
from simkeep.reconciliation.bill import Bill, BillNotReady, BillRefused

DEFAULT_FILE_URL = "https://filedownload.95516.com/"
FILE_TRANSFER = {"txnType": "76", "txnSubType": "01", "bizType": "000000"}
FILE_TYPE = "00"  # the merchant's flow files
NO_FILE = "98"  # 文件不存在: the day's file is not made yet


def transfer_fields(*, mer_id: str, cert_id: str, day: date, now: datetime) -> dict[str, str]:
    """The form asking for ``day``'s file, unsigned; ``day`` must have begun, within a year."""
    today = in_shanghai(now).date()
    if day > today:
        raise BillNotReady(f"{day} has not begun in Beijing: UnionPay has no file for it")
    if day <= today - timedelta(days=365):
        raise BillRefused(f"UnionPay names a file by month and day: {day} is a year ago")
    return {
        "version": VERSION,
        "encoding": ENCODING,
        "signMethod": SIGN_METHOD,
        **FILE_TRANSFER,
        "accessType": "0",
        "merId": mer_id,
        "settleDate": f"{day:%m%d}",
        "txnTime": beijing_time(now),
        "fileType": FILE_TYPE,
        "certId": cert_id,
    }


def bill_from_answer(answer: Mapping[str, str], *, day: date, mer_id: str) -> Bill:
    """The signed answer's file as a ``Bill``, or why there is none."""
    code = answer.get("respCode", "")
    if code == NO_FILE:
        raise BillNotReady(f"UnionPay has no file of {day} yet: {said(answer)}")
    if code != SUCCESS or answer.get("merId") != mer_id:
        raise ProviderError(f"UnionPay refused the file transfer: {said(answer)}")
    return read_file_content(answer.get("fileContent", ""), day=day, mer_id=mer_id)
