"""Import benchmark: N contact rows from a CSV into PostgreSQL, against PostgreSQL's own COPY.

    python bench/import.py [--rows 1000000] [--database-url URL] [--batch-size N]
                           [--partial] [--one-process] [--profile] [--json FILE]

The same generated CSV (first_name, last_name, email, phone, title, city, country,
consent as yes/no, birthday as dd.mm.yyyy) is loaded twice into a fresh schema:

1. ``COPY copy_contact FROM STDIN (FORMAT csv, HEADER)`` into a plain table of text
   columns: the physical ceiling (no parsing, no validation, no indexes);
2. ``engine.dataio.importing.import_table`` into the ``contact`` entity of
   ``bench/packs/benchimport`` as an administrator: conversion per field type,
   validation, the e-mail duplicate rule (block), audit rows, ids, all in one transaction.

3. after the import, ``COPY`` of the rows it stored (contacts, their duplicate keys and
   audit entries, dumped to files first) into empty copies of those three tables with the
   same indexes (``LIKE ... INCLUDING ALL``; no foreign keys): what PostgreSQL alone needs
   to store the same rows, a second reference printed beside the issue's.

It prints rows/s of the three, the ratios, the CPU time per row of this process, of the
import's second process (which converts and checks the rows; ``--one-process``: none) and of
PostgreSQL's processes (read from ``/proc`` when the database runs on this machine), the
import's peak memory (``ru_maxrss`` and its growth during the import) and with
``--profile`` the functions the import spends its time in.
The database comes from ``--database-url``, ``TESSERA_BENCH_DATABASE_URL`` or
``TESSERA_TEST_DATABASE_URL``; the schema ``bench_import_xxxxxxxx`` is dropped afterwards.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.actor import Actor  # noqa: E402
from engine.config import Config  # noqa: E402
from engine.dataio.importing import ImportOptions, import_table  # noqa: E402
from engine.dataio.sources import read_table  # noqa: E402
from engine.security.users import ensure_roles  # noqa: E402
from engine.settling import settled  # noqa: E402
from engine.workspace import Workspace  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SEED = 20260101
FIRST = ["Anna", "Ben", "Clara", "David", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kira", "Luca"]
LAST = ["Schmidt", "Müller", "Y\u0131lmaz", "Rossi", "Nowak", "García", "Dubois", "Smith", "Kowalski", "Berg"]
CITIES = [
    ("Berlin", "Germany"),
    ("Wien", "Austria"),
    ("Zürich", "Switzerland"),
    ("Paris", "France"),
    ("Milano", "Italy"),
]
TITLES = ["CEO", "CFO", "Head of IT", "Buyer", "Engineer", ""]


def generate(path: Path, rows: int) -> None:
    """A deterministic contact export; every e-mail is distinct, so no row is a duplicate."""
    rng = random.Random(SEED)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("first_name,last_name,email,phone,title,city,country,consent_marketing,birthday\n")
        for i in range(rows):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            city, country = rng.choice(CITIES)
            day, month, year = rng.randint(1, 28), rng.randint(1, 12), rng.randint(1950, 2004)
            out.write(
                f"{first},{last},{first.lower()}.{i}@example.com,+49 30 {rng.randint(1000000, 9999999)},"
                f"{rng.choice(TITLES)},{city},{country},{rng.choice(('yes', 'no'))},{day:02d}.{month:02d}.{year}\n"
            )


@contextmanager
def schema(base: str) -> Iterator[str]:
    if base.startswith("postgresql://"):
        base = "postgresql+psycopg://" + base[len("postgresql://") :]
    name = f"bench_import_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


def copy_rate(ws: Workspace, path: Path) -> tuple[float, int]:
    """Seconds and rows of PostgreSQL's COPY of the file into a plain text table."""
    columns = "first_name,last_name,email,phone,title,city,country,consent_marketing,birthday"
    with ws.db.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE copy_contact ({', '.join(c + ' text' for c in columns.split(','))})"))
    raw = ws.db.raw_connection()
    try:
        started = time.perf_counter()
        statement = "COPY copy_contact FROM STDIN WITH (FORMAT csv, HEADER true)"
        with raw.cursor() as cursor, path.open("rb") as source, cursor.copy(statement) as copy:  # type: ignore[attr-defined]
            while chunk := source.read(1024 * 1024):
                copy.write(chunk)
        raw.commit()
        seconds = time.perf_counter() - started
    finally:
        raw.close()
    with ws.db.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM copy_contact")).scalar_one()
    return seconds, count


