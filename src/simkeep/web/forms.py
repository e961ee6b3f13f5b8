"""Forms: reading a POST behind its CSRF check, handing a form back with its errors, and
answering a POST that succeeded.

Design overview
---------------
``read_form`` refuses (403, nothing read, nothing changed) a POST whose CSRF token is
missing or is not the viewer's. ``FormState`` is what a template needs to show a form
again: the values typed (the templates never write a password back) and one
``FieldError`` per marked field; a GET page reads its query string into one too. A
``FieldError`` keeps the service's machine code and message; the templates
(``_macros.html``) print their own translation for the codes they know and the service's
words otherwise. A POST that succeeded never renders a page: ``see_other`` answers it with
a 303 to the page that follows, so Back and reload never offer to send it again
(docs/pages.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlencode

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse

from simkeep.web.session import CSRF_FIELD


class CsrfHolder(Protocol):
    """Whoever a form is for: a subscriber's ``Viewer``, or a member of staff's."""

    def check(self, token: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class FieldError:
    code: str
    message: str = ""

    @classmethod
    def of(cls, error: Exception) -> FieldError:
        """The error a service raised (every refusal of ours has a ``code``)."""
        return cls(str(getattr(error, "code", "invalid")), str(error))


@dataclass(slots=True)
class FormState:
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, FieldError] = field(default_factory=dict)

    def text(self, name: str) -> str:
        """A field as typed, without surrounding spaces."""
        return self.values.get(name, "").strip()

    def secret(self, name: str) -> str:
        """A field exactly as typed (a password)."""
        return self.values.get(name, "")

    def fail(self, name: str, error: Exception | FieldError) -> FormState:
        self.errors[name] = error if isinstance(error, FieldError) else FieldError.of(error)
        return self

    @property
    def ok(self) -> bool:
        return not self.errors


async def read_form(request: Request, viewer: CsrfHolder) -> FormState:
    """The submitted text fields; 403 unless the CSRF token is the viewer's."""
    data = await request.form()
    token = data.get(CSRF_FIELD)
    if not isinstance(token, str) or not viewer.check(token):
        raise HTTPException(403, "this form has expired or did not come from simkeep")
    return FormState(
        {
            name: value
            for name, value in data.items()
            if isinstance(value, str) and name != CSRF_FIELD
        }
    )


def see_other(path: str, **query: str) -> RedirectResponse:
    """The answer to a POST that succeeded: 303 to ``path`` (a local path), with the
    non-empty ``query`` values in its query string."""
    kept = urlencode({name: value for name, value in query.items() if value})
    return RedirectResponse(f"{path}?{kept}" if kept else path, status_code=303)
