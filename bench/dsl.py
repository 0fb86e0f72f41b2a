"""DSL benchmark: compile time, evaluation speed against hand-written Python, SQL list latency.

    python bench/dsl.py [--part 1|2|3|all] [--rows 100000] [--backend sqlite|postgresql|both]
                        [--repeat 30] [--runs 50] [--profile]

Part 1 -- parse, check and full ``compile_expression`` time per expression, for every
expression of the shipped packs (``metadata/`` and ``engine/system_pack``), the test pack
``tests/packs/testkit`` and ~200 synthetic expressions over the benchmark's ``issue``
entity. Each expression is timed ``--repeat`` times (warm: the Lark parser is built
once and cached); its time is the median of those runs, and the table gives the mean and
p95 of those medians over the expressions. Also the time of ``Expression.to_sql`` (the
SQLAlchemy expression that every filtered list request builds).

Part 2 -- evaluations per second of the compiled closure (``expr.holds(env)``) for

    priority == "P1" and hours_between(created_at, $now) > 4 and account.tier in ("gold", "platinum")

against a hand-written Python function with the same logic, on the same ``Env`` objects
and the same loader (an in-memory dict of accounts): ``--rows`` records, a realistic mix
(P1 ~10%) and a worst case where every record is P1 so every clause runs.

Part 3 -- ``workspace.records.list(SYSTEM, "issue", {"filter": EXPR, "limit": "50",
"sort": "-created_at"})`` on ``--rows`` issues and 1,000 accounts, p50/p95 over ``--runs``
calls (and with ``count=true``), the SQL it runs and its plan (EXPLAIN QUERY PLAN on SQLite,
EXPLAIN ANALYZE on PostgreSQL), and, for comparison, hand-written SQL variants (a join, a
sargable ``created_at`` bound) run on the same tables.

PostgreSQL: ``TESSERA_BENCH_DATABASE_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``); the run uses a fresh schema
``dslbench_xxxxxxxx`` that is dropped at the end. The entities come from the benchmark's own
pack ``bench/packs/dslbench`` (``acct``, ``issue``).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import io
import os
import platform
import pstats
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from api_overhead import database  # noqa: E402  (one fresh-database helper for both benches)

from engine.actor import SYSTEM  # noqa: E402
from engine.config import Config  # noqa: E402
from engine.dsl import Env, Expression, compile_expression, default_functions, sql_context  # noqa: E402
from engine.dsl.checker import Scope, check  # noqa: E402
from engine.dsl.parser import _parser, parse  # noqa: E402
from engine.dsl.to_python import compile_to_python  # noqa: E402
from engine.errors import DslError  # noqa: E402
from engine.meta.catalog import Catalog, build_catalog  # noqa: E402
from engine.meta.model import EntityDef  # noqa: E402
from engine.meta.packs import builtin_pack_roots, discover, resolve  # noqa: E402
from engine.meta.problems import Problems  # noqa: E402
from engine.storage.ids import new_id  # noqa: E402
from engine.storage.tables import build_tables  # noqa: E402
from engine.workspace import Workspace  # noqa: E402

PACKS = Path(__file__).resolve().parent / "packs"
TEST_PACKS = ROOT / "tests" / "packs"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SEED = 20240601
EXPR = 'priority == "P1" and hours_between(created_at, $now) > 4 and account.tier in ("gold", "platinum")'
N_ACCOUNTS = 1000
#: part 3 warm-up calls per query: psycopg prepares a statement after 5 executions on a
#: connection and PostgreSQL may switch to a generic plan after 5 more; measure the steady state
WARM = 15
PRIORITIES = (["P1", "P2", "P3", "P4"], [10, 25, 40, 25])
TIERS = (["platinum", "gold", "silver", "bronze"], [5, 15, 30, 50])
STATUSES = (["new", "open", "pending", "solved", "closed"], [10, 30, 15, 25, 20])
CHANNELS = ["email", "phone", "web", "chat"]


# --- small helpers -------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def us(ns: float) -> str:
    return f"{ns / 1000:.1f}"


def ms(ns: float) -> str:
    return f"{ns / 1e6:.2f}"


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table (pasted into bench/DSL.md as is)."""
    cells = [headers, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells[1:])])


def catalog_of(packs: tuple[str, ...] | None, extra: tuple[Path, ...] = ()) -> Catalog:
    problems = Problems()
    found = discover([*builtin_pack_roots(), *extra], problems)
    catalog = build_catalog(resolve(found, packs, problems), (), problems)
    problems.raise_if_any("The benchmark's packs are invalid")
    return catalog


def bench_catalog() -> Catalog:
    return catalog_of(("dslbench",), (PACKS,))


# --- part 1: compile time ------------------------------------------------------------------
@dataclass
class Item:
    group: str
    where: str
    source: str
    entity: EntityDef
    options: dict[str, Any] = field(default_factory=dict)  # compile_expression keyword arguments


