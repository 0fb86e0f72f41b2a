"""The import benchmark (bench/import.py) on a few hundred rows, so the script cannot rot:
every generated row is imported, the figures it reports are there, and its schema is gone
afterwards. PostgreSQL only (it compares with COPY)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="the import benchmark needs TESSERA_TEST_DATABASE_URL")

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "import.py"


def _bench_schemas() -> set[str]:
    engine = sa.create_engine(str(PG_URL))
    try:
        with engine.connect() as conn:
            query = sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench_import_%'")
            return set(conn.execute(query).scalars())
    finally:
        engine.dispose()


def test_the_import_benchmark_imports_every_row_and_reports_its_figures(tmp_path: Path) -> None:
    before = _bench_schemas()
    out = tmp_path / "import.json"
    command = [sys.executable, str(SCRIPT), "--rows", "300", "--batch-size", "100", "--database-url", str(PG_URL)]
    done = subprocess.run([*command, "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())
    assert figures["rows"] == figures["stored"] == 300
    assert figures["import_rows_per_s"] > 0 and figures["copy_rows_per_s"] > 0
    assert figures["stored_copy_rows_per_s"] > 0 and "of COPY of the same rows" in done.stdout
    assert figures["import_cpu_us_per_row"] > 0
    if figures["server_cpu_us_per_row"] is not None:  # PostgreSQL on this machine
        assert "PostgreSQL's CPU" in done.stdout
    assert "target 20,000 rows/s" in done.stdout
    assert _bench_schemas() == before
