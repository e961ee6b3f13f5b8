"""The demo's promotions, the three of the product's specification, made by
``promotions.service`` as an operator would make them (docs/promotions.md):

* "Top up 100 or more, get 1 GB" — HK$100 or more: 1,024 MB of data for 30 days; does not
  stack; priority 20; a budget of 1,000 grants.
* "First top-up +10%" — a SIM's first top-up: 10 % of the credit as bonus money for 90 days;
  does not stack, and beats the gigabyte (priority 30); once per SIM; 500 grants.
* "WeChat Pay this month: +20 minutes" — paid with WeChat Pay within the Hong Kong month the
  demo is seeded in: 20 voice minutes for 30 days; stacks on either; 5 per SIM; 2,000 grants.

A promotion whose code exists is left as it is, so seeding again changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import in_hong_kong
from simkeep.names import Names
from simkeep.payment_methods import Provider
from simkeep.promotions import service as promotions
from simkeep.promotions.model import Benefit, BenefitKind, Conditions, NewPromotion, window


async def ensure_demo_promotions(conn: AsyncConnection, *, created: datetime, now: datetime) -> int:
    """Create the three demo promotions (``now``: the month of the WeChat Pay one)."""
    existing = {p.code for p in await promotions.list_promotions(conn)}
    today = in_hong_kong(now).date()
    first_day = today.replace(day=1)
    last_day = (first_day + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    made = 0
    for new in _definitions(first_day, last_day):
        if new.code in existing:
            continue
        await promotions.create_from(conn, new=new, now=created)
        made += 1
    return made


def _definitions(first_day: date, last_day: date) -> list[NewPromotion]:
    starts_at, ends_at = window(first_day, last_day)
    return [
        NewPromotion(
            code="GB100",
            names=Names("增值滿 100 送 1 GB", "充值满 100 送 1 GB", "Top up 100 or more, get 1 GB"),
            priority=20,
            stackable=False,
            conditions=Conditions(currency="HKD", min_credit_minor=10_000),
            benefits=(Benefit(BenefitKind.DATA, 1_024, None, 30),),
            budget=1_000,
            per_sim_cap=None,
        ),
        NewPromotion(
            code="FIRST10",
            names=Names("首次增值送 10%", "首次充值送 10%", "First top-up +10%"),
            priority=30,
            stackable=False,
            conditions=Conditions(first_topup=True),
            benefits=(Benefit(BenefitKind.PERCENT, 10, None, 90),),
            budget=500,
            per_sim_cap=1,
        ),
        NewPromotion(
            code="WECHAT20",
            names=Names(
                "本月用微信支付：送 20 分鐘",
                "本月用微信支付：送 20 分钟",
                "WeChat Pay this month: +20 minutes",
            ),
            priority=10,
            stackable=True,
            conditions=Conditions(
                provider=Provider.WECHATPAY, starts_at=starts_at, ends_at=ends_at
            ),
            benefits=(Benefit(BenefitKind.VOICE, 20, None, 30),),
            budget=2_000,
            per_sim_cap=5,
        ),
    ]
