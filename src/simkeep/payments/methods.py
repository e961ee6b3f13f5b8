"""Which ways to pay a payer is offered, and in what order: the same for the wizard and the
API.

Design overview
---------------
A way to pay is a provider and a channel (``PayMethod``), read from the registry
(``payment_methods.PROVIDERS``), offered when its provider is set up here (an adapter) and
not switched off by the operator (``SIMKEEP_PAYMENT_METHODS_OFF``), for the currency it is
paid in. ``offered`` orders them:

1. the methods that charge in the SIM's own currency, then those that charge in the other
   one (the FX line: the rate the operator set is locked at order time);
2. within each, on a phone the channels that open the wallet or bank on the phone itself,
   then a QR code another phone scans; elsewhere the QR codes and desktop cashiers first,
   then a phone's cashier. A provider's desktop page and its phone page are one cashier in
   two layouts, so each device is offered only its own. FPS has no phone channel: its code
   is scanned by the banking app, so on a phone it comes after the wallets, with the QR
   codes;
3. then the registry's order.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from simkeep.payment_methods import PROVIDERS, Channel, Provider, ProviderSpec

OTHER_CURRENCY = {"HKD": "CNY", "CNY": "HKD"}


@dataclass(frozen=True, slots=True)
class PayMethod:
    """A way to pay: who collects, how the payer gets there, in what currency."""

    provider: Provider
    channel: Channel
    currency: str

    @property
    def name(self) -> str:
        """Its name on the form: unique per provider and channel."""
        return f"{self.provider.value}-{self.channel.value}"

    @property
    def spec(self) -> ProviderSpec:
        return PROVIDERS[self.provider]


def channels_for(spec: ProviderSpec, *, phone: bool) -> tuple[Channel, ...]:
    """The provider's channels for the device, its own first, then the fallbacks."""
    own, other = (spec.phone, spec.desktop) if phone else (spec.desktop, spec.phone)
    one_cashier = {Channel.PAGE, Channel.WAP}
    fallbacks = [
        channel
        for channel in other
        if channel not in own and not (channel in one_cashier and one_cashier & set(own))
    ]
    return (*own, *fallbacks)


def offered(
    *,
    home_currency: str,
    pay_currencies: Iterable[str],
    charges: Mapping[Provider, Collection[str]],
    phone: bool,
) -> list[PayMethod]:
    """The ways to pay a SIM of ``home_currency`` in any of ``pay_currencies``, best first.
    ``charges`` holds the providers offered here and what each charges in."""
    methods = [
        PayMethod(provider, channel, currency)
        for currency in dict.fromkeys(pay_currencies)
        for provider, spec in PROVIDERS.items()
        if spec.online and currency in charges.get(provider, ())
        for channel in channels_for(spec, phone=phone)
    ]
    return sorted(methods, key=lambda m: (m.currency != home_currency, _fallback(m, phone)))


def _fallback(method: PayMethod, phone: bool) -> bool:
    """Whether the method is a fallback on this device (a QR code on a phone, a phone's
    cashier on a desktop)."""
    own = method.spec.phone if phone else method.spec.desktop
    return method.channel not in own
