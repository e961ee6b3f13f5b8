"""What the inbox keeps of a notification: a verified one whole, a refused one bounded."""

from __future__ import annotations

import hashlib

from simkeep.payments.model import (
    REASON_CHARS,
    REFUSED_HEADERS,
    REFUSED_PREFIX_BYTES,
    InboxRecord,
    RawNotification,
)

FLOOD = RawNotification(
    headers={f"x-forged-{i}": "v" * 10_000 for i in range(1_000)},
    body=b"y" * 1_000_000,
)


def test_a_refused_notification_is_kept_as_a_bounded_record() -> None:
    record = InboxRecord.of(FLOOD, verified=False, error="malformed: " + "z" * 10_000)

    assert record.body == b"y" * REFUSED_PREFIX_BYTES
    assert record.body_size == 1_000_000
    assert record.body_sha256 == hashlib.sha256(FLOOD.body).hexdigest()
    assert len(record.headers) == REFUSED_HEADERS
    assert all(len(value) == REFUSED_PREFIX_BYTES for value in record.headers.values())
    assert record.error is not None
    assert len(record.error) == REASON_CHARS
    assert record.error.startswith("malformed: ")


def test_a_verified_notification_is_kept_whole() -> None:
    raw = RawNotification(headers={"wechatpay-serial": "PUB_KEY_ID_1"}, body=b"{}" * 1_000)

    record = InboxRecord.of(raw, verified=True, error=None)

    assert (record.body, record.headers, record.error) == (raw.body, raw.headers, None)
    assert record.body_size == 2_000
