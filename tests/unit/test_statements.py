"""``Statement`` turns ``:name`` parameters into each driver's style, once."""

from __future__ import annotations

from simkeep.statements import _numbered, _positional


def test_postgresql_numbers_each_name_once() -> None:
    sql, names = _numbered("SELECT :a::text, :b, :a WHERE x = :b AND y::int = 1")
    assert sql == "SELECT $1::text, $2, $1 WHERE x = $2 AND y::int = 1"
    assert names == ["a", "b"]


def test_sqlite_takes_one_argument_per_occurrence() -> None:
    sql, names = _positional("SELECT :a, :b, :a FROM t WHERE t.c = :b_c")
    assert sql == "SELECT ?, ?, ? FROM t WHERE t.c = ?"
    assert names == ["a", "b", "a", "b_c"]
