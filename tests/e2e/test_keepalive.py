"""Auto keep-alive through the real app and the embedded simulators, on SQLite and
PostgreSQL: sign an agreement with each provider (the signed notification activates the
rule), a notice within the window and then the top-up, once per period under two
concurrent runs, a decline retried and then paid, cancelling at the provider, and bad input
refused. Notifications cannot reach the app (its public URL leads nowhere): the test hands
the simulator's signed agreement notification to the notify endpoint, and the poll credits
the top-up, as the worker would."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import HONG_KONG
from simkeep.keepalive import charging
from simkeep.keepalive import service as keepalive
from simkeep.keepalive import tables as kt
from simkeep.keepalive.service import KeepAliveUrls
from simkeep.ledger.checks import check_books
from simkeep.notifications.tables import outbox
from simkeep.sims import tables as st
from simkeep.sims.model import Sim
from simkeep.topups import tables as tt
from tests.e2e.api_world import Api
from tests.factories import last_code

OWNER, OTHER = "+85261234567", "+85261234568"
PUBLIC = "http://127.0.0.1:9"


async def _link(api: Api, sim: Sim, phone: str) -> dict[str, str]:
    auth = await api.signup(phone)
    number = sim.hk_number.e164
    await api.http.post("/api/v1/sims/link-codes", json={"number": number}, headers=auth)
    code = await last_code(api.db, number)
    linked = await api.http.post(
        "/api/v1/sims/links", json={"number": number, "code": code}, headers=auth
    )
    assert linked.status_code == 201, linked.text
    return auth


async def _open(http: httpx.AsyncClient, url: str, **form: str) -> httpx.Response:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if form:
        return await http.post(path, data=form)
    return await http.get(path)


async def _sign(api: Api, sim: Sim, auth: dict[str, str], provider: str, **rule: object) -> str:
    """Save the rule, sign at the provider's page, hand its notification to our endpoint."""
    saved = await api.http.put(
        f"/api/v1/sims/{sim.id}/keep-alive", json={"provider": provider, **rule}, headers=auth
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["state"] == "signing"
    page = await _open(api.http, saved.json()["sign_url"])
    if page.status_code == 303:
        page = await _open(api.http, page.headers["location"])
    assert page.status_code == 200, page.text
    signed = await _open(api.http, str(page.url), password="123456", action="sign")
    assert signed.status_code == 303, signed.text
    providers = api.app.state.providers
    if provider == "alipay":
        form = providers.alipay.deliveries[-1].form
        answer = await api.http.post(f"/api/v1/keep-alive/{provider}/notify", data=form)
        assert answer.text == "success"
    else:
        delivery = providers.wechatpay.deliveries[-1]
        headers = providers.wechatpay._notification_headers(delivery)
        answer = await api.http.post(
            f"/api/v1/keep-alive/{provider}/notify", content=delivery.body, headers=headers
        )
        assert answer.status_code == 204, answer.text
    shown = (await api.http.get(f"/api/v1/sims/{sim.id}/keep-alive", headers=auth)).json()
    assert shown["state"] == "active", shown
    ref: str = await api.db.transaction(
        lambda conn: _scalar(conn, select(kt.rules.c.agreement_ref))
    )
    return ref


async def _scalar(conn: AsyncConnection, query: object) -> object:
    return (await conn.execute(query)).scalar()  # type: ignore[call-overload]


async def _lapsing_in(api: Api, sim: Sim, days: int) -> None:
    """The SIM keeps its number until ``days - 1`` days from today (a validity plan)."""
    local = api.clock.now().astimezone(HONG_KONG)
    until = datetime.combine(local.date() + timedelta(days - 1), datetime.max.time(), HONG_KONG)

    async def move(conn: AsyncConnection) -> None:
        await conn.execute(
            update(st.sims).where(st.sims.c.id == sim.id).values(validity_until=until)
        )

    await api.db.transaction(move)


async def _run(api: Api) -> int:
    adapters = keepalive.agreement_adapters(api.app.state.payment_adapters)
    return await charging.run_due(
        api.db, adapters=adapters, urls=KeepAliveUrls(PUBLIC), now=api.clock.now()
    )


async def _to_charge_day(api: Api, lapse_in: int) -> None:
    """Move the clock to 10:00 Hong Kong time, three days before the lapse day."""
    local = api.clock.now().astimezone(HONG_KONG)
    day = local.date() + timedelta(days=lapse_in - 3)
    api.clock.set(datetime.combine(day, datetime.min.time(), HONG_KONG) + timedelta(hours=10))


async def _attempts(api: Api) -> list[tuple[str, int, str | None]]:
    async def read(conn: AsyncConnection) -> list[tuple[str, int, str | None]]:
        a = kt.attempts.c
        rows = await conn.execute(select(a.state, a.tries, a.order_no).order_by(a.id))
        return [(row.state, row.tries, row.order_no) for row in rows]

    return await api.db.transaction(read)


async def _texts_to(api: Api, phone: str) -> list[str]:
    async def read(conn: AsyncConnection) -> list[str]:
        rows = await conn.execute(
            select(outbox.c.body).where(outbox.c.recipient == phone).order_by(outbox.c.id)
        )
        return [row.body for row in rows]

    return await api.db.transaction(read)


async def _orders(api: Api) -> list[tuple[str, str]]:
    async def read(conn: AsyncConnection) -> list[tuple[str, str]]:
        o = tt.orders.c
        rows = await conn.execute(select(o.state, o.channel).order_by(o.id))
        return [(row.state, row.channel) for row in rows]

    return await api.db.transaction(read)


async def test_alipay_notice_then_one_top_up_under_concurrent_runs(api: Api) -> None:
    auth = await _link(api, api.hk_sim, OWNER)
    await _sign(api, api.hk_sim, auth, "alipay", mode="enough")
    await _lapsing_in(api, api.hk_sim, 12)
    assert await _run(api) == 0
    assert await _attempts(api) == []  # not yet within the notice window

    api.clock.advance(timedelta(days=5))  # lapses in 7 days: the notice
    await asyncio.gather(_run(api), _run(api))
    assert await _attempts(api) == [("waiting", 0, None)]
    notices = [text for text in await _texts_to(api, OWNER) if "HK$50.00" in text]
    assert len(notices) == 1, notices  # in the subscriber's language: 支付寶
    assert "支付寶" in notices[0]
    assert api.hk_sim.hk_number.masked() in notices[0]

    await _to_charge_day(api, 7)
    charged = await asyncio.gather(_run(api), _run(api))
    assert sum(charged) == 1
    [(state, tries, order_no)] = await _attempts(api)
    assert (state, tries) == ("pending", 1)
    assert order_no is not None
    assert await _orders(api) == [("awaiting_payment", "auto")]

    assert await api.poll() == 1  # the deduction's trade is paid: credited as any order
    await _run(api)
    assert [state for state, _, _ in await _attempts(api)] == ["paid"]
    assert await _orders(api) == [("credited", "auto")]
    assert (await api.db.transaction(check_books)).ok


async def test_wechatpay_decline_is_retried_then_paid(api: Api) -> None:
    auth = await _link(api, api.hk_sim, OWNER)
    ref = await _sign(api, api.hk_sim, auth, "wechatpay", mode="fixed", amount=10000)
    hook = f"/_sim/wechatpay/papay/contracts/{ref}/funds"
    assert (await api.http.post(hook, params={"enough": "false"})).status_code == 200
    await _lapsing_in(api, api.hk_sim, 7)
    await _run(api)
    await _to_charge_day(api, 7)
    assert await _run(api) == 0
    [(state, tries, _)] = await _attempts(api)
    assert (state, tries) == ("waiting", 1)
    texts = await _texts_to(api, OWNER)
    assert len([text for text in texts if "HK$100.00" in text]) == 2, texts  # notice, decline

    api.clock.advance(timedelta(minutes=59))
    assert await _run(api) == 0  # the retry is due an hour after the decline
    await api.http.post(hook, params={"enough": "true"})
    api.clock.advance(timedelta(minutes=2))
    assert await _run(api) == 1
    assert await api.poll() == 1
    await _run(api)
    assert [(s, t) for s, t, _ in await _attempts(api)] == [("paid", 2)]
    assert await _orders(api) == [("created", "auto"), ("credited", "auto")]  # declined, paid
    assert (await api.db.transaction(check_books)).ok


async def test_cancel_ends_the_agreement_at_the_provider(api: Api) -> None:
    auth = await _link(api, api.hk_sim, OWNER)
    ref = await _sign(api, api.hk_sim, auth, "alipay", mode="fixed", amount=5000)
    gone = await api.http.delete(f"/api/v1/sims/{api.hk_sim.id}/keep-alive", headers=auth)
    assert gone.status_code == 204, gone.text
    shown = await api.http.get(f"/api/v1/sims/{api.hk_sim.id}/keep-alive", headers=auth)
    assert shown.status_code == 404
    await _lapsing_in(api, api.hk_sim, 5)
    await _to_charge_day(api, 5)
    assert await _run(api) == 0
    assert await _attempts(api) == []
    # Alipay has it stopped (the payer's own unsign finds nothing in force)
    unsign = await api.http.post(f"/_sim/alipay/agreements/{ref}/unsign")
    assert unsign.json()["status"] == "STOP"


async def test_bad_input_is_refused(api: Api) -> None:
    auth = await _link(api, api.hk_sim, OWNER)
    other = await api.signup(OTHER)
    url = f"/api/v1/sims/{api.hk_sim.id}/keep-alive"
    odd = await api.http.put(
        url, json={"provider": "alipay", "mode": "fixed", "amount": 12345}, headers=auth
    )
    assert odd.status_code == 422, odd.text
    assert odd.json()["error"]["code"] == "amount_not_offered"
    for body in (
        {"provider": "alipay", "mode": "fixed", "amount": 0},
        {"provider": "paypal", "mode": "enough"},
        {"provider": "alipay", "mode": "sometimes"},
    ):
        assert (await api.http.put(url, json=body, headers=auth)).status_code == 422
    theirs = await api.http.put(url, json={"provider": "alipay", "mode": "enough"}, headers=other)
    assert theirs.status_code == 404
    assert (await api.http.get(url, headers=other)).status_code == 404
    assert (await api.http.delete(url, headers=other)).status_code == 404
    assert (await api.http.get(url, headers=auth)).status_code == 404  # nothing saved
    saved = await api.http.put(url, json={"provider": "alipay", "mode": "enough"}, headers=auth)
    assert saved.status_code == 200
    second = await api.http.put(url, json={"provider": "wechatpay", "mode": "enough"}, headers=auth)
    assert second.status_code == 409, second.text


async def test_a_charge_declined_until_the_deadline_is_given_up_and_reported(api: Api) -> None:
    auth = await _link(api, api.hk_sim, OWNER)
    ref = await _sign(api, api.hk_sim, auth, "alipay", mode="enough")
    assert (
        await api.http.post(f"/_sim/alipay/agreements/{ref}/funds", params={"enough": "false"})
    ).status_code == 200
    await _lapsing_in(api, api.hk_sim, 7)
    await _run(api)
    await _to_charge_day(api, 7)
    tries = []
    for _ in range(10):  # 10:00, 11:00, 17:00, then daily at 17:00 while the SIM is kept
        await _run(api)
        [(state, count, _)] = await _attempts(api)
        tries.append((state, count))
        if state == "failed":
            break
        api.clock.advance(timedelta(hours=24))
        api.clock.set(min(api.clock.now(), _next_due(await _attempt_next(api))))
    assert tries[-1] == ("failed", 5), tries
    number = api.hk_sim.hk_number.masked()
    texts = [text for text in await _texts_to(api, OWNER) if number in text]
    assert len(texts) == 3, texts  # the notice, the first decline, giving up
    assert "未能扣款" in texts[-1]
    shown = (await api.http.get(f"/api/v1/sims/{api.hk_sim.id}/keep-alive", headers=auth)).json()
    assert shown["latest"]["state"] == "failed"
    assert shown["latest"]["last_error"] == "ACQ.BUYER_BALANCE_NOT_ENOUGH"
    assert await _orders(api) == [("created", "auto")] * 5  # none of them paid


async def _attempt_next(api: Api) -> datetime:
    return await api.db.transaction(lambda conn: _scalar(conn, select(kt.attempts.c.next_at)))  # type: ignore[return-value]


def _next_due(at: datetime | None) -> datetime:
    assert at is not None
    return at


async def test_the_payer_ending_it_at_the_provider_ends_the_rule(api: Api) -> None:
    auth = await _link(api, api.hk_sim, OWNER)
    ref = await _sign(api, api.hk_sim, auth, "wechatpay", mode="enough")
    ended = await api.http.post(f"/_sim/wechatpay/papay/contracts/{ref}/terminate")
    assert ended.json()["contract_state"] == "TERMINATED"
    wechatpay = api.app.state.providers.wechatpay
    delivery = wechatpay.deliveries[-1]
    answer = await api.http.post(
        "/api/v1/keep-alive/wechatpay/notify",
        content=delivery.body,
        headers=wechatpay._notification_headers(delivery),
    )
    assert answer.status_code == 204
    shown = await api.http.get(f"/api/v1/sims/{api.hk_sim.id}/keep-alive", headers=auth)
    assert shown.status_code == 404
    forged = await api.http.post(
        "/api/v1/keep-alive/wechatpay/notify", content=delivery.body, headers={}
    )
    assert forged.status_code == 400  # unsigned: refused, nothing believed


async def test_fifty_concurrent_saves_keep_one_agreement(api: Api) -> None:
    auth = await _link(api, api.hk_sim, OWNER)
    url = f"/api/v1/sims/{api.hk_sim.id}/keep-alive"
    bodies = [
        {"provider": "alipay" if n % 2 else "wechatpay", "mode": "fixed", "amount": 5000}
        for n in range(50)
    ]
    answers = await asyncio.gather(*(api.http.put(url, json=b, headers=auth) for b in bodies))
    assert {a.status_code for a in answers} <= {200, 409}, [a.text for a in answers]

    async def live(conn: AsyncConnection) -> int:
        rows = await conn.execute(select(kt.rules.c.id).where(kt.rules.c.state != "ended"))
        return len(rows.all())

    assert await api.db.transaction(live) == 1
    winner = (await api.http.get(url, headers=auth)).json()["provider"]
    outcomes = {
        (b["provider"] == winner, a.status_code) for a, b in zip(answers, bodies, strict=True)
    }
    assert (False, 200) not in outcomes, outcomes  # the other provider is always refused
    assert (True, 200) in outcomes  # (a save racing the first insert may be refused too)


async def test_fifty_concurrent_runs_notify_and_charge_once(api: Api) -> None:
    auth = await _link(api, api.hk_sim, OWNER)
    await _sign(api, api.hk_sim, auth, "alipay", mode="fixed", amount=10000)
    await _lapsing_in(api, api.hk_sim, 7)
    await asyncio.gather(*(_run(api) for _ in range(50)))
    assert len([t for t in await _texts_to(api, OWNER) if "HK$100.00" in t]) == 1
    await _to_charge_day(api, 7)
    assert sum(await asyncio.gather(*(_run(api) for _ in range(50)))) == 1
    assert await _orders(api) == [("awaiting_payment", "auto")]


async def test_the_payer_unsigning_in_alipay_ends_the_rule(api: Api) -> None:
    auth = await _link(api, api.hk_sim, OWNER)
    ref = await _sign(api, api.hk_sim, auth, "alipay", mode="enough")
    ended = await api.http.post(f"/_sim/alipay/agreements/{ref}/unsign")
    assert ended.json()["status"] == "STOP"
    form = dict(api.app.state.providers.alipay.deliveries[-1].form)
    assert form["notify_type"] == "dut_user_unsign"
    tampered = {**form, "external_agreement_no": "SK20260101FFFFFFFFFFFF"}
    refused = await api.http.post("/api/v1/keep-alive/alipay/notify", data=tampered)
    assert refused.text == "fail"  # signed over other content: nothing believed
    still = await api.http.get(f"/api/v1/sims/{api.hk_sim.id}/keep-alive", headers=auth)
    assert still.json()["state"] == "active"
    answer = await api.http.post("/api/v1/keep-alive/alipay/notify", data=form)
    assert answer.text == "success"
    shown = await api.http.get(f"/api/v1/sims/{api.hk_sim.id}/keep-alive", headers=auth)
    assert shown.status_code == 404