STORED = ("contact", "tessera_match_key", "tessera_audit")  # what the import writes


def stored_copy_rate(ws: Workspace, tmp: Path) -> float:
    """Seconds PostgreSQL's COPY takes to store the rows the import stored (dumped to files
    first, not timed) into empty copies of their tables with the same indexes."""
    raw = ws.db.raw_connection()
    try:
        with raw.cursor() as cursor:  # type: ignore[attr-defined]
            for table in STORED:
                cursor.execute(f"CREATE TABLE stored_{table} (LIKE {table} INCLUDING ALL)")
                with (tmp / f"{table}.copy").open("wb") as sink, cursor.copy(f"COPY {table} TO STDOUT") as copy:
                    for block in copy:
                        sink.write(block)
            raw.commit()
            started = time.perf_counter()
            for table in STORED:
                with (
                    (tmp / f"{table}.copy").open("rb") as source,
                    cursor.copy(f"COPY stored_{table} FROM STDIN") as copy,
                ):
                    while chunk := source.read(1024 * 1024):
                        copy.write(chunk)
            raw.commit()
            return time.perf_counter() - started
    finally:
        raw.close()


def server_cpu() -> float | None:
    """CPU seconds of this machine's PostgreSQL processes (their exited children's included),
    read from ``/proc``; None where it cannot be read (another host, another system)."""
    total, found = 0, False
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone, or not ours to read
        if stat[stat.index("(") + 1 : stat.rindex(")")].startswith("postgres"):
            fields = stat[stat.rindex(")") + 2 :].split()
            total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
            found = True
    return total / os.sysconf("SC_CLK_TCK") if found else None


