"""Table dumps: links in cycles and into their own table load with foreign keys enforced,
and values have one spelling whatever the database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa

from engine.storage.columns import JSON_TYPE, ExactDecimal
from engine.storage.dump import JSON_NULL, TableLoader, decimal_text, decode, encode, read_rows, table_plans


def _cycle() -> sa.MetaData:
    """contract -> deal -> contract, and account -> account (a parent)."""
    metadata = sa.MetaData()
    sa.Table(
        "account",
        metadata,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("parent", sa.String(36), sa.ForeignKey("account.id")),
    )
    sa.Table(
        "contract",
        metadata,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("renewal_deal", sa.String(36), sa.ForeignKey("deal.id", use_alter=True)),
        sa.Column("account", sa.String(36), sa.ForeignKey("account.id")),
    )
    sa.Table(
        "deal",
        metadata,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("contract", sa.String(36), sa.ForeignKey("contract.id", use_alter=True)),
        sa.Column("amount", ExactDecimal(18, 2)),
        sa.Column("extra", JSON_TYPE),
    )
    return metadata


def test_cycles_and_self_links_are_deferred_and_load_with_foreign_keys_on() -> None:
    metadata = _cycle()
    plans = {p.name: p for p in table_plans(metadata.tables.values())}
    assert plans["account"].deferred == ["parent"]
    assert plans["contract"].deferred == ["renewal_deal"] and plans["deal"].deferred == ["contract"]
    order = [name for name in plans if name in metadata.tables]
    assert order.index("account") < order.index("contract")

    engine = sa.create_engine("sqlite://")
    sa.event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA foreign_keys=ON"))
    rows = {
        "account": [{"id": "a1", "parent": "a2"}, {"id": "a2", "parent": None}],
        "contract": [{"id": "c1", "renewal_deal": "d1", "account": "a1"}],
        "deal": [
            {"id": "d1", "contract": "c1", "amount": "12.7", "extra": JSON_NULL},
            {"id": "d2", "contract": None, "amount": None, "extra": None},
        ],
    }
    with engine.begin() as conn:
        metadata.create_all(conn)
        loaders = []
        for name in order:
            loader = TableLoader(conn, plans[name], sorted(rows[name][0]))
            for row in rows[name]:
                loader.add(row)
            loader.flush()
            loaders.append(loader)
        for loader in loaders:
            loader.finish()
    with engine.connect() as conn:
        assert list(read_rows(conn, plans["account"], {"id", "parent"})) == rows["account"]
        assert list(read_rows(conn, plans["contract"], {"id", "renewal_deal", "account"})) == rows["contract"]
        dumped = list(read_rows(conn, plans["deal"], {"id", "contract", "amount", "extra"}))
    assert dumped == rows["deal"]  # JSON null and SQL NULL stay apart


def test_values_have_one_spelling() -> None:
    assert decimal_text(Decimal("12.70")) == decimal_text(Decimal("12.7")) == "12.7"
    assert decimal_text(Decimal("1E+2")) == "100" and decimal_text(Decimal("-0.00")) == "0"
    assert encode("decimal", 12.7) == "12.7"  # SQLite hands back a float
    instant = dt.datetime(2026, 12, 2, 9, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert encode("datetime", instant) == "2026-12-02T08:00:00.123456+00:00"
    assert decode("datetime", encode("datetime", instant)) == instant
    assert decode("date", encode("date", dt.date(2026, 2, 28))) == dt.date(2026, 2, 28)
    assert decode("decimal", "0.125") == Decimal("0.125")
    assert decode("json", JSON_NULL) is sa.JSON.NULL and decode("json", None) is None
