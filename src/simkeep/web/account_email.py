"""``/account/email``: the signed-in subscriber's email address, for reminders.

Design overview
---------------
One page shows the verified address (the one reminders go to), the address waiting for its
code with the field to type the code in, the field to set or change the address, and a
button to remove it. Each form posts to the same path with its ``step`` (``send``,
``verify``, ``remove``), calls one ``subscribers.emails`` function and answers with a 303
back to the page; a refusal shows the page again with the field marked (400) and nothing
changed. Every form carries the CSRF token.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from simkeep.errors import Refusal
from simkeep.services import Services, ServicesDep
from simkeep.subscribers import emails
from simkeep.web.forms import FormState, read_form, see_other
from simkeep.web.pages import Pages, PagesDep
from simkeep.web.session import SignedIn, SignedInDep

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
PATH = "/account/email"


@router.get(PATH)
async def email_page(
    request: Request, pages: PagesDep, services: ServicesDep, me: SignedInDep, done: str = ""
) -> HTMLResponse:
    return await _show(request, pages, services, me, FormState({"done": done}))


@router.post(PATH)
async def change_email(
    request: Request, pages: PagesDep, services: ServicesDep, me: SignedInDep
) -> Response:
    form = await read_form(request, me.viewer)
    step = form.text("step")
    now = services.clock.now()
    try:
        if step == "remove":
            await emails.remove_email(services.db, subscriber_id=me.id)
            return see_other(PATH, done="removed")
        if step == "verify":
            await emails.verify_email(
                services.db,
                subscriber_id=me.id,
                code=form.text("code"),
                key=services.auth_key,
                limits=services.limits,
                now=now,
            )
            return see_other(PATH, done="verified")
        await emails.set_email(
            services.db,
            subscriber_id=me.id,
            address=form.text("email"),
            key=services.auth_key,
            limits=services.limits,
            now=now,
        )
    except Refusal as error:
        return await _show(request, pages, services, me, form.fail(_field(step), error))
    return see_other(PATH, done="sent")


def _field(step: str) -> str:
    return "code" if step == "verify" else "email"


async def _show(
    request: Request, pages: Pages, services: Services, me: SignedIn, form: FormState
) -> HTMLResponse:
    status = await services.db.read(lambda conn: emails.email_status(conn, subscriber_id=me.id))
    context = {"form": form, "status": status}
    code = 200 if form.ok else 400
    return pages.render(request, "account/email.html", context, status_code=code, viewer=me.viewer)
