"""The payment statement every notification runs (``simkeep.statements``): keeping it in
the inbox."""

from __future__ import annotations

from simkeep.statements import Statement

STORE_NOTIFICATION = Statement(
    """
    INSERT INTO payment_notifications
      (provider, source, notification_id, order_no, headers, body, body_size, body_sha256,
       status, error, received_at)
    VALUES (:provider, :source, :notification_id, :order_no, :headers, :body, :body_size,
       :body_sha256, :status, :error, :now)
    RETURNING id
    """
)
