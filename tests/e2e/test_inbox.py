"""What the payments inbox does with genuine answers that must not credit, through the real
app on SQLite and PostgreSQL: a notification or a poll answer for another amount (or
currency) credits nothing and is kept as ``amount_mismatch`` — and a poll goes on with the
other orders; a notification for an order we do not have, or of another provider, is kept
as ``unknown_order``; a CLOSED for a known order is acknowledged as ``ignored`` and moves
nothing. The notifications are signed with the simulators' own keys, so only what they say
can refuse them."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.ledger import chart
from simkeep.ledger import service as ledger
from simkeep.payments import tables as payment_tables
from simkeep.sims.model import Sim
from simkeep.simulators.embedded import EmbeddedProviders
from tests.e2e.api_world import Api, cn100
from tests.e2e.notices import alipay_notice, wechatpay_notice

ALIPAY_NOTIFY = "/api/v1/payments/alipay/notify"
WECHATPAY_NOTIFY = "/api/v1/payments/wechatpay/notify"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def providers(api: Api) -> EmbeddedProviders:
    embedded: EmbeddedProviders = api.app.state.providers
    return embedded


async def place(api: Api, auth: dict[str, str], key: str, body: dict[str, Any]) -> str:
    created = await api.order(auth, key, **body)
    assert created.status_code == 201, created.text
    return str(created.json()["order_no"])


def hk50_by_alipay(api: Api) -> dict[str, Any]:
    """HK$50 for the HKD SIM, paid ¥46.00 with Alipay."""
    number = api.hk_sim.hk_number.e164
    return {
        "number": number,
        "confirm_number": number,
        "amount": {"minor": 5000, "currency": "HKD"},
        "pay_currency": "CNY",
        "provider": "alipay",
        "channel": "page",
    }


async def kept(api: Api, order_no: str) -> list[tuple[str, str]]:
    """The inbox rows about ``order_no``: (status, source), oldest first."""
    inbox = payment_tables.inbox.c

    async def read(conn: AsyncConnection) -> list[tuple[str, str]]:
        query = (
            select(inbox.status, inbox.source).where(inbox.order_no == order_no).order_by(inbox.id)
        )
        return [(row.status, row.source) for row in await conn.execute(query)]

    return await api.db.transaction(read)


async def state(api: Api, auth: dict[str, str], order_no: str) -> str:
    return str((await api.http.get(f"/api/v1/topups/{order_no}", headers=auth)).json()["state"])


async def credits_nothing(api: Api, order_no: str, sim: Sim) -> None:
    """No top-up journal for the order, and the SIM holds nothing."""

    async def read(conn: AsyncConnection) -> tuple[object, int]:
        journal = await ledger.get_journal_by_client_id(conn, client_id=f"topup:{order_no}")
        account = await ledger.get_account_by_code(
            conn, code=chart.sim_balance(sim.id, sim.home_currency).code
        )
        assert account is not None
        return journal, (await ledger.get_balance(conn, account_id=account.id)).posted

    assert await api.db.transaction(read) == (None, 0)


async def test_a_genuine_alipay_payment_of_another_amount_credits_nothing(api: Api) -> None:
    auth = await api.signup("+85261237001")
    order_no = await place(api, auth, "key-inbox-0001", hk50_by_alipay(api))
    cent = alipay_notice(
        providers(api), out_trade_no=order_no, total_amount="0.01", now=api.clock.now()
    )

    answer = await api.http.post(ALIPAY_NOTIFY, content=cent, headers=FORM)

    assert answer.text == "fail"  # not acknowledged
    assert await kept(api, order_no) == [("amount_mismatch", "notification")]
    assert await state(api, auth, order_no) == "awaiting_payment"
    await credits_nothing(api, order_no, api.hk_sim)


@pytest.mark.parametrize(("total", "currency"), [(1, "CNY"), (10_000, "HKD")])
async def test_a_genuine_wechat_pay_payment_of_another_amount_credits_nothing(
    api: Api, total: int, currency: str
) -> None:
    auth = await api.signup("+85261237002")
    order_no = await place(api, auth, "key-inbox-0002", cn100(api.cn_sim.cn_number.e164))
    headers, body = wechatpay_notice(
        providers(api), out_trade_no=order_no, total=total, currency=currency, now=api.clock.now()
    )

    answer = await api.http.post(WECHATPAY_NOTIFY, content=body, headers=headers)

    assert answer.status_code == 400  # not acknowledged: WeChat Pay delivers it again
    assert answer.json()["code"] == "FAIL"
    assert await kept(api, order_no) == [("amount_mismatch", "notification")]
    assert await state(api, auth, order_no) == "awaiting_payment"
    await credits_nothing(api, order_no, api.cn_sim)


@pytest.mark.parametrize(("total", "currency"), [(1, "CNY"), (10_000, "HKD")])
async def test_a_poll_answer_of_another_amount_is_kept_and_the_poll_goes_on(
    api: Api, total: int, currency: str
) -> None:
    auth = await api.signup("+85261237003")
    number = api.cn_sim.cn_number.e164
    wrong = await place(api, auth, "key-inbox-0003", cn100(number))  # due first
    api.clock.advance(timedelta(seconds=1))
    right = await place(api, auth, "key-inbox-0004", cn100(number))
    for order_no in (wrong, right):  # both paid; the notifications reach no one
        paid = await api.http.post(f"/_sim/wechatpay/pay/{order_no}")
        assert paid.status_code == 200, paid.text
    trade = providers(api).wechatpay.trades[wrong]
    trade.total, trade.currency = total, currency  # what WeChat Pay now says was paid

    assert await api.poll() == 1

    assert await state(api, auth, wrong) == "awaiting_payment"
    assert await state(api, auth, right) == "credited"
    assert await kept(api, wrong) == [("amount_mismatch", "poll")]
    assert await kept(api, right) == [("credited", "poll")]
    assert await poll_answer(api, wrong) == {"minor": total, "currency": currency}
    await credits_nothing_but(api, right, api.cn_sim)

    assert await api.poll() == 0  # the mismatch is the operator's: it is asked about no more
    assert await kept(api, wrong) == [("amount_mismatch", "poll")]


async def poll_answer(api: Api, order_no: str) -> Any:
    """The amount in the kept poll answer about ``order_no``."""
    inbox = payment_tables.inbox.c

    async def read(conn: AsyncConnection) -> bytes:
        query = select(inbox.body).where(inbox.order_no == order_no, inbox.source == "poll")
        return bytes((await conn.execute(query)).scalar_one())

    return json.loads(await api.db.transaction(read))["amount"]


async def credits_nothing_but(api: Api, order_no: str, sim: Sim) -> None:
    """Only ``order_no`` was credited to ``sim``: its balance is that order's ¥100."""

    async def read(conn: AsyncConnection) -> int:
        account = await ledger.get_account_by_code(
            conn, code=chart.sim_balance(sim.id, sim.home_currency).code
        )
        assert account is not None
        return (await ledger.get_balance(conn, account_id=account.id)).posted

    assert await api.db.transaction(read) == 10_000


