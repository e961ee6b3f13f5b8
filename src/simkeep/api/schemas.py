"""The API's request and response bodies (Pydantic), and their conversion from domain types.

Design overview
---------------
Amounts travel as ``{"minor": 10000, "currency": "HKD"}``: integers in minor units, never
floats. Times are ISO 8601 in UTC. Numbers are E.164. What a person reads by name (a plan,
a payment provider on a receipt) travels as ``{"code": …, "name": …}``: the code for
programs, the name in the request's language (``Accept-Language``, ``api.deps.LanguageDep``).
Every response model is built from a domain object by an ``of`` class method, so routes stay
one call and one conversion. Where one answer names what another operation reads (an
order's number, a SIM's id), the document says so with an OpenAPI ``link``, which clients and
schemathesis follow.

Here are the shared pieces (amounts, balances, the phone number and password fields, a
plan, a provider) and the bodies of accounts and SIMs; a top-up's (its quote, its order)
are in ``api.topup_schemas``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field

from simkeep.i18n import translations
from simkeep.money import Money
from simkeep.payment_methods import Provider, provider_name
from simkeep.retention.accounts import Entry
from simkeep.retention.model import lapses_on, line_of
from simkeep.sims.model import Holder, Plan, SimAccount
from simkeep.subscribers.service import Session, Subscriber
from simkeep.topups.model import NumberPreview


def link_to(operation_id: str, **parameters: str) -> dict[str, Any]:
    """A response's OpenAPI link to ``operation_id``, its parameters taken from the answer."""
    return {"links": {operation_id: {"operationId": operation_id, "parameters": parameters}}}


