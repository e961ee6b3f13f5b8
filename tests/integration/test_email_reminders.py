"""Reminders by email, on SQLite and PostgreSQL: the retention run emails each notice — 14,
3 and 0 days before a SIM's last day kept, and the move to grace — to its reader's verified
address, once, in the reader's language, while the SMS still goes; an address waiting for
its code gets nothing."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.i18n import LOCALES
from simkeep.money import Money
from simkeep.notifications.tables import outbox
from simkeep.payment_methods import Channel, Provider
from simkeep.retention import service as retention
from simkeep.sims.model import Sim
from simkeep.subscribers import emails
from simkeep.subscribers import service as subscribers
from simkeep.subscribers.model import Limits, auth_key
from simkeep.topups import service as topups
from simkeep.topups.model import OrderRequest
from tests.factories import issue_sim, seed_books
from tests.integration.test_retention_run import ISSUED, run_to, texts

KEY = auth_key("test-secret")
LIMITS = Limits()
ADDRESSES = {language: f"holder-{language.lower()}@example.hk" for language in LOCALES}
SUBJECTS = {
    "en": [
        "simkeep reminder: top up +852 9***0037 by Aug 30, 2026 to keep it",  # 14 days
        "simkeep reminder: top up +852 9***0037 by Aug 30, 2026 to keep it",  # 3 days
        "simkeep reminder: top up +852 9***0037 by Aug 30, 2026 to keep it",  # the day
        "simkeep: +852 9***0037 is in grace",
    ],
    "zh_Hant_HK": [
        *["simkeep 提醒：請於 2026年8月30日 或之前為 +852 9***0037 增值以保留號碼"] * 3,
        "simkeep：+852 9***0037 已進入寬限期",
    ],
    "zh_Hans_CN": [
        *["simkeep 提醒：请于 2026年8月30日 或之前为 +852 9***0037 充值以保留号码"] * 3,
        "simkeep：+852 9***0037 已进入宽限期",
    ],
}


async def funded(db: Database, clock: FixedClock, n: int) -> Sim:
    """SIM ``n`` on HK-KEEP topped up with HK$50: six fees of HK$8, kept until 30 August."""

    async def setup(conn: AsyncConnection) -> Sim:
        await seed_books(conn, now=clock.now())
        sim = await issue_sim(conn, n=n, plan="HK-KEEP", now=clock.now())
        number = sim.hk_number.e164
        request = OrderRequest.of(
            subscriber_id=7,
            idempotency_key=f"fund-{n:04d}",
            number=number,
            confirm_number=number,
            credit=Money(5_000, "HKD"),
            pay_currency="HKD",
            provider=Provider.ALIPAY,
            channel=Channel.QR,
        )
        order = await topups.create_order(conn, request=request, now=clock.now())
        await topups.credit_paid_order(
            conn,
            order_no=order.order_no,
            paid=order.pay,
            provider_trade_no=f"t{n}",
            now=clock.now(),
        )
        return sim

    return await db.transaction(setup)


async def holder(db: Database, clock: FixedClock, sim: Sim, language: str, verified: bool) -> int:
    """The subscriber whose login is the SIM's own number, with an address set (and verified
    with the code emailed to it, when ``verified``)."""
    address = ADDRESSES[language]
    me = await subscribers.enroll(
        db, phone=sim.hk_number.e164, password="correct horse", language=language, now=clock.now()
    )
    await emails.set_email(
        db, subscriber_id=me, address=address, key=KEY, limits=LIMITS, now=clock.now()
    )
    if verified:
        body = (await sent(db, address))[-1][1]
        code = re.search(r"\b(\d{6})\b", body)
        assert code, body
        await emails.verify_email(
            db, subscriber_id=me, code=code.group(1), key=KEY, limits=LIMITS, now=clock.now()
        )
    return me


async def sent(db: Database, address: str) -> list[tuple[str, str]]:
    """The emails queued to ``address`` (subject, text), oldest first."""

    async def read(conn: AsyncConnection) -> list[tuple[str, str]]:
        rows = await conn.execute(
            select(outbox.c.subject, outbox.c.body)
            .where(outbox.c.kind == "email", outbox.c.recipient == address)
            .order_by(outbox.c.id)
        )
        return [(row.subject, row.body) for row in rows]

    return await db.transaction(read)


async def first_run(db: Database, clock: FixedClock, n: int) -> Sim:
    sim = await funded(db, clock, n)
    await retention.run_day(db, day=date(2026, 1, 31), clock=clock)
    return sim


async def test_a_verified_address_gets_each_notice_once_in_the_readers_language(
    db: Database,
) -> None:
    clock = FixedClock(ISSUED)
    sims = {language: await first_run(db, clock, n) for n, language in enumerate(LOCALES, 1)}
    for language, sim in sims.items():
        await holder(db, clock, sim, language, verified=True)

    for day in (date(2026, 8, 16), date(2026, 8, 27), date(2026, 8, 30), date(2026, 8, 31)):
        await run_to(db, clock, day)
        await retention.run_day(db, day=day, clock=clock)  # again: nothing twice

    for language, sim in sims.items():
        reminders = (await sent(db, ADDRESSES[language]))[1:]  # after the code's email
        number = sim.hk_number.e164[-4:]
        expected = [subject.replace("0037", number) for subject in SUBJECTS[language]]
        assert [subject for subject, _ in reminders] == expected
        sms = await texts(db, sim)
        assert [text for _, text in reminders] == sms[-4:]  # the SMS went too, the same words


async def test_an_address_waiting_for_its_code_gets_no_reminder(db: Database) -> None:
    clock = FixedClock(ISSUED)
    sim = await first_run(db, clock, 1)
    await holder(db, clock, sim, "en", verified=False)

    await run_to(db, clock, date(2026, 8, 31))

    assert len(await sent(db, ADDRESSES["en"])) == 1  # the code's email only
    assert sum("keeps its number until" in text for text in await texts(db, sim)) == 3


async def test_a_removed_address_gets_no_more_reminders(db: Database) -> None:
    clock = FixedClock(ISSUED)
    sim = await first_run(db, clock, 1)
    me = await holder(db, clock, sim, "en", verified=True)
    await run_to(db, clock, date(2026, 8, 16))
    before = len(await sent(db, ADDRESSES["en"]))

    await emails.remove_email(db, subscriber_id=me)
    await run_to(db, clock, date(2026, 8, 31))

    assert len(await sent(db, ADDRESSES["en"])) == before
