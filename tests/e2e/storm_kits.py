"""The kit providers in the webhook storm (UnionPay, AlipayHK, WeChat Pay HK, FPS): their
genuine notifications, captured from their own simulators, and the bad ones made from them.

Design overview
---------------
A kit's simulator hands each notification to a ``Deliver``. ``Capture`` takes that place:
it keeps what the simulator would have sent (URL, headers, body) and answers as our notify
endpoint answers one it took, so the simulator schedules no retry. ``Capture.pay`` pays an
order through the simulator's test hook (UnionPay's after the payer's browser posted the
order's signed form to the gateway, which opens the trade), one payment at a time per
provider, so the notification the hook made is the order's.

The storm sends each one many times, while the clock moves on by minutes. UnionPay signs the
form itself, with a certificate, and its notifications stay fresh for days; the others sign
a timestamp with the body and sign every retry afresh, so ``signed`` signs the captured body
again at each delivery, with the simulator's own key — or a stranger's (``forged``).
``tampered`` is the captured notification with its amount raised after it was signed
(WeChat Pay HK's amount is inside its encrypted resource: its event id is changed instead).
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa

from simkeep.payment_methods import Provider
from simkeep.payments.providers import alipayplus_signing, fps_bank
from simkeep.payments.providers.wechatpay_signing import json_bytes, new_nonce, platform_headers
from simkeep.payments.signing import KeyPair, load_private_key
from simkeep.simulators.delivery import Reply
from simkeep.simulators.embedded import EmbeddedProviders
from simkeep.simulators.kits import KIT_BY_PROVIDER, KITS
from tests.e2e.notices import private_key

if TYPE_CHECKING:
    from tests.e2e.storm_world import Placed, Storm

Headers = Callable[[datetime], dict[str, str]]  # made at each delivery, from the time it is sent
KIT_PROVIDERS = tuple(kit.provider for kit in KITS)
STRANGER = load_private_key(KeyPair.generate().private_pem)  # anyone's key but the provider's
RAISED = 10_000  # what a tampered notification adds to the amount, in minor units
# What our notify endpoint answers a notification it took, by the providers' own rules.
TAKEN = {
    Provider.UNIONPAY: Reply(200, b"ok"),
    Provider.ALIPAYHK: Reply(
        200, b'{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}'
    ),
    Provider.WECHATPAY_HK: Reply(204),
    Provider.FPS: Reply(200, b'{"received":true}'),
}


@dataclass(frozen=True, slots=True)
class Sent:
    """A notification as the simulator sent it."""

    url: str
    headers: Mapping[str, str]
    body: bytes


@dataclass
class Capture:
    """The kits' notifications, by the order each one pays."""

    sent: dict[str, Sent] = field(default_factory=dict)
    _new: dict[Provider, list[Sent]] = field(default_factory=dict)
    _paying: dict[Provider, asyncio.Lock] = field(default_factory=dict)

    def install(self, providers: EmbeddedProviders) -> None:
        """Every kit simulator of ``providers`` delivers here."""
        for provider in KIT_PROVIDERS:
            assert KIT_BY_PROVIDER[provider].accepted(TAKEN[provider]), provider
            self._new[provider], self._paying[provider] = [], asyncio.Lock()
            providers.others[provider]._deliver = self._deliver(provider)  # type: ignore[attr-defined]

    def _deliver(self, provider: Provider) -> Callable[..., Any]:
        async def deliver(url: str, headers: Mapping[str, str], body: bytes) -> Reply:
            self._new[provider].append(Sent(url, dict(headers), body))
            return TAKEN[provider]

        return deliver

    async def pay(self, storm: Storm, order: Placed) -> None:
        """Pay ``order`` at its simulator and keep the notification that made."""
        provider = order.provider
        if provider is Provider.UNIONPAY:  # the payer's browser posts the form to the gateway
            assert order.pay_url is not None
            assert order.form is not None
            opened = await storm.http.post(urlsplit(order.pay_url).path, data=order.form)
            assert opened.status_code == 303, opened.text
        params = {"outcome": "success"}
        if provider is Provider.FPS:  # the payer's transfer: the order's number and amount
            params["amount_minor"] = str(order.pay.minor)
        async with self._paying[provider]:
            before = len(self._new[provider])
            paid = await storm.http.post(
                f"/_sim/{provider.value}/pay/{order.order_no}", params=params
            )
            assert paid.status_code == 200, paid.text
            made = self._new[provider][before:]
        assert len(made) == 1, (order.order_no, made)
        self.sent[order.order_no] = made[0]


