"""The chart of accounts, one set per currency (docs/ledger.md).

System accounts exist from start-up (``service.ensure_chart``); accounts that belong to a
SIM or an agent are opened when their owner first needs one. Codes are stable business
names: ``provider_clearing:alipay:CNY``, ``sim:42:balance:HKD``.
"""

from __future__ import annotations

from enum import StrEnum

from simkeep.ledger.model import AccountSpec, AccountType
from simkeep.payment_methods import PROVIDERS

CURRENCIES = ("HKD", "CNY")


class System(StrEnum):
    """System accounts: (type, hot?) per purpose."""

    FX_POSITION = "fx_position"
    RETENTION_FEE_REVENUE = "retention_fee_revenue"
    USAGE_REVENUE = "usage_revenue"
    PROMOTION_EXPENSE = "promotion_expense"
    COMMISSION_EXPENSE = "commission_expense"
    VOUCHERS_OUTSTANDING = "vouchers_outstanding"
    VOUCHER_BREAKAGE = "voucher_breakage"
    FORFEITED_BALANCE = "forfeited_balance"
    REFUNDS_PAYABLE = "refunds_payable"
    UNMATCHED_PAYMENTS = "unmatched_payments"
    BANK = "bank"
    PROVIDER_FEES = "provider_fees"
    ADJUSTMENTS = "adjustments"


_SYSTEM: dict[System, tuple[AccountType, bool, str]] = {
    System.FX_POSITION: (AccountType.EQUITY, True, "FX position"),
    System.RETENTION_FEE_REVENUE: (AccountType.INCOME, True, "Retention-fee revenue"),
    System.USAGE_REVENUE: (AccountType.INCOME, True, "Usage revenue"),
    System.PROMOTION_EXPENSE: (AccountType.EXPENSE, True, "Promotion expense"),
    System.COMMISSION_EXPENSE: (AccountType.EXPENSE, True, "Agent commission expense"),
    System.VOUCHERS_OUTSTANDING: (AccountType.LIABILITY, True, "Vouchers sold, not redeemed"),
    System.VOUCHER_BREAKAGE: (AccountType.INCOME, False, "Expired vouchers (breakage)"),
    System.FORFEITED_BALANCE: (AccountType.INCOME, False, "Forfeited balances"),
    System.REFUNDS_PAYABLE: (AccountType.LIABILITY, False, "Refunds payable"),
    System.UNMATCHED_PAYMENTS: (AccountType.LIABILITY, False, "Payments received, in review"),
    System.BANK: (AccountType.ASSET, False, "Settlement bank"),
    System.PROVIDER_FEES: (AccountType.EXPENSE, False, "Payment provider fees"),
    System.ADJUSTMENTS: (AccountType.EXPENSE, False, "Manual balance adjustments"),
}


def system_code(purpose: System, currency: str) -> str:
    return f"{purpose.value}:{currency}"


def provider_clearing_code(provider: str, currency: str) -> str:
    return f"provider_clearing:{provider}:{currency}"


def system_accounts(currency: str, hot_slots: int) -> list[AccountSpec]:
    """Every system account of one currency's books."""
    specs = [
        AccountSpec(
            code=system_code(purpose, currency),
            name=f"{label} ({currency})",
            currency=currency,
            type=account_type,
            hot_slots=hot_slots if hot else 1,
        )
        for purpose, (account_type, hot, label) in _SYSTEM.items()
    ]
    specs += [
        AccountSpec(
            code=provider_clearing_code(provider, currency),
            name=f"{provider} clearing ({currency})",
            currency=currency,
            type=AccountType.ASSET,
            owner_type="provider",
            owner_id=provider,
            hot_slots=hot_slots,
        )
        # every currency: what a provider charges in can be widened by its settings
        for provider, spec in PROVIDERS.items()
        if spec.online
    ]
    return specs


def sim_balance(sim_id: int | str, currency: str) -> AccountSpec:
    """A SIM's money balance: the operator owes it to the holder; never below zero."""
    return AccountSpec(
        code=f"sim:{sim_id}:balance:{currency}",
        name=f"SIM {sim_id} balance",
        currency=currency,
        type=AccountType.LIABILITY,
        owner_type="sim",
        owner_id=str(sim_id),
        min_balance=0,
    )


def sim_bonus(sim_id: int | str, currency: str) -> AccountSpec:
    """Promotional money on a SIM, spent before the balance; never below zero."""
    return AccountSpec(
        code=f"sim:{sim_id}:bonus:{currency}",
        name=f"SIM {sim_id} bonus money",
        currency=currency,
        type=AccountType.LIABILITY,
        owner_type="sim",
        owner_id=str(sim_id),
        min_balance=0,
    )


def agent_float(agent_id: int | str, currency: str, credit_limit: int = 0) -> AccountSpec:
    """An agent's prepaid float; outlet top-ups draw it down, never past the credit limit."""
    return AccountSpec(
        code=f"agent:{agent_id}:float:{currency}",
        name=f"Agent {agent_id} float",
        currency=currency,
        type=AccountType.LIABILITY,
        owner_type="agent",
        owner_id=str(agent_id),
        min_balance=-credit_limit,
    )


def agent_commission(agent_id: int | str, currency: str) -> AccountSpec:
    """Commission the operator owes an agent."""
    return AccountSpec(
        code=f"agent:{agent_id}:commission:{currency}",
        name=f"Agent {agent_id} commission payable",
        currency=currency,
        type=AccountType.LIABILITY,
        owner_type="agent",
        owner_id=str(agent_id),
    )