def children_cpu() -> float:
    """CPU seconds of this process's ended children (the import's second process)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def import_rate(
    ws: Workspace, path: Path, batch_size: int | None, profile: bool, partial: bool, parallel: bool
) -> dict[str, Any]:
    actor = Actor(None, frozenset({"admin"}), "bench")
    # a workspace in use has built the duplicate keys of its records long ago; a fresh
    # schema builds them on its first write, so one write happens before the clock starts
    warm = ws.records.create(actor, "contact", {"last_name": "Warm-up", "email": "warm-up@bench.test"})
    ws.records.delete(actor, "contact", warm["id"])
    table = read_table(path, filename=path.name)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    profiler = cProfile.Profile() if profile else None
    server_started, children_started = server_cpu(), children_cpu()
    started, cpu_started = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    with settled([ws]):  # as 'tessera import' does
        report = import_table(
            ws, actor, "contact", table, ImportOptions(batch_size=batch_size, partial=partial, parallel=parallel)
        )
    if profiler:
        profiler.disable()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    server_ended, children_ended = server_cpu(), children_cpu()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert report.failed == 0 and report.written, report.errors[:5]
    with ws.db.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM contact WHERE deleted_at IS NULL")).scalar_one()
    out = {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "second_cpu_seconds": children_ended - children_started,
        "server_cpu_seconds": None if server_started is None or server_ended is None else server_ended - server_started,
        "created": report.created,
        "stored": stored,
        "peak_rss_growth_mb": (rss_after - rss_before) / 1024,
        "peak_rss_mb": rss_after / 1024,
    }
    if profiler:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats(os.environ.get("BENCH_SORT", "tottime")).print_stats(
            int(os.environ.get("BENCH_TOP", "25"))
        )
        out["profile"] = text.getvalue()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--batch-size", type=int, default=None, help="default: the import's (2,500; 1,000 with --partial)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the import (slower) and print the top 25")
    parser.add_argument("--partial", action="store_true", help="commit per batch instead of one transaction")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--one-process", action="store_true", help="no second process for the rows (as --one-process)")
    args = parser.parse_args()
    base = (
        args.database_url
        or os.environ.get("TESSERA_BENCH_DATABASE_URL")
        or os.environ.get("TESSERA_TEST_DATABASE_URL")
        or DEFAULT_PG
    )
    with tempfile.TemporaryDirectory(prefix="tessera-import-bench-") as tmp_name, schema(base) as url:
        tmp = Path(tmp_name)
        path = tmp / "contacts.csv"
        started = time.perf_counter()
        generate(path, args.rows)
        print(
            f"generated {args.rows:,} rows ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f}s"
        )
        config = Config(
            database_url=url,
            packs=("benchimport",),
            extra_pack_paths=(ROOT / "bench" / "packs",),
            secret_key="bench-secret-key-" + "x" * 32,
            instance_path=tmp / "instance",
        )
        ws = Workspace(config)
        try:
            ws.install()
            ensure_roles(ws)
            copy_seconds, copied = copy_rate(ws, path)
            assert copied == args.rows
            result = import_rate(ws, path, args.batch_size, args.profile, args.partial, not args.one_process)
            stored_seconds = stored_copy_rate(ws, tmp)
        finally:
            ws.close()
    copy_rps = args.rows / copy_seconds
    import_rps = args.rows / result["seconds"]
    stored_rps = args.rows / stored_seconds
    figures = {
        "rows": args.rows,
        "file_mb": round(path.stat().st_size / 1e6, 1) if path.exists() else None,
        "copy_seconds": round(copy_seconds, 2),
        "copy_rows_per_s": round(copy_rps),
        "import_seconds": round(result["seconds"], 2),
        "import_rows_per_s": round(import_rps),
        "import_vs_copy": round(import_rps / copy_rps, 4),
        "stored_copy_seconds": round(stored_seconds, 2),
        "stored_copy_rows_per_s": round(stored_rps),
        "import_vs_stored_copy": round(import_rps / stored_rps, 4),
        "import_cpu_us_per_row": round(1e6 * result["cpu_seconds"] / result["created"]),
        "second_process_cpu_us_per_row": round(1e6 * result["second_cpu_seconds"] / result["created"]),
        "server_cpu_us_per_row": None
        if result["server_cpu_seconds"] is None
        else round(1e6 * result["server_cpu_seconds"] / result["created"]),
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
        "peak_rss_growth_mb": round(result["peak_rss_growth_mb"], 1),
        "stored": result["stored"],
    }
    print(f"COPY:   {copy_seconds:8.2f}s  {copy_rps:>10,.0f} rows/s")
    print(f"import: {result['seconds']:8.2f}s  {import_rps:>10,.0f} rows/s  ({import_rps / copy_rps:.1%} of COPY)")
    print(
        f"        {import_rps / stored_rps:.1%} of COPY of the same rows into their indexed tables"
        f" ({stored_seconds:.2f}s, {stored_rps:,.0f} rows/s: contacts with their keys and audit entries)"
    )
    cpu_us = 1e6 * result["cpu_seconds"] / result["created"]
    print(f"        this process's CPU {result['cpu_seconds']:.2f}s, {cpu_us:.0f} us a row (steadier than the rate)")
    second = result["second_cpu_seconds"]
    if second:
        print(f"        the second process's CPU {second:.2f}s, {1e6 * second / result['created']:.0f} us a row")
    server = result["server_cpu_seconds"]
    if server is not None:
        print(f"        PostgreSQL's CPU {server:.2f}s, {1e6 * server / result['created']:.0f} us a row")
    print(f"peak RSS {result['peak_rss_mb']:.0f} MB (grew {result['peak_rss_growth_mb']:.0f} MB during the import)")
    met = import_rps >= 20000 and import_rps >= copy_rps / 4
    print(f"target 20,000 rows/s and >= 25% of COPY: {'met' if met else 'NOT met'}")
    if "profile" in result:
        print(result["profile"])
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
