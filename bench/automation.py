"""Automation benchmarks: rule overhead per create, and escalations of due SLA timers.

    python bench/automation.py rules  [--backend sqlite|postgresql|both] [--creates 2000]
    python bench/automation.py timers [--tickets 1000000] [--timers 10000] [--backend postgresql|sqlite]
                                      [--batch N] [--workers N] [--savepoints] [--profile FILE]

``rules``: two fresh databases with the same ``bticket`` entity (bench/packs/benchauto), one
also with ten active create rules (bench/packs/benchauto_rules: every create evaluates ten
conditions; about one in four creates matches one and runs its ``set``). Creates go through
the data-access layer (``Records.create``), alternating between the two in random order
per pair. Target: mean ratio at most 1.5 (the p50 alone would hide the creates a rule
matched, which pay for one more update).

``timers`` (bench/bench_timers.py): ``--tickets`` open tickets loaded with COPY, an SLA
definition (bench/packs/benchauto_sla) whose clocks and timers are set for ``--timers`` of
them falling due at once; then the time from due to every escalation applied (``fire_due``),
verified afterwards. Target: under 5 s for 10,000 due timers over 1,000,000 open tickets on
PostgreSQL (``--backend sqlite`` for a smaller comparison).

PostgreSQL: ``TESSERA_BENCH_DATABASE_URL`` (default postgresql+psycopg://postgres@127.0.0.1:5432/test),
a fresh schema per run, dropped at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from api_overhead import database  # noqa: E402  (one fresh-database helper for all benches)

from engine.config import Config  # noqa: E402
from engine.security.identity import load_actor  # noqa: E402
from engine.security.users import create_user, ensure_roles  # noqa: E402
from engine.workspace import Workspace  # noqa: E402

PACKS = Path(__file__).resolve().parent / "packs"
SEED = 20261124
CATEGORIES = ["network", "hardware", "software", "billing", "access", "email"]
SOURCES = ["phone", "email", "portal", "chat"]


def bench_config(url: str, packs: tuple[str, ...], tmp: Path) -> Config:
    return Config(
        database_url=url,
        packs=packs,
        extra_pack_paths=(PACKS,),
        secret_key="bench-secret-key-" + "x" * 32,
        instance_path=tmp / "instance",
        password_hashing="fast",
    )


def workspace(url: str, packs: tuple[str, ...], tmp: Path) -> Workspace:
    """A fresh, installed workspace with an admin user."""
    ws = Workspace(bench_config(url, packs, tmp), meta_check_interval=60)
    ws.install()
    ensure_roles(ws)
    create_user(ws, "admin@bench.dev", "Bench Admin", "Bench-password-1", ["admin"])
    return ws


def ticket(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "subject": f"Ticket {i}: " + rng.choice(["printer jam", "VPN down", "outage in DC", "invoice wrong", "reset"]),
        "account_name": None if rng.random() < 0.05 else f"Account {rng.randrange(5000)}",
        "tier": rng.choice(["gold", "silver", "bronze"]),
        "priority": rng.choices(["P1", "P2", "P3", "P4"], [1, 3, 4, 2])[0],
        "category": rng.choice(CATEGORIES),
        "source": rng.choice(SOURCES),
    }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_rules(backend: str, creates: int, warmup: int) -> dict[str, Any]:
    rng = random.Random(SEED)
    with (
        tempfile.TemporaryDirectory() as tmp_a,
        tempfile.TemporaryDirectory() as tmp_b,
        database(backend, Path(tmp_a)) as url_a,
        database(backend, Path(tmp_b)) as url_b,
    ):
        plain = workspace(url_a, ("benchauto",), Path(tmp_a))
        ruled = workspace(url_b, ("benchauto", "benchauto_rules"), Path(tmp_b))
        actors = {}
        for name, ws in (("none", plain), ("rules", ruled)):
            with ws.db.connect() as conn:
                user_id = str(conn.execute(sa.text("SELECT id FROM \"user\" WHERE email = 'admin@bench.dev'")).scalar())
                actors[name] = load_actor(conn, ws.snapshot(), user_id, "bench")
        times: dict[str, list[float]] = {"none": [], "rules": []}
        pairs = [("none", plain), ("rules", ruled)]
        gc.collect()
        for i in range(warmup + creates):
            data = ticket(rng, i)
            rng.shuffle(pairs)
            for name, ws in pairs:
                start = time.perf_counter_ns()
                ws.records.create(actors[name], "bticket", dict(data))
                elapsed = (time.perf_counter_ns() - start) / 1e6
                if i >= warmup:
                    times[name].append(elapsed)
        with ruled.db.connect() as conn:
            matched = conn.execute(sa.text("SELECT COUNT(*) FROM bticket WHERE note IS NOT NULL")).scalar()
        plain.close()
        ruled.close()
    result: dict[str, Any] = {"backend": backend, "creates": creates, "matched": matched}
    for name, values in times.items():
        result[f"{name}_p50"] = statistics.median(values)
        result[f"{name}_p95"] = pct(values, 0.95)
        result[f"{name}_mean"] = statistics.fmean(values)
    result["ratio_mean"] = result["rules_mean"] / result["none_mean"]
    result["ratio_p50"] = result["rules_p50"] / result["none_p50"]
    result["ratio_p95"] = result["rules_p95"] / result["none_p95"]
    return result


def report_rules(results: list[dict[str, Any]]) -> str:
    lines = [
        "| backend | creates | no rules mean | 10 rules mean | ratio mean | ratio p50 | no rules p95 "
        "| 10 rules p95 | ratio p95 | creates a rule matched |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['backend']} | {r['creates']:,} | {r['none_mean']:.2f} ms | {r['rules_mean']:.2f} ms "
            f"| {r['ratio_mean']:.2f} | {r['ratio_p50']:.2f} | {r['none_p95']:.2f} ms | {r['rules_p95']:.2f} ms "
            f"| {r['ratio_p95']:.2f} "
            f"| {r['matched'] / (r['creates'] + 50):.0%} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="bench", required=True)
    rules = sub.add_parser("rules", help="rule overhead per create")
    rules.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    rules.add_argument("--creates", type=int, default=2000)
    rules.add_argument("--warmup", type=int, default=50)
    timers = sub.add_parser("timers", help="due SLA timers to escalations applied (PostgreSQL)")
    timers.add_argument("--tickets", type=int, default=1_000_000)
    timers.add_argument("--timers", "--due", dest="timers", type=int, default=10_000)
    timers.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    timers.add_argument("--batch", type=int, help="timers claimed per transaction (default: fire_due's)")
    timers.add_argument("--workers", type=int, default=1, help="processes firing at once (PostgreSQL)")
    timers.add_argument("--savepoints", action="store_true", help="one savepoint per timer from the start")
    timers.add_argument("--profile", metavar="FILE", help="cProfile the firing; stats to FILE and the top 40 printed")
    args = parser.parse_args(argv)
    print(
        f"python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} CPUs; "
        f"SQLAlchemy {sa.__version__}; {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        flush=True,
    )
    if args.bench == "rules":
        backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
        results = [bench_rules(b, args.creates, args.warmup) for b in backends]
        print(report_rules(results))
        return 0 if all(r["ratio_mean"] <= 1.5 for r in results) else 1
    from bench_timers import bench_timers  # the SLA part lives beside this file

    return bench_timers(
        args.tickets, args.timers, args.backend, args.batch, args.profile, args.workers, args.savepoints
    )


if __name__ == "__main__":
    sys.exit(main())