async def test_a_notification_for_an_order_we_do_not_have_is_unknown(api: Api) -> None:
    auth = await api.signup("+85261237005")
    wechat_order = await place(api, auth, "key-inbox-0005", cn100(api.cn_sim.cn_number.e164))
    now = api.clock.now()
    ours = providers(api)

    nobody = alipay_notice(ours, out_trade_no="T202611259999999999", total_amount="46.00", now=now)
    answer = await api.http.post(ALIPAY_NOTIFY, content=nobody, headers=FORM)
    assert answer.text == "fail"
    assert await kept(api, "T202611259999999999") == [("unknown_order", "notification")]

    # An Alipay payment of exactly the amount of a WeChat Pay order is not that order's.
    other = alipay_notice(ours, out_trade_no=wechat_order, total_amount="100.00", now=now)
    assert (await api.http.post(ALIPAY_NOTIFY, content=other, headers=FORM)).text == "fail"
    closed = alipay_notice(
        ours, out_trade_no=wechat_order, total_amount="100.00", now=now, trade_status="TRADE_CLOSED"
    )
    assert (await api.http.post(ALIPAY_NOTIFY, content=closed, headers=FORM)).text == "fail"
    assert await kept(api, wechat_order) == [
        ("unknown_order", "notification"),
        ("unknown_order", "notification"),
    ]
    assert await state(api, auth, wechat_order) == "awaiting_payment"
    await credits_nothing(api, wechat_order, api.cn_sim)


async def test_a_closed_trade_is_acknowledged_and_moves_nothing(api: Api) -> None:
    auth = await api.signup("+85261237006")
    order_no = await place(api, auth, "key-inbox-0006", hk50_by_alipay(api))
    closed = alipay_notice(
        providers(api),
        out_trade_no=order_no,
        total_amount="46.00",
        now=api.clock.now(),
        trade_status="TRADE_CLOSED",
    )

    answer = await api.http.post(ALIPAY_NOTIFY, content=closed, headers=FORM)

    assert answer.text == "success"  # acknowledged: Alipay need not send it again
    assert await kept(api, order_no) == [("ignored", "notification")]
    assert await state(api, auth, order_no) == "awaiting_payment"
    await credits_nothing(api, order_no, api.hk_sim)