def pack_expressions(catalog: Catalog, group: str, packs: set[str] | None = None) -> list[Item]:
    """Every expression of the catalog's entities, compiled as engine.storage.expressions does."""
    items: list[Item] = []
    for entity in catalog.entities.values():
        for fd in entity.fields.values():
            if packs is not None and not any(f"/{p}/" in fd.origin.file for p in packs):
                continue
            where = f"{entity.name}.{fd.name}"
            default = fd.opt("default")
            if isinstance(default, str) and default.startswith("="):
                items.append(Item(group, f"{where}.default", default[1:], entity, {"where": f"{where}.default"}))
            if fd.is_computed:
                items.append(Item(group, f"{where}.compute", fd.opt("compute"), entity, {"where": f"{where}.compute"}))
            for option in ("visible_if", "readonly_if"):
                if fd.opt(option):
                    items.append(
                        Item(
                            group,
                            f"{where}.{option}",
                            fd.opt(option),
                            entity,
                            {"where": f"{where}.{option}", "expect": "bool"},
                        )
                    )
            if fd.opt("filter") and fd.target in catalog.entities:
                items.append(
                    Item(
                        group,
                        f"{where}.filter",
                        fd.opt("filter"),
                        catalog.entities[fd.target],
                        {"where": f"{where}.filter", "expect": "bool", "record_entity": entity},
                    )
                )
        for index, validation in enumerate(entity.validations):
            items.append(
                Item(
                    group,
                    f"{entity.name}.validations[{index}]",
                    validation.when,
                    entity,
                    {"where": f"{entity.name}.validations[{index}]", "expect": "bool"},
                )
            )
    return items


# building blocks of the synthetic expressions: conditions and values over `issue`
CONDITIONS = [
    'priority == "P1"',
    'priority in ("P1", "P2")',
    'priority != "P4"',
    'status != "closed"',
    'status not in ("solved", "closed")',
    'status == "new"',
    'channel == "email"',
    "escalated == true",
    "not escalated",
    'account.tier == "gold"',
    'account.tier in ("gold", "platinum")',
    'account.country == "DE"',
    "account.revenue > 100000",
    'account.name ~ "gmbh"',
    "hours_between(created_at, $now) > 4",
    "days_between(created_at, now()) > 14",
    "due_at < $now",
    "due_at < $now + 2h",
    "resolved_at == null",
    "resolved_at != null",
    'subject ~ "vpn"',
    'contains(subject, "VPN")',
    'startswith(subject, "RE:")',
    "len(description) > 200",
    'lower(subject) == "help"',
    "effort * 2 > 8",
    "cost >= 1000",
    "reopened > 2",
    "estimate > 4h",
    "assignee == $user",
    "assignee == null",
    "owner == $user",
    '"vip" in tags',
    "coalesce(effort, 0) > 3",
    "round(effort, 1) >= 2.5",
    "updated_at > $now - 1d",
    "created_at >= 2024-01-01T00:00:00Z",
    'due_at < created_at + if(priority == "P1", 4h, 24h)',
    "abs(reopened - 1) > 0",
    "resolved_at > $now - 7d",
    "hours_between(created_at, coalesce(resolved_at, $now)) > 48",
    "cost / coalesce(effort, 1) > 150",
    "account == null",
    'trim(subject) != ""',
    'upper(account.country) in ("DE", "AT", "CH")',
]
PYTHON_ONLY = ['matches(subject, "^INC-[0-9]+$")', "business_hours_between(created_at, $now) > 8"]
VALUES = [
    'concat(subject, " (", priority, ")")',
    "hours_between(created_at, coalesce(resolved_at, $now))",
    "if(escalated, cost * 2, cost)",
    "account.name",
    "upper(account.country)",
    "days_between(created_at, $today)",
    "max(due_at, updated_at)",
    "min(effort, 8)",
    "round(cost * 1.19, 2)",
    "coalesce(due_at, created_at + 3d)",
    'if(priority == "P1", 4h, if(priority == "P2", 8h, 24h))',
    "created_at + estimate",
    "len(subject)",
    'concat(upper(account.country), "-", priority)',
    "cost - coalesce(account.revenue, 0) / 1000",
    "add_business_hours(created_at, 8)",
    'reopened * 10 + len(coalesce(description, ""))',
    "$now - 30d",
    'if(account.tier in ("gold", "platinum"), 2h, 8h)',
    "lower(trim(subject))",
]


def synthetic_expressions(issue: EntityDef, n: int = 200, seed: int = SEED) -> list[Item]:
    """~n realistic expressions over `issue`: conditions (list filters: SQL required, when
    SQL-ready), some Python-only conditions, and value expressions (computed fields)."""
    rng = random.Random(seed)
    items: list[Item] = []
    for k, source in enumerate(VALUES):
        items.append(Item("synthetic", f"value[{k}]", source, issue))
    for k, source in enumerate(PYTHON_ONLY):
        items.append(
            Item("synthetic", f"python_only[{k}]", f'status != "closed" and {source}', issue, {"expect": "bool"})
        )

    def condition(depth: int) -> str:
        if depth > 2 or rng.random() < 0.55:
            atom = rng.choice(CONDITIONS)
            return f"not ({atom})" if rng.random() < 0.08 else atom
        parts = [condition(depth + 1) for _ in range(rng.choice([2, 2, 3, 4]))]
        joined = f" {rng.choice(['and', 'and', 'or'])} ".join(parts)
        return f"({joined})" if depth else joined

    seen: set[str] = set()
    while len(items) < n:
        source = condition(0)
        if source in seen:
            continue
        seen.add(source)
        items.append(
            Item(
                "synthetic", f"filter[{len(items)}]", source, issue, {"where": "filter", "sql": True, "expect": "bool"}
            )
        )
    return items


