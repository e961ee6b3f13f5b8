"""Promotions through the API, on SQLite and PostgreSQL: the quote shows what applies (a
provider's own when it is named), the order placed says what it holds, and
``/api/v1/promotions`` lists what is on offer — and ``/api/v1/numbers/{number}/promotions``,
to a signed-in subscriber, only what that number's SIM may still get."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.names import Names
from simkeep.payment_methods import Provider
from simkeep.promotions import service as promotions
from simkeep.promotions.model import Benefit, BenefitKind, Conditions, NewPromotion
from tests.e2e.api_world import Api, api, cn100

__all__ = ["api"]  # the fixture, used by name

FIRST = NewPromotion(
    code="FIRST10",
    names=Names("首次增值送 10%", "首次充值送 10%", "First top-up +10%"),
    priority=30,
    stackable=False,
    conditions=Conditions(first_topup=True),
    benefits=(Benefit(BenefitKind.PERCENT, 10, None, 90),),
    budget=500,
    per_sim_cap=1,
)
MINUTES = NewPromotion(
    code="WECHAT20",
    names=Names("微信支付送 20 分鐘", "微信支付送 20 分钟", "WeChat Pay: +20 minutes"),
    priority=10,
    stackable=True,
    conditions=Conditions(provider=Provider.WECHATPAY),
    benefits=(Benefit(BenefitKind.VOICE, 20, "mainland", 30),),
    budget=None,
    per_sim_cap=None,
)


async def test_quote_order_and_offer(api: Api) -> None:
    async def create(conn: AsyncConnection) -> None:
        for new in (FIRST, MINUTES):
            await promotions.create_from(conn, new=new, now=api.clock.now())

    await api.db.transaction(create)
    number = api.cn_sim.hk_number.e164
    anyone = await api.http.get("/api/v1/promotions", headers={"Accept-Language": "en"})
    assert [p["code"] for p in anyone.json()["promotions"]] == ["WECHAT20", "FIRST10"]
    refused = await api.http.get(f"/api/v1/numbers/{number}/promotions")
    assert refused.status_code == 401

    auth = await api.signup("+85261110000")
    english = {**auth, "Accept-Language": "en"}
    query = {"number": number, "amount_minor": 10000, "pay_currency": "CNY"}
    quoted = await api.http.get("/api/v1/quote", params=query, headers=english)
    assert [p["name"] for p in quoted.json()["promotions"]] == ["First top-up +10%"]
    assert quoted.json()["promotions"][0]["benefits"][0]["amount"] == 1000  # ¥10.00
    quoted = await api.http.get(
        "/api/v1/quote", params={**query, "provider": "wechatpay"}, headers=english
    )
    minutes = quoted.json()["promotions"][1]["benefits"][0]
    assert minutes["text"] == "20 voice minutes for 30 days (in the Mainland)"

    placed = await api.order(english, "order-key-0001", **cn100(number))
    assert placed.status_code == 201, placed.text
    held = [p["name"] for p in placed.json()["promotions"]]
    assert held == ["First top-up +10%", "WeChat Pay: +20 minutes"]
    mine = await api.http.get(f"/api/v1/topups/{placed.json()['order_no']}", headers=english)
    assert [p["name"] for p in mine.json()["promotions"]] == held

    offered = await api.http.get(f"/api/v1/numbers/{number}/promotions", headers=auth)
    assert [p["code"] for p in offered.json()["promotions"]] == ["WECHAT20"]  # cap held
    unknown = await api.http.get("/api/v1/numbers/+85251234567/promotions", headers=auth)
    assert unknown.status_code == 404
