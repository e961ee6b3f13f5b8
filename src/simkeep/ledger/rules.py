"""Posting rules: the journal every business event writes (docs/ledger.md, as code).

Pure functions from account ids and amounts to postings (debit +, credit -). Domain
services pick the accounts and call ``service.post_journal`` with the result; keeping the
rules here means every top-up, fee or refund is booked the same way wherever it happens.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence

from simkeep.ledger.model import MAX_POSTINGS, InvalidJournal, Posting
from simkeep.money import Money

Postings = tuple[Posting, ...]


def _positive(*amounts: Money) -> None:
    for amount in amounts:
        if amount.minor <= 0:
            raise InvalidJournal(f"amount {amount} must be positive")


def transfer(debit_account: int, credit_account: int, amount: Money) -> Postings:
    """The simplest journal: ``amount`` from ``credit_account`` to ``debit_account``."""
    _positive(amount)
    return (Posting.debit(debit_account, amount), Posting.credit(credit_account, amount))


def unmatched_payment(*, clearing: int, unmatched: int, amount: Money) -> Postings:
    """Money pushed to us that matches no order: ours to hold until staff decide."""
    return transfer(clearing, unmatched, amount)


def unmatched_assigned(*, unmatched: int, clearing: int, amount: Money) -> Postings:
    """A payment in review given to its order: back through the clearing account, which the
    order's top-up then books as if it had matched at once."""
    return transfer(unmatched, clearing, amount)


def provider_topup(*, clearing: int, sim_balance: int, amount: Money) -> Postings:
    """Online top-up paid in the SIM's currency: the provider owes us, we owe the SIM."""
    return transfer(clearing, sim_balance, amount)


def cross_currency_topup(
    *,
    clearing: int,
    fx_paid: int,
    fx_credited: int,
    sim_balance: int,
    paid: Money,
    credited: Money,
) -> Postings:
    """Paid in one currency, credited in the other, through both FX position accounts."""
    _positive(paid, credited)
    if paid.currency == credited.currency:
        raise InvalidJournal("a cross-currency top-up needs two currencies")
    return transfer(clearing, fx_paid, paid) + transfer(fx_credited, sim_balance, credited)


def outlet_topup(
    *,
    agent_float: int,
    sim_balance: int,
    commission_expense: int,
    commission_payable: int,
    amount: Money,
    commission: Money,
) -> Postings:
    """Cash or card at an outlet: the agent's float pays the SIM; commission accrues."""
    return transfer(agent_float, sim_balance, amount) + _commission(
        commission_expense, commission_payable, commission
    )


def voucher_sale(
    *,
    agent_float: int,
    vouchers_outstanding: int,
    commission_expense: int,
    commission_payable: int,
    face_value: Money,
    commission: Money,
) -> Postings:
    """An outlet sells a voucher: the float pays for a PIN the operator must honour later."""
    return transfer(agent_float, vouchers_outstanding, face_value) + _commission(
        commission_expense, commission_payable, commission
    )


def _commission(expense: int, payable: int, commission: Money) -> Postings:
    if commission.is_zero():
        return ()
    return transfer(expense, payable, commission)


def voucher_redemption(
    *, vouchers_outstanding: int, sim_balance: int, face_value: Money
) -> Postings:
    """A PIN is redeemed: the voucher liability becomes the SIM's balance."""
    return transfer(vouchers_outstanding, sim_balance, face_value)


def voucher_breakage(*, vouchers_outstanding: int, breakage: int, face_value: Money) -> Postings:
    """A sold voucher expired unredeemed: its value is the operator's income."""
    return transfer(vouchers_outstanding, breakage, face_value)


def retention_fee(*, sim_balance: int, revenue: int, fee: Money) -> Postings:
    """The monthly keep-the-number fee, earned when charged."""
    return transfer(sim_balance, revenue, fee)


def usage(
    *, sim_bonus: int, sim_balance: int, revenue: int, from_bonus: Money, from_balance: Money
) -> Postings:
    """Usage charged by the network: bonus money first, then the balance."""
    if from_bonus.minor < 0 or from_balance.minor < 0:
        raise InvalidJournal("usage amounts cannot be negative")
    total = from_bonus + from_balance
    _positive(total)
    postings = [Posting.credit(revenue, total)]
    if from_bonus.minor:
        postings.insert(0, Posting.debit(sim_bonus, from_bonus))
    if from_balance.minor:
        postings.insert(0, Posting.debit(sim_balance, from_balance))
    return tuple(postings)


def promotion_grant(*, promotion_expense: int, sim_bonus: int, bonus: Money) -> Postings:
    """Bonus money granted by a promotion is an expense when granted."""
    return transfer(promotion_expense, sim_bonus, bonus)


def promotion_expiry(*, sim_bonus: int, promotion_expense: int, unused: Money) -> Postings:
    """Bonus money that expires (or is taken back on refund) was never spent: undo its cost."""
    return transfer(sim_bonus, promotion_expense, unused)