def _timed(fn: Callable[[], Any], repeat: int) -> float:
    """Median wall time of ``fn`` in ns over ``repeat`` runs (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times)


def _timed_check(item: Item, catalog: Catalog, repeat: int) -> float:
    """Median time of checking (Scope + check) a freshly parsed tree (check annotates it)."""
    functions = default_functions()
    o = item.options
    times = []
    for _ in range(repeat + 1):
        tree = parse(item.source, o.get("where", "expression"))
        start = time.perf_counter_ns()
        scope = Scope(
            catalog,
            item.entity,
            functions,
            item.source,
            o.get("where", "expression"),
            False,
            o.get("sql", False),
            record_entity=o.get("record_entity"),
        )
        check(tree, scope)
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times[1:])


def measure_compile(items: list[Item], catalog: Catalog, repeat: int) -> list[dict[str, Any]]:
    tables = build_tables(catalog)
    now = dt.datetime.now(dt.UTC)
    contexts = {
        d: sql_context(d, now, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", frozenset({"admin"}))
        for d in ("sqlite", "postgresql")
    }
    ctx = contexts["postgresql"]
    results = []
    for item in items:
        compile_ = partial(compile_expression, item.source, item.entity, catalog, **item.options)
        expr: Expression = compile_()
        row: dict[str, Any] = {"item": item, "expr": expr}
        row["parse"] = _timed(partial(parse, item.source), repeat)
        row["check"] = _timed_check(item, catalog, repeat)
        row["to_python"] = _timed(partial(compile_to_python, expr.tree), repeat)
        row["compile"] = _timed(compile_, repeat)
        if expr.sql_ready and item.options.get("record_entity") is None and not item.entity.child:
            row["to_sql"] = _timed(partial(expr.to_sql, tables, ctx), repeat)
        results.append(row)
    return results


def part1(args: argparse.Namespace) -> dict[str, Any]:
    print("\n## Part 1 -- parse / check / compile time per expression\n")
    start = time.perf_counter()
    _parser()  # the cached LALR parser: built once per process
    print(f"building the Lark parser (once per process, cached): {(time.perf_counter() - start) * 1000:.1f} ms")
    shipped = catalog_of(None)  # system pack + every pack under metadata/
    testkit = catalog_of(("testkit",), (TEST_PACKS,))
    bench = bench_catalog()
    groups = {
        "shipped (metadata/ + system pack)": (pack_expressions(shipped, "shipped"), shipped),
        "tests/packs/testkit": (pack_expressions(testkit, "testkit", {"testkit"}), testkit),
        "synthetic (issue)": (synthetic_expressions(bench.entities["issue"], args.synthetic), bench),
    }
    summary_rows, all_rows = [], []
    for name, (items, catalog) in groups.items():
        if not items:
            summary_rows.append([name, 0, "-", "-", "-", "-", "-", "-", "-", "-", "-", "-"])
            continue
        good = []
        for item in items:
            try:
                compile_expression(item.source, item.entity, catalog, **item.options)
                good.append(item)
            except DslError as exc:
                print(f"  skipped {item.where}: {exc.detail.splitlines()[0]}")
        rows = measure_compile(good, catalog, args.repeat)
        all_rows += rows
        summary_rows.append(_summary(name, rows))
    summary_rows.append(_summary("all", all_rows))
    headers = [
        "expressions",
        "n",
        "chars (mean)",
        "parse mean",
        "parse p95",
        "check mean",
        "check p95",
        "to_python mean",
        "compile mean",
        "compile p95",
        "to_sql mean",
        "to_sql p95",
    ]
    print("\nTimes in microseconds (per expression: median of --repeat runs; then mean/p95 over expressions)\n")
    text = table(headers, summary_rows)
    print(text)
    slowest = sorted(all_rows, key=lambda r: r["compile"], reverse=True)[:5]
    print("\nslowest compile_expression:")
    for r in slowest:
        print(f"  {us(r['compile'])} us  {r['item'].where}: {r['item'].source[:110]}")
    target = next((r for r in all_rows if r["item"].source == EXPR), None)
    if target is None:
        bench_issue = bench.entities["issue"]
        target = measure_compile(
            [Item("x", "benchmark", EXPR, bench_issue, {"sql": True, "expect": "bool"})], bench, args.repeat
        )[0]
    print(
        f"\nthe benchmark expression: parse {us(target['parse'])} us, check {us(target['check'])} us, "
        f"compile_expression {us(target['compile'])} us, to_sql {us(target.get('to_sql', 0))} us"
    )
    return {"table": text}


def _summary(name: str, rows: list[dict[str, Any]]) -> list[Any]:
    col = lambda key: [r[key] for r in rows if key in r]  # noqa: E731
    chars = statistics.mean(len(r["item"].source) for r in rows)
    sql = col("to_sql")
    return [
        name,
        len(rows),
        f"{chars:.0f}",
        us(statistics.mean(col("parse"))),
        us(pct(col("parse"), 0.95)),
        us(statistics.mean(col("check"))),
        us(pct(col("check"), 0.95)),
        us(statistics.mean(col("to_python"))),
        us(statistics.mean(col("compile"))),
        us(pct(col("compile"), 0.95)),
        us(statistics.mean(sql)) if sql else "-",
        us(pct(sql, 0.95)) if sql else "-",
    ]


# --- part 2: evaluation speed --------------------------------------------------------------
def make_accounts(rng: random.Random, n: int = N_ACCOUNTS) -> dict[str, dict[str, Any]]:
    accounts = {}
    for k in range(n):
        account_id = new_id()
        accounts[account_id] = {
            "id": account_id,
            "name": f"Account {k:04d} GmbH",
            "tier": rng.choices(*TIERS)[0],
            "country": rng.choice(["DE", "AT", "CH", "FR", "US"]),
            "revenue": Decimal(rng.randrange(10_000, 5_000_000)),
        }
    return accounts


def make_issue(
    rng: random.Random, k: int, account_ids: list[str], now: dt.datetime, priority: str | None = None
) -> dict[str, Any]:
    """One issue as native values (what the engine hands to expressions)."""
    created = now - dt.timedelta(seconds=rng.randrange(30 * 86400))
    return {
        "id": new_id(),
        "version": 1,
        "created_at": created,
        "updated_at": created + dt.timedelta(minutes=rng.randrange(600)),
        "subject": f"Issue {k}: cannot log in to VPN" if k % 7 == 0 else f"Issue {k}: question about invoice",
        "priority": priority or rng.choices(*PRIORITIES)[0],
        "status": rng.choices(*STATUSES)[0],
        "channel": rng.choice(CHANNELS),
        "account": rng.choice(account_ids) if rng.random() < 0.97 else None,
        "escalated": rng.random() < 0.05,
        "reopened": rng.randrange(4),
    }


def hand_written(env: Env) -> bool:
    """The benchmark condition written by hand, as a developer would (same Env, same loader)."""
    record = env.record
    if record.get("priority") != "P1":
        return False
    created = record.get("created_at")
    if created is None or (env.now - created).total_seconds() / 3600 <= 4:
        return False
    account_id = record.get("account")
    if account_id is None:
        return False
    account = env.load("acct", account_id)
    return account is not None and account.get("tier") in ("gold", "platinum")


def _rate(fn: Callable[[Env], Any], envs: list[Env], runs: int) -> tuple[float, int]:
    """Best-of-``runs`` evaluations per second, and how many envs matched."""
    best = float("inf")
    hits = 0
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter_ns()
        hits = 0
        for env in envs:
            if fn(env) is True:
                hits += 1
        best = min(best, time.perf_counter_ns() - start)
    return len(envs) / (best / 1e9), hits


def part2(args: argparse.Namespace) -> dict[str, Any]:
    print(f"\n## Part 2 -- evaluations per second ({args.rows:,} records)\n")
    catalog = bench_catalog()
    expr = compile_expression(EXPR, catalog.entities["issue"], catalog, sql=True, expect="bool")
    rng = random.Random(SEED)
    now = dt.datetime.now(dt.UTC)
    accounts = make_accounts(rng)
    account_ids = list(accounts)

    def load(entity: str, record_id: str) -> dict[str, Any] | None:  # an in-memory record cache
        return accounts.get(record_id) if entity == "acct" else None

    holds = expr.holds
    results = {}
    rows_out = []
    for mix in ("realistic", "all P1"):
        records = [make_issue(rng, k, account_ids, now, None if mix == "realistic" else "P1") for k in range(args.rows)]
        envs = [Env(r, now=now, load=load) for r in records]
        # the two implementations alternate, best of several runs each
        dsl_rates, hand_rates = [], []
        dsl_hits = hand_hits = 0
        for _ in range(args.eval_runs):
            rate, dsl_hits = _rate(holds, envs, 1)
            dsl_rates.append(rate)
            rate, hand_hits = _rate(hand_written, envs, 1)
            hand_rates.append(rate)
        assert dsl_hits == hand_hits, (mix, dsl_hits, hand_hits)
        dsl, hand = max(dsl_rates), max(hand_rates)
        results[mix] = (dsl, hand, dsl_hits, envs)
        rows_out.append(
            [
                mix,
                f"{dsl_hits:,}",
                f"{dsl:,.0f}",
                f"{1e9 / dsl:.0f}",
                f"{hand:,.0f}",
                f"{1e9 / hand:.0f}",
                f"{hand / dsl:.2f}x",
            ]
        )
    text = table(
        [
            "records",
            "matching",
            "DSL evals/s",
            "DSL ns/eval",
            "hand-written evals/s",
            "hand ns/eval",
            "ratio (hand/DSL time)",
        ],
        rows_out,
    )
    print(text)
    print("\nratio = DSL time per evaluation / hand-written time per evaluation (target <= 2x)")
    profile_text = ""
    worst = max(results.values(), key=lambda r: r[1] / r[0])
    if args.profile or worst[1] / worst[0] > 2:
        envs = results["all P1"][3]
        profiler = cProfile.Profile()
        profiler.enable()
        for env in envs:
            holds(env)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(14)
        profile_text = out.getvalue()
        print("\ncProfile of expr.holds over the 'all P1' records (sorted by own time):")
        print(profile_text)
        breakdown = _breakdown(catalog, envs[:50000], now)
        print(breakdown)
        profile_text += "\n" + breakdown
    return {"table": text, "profile": profile_text}


CLAUSES = [
    ('priority == "P1"', lambda env: env.record.get("priority") == "P1"),
    (
        "hours_between(created_at, $now) > 4",
        lambda env: (c := env.record.get("created_at")) is not None and (env.now - c).total_seconds() / 3600 > 4,
    ),
    (
        'account.tier in ("gold", "platinum")',
        lambda env: (
            (a := env.record.get("account")) is not None
            and (r := env.load("acct", a)) is not None
            and r.get("tier") in ("gold", "platinum")
        ),
    ),
]


def _per_call(fn: Callable[[Any], Any], items: list[Any], runs: int = 5) -> float:
    """Best-of-``runs`` ns per call of ``fn`` over ``items``."""
    best = float("inf")
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter_ns()
        for item in items:
            fn(item)
        best = min(best, time.perf_counter_ns() - start)
    return best / len(items)


def _breakdown(catalog: Catalog, envs: list[Env], now: dt.datetime) -> str:
    """Where the time goes: each clause alone, the pieces of hours_between, and a prototype of
    specialised closures (bench-only code: what the Python compiler could emit for this tree)."""
    from engine.dsl.functions import _hours_between

    issue = catalog.entities["issue"]
    rows = []
    for source, hand in CLAUSES:
        expr = compile_expression(source, issue, catalog, sql=True, expect="bool")
        dsl_ns, hand_ns = _per_call(expr.holds, envs), _per_call(hand, envs)
        rows.append([f"`{source}`", f"{dsl_ns:.0f}", f"{hand_ns:.0f}", f"{dsl_ns / hand_ns:.1f}x"])
    lines = [
        "each clause alone, on the 'all P1' records (ns per evaluation):",
        "",
        table(["clause", "DSL ns", "hand ns", "ratio"], rows),
        "",
    ]
    created = [e.record["created_at"] for e in envs]
    micro, limit = dt.timedelta(microseconds=1), dt.timedelta(hours=4)
    pieces = [
        (
            "`(now - c).total_seconds() / 3600 > 4` (float, hand-written)",
            lambda c: (now - c).total_seconds() / 3600 > 4,
        ),
        (
            "`Decimal(str((now - c).total_seconds())) / 3600 > 4` (the DSL's hours_between)",
            lambda c: _hours_between(c, now) > 4,
        ),
        (
            "`Decimal((now - c) // 1us) / 3_600_000_000 > 4` (exact, no str round trip)",
            lambda c: Decimal((now - c) // micro) / 3_600_000_000 > 4,
        ),
        ("`now - c > timedelta(hours=4)` (the comparison rewritten; exact)", lambda c: now - c > limit),
    ]
    lines += [
        "the pieces of the hours_between clause (ns per call):",
        "",
        table(["piece", "ns"], [[label, f"{_per_call(fn, created):.0f}"] for label, fn in pieces]),
        "",
    ]
    proto = [
        ("engine today (`expr.holds`)", compile_expression(EXPR, issue, catalog, sql=True, expect="bool").holds),
        (
            "prototype: specialised closures, hours_between as today",
            _prototype(lambda a, b: _hours_between(a, b) * 3600),
        ),
        ("prototype: specialised closures, `hours_between(...) > 4` as a timedelta comparison", _prototype(None)),
        ("hand-written", hand_written),
    ]
    hand_ns = _per_call(hand_written, envs)
    proto_rows = []
    for label, fn in proto:
        assert all((fn(e) is True) == hand_written(e) for e in envs[:5000]), label
        ns = _per_call(fn, envs)
        proto_rows.append([label, f"{ns:.0f}", f"{ns / hand_ns:.1f}x"])
    lines += [
        "specialised closures (a bench-only prototype of what the compiler could emit; same three-valued "
        "semantics), on the 'all P1' records:",
        "",
        table(["evaluator", "ns/eval", "vs hand-written"], proto_rows),
    ]
    return "\n".join(lines)


def _prototype(seconds_between: Callable[[Any, Any], Any] | None) -> Callable[[Env], bool]:
    """The benchmark expression as the Python compiler could emit it: one n-ary ``and`` loop,
    one-step paths read straight from ``env.record``, comparisons with a literal side
    specialised, the literal list as a frozenset, calls with fixed arity and no list/any()."""

    def field_(name: str) -> Callable[[Env], Any]:
        return lambda env: env.record.get(name)

    def link_field(link: str, target: str, name: str) -> Callable[[Env], Any]:
        def read(env: Env) -> Any:
            record_id = env.record.get(link)
            if record_id is None:
                return None
            linked = env.load(target, record_id)
            return None if linked is None else linked.get(name)

        return read

    def eq_literal(fn: Callable[[Env], Any], value: Any) -> Callable[[Env], Any]:
        return lambda env: None if (a := fn(env)) is None else a == value

    def in_literal(fn: Callable[[Env], Any], items: list[Any]) -> Callable[[Env], Any]:
        members = frozenset(items)
        return lambda env: None if (a := fn(env)) is None else a in members

    def and_n(fns: list[Callable[[Env], Any]]) -> Callable[[Env], Any]:
        def all_(env: Env) -> Any:
            unknown = False
            for fn in fns:
                value = fn(env)
                if value is False:
                    return False
                if value is None:
                    unknown = True
            return None if unknown else True

        return all_

    created = field_("created_at")
    if seconds_between is None:  # hours_between(a, b) > 4  <=>  b - a > 4 hours (exact)
        limit = dt.timedelta(hours=4)
        hours = lambda env: None if (a := created(env)) is None else env.now - a > limit  # noqa: E731
    else:

        def hours(env: Env) -> Any:
            a = created(env)
            if a is None:
                return None
            try:
                value = seconds_between(a, env.now) / 3600
            except (ArithmeticError, ValueError, TypeError):
                return None
            return value > 4

    fn = and_n(
        [
            eq_literal(field_("priority"), "P1"),
            hours,
            in_literal(link_field("account", "acct", "tier"), ["gold", "platinum"]),
        ]
    )
    return lambda env: fn(env) is True


# --- part 3: SQL list latency --------------------------------------------------------------
def bulk_load(ws: Workspace, rows: int, rng: random.Random, now: dt.datetime) -> None:
    """1,000 accts and ``rows`` issues straight into Tessera's tables (Core executemany)."""
    tables = ws.snapshot().tables
    acct, issue = tables.main("acct"), tables.main("issue")
    accounts = make_accounts(rng)
    system = {
        "version": 1,
        "created_by": None,
        "updated_by": None,
        "owner": None,
        "deleted_at": None,
        "deleted_by": None,
    }
    with ws.db.begin() as conn:
        old = now - dt.timedelta(days=60)
        conn.execute(acct.insert(), [{**a, "created_at": old, "updated_at": old, **system} for a in accounts.values()])
    account_ids = list(accounts)
    batch: list[dict[str, Any]] = []
    for k in range(rows):
        record = make_issue(rng, k, account_ids, now)
        batch.append({**record, **system})
        if len(batch) == 10000 or k == rows - 1:
            with ws.db.begin() as conn:
                conn.execute(issue.insert(), batch)
            batch = []
    if ws.db.dialect.name == "postgresql":
        with ws.db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    else:
        with ws.db.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


