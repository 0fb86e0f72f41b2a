"""Fill a PostgreSQL schema with CRM data at scale for ``bench/scale.py``.

    python bench/seed_large.py [--scale 0.1] [--database-url URL] [--schema bench_large]
                               [--chunk 20000] [--drop]

``--scale 1.0`` is 1,000,000 accounts, 2,000,000 contacts, 5,000,000 activities,
1,000,000 tickets and 500,000 opportunities; ``--scale 0.1`` a tenth of each. The schema
(default ``bench_large``, selected with ``?options=-csearch_path%3D...``) is dropped and
created again, every shipped pack is installed into it with ``Workspace.install()``, the
bench users are created through the engine (``users.json`` next to this script lists
nothing: the logins are fixed, see ``LOGINS``), then the rows are generated in chunks of
accounts and loaded with PostgreSQL ``COPY`` into the tables Tessera created. Every system
column is filled as ``Records.create`` fills it (a UUIDv7 id carrying the creation time,
``version``, ``created_at``/``updated_at``, ``created_by``/``updated_by``, ``owner``);
stored computed fields and the account roll-ups the generated rows feed are computed here
as the engine would store them. Secondary indexes and foreign keys of the loaded tables
are dropped during the load and created again afterwards (the same definitions, read from
``pg_indexes``/``pg_constraint``), then ``ANALYZE``. ``--drop`` only drops the schema.
The rows come from ``seed_rows.py``, the ``COPY`` load from ``seed_copy.py``.

Not generated: audit history, duplicate match keys (``tessera_match_key``: the first write
to a loaded entity builds them), activity attendees and the entities of the other packs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from seed_copy import load  # noqa: E402

from engine.actor import SYSTEM  # noqa: E402
from engine.config import Config  # noqa: E402
from engine.security.users import create_user, ensure_roles  # noqa: E402
from engine.workspace import Workspace  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "Bench-scale-2026"
SECRET = "bench-scale-secret-key-" + "x" * 32
#: the logins bench/scale.py signs in with (role -> e-mail)
LOGINS = {"sales_rep": "rep@bench.test", "sales_manager": "manager@bench.test", "admin": "admin@bench.test"}


def url_with_schema(base: str, schema: str) -> str:
    if base.startswith("postgresql://"):
        base = "postgresql+psycopg://" + base[len("postgresql://") :]
    return f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"


def packs() -> tuple[str, ...]:
    import metadata

    return tuple(sorted(p.name for p in Path(metadata.__file__).parent.iterdir() if (p / "pack.yaml").exists()))


def config_for(base: str, schema: str, instance: Path, pack_names: tuple[str, ...] = ()) -> Config:
    """The workspace configuration of the bench schema (every shipped pack unless named)."""
    return Config(
        database_url=url_with_schema(base, schema),
        packs=pack_names or packs(),
        secret_key=SECRET,
        instance_path=instance,
        password_hashing="fast",
        auth_rate_limit="100000 per minute",
    )


def drop_schema(base: str, schema: str) -> None:
    admin = sa.create_engine(url_with_schema(base, "public"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def create_users(ws: Workspace, scale: float) -> tuple[list[str], list[str]]:
    """The bench logins plus sales reps (teams of ten) and support agents; returns the ids
    of the record owners (reps) and of the ticket assignees (agents)."""
    ensure_roles(ws)
    reps, agents = max(4, round(100 * scale)), max(2, round(20 * scale))
    teams = [ws.records.create(SYSTEM, "team", {"name": f"Sales {n + 1}"})["id"] for n in range((reps + 9) // 10)]
    owners = []
    for n in range(reps):
        email = LOGINS["sales_rep"] if n == 0 else f"rep{n}@bench.test"
        owners.append(create_user(ws, email, f"Rep {n}", PASSWORD, ["sales_rep"], teams=[teams[n // 10]])["id"])
    create_user(ws, LOGINS["sales_manager"], "Manager", PASSWORD, ["sales_manager"], teams=[teams[0]])
    create_user(ws, LOGINS["admin"], "Admin", PASSWORD, ["admin"])
    support = [
        create_user(ws, f"agent{n}@bench.test", f"Agent {n}", None, ["support_agent"])["id"] for n in range(agents)
    ]
    return owners, support


def seed(base: str, schema: str, scale: float, chunk: int = 20000, pack_names: tuple[str, ...] = ()) -> dict[str, Any]:
    """Drop and create ``schema``, install the packs, create the users, load the rows at
    ``scale``, ANALYZE; returns the figures per table."""
    drop_schema(base, schema)
    admin = sa.create_engine(url_with_schema(base, "public"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tessera-scale-") as tmp:
        ws = Workspace(config_for(base, schema, Path(tmp), pack_names), meta_check_interval=0)
        try:
            started = time.perf_counter()
            ws.install()
            owners, agents = create_users(ws, scale)
            install = time.perf_counter() - started
            print(f"installed the packs and {len(owners) + len(agents) + 2} users in {install:.1f}s", flush=True)
            stats = load(ws, scale, chunk, owners, agents)
            started = time.perf_counter()
            with ws.db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                tables = conn.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))
                for table in tables.scalars().all():  # the bench schema only, not the whole database
                    conn.execute(sa.text(f'ANALYZE "{table}"'))
            analyze = time.perf_counter() - started
        finally:
            ws.close()
    return {"tables": stats, "install": install, "analyze": analyze, "elapsed": time.perf_counter() - began}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.1, help="1.0 = 1M accounts, 5M activities, ...")
    parser.add_argument("--database-url", default=os.environ.get("TESSERA_BENCH_DATABASE_URL", DEFAULT_PG))
    parser.add_argument("--schema", default="bench_large")
    parser.add_argument("--chunk", type=int, default=20000, help="accounts generated and loaded per transaction")
    parser.add_argument("--packs", default="", help="comma-separated packs to install (default: every shipped pack)")
    parser.add_argument("--drop", action="store_true", help="only drop the schema")
    args = parser.parse_args()
    if args.drop:
        drop_schema(args.database_url, args.schema)
        print(f"dropped schema {args.schema}")
        return 0
    pack_names = tuple(p.strip() for p in args.packs.split(",") if p.strip())
    figures = seed(args.database_url, args.schema, args.scale, args.chunk, pack_names)
    print(
        f"\n{'table':<12} {'rows':>10} {'generate':>9} {'COPY':>8} {'indexes+FKs':>12} {'elapsed':>8} "
        f"{'rows/s':>8} {'COPY rows/s':>12}"
    )
    for e, s in figures["tables"].items():
        elapsed = s["generate"] + s["copy"] + s["indexes"]
        print(
            f"{e:<12} {int(s['rows']):>10,} {s['generate']:>8.1f}s {s['copy']:>7.1f}s {s['indexes']:>11.1f}s "
            f"{elapsed:>7.1f}s {s['rows'] / elapsed:>8,.0f} {s['rows'] / max(s['copy'], 1e-9):>12,.0f}"
        )
    rows = sum(s["rows"] for s in figures["tables"].values())
    print(
        f"install {figures['install']:.1f}s, ANALYZE {figures['analyze']:.1f}s; total {rows:,.0f} rows in "
        f"{figures['elapsed']:.1f}s ({rows / figures['elapsed']:,.0f} rows/s overall)"
    )
    print(f"schema {args.schema} kept; drop it with: python bench/seed_large.py --drop --schema {args.schema}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