def refund_approved(
    *,
    sim_balance: int,
    refunds_payable: int,
    promotion_expense: int,
    taken: Money,
    deducted: Money,
    owed: Money,
    fx: tuple[int, int] | None = None,
) -> Postings:
    """An approved refund leaves the SIM at once (``taken``) and waits as a debt to the payer
    (``owed``, in the currency paid); bonus money that was used is ``deducted`` from it, back
    to the promotion expense. Owed in another currency (``fx``: the FX position accounts of
    the SIM's and the payer's currency), it goes through both FX positions."""
    _positive(taken, owed)
    if deducted.minor < 0 or deducted >= taken:
        raise InvalidJournal("a deduction is part of what is taken, never all of it")
    refunded = taken - deducted
    postings = [Posting.debit(sim_balance, taken)]
    if deducted.minor:
        postings.append(Posting.credit(promotion_expense, deducted))
    if fx is None:
        if owed != refunded:
            raise InvalidJournal("a refund in the same currency owes what it takes")
        return (*postings, Posting.credit(refunds_payable, owed))
    if owed.currency == taken.currency:
        raise InvalidJournal("a refund through the FX positions needs two currencies")
    fx_credited, fx_paid = fx
    return (
        *postings,
        Posting.credit(fx_credited, refunded),
        Posting.debit(fx_paid, owed),
        Posting.credit(refunds_payable, owed),
    )


def refund_paid(*, refunds_payable: int, paid_from: int, amount: Money) -> Postings:
    """The refund went out from the provider's clearing account."""
    return transfer(refunds_payable, paid_from, amount)


def outlet_refund_paid(
    *,
    refunds_payable: int,
    agent_float: int,
    commission_payable: int,
    commission_expense: int,
    amount: Money,
    commission: Money,
) -> Postings:
    """A refund of an outlet top-up is paid to the agent's float (the agent pays the payer at
    its counter); the commission it earned on the refunded part goes back."""
    paid = transfer(refunds_payable, agent_float, amount)
    if commission.is_zero():
        return paid
    return paid + transfer(commission_payable, commission_expense, commission)


def forfeiture(*, sim_balance: int, forfeited: int, remaining: Money) -> Postings:
    """A recycled SIM's remaining balance is forfeited, never deleted."""
    return transfer(sim_balance, forfeited, remaining)


def balance_adjustment(*, sim_balance: int, adjustments: int, amount: Money) -> Postings:
    """A manual adjustment another member of staff approved: a credit (``amount`` positive)
    puts money on the SIM from the adjustments expense account, a debit (negative) takes it
    back there."""
    if amount.minor > 0:
        return transfer(adjustments, sim_balance, amount)
    if amount.minor < 0:
        return transfer(sim_balance, adjustments, -amount)
    raise InvalidJournal("an adjustment moves some money")


def float_deposit(*, bank: int, agent_float: int, amount: Money) -> Postings:
    """An agent pays into its float."""
    return transfer(bank, agent_float, amount)


def provider_settlement(
    *, bank: int, fees: int, clearing: int, gross: Money, fee: Money
) -> Postings:
    """A provider settles its clearing balance into the bank, less its fee."""
    _positive(gross)
    net = gross - fee
    postings = [Posting.debit(bank, net), Posting.credit(clearing, gross)]
    if fee.minor:
        postings.insert(1, Posting.debit(fees, fee))
    return tuple(postings)


def provider_fees(*, clearing: int, fees: int, net: Money) -> Postings:
    """A day's fees a provider kept on its payments, less those it gave back on refunds
    (``net``, found by reconciliation): out of its clearing account into the provider fees
    expense; a day that gave back more (``net`` negative) reverses."""
    if net.minor > 0:
        return transfer(fees, clearing, net)
    if net.minor < 0:
        return transfer(clearing, fees, -net)
    raise InvalidJournal("fees that cancel out move no money")


def commission_payout(*, commission_payable: int, bank: int, amount: Money) -> Postings:
    """The operator pays an agent the commission it earned."""
    return transfer(commission_payable, bank, amount)


def batched(
    events: Sequence[Postings], *, pooled: Collection[int], limit: int = MAX_POSTINGS
) -> list[tuple[range, Postings]]:
    """Many events of one kind (a fee per SIM, usage per SIM) booked in as few journals as
    the posting limit allows: each event's own postings as they are, and within a journal the
    postings on a ``pooled`` account (the revenue many events credit) summed into one per
    account and currency. An event is never split between journals. Returns each journal's
    events (their indexes: the first names it) with its postings."""
    journals: list[tuple[range, Postings]] = []
    own: list[Posting] = []
    shared: dict[tuple[int, str], int] = defaultdict(int)
    first = 0
    for index, postings in enumerate(events):
        mine = [posting for posting in postings if posting.account_id not in pooled]
        keys = {(p.account_id, p.currency) for p in postings if p.account_id in pooled}
        if own and len(own) + len(mine) + len(shared.keys() | keys) > limit:
            journals.append((range(first, index), _pooled(own, shared)))
            own, shared, first = [], defaultdict(int), index
        own += mine
        for posting in postings:
            if posting.account_id in pooled:
                shared[(posting.account_id, posting.currency)] += posting.amount
    if own or shared:
        journals.append((range(first, len(events)), _pooled(own, shared)))
    return journals


def _pooled(own: list[Posting], shared: dict[tuple[int, str], int]) -> Postings:
    summed = [Posting(account, amount, currency) for (account, currency), amount in shared.items()]
    return (*own, *(posting for posting in summed if posting.amount))
