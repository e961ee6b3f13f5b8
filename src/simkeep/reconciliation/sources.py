"""Where a day's bill comes from: the provider's adapter, which downloads it, or a file the
operator downloaded from the provider's console, read by the provider's own reader.

Design overview
---------------
A ``BillSource`` is anything that gives the ``Bill`` of a day: every payment adapter is one
(``PaymentProviderAdapter.bill``: download, digest and totals checked, read). ``FileBill``
is a file's bytes read by ``PARSERS``, the readers of ``simkeep.payments.bills`` by
provider — each module named after its adapter, WeChat Pay HK read by WeChat Pay's with its
own layout (a gzipped file unpacked first), AlipayHK by Alipay+'s. A reader checks the
summary totals against the rows and refuses (``BillRefused``) what does not add up; a file
of another provider or day is refused too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

from simkeep.payment_methods import Provider
from simkeep.payments.bills import alipay, alipayplus, fps, unionpay, wechatpay
from simkeep.reconciliation.bill import Bill, BillRefused

MAX_FILE_BYTES = 256 * 1024 * 1024  # a day's file as downloaded, before any reader looks

GZIP = b"\x1f\x8b"


class Parser(Protocol):
    def __call__(self, data: bytes, *, day: date) -> Bill: ...


def _wechatpay(provider: Provider) -> Parser:
    """WeChat Pay's reader of ``provider``'s layout, for the file as downloaded (gzipped)
    or unpacked."""

    def parse(data: bytes, *, day: date) -> Bill:
        if data.startswith(GZIP):
            data = wechatpay.gunzip(data, day=day, provider=provider)
        return wechatpay.parse(data, day=day, provider=provider)

    return parse


PARSERS: dict[Provider, Parser] = {
    Provider.ALIPAY: alipay.parse,
    Provider.WECHATPAY: _wechatpay(Provider.WECHATPAY),
    Provider.WECHATPAY_HK: _wechatpay(Provider.WECHATPAY_HK),
    Provider.UNIONPAY: unionpay.parse,
    Provider.ALIPAYHK: alipayplus.parse,
    Provider.FPS: fps.parse,
}


class BillSource(Protocol):
    async def bill(self, day: date) -> Bill:
        """The provider's bill of a Beijing day; ``BillNotReady`` while there is none,
        ``BillRefused`` when it does not add up."""
        ...


@dataclass(frozen=True, slots=True)
class FileBill:
    """A bill file of ``provider``, as its console gives it."""

    provider: Provider
    data: bytes

    async def bill(self, day: date) -> Bill:
        parse = PARSERS.get(self.provider)
        if parse is None:
            raise BillRefused(f"no reader of {self.provider.value}'s bills")
        if len(self.data) > MAX_FILE_BYTES:
            raise BillRefused(f"a bill file is at most {MAX_FILE_BYTES // 2**20} MiB")
        bill = parse(self.data, day=day)
        if bill.provider is not self.provider or bill.day != day:
            raise BillRefused(
                f"the file is {bill.provider.value}'s bill of {bill.day}, not"
                f" {self.provider.value}'s of {day}"
            )
        return bill
