"""Paging newest first by time, exactly: a keyset of (time, id).

Design overview
---------------
A page of rows newest first ends at its last row's ``(time, id)``; the next page is every
row strictly before it — an earlier time, or the same time and a smaller id — so rows that
share a time are neither lost nor shown twice between pages, and each page is one indexed
range read however long the history. ``Keyset`` is that position; ``older_than`` the
condition on a table's time and id columns. A timeline that merges several sources (the
console's SIM page) gives each source the keyset that matches its place among them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, true


@dataclass(frozen=True, slots=True, order=True)
class Keyset:
    """A position in rows ordered by time, then id, newest first."""

    at: datetime
    id: int


def older_than(at: Any, row_id: Any, keyset: Keyset | None) -> ColumnElement[bool]:
    """Rows strictly before ``keyset`` (every row when it is None)."""
    if keyset is None:
        return true()
    return or_(at < keyset.at, and_(at == keyset.at, row_id < keyset.id))
