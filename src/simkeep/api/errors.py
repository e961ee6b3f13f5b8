"""API errors in one shape: ``{"error": {"code": "...", "message": "..."}}``.

Design overview
---------------
The codes are stable, machine-readable words chosen here (not ``HTTPStatus`` names, which
change between Python versions); the message is for a person. The handlers below answer
for paths under ``/api/``; the composition root sends other paths to the pages' handlers.
A validation error names each bad field (``query.amount: Input should be …``); an
unexpected exception gets a generic message, never the exception's text.

``documented(…)`` describes the error answers a router's routes can give in the OpenAPI
document, all with the one ``ErrorOut`` model: each router names its statuses once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

API_PREFIX = "/api/"

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    502: "provider_unavailable",
    503: "unavailable",
}


# What each error status means to a client, as the OpenAPI document says it.
MEANINGS = {
    400: "The body could not be read (not UTF-8 JSON)",
    401: "No bearer token, or one that is unknown or expired: log in again",
    404: "Not found, or not yours",
    409: "In conflict with what exists (an idempotency key used for another body, an order "
    "that can no longer be paid, a price that changed)",
    413: "The request body is over the size this endpoint takes",
    422: "The request is invalid: a field's shape, or a rule of the service",
    429: "Too many attempts: wait before trying again",
    502: "The payment provider did not answer: send the same request again",
}


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable and machine-readable", examples=["invalid_request"])
    message: str = Field(description="For a person: what went wrong and what to do")


class ErrorOut(BaseModel):
    """Every error the API answers."""

    error: ErrorDetail


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a router whose routes may answer with these error statuses."""
    return {status: {"model": ErrorOut, "description": MEANINGS[status]} for status in statuses}


def is_api_request(request: Request) -> bool:
    return request.url.path.startswith(f"{request.scope.get('root_path', '')}{API_PREFIX}")


def error_response(
    status: int, message: str, *, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    code = CODES.get(status, f"http_{status}")
    body = {"error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def http_error(exc: StarletteHTTPException) -> JSONResponse:
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)


def validation_error(exc: RequestValidationError) -> JSONResponse:
    problems = "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
    )
    return error_response(422, f"Invalid request: {problems}")


# A refusal from a service carries its own code; most are input a person can fix (422).
DOMAIN_STATUS = {
    "bad_credentials": 401,
    "locked_out": 429,
    "too_many_requests": 429,
    "already_registered": 409,
    "idempotency_conflict": 409,
    "order_not_payable": 409,
    "quote_changed": 409,
    # the counter (api.pos)
    "not_a_clerk": 403,
    "unknown_shift": 404,
    "unknown_sale": 404,
    "no_open_shift": 409,
    "shift_open": 409,
    "shift_closed": 409,
    "outlet_not_selling": 409,
    "id_check_required": 409,
    "float_too_low": 409,
    "too_many_id_checks": 429,
    # refunds (api.refunds)
    "unknown_refund": 404,
    "refund_open": 409,
    "refund_decided": 409,
    "not_refundable": 409,
    "nothing_to_refund": 409,
    # refunds at the counter (api.pos)
    "unknown_topup": 404,
    "not_outlet_topup": 409,
    "other_agent": 409,
    "refund_paid_out": 409,
}


def domain_error(code: str, message: str) -> JSONResponse:
    """A service's refusal (``exc.code`` and its message) in the API's error shape."""
    status = DOMAIN_STATUS.get(code, 422)
    body = {"error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status)


def provider_unavailable() -> JSONResponse:
    return error_response(
        502, "The payment provider did not answer; send the same request again to retry."
    )


def internal_error() -> JSONResponse:
    return error_response(500, "Something went wrong on our side; please try again later.")