def signed(
    storm: Storm, order: Placed, body: bytes, *, key: rsa.RSAPrivateKey | None = None
) -> Headers:
    """The headers of the order's provider for ``body``, signed when sent (by ``key``, if
    given, instead of the simulator's own)."""
    provider, sent = order.provider, storm.capture.sent[order.order_no]
    sim: Any = storm.providers.others[provider]
    if provider is Provider.UNIONPAY:
        return lambda now: dict(sent.headers)
    if provider is Provider.FPS:

        def bank(now: datetime) -> dict[str, str]:
            return {
                "Content-Type": "application/json",
                **fps_bank.bank_headers(
                    private_key=key or private_key(sim.bank_keys.private_pem),
                    client_id=sim.client_id,
                    body=body,
                    timestamp=fps_bank.stamp(now),
                ),
            }

        return bank
    if provider is Provider.ALIPAYHK:

        def ams(now: datetime) -> dict[str, str]:
            return {
                "Content-Type": "application/json; charset=UTF-8",
                **alipayplus_signing.signed_headers(
                    key or private_key(sim.platform_keys.private_pem),
                    key_version=sim.key_version,
                    path=urlsplit(sent.url).path,
                    client_id=sim.client_id,
                    time_header="Request-Time",
                    time=alipayplus_signing.ams_time(now),
                    body=body,
                ),
            }

        return ams

    def v3(now: datetime) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            **platform_headers(
                private_key=key or private_key(sim.platform_keys.private_pem),
                serial=sim.public_key_id,
                body=body,
                timestamp=int(now.timestamp()),
                nonce=new_nonce(),
            ),
        }

    return v3


def genuine(storm: Storm, order: Placed) -> tuple[bytes, Headers]:
    """The order's notification as its simulator sent it, signed again when sent."""
    body = storm.capture.sent[order.order_no].body
    return body, signed(storm, order, body)


def forged(storm: Storm, order: Placed) -> tuple[bytes, Headers]:
    """The order's notification as a stranger sends it, signed with the stranger's key
    (UnionPay: a stranger's signature in the form); its bytes are the stranger's own (a
    line break after the JSON), so the inbox keeps it apart from the genuine one."""
    body = storm.capture.sent[order.order_no].body
    if order.provider is Provider.UNIONPAY:
        fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
        fields["signature"] = base64.b64encode(secrets.token_bytes(256)).decode()
        forged_body = urlencode(fields).encode()
        return forged_body, signed(storm, order, forged_body)
    forged_body = body + b"\n"
    return forged_body, signed(storm, order, forged_body, key=STRANGER)


def tampered(storm: Storm, order: Placed) -> tuple[bytes, Headers]:
    """The order's notification, changed after it was signed: the signature is over the
    body the simulator sent, the body sent says more."""
    body = storm.capture.sent[order.order_no].body
    headers = signed(storm, order, body)
    if order.provider is Provider.UNIONPAY:
        fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
        fields["txnAmt"] = str(int(fields["txnAmt"]) + RAISED)
        return urlencode(fields).encode(), headers
    notice = json.loads(body)
    if order.provider is Provider.FPS:
        notice["data"]["amount"]["value"] += RAISED
    elif order.provider is Provider.ALIPAYHK:
        amount = notice["paymentAmount"]
        amount["value"] = str(int(amount["value"]) + RAISED)
    else:
        notice["id"] = f"EV-{secrets.token_hex(12)}"
    return json_bytes(notice), headers