class Capture:
    """The SQL statements (and parameters) a block of code sends to the database."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.statements: list[tuple[str, Any]] = []

    def _listen(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        self.statements.append((statement, parameters))

    def __enter__(self) -> Capture:
        sa.event.listen(self.engine, "before_cursor_execute", self._listen)
        return self

    def __exit__(self, *exc: Any) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._listen)


def _latencies(fn: Callable[[], Any], runs: int, warm: int = WARM) -> list[float]:
    for _ in range(warm):
        fn()
    times: list[float] = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - start)
    return times


def _explain(ws: Workspace, statement: str, parameters: Any) -> str:
    if ws.db.dialect.name == "sqlite":
        with ws.db.connect() as conn:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        depth: dict[int, int] = {0: 0}
        out = []
        for node_id, parent, _, detail in rows:
            depth[node_id] = depth.get(parent, 0) + 1
            out.append("  " * (depth[node_id] - 1) + detail)
        return "\n".join(out)
    with ws.db.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).all()
    return "\n".join(r[0] for r in rows)


def _sql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return repr(value) if not isinstance(value, Decimal) else str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return f"'{value.isoformat(sep=' ') if isinstance(value, dt.datetime) else value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def _explain_generic(ws: Workspace, statement: str, parameters: dict[str, Any]) -> str:
    """PostgreSQL: EXPLAIN ANALYZE of the *generic* plan of the statement, as a prepared statement.

    psycopg prepares a statement server-side after 5 executions on a connection, and the
    server may then switch to a generic plan (parameters unknown), which can differ from the
    custom plan a plain EXPLAIN with the values shows."""
    names: list[str] = []

    def number(match: Any) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    text = re.sub(r"%\((\w+)\)s", number, statement)
    values = ", ".join(_sql_literal(parameters[n]) for n in names)
    with ws.db.connect() as conn:
        conn.exec_driver_sql("PREPARE dslbench_q AS " + text)
        conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        rows = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE dslbench_q({values})").all()
        conn.exec_driver_sql("DEALLOCATE dslbench_q")
        conn.exec_driver_sql("RESET plan_cache_mode")
        conn.rollback()
    return "\n".join(r[0] for r in rows)


def _raw(ws: Workspace, statement: str, parameters: Any) -> Callable[[], Any]:
    """Run the captured statement through the driver only (no Tessera, no SQLAlchemy compile)."""

    def run() -> Any:
        with ws.db.connect() as conn:
            return conn.exec_driver_sql(statement, parameters).all()

    return run


def part3_backend(backend: str, args: argparse.Namespace) -> str:
    out: list[str] = []

    def say(text: str = "") -> None:
        print(text)
        out.append(text)

    say(f"\n### {backend}\n")
    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory(prefix="tessera-dslbench-") as tmp_name, database(backend, Path(tmp_name)) as url:
        tmp = Path(tmp_name)
        config = Config(
            database_url=url,
            packs=("dslbench",),
            extra_pack_paths=(PACKS,),
            secret_key="bench-secret-key-" + "x" * 32,
            instance_path=tmp / "instance",
        )
        ws = Workspace(config)
        ws.install()
        now = dt.datetime.now(dt.UTC)
        start = time.perf_counter()
        bulk_load(ws, args.rows, rng, now)
        say(
            f"loaded {N_ACCOUNTS:,} accts and {args.rows:,} issues in {time.perf_counter() - start:.1f} s "
            f"(Core executemany, then ANALYZE)"
        )
        records = ws.records
        params = {"filter": EXPR, "limit": "50", "sort": "-created_at"}
        records.list(SYSTEM, "issue", params)  # builds the snapshot; capture a warm call
        with Capture(ws.db) as cap:
            page = records.list(SYSTEM, "issue", params)
        with Capture(ws.db) as cap_count:
            page_count = records.list(SYSTEM, "issue", {**params, "count": "true"})
        list_sql, list_params = next(s for s in cap.statements if "FROM issue" in s[0] or 'FROM "issue"' in s[0])
        count_sql, count_params = next(s for s in cap_count.statements if "count(" in s[0].lower())
        say(f"first page: {len(page.data)} records; total matching (count=true): {page_count.total:,}")
        say(
            f"statements per list call: {len(cap.statements)} (with count=true: {len(cap_count.statements)}): "
            + "; ".join(" ".join(st.split())[:40] + "..." for st, _ in cap_count.statements)
        )

        rows = []
        for label, fn in [
            ("records.list (filter, limit 50, -created_at)", lambda: records.list(SYSTEM, "issue", params)),
            ("records.list + count=true", lambda: records.list(SYSTEM, "issue", {**params, "count": "true"})),
            (
                "records.list, no filter (baseline)",
                lambda: records.list(SYSTEM, "issue", {"limit": "50", "sort": "-created_at"}),
            ),
            ("  the list SQL alone (driver)", _raw(ws, list_sql, list_params)),
            ("  the count SQL alone (driver)", _raw(ws, count_sql, count_params)),
        ]:
            t = _latencies(fn, args.runs)
            rows.append([label, ms(pct(t, 0.5)), ms(pct(t, 0.95))])

        # the same filter as other SQL shapes, on the same tables: which part costs what. The
        # "as Tessera" pieces are the engine's own SQL for that clause (Expression.to_sql).
        snap = ws.snapshot()
        issue, acct = snap.tables.main("issue"), snap.tables.main("acct")
        issue_def = snap.catalog.entities["issue"]
        tiers = ["gold", "platinum"]

        def piece(source: str, at: dt.datetime) -> Any:
            ctx = sql_context(ws.db.dialect.name, at)
            return compile_expression(source, issue_def, snap.catalog, sql=True, expect="bool").to_sql(snap.tables, ctx)

        def shape(hours: str, tier: str) -> Any:
            at = dt.datetime.now(dt.UTC)
            where = [issue.c.deleted_at.is_(None), issue.c.priority == "P1"]
            where.append(
                piece("hours_between(created_at, $now) > 4", at)
                if hours == "tessera"
                else issue.c.created_at < at - dt.timedelta(hours=4)
            )
            stmt = sa.select(issue)
            if tier == "tessera":
                where.append(piece('account.tier in ("gold", "platinum")', at))
            elif tier == "join":
                stmt = stmt.join(acct, acct.c.id == issue.c.account)
                where.append(acct.c.tier.in_(tiers))
            else:
                where.append(issue.c.account.in_(sa.select(acct.c.id).where(acct.c.tier.in_(tiers))))
            return stmt.where(*where)

        variants = {
            "hours_between as Tessera; tier: correlated subquery as Tessera (= Tessera's SQL)": ("tessera", "tessera"),
            "created_at < :now - 4h; tier: correlated subquery as Tessera": ("sargable", "tessera"),
            "hours_between as Tessera; tier: JOIN acct": ("tessera", "join"),
            "created_at < :now - 4h; tier: JOIN acct": ("sargable", "join"),
            "created_at < :now - 4h; account IN (SELECT id FROM acct WHERE tier IN ...)": ("sargable", "semi"),
        }
        shape_rows, variant_sql = [], {}
        for label, (hours, tier) in variants.items():

            def run(hours: str = hours, tier: str = tier) -> Any:
                stmt = shape(hours, tier).order_by(issue.c.created_at.desc(), issue.c.id.desc()).limit(51)
                with ws.db.connect() as conn:
                    return conn.execute(stmt).all()

            def run_count(hours: str = hours, tier: str = tier) -> Any:
                stmt = sa.select(sa.func.count()).select_from(shape(hours, tier).subquery())
                with ws.db.connect() as conn:
                    return conn.execute(stmt).scalar_one()

            got = run()
            assert [r.id for r in got[:50]] == [r["id"] for r in page.data], label
            assert run_count() == page_count.total, label
            t_list, t_count = _latencies(run, args.runs), _latencies(run_count, args.runs)
            shape_rows.append(
                [label, ms(pct(t_list, 0.5)), ms(pct(t_list, 0.95)), ms(pct(t_count, 0.5)), ms(pct(t_count, 0.95))]
            )
            with Capture(ws.db) as vc:
                run()
            variant_sql[label] = vc.statements[-1]

        say(f"\nlatency over {args.runs} runs (after {WARM} warm-up calls), ms\n")
        say(table(["query", "p50 ms", "p95 ms"], rows))
        say(
            f"\nthe same filter as other SQL shapes (SQLAlchemy Core, same tables, same results), "
            f"{args.runs} runs, ms:\n"
        )
        say(table(["SQL shape", "list p50", "list p95", "count p50", "count p95"], shape_rows))
        say("\nthe list SQL Tessera runs:\n")
        say("```sql\n" + list_sql.strip() + "\n```")
        say(f"parameters: {list_params!r}")
        say("\nthe count SQL:\n")
        say("```sql\n" + count_sql.strip() + "\n```")
        kind = "EXPLAIN QUERY PLAN" if backend == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS)"
        say(f"\n{kind} of the list query:\n")
        say("```\n" + _explain(ws, list_sql, list_params) + "\n```")
        if backend == "postgresql":
            say("\nthe same, generic plan (PREPARE; plan_cache_mode = force_generic_plan; EXPLAIN ANALYZE EXECUTE):\n")
            say("```\n" + _explain_generic(ws, list_sql, list_params) + "\n```")
        say(f"\n{kind} of the count query:\n")
        say("```\n" + _explain(ws, count_sql, count_params) + "\n```")
        label = "created_at < :now - 4h; tier: JOIN acct"
        say(f"\n{kind} of '{label}' (list):\n")
        say("```\n" + _explain(ws, *variant_sql[label]) + "\n```")
        label = "created_at < :now - 4h; tier: correlated subquery as Tessera"
        say(f"\n{kind} of '{label}' (list):\n")
        say("```\n" + _explain(ws, *variant_sql[label]) + "\n```")

        # what an index serving "priority = ? ORDER BY created_at DESC" buys (in a pack:
        # `indexes: [[priority, created_at]]` on issue); created here by hand, after the above
        with ws.db.begin() as conn:
            conn.exec_driver_sql("CREATE INDEX ix_issue_priority_created_at ON issue (priority, created_at)")
        if backend == "postgresql":
            with ws.db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE issue")
        else:
            with ws.db.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        rows = []
        for label, fn in [
            ("records.list (filter, limit 50, -created_at)", lambda: records.list(SYSTEM, "issue", params)),
            ("records.list + count=true", lambda: records.list(SYSTEM, "issue", {**params, "count": "true"})),
        ]:
            t = _latencies(fn, args.runs)
            rows.append([label, ms(pct(t, 0.5)), ms(pct(t, 0.95))])
        say("\nwith an extra index on issue (priority, created_at):\n")
        say(table(["query", "p50 ms", "p95 ms"], rows))
        with Capture(ws.db) as cap:
            records.list(SYSTEM, "issue", params)
        list_sql, list_params = next(s for s in cap.statements if "FROM issue" in s[0])
        say(f"\n{kind} of the list query with that index:\n")
        say("```\n" + _explain(ws, list_sql, list_params) + "\n```")
        if backend == "postgresql":
            say("\nthe same, generic plan (what a prepared statement runs after a few executions):\n")
            say("```\n" + _explain_generic(ws, list_sql, list_params) + "\n```")
        ws.close()
    return "\n".join(out)


def part3(args: argparse.Namespace) -> dict[str, Any]:
    print(f"\n## Part 3 -- list latency with the filter, {args.rows:,} rows\n")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    return {b: part3_backend(b, args) for b in backends}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["1", "2", "3", "all"], default="all")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=30, help="part 1: timed runs per expression")
    parser.add_argument("--synthetic", type=int, default=200, help="part 1: number of synthetic expressions")
    parser.add_argument("--eval-runs", type=int, default=5, help="part 2: alternating runs per implementation")
    parser.add_argument("--runs", type=int, default=50, help="part 3: timed list calls per query")
    parser.add_argument("--profile", action="store_true", help="part 2: profile even when the ratio is <= 2")
    args = parser.parse_args(argv)
    print(f"# bench/dsl.py {' '.join(sys.argv[1:])}")
    print(
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; python {platform.python_version()} on "
        f"{platform.platform()}, {os.cpu_count()} CPUs; sqlalchemy {sa.__version__}"
    )
    print("load average (1/5/15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if args.part in ("1", "all"):
        part1(args)
    if args.part in ("2", "all"):
        part2(args)
    if args.part in ("3", "all"):
        part3(args)
    print("\nload average at the end (1/5/15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