def _iso_8601(value: object) -> object:
    """Text read as ISO 8601 only: Pydantic would also take ``0.5`` as a Unix time."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


Instant = Annotated[AwareDatetime, BeforeValidator(_iso_8601)]  # with its UTC offset

Phone = Field(min_length=6, max_length=32, examples=["+852 9123 4567"])
Locale = Literal["zh_Hant_HK", "zh_Hans_CN", "en"]
Password = Field(min_length=1, max_length=256)


class Amount(BaseModel):
    minor: int = Field(gt=0, le=10**9, examples=[10000])
    currency: Literal["HKD", "CNY"]

    @classmethod
    def of(cls, money: Money) -> Amount:
        return cls(minor=money.minor, currency=money.currency)

    def money(self) -> Money:
        return Money(self.minor, self.currency)


class Balance(BaseModel):
    minor: int
    currency: str

    @classmethod
    def of(cls, money: Money) -> Balance:
        return cls(minor=money.minor, currency=money.currency)


class CodeRequest(BaseModel):
    phone: str = Phone
    purpose: Literal["register", "reset_password"]


class RegisterRequest(BaseModel):
    phone: str = Phone
    code: str = Field(min_length=4, max_length=10)
    password: str = Password
    language: Locale | None = Field(
        default=None,
        description="The language the account reads (its SMS); Accept-Language otherwise",
    )


class LanguageRequest(BaseModel):
    language: Locale


class LoginRequest(BaseModel):
    phone: str = Phone
    password: str = Password


class ResetPasswordRequest(BaseModel):
    phone: str = Phone
    code: str = Field(min_length=4, max_length=10)
    new_password: str = Password


class ChangePasswordRequest(BaseModel):
    old_password: str = Password
    new_password: str = Password


class SessionOut(BaseModel):
    token: str = Field(description="Send as `Authorization: Bearer <token>`")
    expires_at: datetime
    subscriber_id: int

    @classmethod
    def of(cls, session: Session) -> SessionOut:
        return cls(
            token=session.token,
            expires_at=session.expires_at,
            subscriber_id=session.subscriber_id,
        )


class MeOut(BaseModel):
    id: int
    phone: str
    language: Locale = Field(description="The language my SMS are written in")

    @classmethod
    def of(cls, subscriber: Subscriber) -> MeOut:
        return cls(id=subscriber.id, phone=subscriber.phone, language=subscriber.language)


class NumberRequest(BaseModel):
    number: str = Phone


class LinkRequest(BaseModel):
    number: str = Phone
    code: str = Field(min_length=4, max_length=10)


class PlanOut(BaseModel):
    code: str = Field(examples=["HK-KEEP"])
    name: str = Field(
        description="In the request's language (Accept-Language)",
        examples=["Hong Kong number keeper, HK$8 a month"],
    )

    @classmethod
    def of(cls, plan: Plan, locale: str) -> PlanOut:
        return cls(code=plan.code, name=plan.name(locale))


class ProviderOut(BaseModel):
    code: Provider
    name: str = Field(
        description="In the request's language (Accept-Language)", examples=["WeChat Pay"]
    )

    @classmethod
    def of(cls, provider: Provider, locale: str) -> ProviderOut:
        return cls(code=provider, name=provider_name(provider, translations(locale)))


class SimOut(BaseModel):
    id: int
    iccid: str
    hk_number: str
    cn_number: str
    plan: PlanOut
    state: str
    home_currency: str
    holder_masked: str
    validity_until: datetime | None
    balance: Balance
    bonus: Balance
    lapses_on: date | None = Field(
        description="The Hong Kong day the SIM leaves `active` if nothing is done (a fee "
        "its balance cannot cover, or its validity ended); null when it is not active, or "
        "nothing would end it"
    )
    next_fee_on: date | None = Field(description="Monthly-fee plans: when the next fee is due")
    arrears: Balance = Field(description="Fees owed; a top-up pays them first")

    @classmethod
    def of(cls, held: SimAccount, locale: str) -> SimOut:
        sim, line = held.sim, line_of(held)
        return cls(
            id=sim.id,
            iccid=sim.iccid,
            hk_number=sim.hk_number.e164,
            cn_number=sim.cn_number.e164,
            plan=PlanOut.of(held.plan, locale),
            state=sim.state.value,
            home_currency=sim.home_currency,
            holder_masked=sim.holder_masked,
            validity_until=sim.validity_until,
            balance=Balance.of(held.balance),
            bonus=Balance.of(held.bonus),
            lapses_on=lapses_on(line),
            next_fee_on=line.next_fee_on,
            arrears=Balance.of(Money(sim.arrears_minor, sim.home_currency)),
        )


class KeepingOut(BaseModel):
    """A line of a SIM's retention history: money taken to keep the number, or a change of
    the line's state."""

    at: datetime
    kind: Literal["fee", "arrears", "forfeit", "state"] = Field(
        description="fee: a monthly fee charged; arrears: fees owed, paid from a top-up; "
        "forfeit: the balance forfeited on recycling; state: the line's state changed"
    )
    amount: Balance | None = Field(description="What was taken from the balance")
    state: str | None = Field(description="The state the line moved to")
    reason: str | None = Field(
        description="Why it moved: fee_unpaid, validity_ended, grace_over, suspension_over, top-up"
    )

    @classmethod
    def of(cls, entry: Entry) -> KeepingOut:
        return cls(
            at=entry.at,
            kind=entry.kind,
            amount=Balance.of(entry.amount) if entry.amount is not None else None,
            state=entry.to_state,
            reason=entry.reason or None,
        )


class HolderOut(BaseModel):
    """An account that holds the SIM (it proved so with a code sent to the SIM)."""

    phone_masked: str = Field(examples=["+852 6***4567"])
    linked_at: datetime
    me: bool = Field(description="This is my own account")

    @classmethod
    def of(cls, holder: Holder, *, me: int) -> HolderOut:
        return cls(
            phone_masked=holder.phone_masked,
            linked_at=holder.linked_at,
            me=holder.subscriber_id == me,
        )


class NumberOut(BaseModel):
    """What the wrong-number guard shows before payment."""

    number: str
    holder_masked: str
    plan: PlanOut
    state: str
    home_currency: str
    must_confirm: bool = Field(description="Never topped up by you: send `confirm_number` too")

    @classmethod
    def of(cls, preview: NumberPreview, locale: str) -> NumberOut:
        return cls(
            number=preview.e164,
            holder_masked=preview.holder_masked,
            plan=PlanOut.of(preview.plan, locale),
            state=preview.state,
            home_currency=preview.home_currency,
            must_confirm=preview.must_confirm,
        )
