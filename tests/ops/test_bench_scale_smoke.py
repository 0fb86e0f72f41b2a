"""The data-at-scale benchmark (bench/seed_large.py, bench/scale.py) at a tiny scale, so the
scripts cannot rot: the seeded rows are what the engine reads back through its API, and
every measured operation answers 200. PostgreSQL only (the seed uses COPY)."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="the scale benchmark needs TESSERA_TEST_DATABASE_URL")

BENCH = Path(__file__).resolve().parents[2] / "bench"
PACKS = "deals,tickets"  # account, contact, activity, opportunity, ticket with fewer packs to install


@pytest.fixture
def bench_modules():
    sys.path.insert(0, str(BENCH))
    try:
        import scale
        import seed_large

        yield seed_large, scale
    finally:
        sys.path.remove(str(BENCH))


def test_seed_then_measure_at_tiny_scale(bench_modules, tmp_path: Path) -> None:
    seed_large, scale = bench_modules
    assert PG_URL is not None
    schema = f"bench_smoke_{uuid.uuid4().hex[:8]}"
    try:
        figures = seed_large.seed(PG_URL, schema, 0.0002, chunk=120, pack_names=tuple(PACKS.split(",")))
        rows = {name: int(table["rows"]) for name, table in figures["tables"].items()}
        assert rows == {"account": 200, "contact": 400, "opportunity": 100, "ticket": 200, "activity": 1000}

        engine = sa.create_engine(seed_large.url_with_schema(PG_URL, schema))
        with engine.connect() as conn:
            counted = {name: conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one() for name in rows}
            index_names = conn.execute(
                sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = :s AND tablename = 'contact'"),
                {"s": schema},
            ).scalars()
            assert "ix_contact_account_last_name" in set(index_names)  # dropped for the load, created again
        engine.dispose()
        assert counted == rows

        out = tmp_path / "scale.json"
        argv = ["--database-url", PG_URL, "--schema", schema, "--packs", PACKS, "--repeat", "1", "--warmup", "0"]
        only = r"^account: list|^account: web record page, busiest|^contact: web list|^global search 'Schmidt'"
        scale.main([*argv, "--explain", "1", "--roles", "sales_rep", "--only", only, "--json", str(out)])
        report = json.loads(out.read_text())
        names = {r["operation"] for r in report["results"]}
        assert {"account: list, page 2", "account: web record page, busiest", "global search 'Schmidt'"} <= names
        assert all(r["n"] >= 1 and r["statements"] >= 1 for r in report["results"])
        assert report["plans"] and "actual time" in report["plans"][0]["plan"]
    finally:
        seed_large.drop_schema(PG_URL, schema)
