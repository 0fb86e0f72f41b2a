"""API overhead: Tessera's generic REST API against a hand-written Flask + SQLAlchemy endpoint.

Both implementations serve the same ``contact`` table in the same database, in the same
process, through Flask's test client (no network). For each operation the two are called
alternately (in a random order per pair, same input for both), so drift in the machine,
the caches or the table size hits both alike.

    python bench/api_overhead.py [--backend sqlite|postgresql|both] [--rows 100000] [--requests N]
                                 [--profile create|get|list] [--load core|api]

PostgreSQL: ``TESSERA_BENCH_DATABASE_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``); the run uses a fresh schema
``bench_xxxxxxxx`` that is dropped at the end.

The table and indexes are created by Tessera from the benchmark's own pack
(``bench/packs/benchcore``); the hand-written app declares the columns it uses by hand, as
a hand-written app would.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import io
import json
import os
import platform
import pstats
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, jsonify, request

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.app import create_app  # noqa: E402
from engine.config import Config  # noqa: E402
from engine.security.users import create_user, ensure_roles  # noqa: E402
from engine.storage.ids import is_id, new_id  # noqa: E402
from engine.workspace import Workspace  # noqa: E402

PACKS = Path(__file__).resolve().parent / "packs"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "Bench-password-1"
SEED = 20240601

FIRST = [
    "Anna",
    "Ben",
    "Carla",
    "David",
    "Elif",
    "Farid",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Kira",
    "Lars",
    "Mina",
    "Noah",
    "Olga",
    "Pablo",
    "Qiu",
    "Rosa",
    "Sami",
    "Tara",
    "Umar",
    "Vera",
    "Wim",
    "Xenia",
    "Yusuf",
    "Zoe",
]
LAST = [
    "Adler",
    "Bauer",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Hoffmann",
    "Ivanova",
    "Jansen",
    "Kowalski",
    "Lehmann",
    "Martin",
    "Nowak",
    "Okafor",
    "Petrov",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Ullrich",
    "Vogel",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zimmermann",
    "Ahmadi",
    "Novak",
    "Silva",
    "Kim",
]
COUNTRIES = [
    "Germany",
    "Austria",
    "Switzerland",
    "France",
    "Italy",
    "Spain",
    "Portugal",
    "Netherlands",
    "Belgium",
    "Poland",
    "Czechia",
    "Denmark",
    "Sweden",
    "Norway",
    "Finland",
    "Ireland",
    "United Kingdom",
    "United States",
    "Canada",
    "India",
]
CITIES = [
    "Berlin",
    "Vienna",
    "Zurich",
    "Paris",
    "Milan",
    "Madrid",
    "Lisbon",
    "Utrecht",
    "Ghent",
    "Krakow",
    "Brno",
    "Aarhus",
    "Malmo",
    "Bergen",
    "Espoo",
    "Cork",
    "Leeds",
    "Austin",
    "Toronto",
    "Pune",
]
TITLES = ["CEO", "CTO", "Buyer", "Engineer", "Head of IT", "Office manager", "Controller", "Sales director"]
DEPARTMENTS = ["Management", "IT", "Purchasing", "Finance", "Operations", "Sales"]
N_ACCOUNTS = 500


# --- databases -----------------------------------------------------------------------------
@contextmanager
def database(backend: str, tmp: Path) -> Iterator[str]:
    """A fresh, empty database URL for ``backend``; removed afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    base = os.environ.get("TESSERA_BENCH_DATABASE_URL", DEFAULT_PG)
    if base.startswith("postgresql://"):
        base = "postgresql+psycopg://" + base[len("postgresql://") :]
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def pack_root(audit: str, tmp: Path) -> Path:
    """bench/packs, or a copy of it whose contact has ``audit: false``."""
    if audit == "on":
        return PACKS
    root = tmp / "packs"
    shutil.copytree(PACKS, root)
    path = root / "benchcore" / "entities" / "contact.yaml"
    path.write_text(path.read_text() + "audit: false\n")
    return root


# --- data ----------------------------------------------------------------------------------
def contact_values(rng: random.Random, account_ids: list[str], n: int) -> dict[str, Any]:
    """One realistic contact as API input (JSON types)."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    i = rng.randrange(len(COUNTRIES))
    return {
        "first_name": first,
        "last_name": last,
        "email": f"{first.lower()}.{last.lower()}.{n}@example.com",
        "phone": f"+49 30 {rng.randrange(1000000, 9999999)}",
        "title": rng.choice(TITLES),
        "department": rng.choice(DEPARTMENTS),
        "city": CITIES[i],
        "country": COUNTRIES[i],
        "account": rng.choice(account_ids),
        "consent_marketing": rng.random() < 0.4,
        "birthday": (dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(20000))).isoformat(),
    }


def bulk_load_core(ws: Workspace, owner: str, rows: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """Accounts and contacts straight into Tessera's tables (SQLAlchemy Core executemany)."""
    tables = ws.snapshot().tables
    account, contact = tables.main("account"), tables.main("contact")
    now = dt.datetime.now(dt.UTC)
    system = {
        "version": 1,
        "created_at": now,
        "created_by": owner,
        "updated_at": now,
        "updated_by": owner,
        "owner": owner,
        "deleted_at": None,
        "deleted_by": None,
    }
    account_ids = [new_id() for _ in range(N_ACCOUNTS)]
    contact_ids: list[str] = []
    with ws.db.begin() as conn:
        conn.execute(
            account.insert(),
            [
                {"id": a, "name": f"Account {k:04d}", "city": CITIES[k % 20], "country": COUNTRIES[k % 20], **system}
                for k, a in enumerate(account_ids)
            ],
        )
    batch: list[dict[str, Any]] = []
    for n in range(rows):
        values = contact_values(rng, account_ids, n)
        values["birthday"] = dt.date.fromisoformat(values["birthday"])
        record_id = new_id()
        contact_ids.append(record_id)
        batch.append({"id": record_id, **values, **system})
        if len(batch) == 5000 or n == rows - 1:
            with ws.db.begin() as conn:
                conn.execute(contact.insert(), batch)
            batch = []
    return account_ids, contact_ids


def bulk_load_api(client: Any, headers: dict[str, str], rows: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """Accounts and contacts through ``POST /api/v1/ENTITY/bulk`` in batches of 1,000."""
    account_ids: list[str] = []
    for start in range(0, N_ACCOUNTS, 1000):
        body = [
            {"name": f"Account {k:04d}", "city": CITIES[k % 20], "country": COUNTRIES[k % 20]}
            for k in range(start, min(start + 1000, N_ACCOUNTS))
        ]
        r = client.post("/api/v1/account/bulk", json=body, headers=headers)
        assert r.status_code == 200, r.get_json()
        account_ids += [rec["id"] for rec in r.get_json()["data"]]
    contact_ids: list[str] = []
    for start in range(0, rows, 1000):
        body = [contact_values(rng, account_ids, n) for n in range(start, min(start + 1000, rows))]
        r = client.post("/api/v1/contact/bulk", json=body, headers=headers)
        assert r.status_code == 200, r.get_json()
        contact_ids += [rec["id"] for rec in r.get_json()["data"]]
    return account_ids, contact_ids


def analyze(ws: Workspace) -> None:
    """Fresh planner statistics after the bulk load, as an operator would do."""
    if ws.db.dialect.name == "postgresql":
        with ws.db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    else:
        with ws.db.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


# --- the hand-written app ------------------------------------------------------------------
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{1,38}[0-9]$")
STRING_LIMITS = {
    "first_name": 100,
    "last_name": 100,
    "email": 254,
    "phone": 40,
    "title": 128,
    "department": 100,
    "city": 100,
    "country": 100,
}


def hand_written_app(url: str, tokens: dict[str, str]) -> Flask:
    """A minimal real endpoint: bearer token check, hand validation, Core SQL, JSON out."""
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":
        # the same connection settings as Tessera's (WAL, synchronous=NORMAL, foreign keys), so
        # that the comparison measures the API layers and not the durability settings
        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000", "foreign_keys=ON"):
                dbapi_connection.execute(f"PRAGMA {pragma}")

    md = sa.MetaData()
    contact = sa.Table(
        "contact",
        md,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("version", sa.Integer),
        sa.Column("created_at", sa.DateTime),
        sa.Column("created_by", sa.String(36)),
        sa.Column("updated_at", sa.DateTime),
        sa.Column("updated_by", sa.String(36)),
        sa.Column("owner", sa.String(36)),
        sa.Column("deleted_at", sa.DateTime),
        sa.Column("deleted_by", sa.String(36)),
        *[sa.Column(name, sa.String(n)) for name, n in STRING_LIMITS.items()],
        sa.Column("account", sa.String(36)),
        sa.Column("consent_marketing", sa.Boolean),
        sa.Column("birthday", sa.Date),
    )
    public = [c for c in contact.c if c.name not in ("deleted_at", "deleted_by")]
    app = Flask("handwritten")

    def user() -> str | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return tokens.get(token) if scheme.lower() == "bearer" else None

    def as_json(row: Any) -> dict[str, Any]:
        out = {}
        for key, value in row._mapping.items():
            if isinstance(value, dt.datetime):
                value = value.replace(tzinfo=dt.UTC).isoformat()
            elif isinstance(value, dt.date):
                value = value.isoformat()
            out[key] = value
        return out

    def error(status: int, detail: str, errors: list[dict[str, str]] | None = None) -> Any:
        return jsonify({"status": status, "detail": detail, "errors": errors or []}), status

    @app.post("/contacts")
    def create() -> Any:
        who = user()
        if who is None:
            return error(401, "Sign in first")
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return error(400, "Send a JSON object")
        errors = []
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key in STRING_LIMITS:
                if value is not None and (not isinstance(value, str) or len(value) > STRING_LIMITS[key]):
                    errors.append({"field": key, "message": f"At most {STRING_LIMITS[key]} characters."})
                elif key == "email" and value and not EMAIL.match(value):
                    errors.append({"field": key, "message": "Not a valid email address."})
                elif key == "phone" and value and not PHONE.match(value):
                    errors.append({"field": key, "message": "Not a valid phone number."})
                values[key] = value
            elif key == "account":
                if value is not None and not is_id(value):
                    errors.append({"field": key, "message": "Must be a record id."})
                values[key] = value
            elif key == "consent_marketing":
                if not isinstance(value, bool):
                    errors.append({"field": key, "message": "Must be true or false."})
                values[key] = value
            elif key == "birthday":
                try:
                    values[key] = None if value is None else dt.date.fromisoformat(value)
                except (TypeError, ValueError):
                    errors.append({"field": key, "message": "Must be a date YYYY-MM-DD."})
            else:
                errors.append({"field": key, "message": "Unknown field."})
        if not values.get("last_name"):
            errors.append({"field": "last_name", "message": "Is required."})
        if errors:
            return error(422, "The contact is not valid", errors)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        row = {
            "id": new_id(),
            "version": 1,
            "created_at": now,
            "created_by": who,
            "updated_at": now,
            "updated_by": who,
            "owner": who,
            "consent_marketing": False,
            **values,
        }
        try:
            with engine.begin() as conn:
                conn.execute(contact.insert(), row)
        except sa.exc.IntegrityError:
            return error(422, "No account with this id", [{"field": "account", "message": "No such account."}])
        out = {c.name: row.get(c.name) for c in public}
        for key in ("created_at", "updated_at"):
            out[key] = now.replace(tzinfo=dt.UTC).isoformat()
        if out["birthday"] is not None:
            out["birthday"] = out["birthday"].isoformat()
        return jsonify(out), 201

    @app.get("/contacts/<record_id>")
    def get(record_id: str) -> Any:
        if user() is None:
            return error(401, "Sign in first")
        with engine.connect() as conn:
            row = conn.execute(
                sa.select(*public).where(contact.c.id == record_id, contact.c.deleted_at.is_(None))
            ).first()
        if row is None:
            return error(404, "No such contact")
        return jsonify(as_json(row))

    @app.get("/contacts")
    def list_() -> Any:
        if user() is None:
            return error(401, "Sign in first")
        country = request.args.get("country")
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(*public)
                .where(contact.c.country == country, contact.c.deleted_at.is_(None))
                .order_by(contact.c.last_name, contact.c.id)
                .limit(50)
            ).all()
        return jsonify({"data": [as_json(r) for r in rows]})

    app.extensions["bench_engine"] = engine
    return app


# --- measuring -----------------------------------------------------------------------------
class Op:
    """One operation: how to call it on each implementation, with the same input."""

    def __init__(
        self,
        name: str,
        make_input: Callable[[int], Any],
        tessera: Callable[[Any], Any],
        hand: Callable[[Any], Any],
        expect: int,
    ):
        self.name, self.make_input, self.tessera, self.hand, self.expect = name, make_input, tessera, hand, expect


def timed(call: Callable[[Any], Any], arg: Any, expect: int, who: str) -> int:
    start = time.perf_counter_ns()
    response = call(arg)
    elapsed = time.perf_counter_ns() - start
    if response.status_code != expect:
        body = response.get_data(as_text=True)[:500]
        raise SystemExit(f"{who}: expected {expect}, got {response.status_code}: {body}")
    return elapsed


def pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return (ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)) / 1e6  # ms


def run_op(op: Op, n: int, warmup: int, rng: random.Random) -> dict[str, list[int]]:
    for i in range(warmup):
        arg = op.make_input(-1 - i)
        timed(op.tessera, arg, op.expect, "tessera")
        timed(op.hand, arg, op.expect, "hand-written")
    gc.collect()
    out: dict[str, list[int]] = {"tessera": [], "hand": []}
    for i in range(n):
        arg = op.make_input(i)
        if rng.random() < 0.5:
            out["tessera"].append(timed(op.tessera, arg, op.expect, "tessera"))
            out["hand"].append(timed(op.hand, arg, op.expect, "hand-written"))
        else:
            out["hand"].append(timed(op.hand, arg, op.expect, "hand-written"))
            out["tessera"].append(timed(op.tessera, arg, op.expect, "tessera"))
    return out


def profile_op(op: Op, n: int, profiler: str, top: int = 30) -> str:
    """Where Tessera's time goes for one operation (the hand-written side is not profiled)."""
    for i in range(50):
        op.tessera(op.make_input(-1 - i))
    if profiler == "pyinstrument":
        from pyinstrument import Profiler  # pip install pyinstrument

        sampler = Profiler(interval=0.001)
        sampler.start()
        for i in range(n):
            op.tessera(op.make_input(i))
        sampler.stop()
        return sampler.output_text(unicode=False, color=False, show_all=False)
    prof = cProfile.Profile()
    prof.enable()
    for i in range(n):
        op.tessera(op.make_input(i))
    prof.disable()
    text = io.StringIO()
    stats = pstats.Stats(prof, stream=text).strip_dirs()
    text.write(f"=== cProfile of {n} Tessera {op.name} requests, by own time ===\n")
    stats.sort_stats("tottime").print_stats(top)
    text.write("=== by cumulative time ===\n")
    stats.sort_stats("cumulative").print_stats(top + 20)
    return text.getvalue()


def bench_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp_name, database(backend, Path(tmp_name)) as url:
        tmp = Path(tmp_name)
        config = Config(
            database_url=url,
            packs=("benchcore",),
            extra_pack_paths=(pack_root(args.audit, tmp),),
            secret_key="bench-secret-key-" + "x" * 32,
            instance_path=tmp / "instance",
        )
        ws = Workspace(config)
        ws.install()
        ensure_roles(ws)
        admin = create_user(ws, "bench@example.com", "Bench Admin", PASSWORD, ["admin"])
        app = create_app(config, ws)
        tclient = app.test_client()
        r = tclient.post("/api/v1/auth/token", json={"email": "bench@example.com", "password": PASSWORD})
        assert r.status_code == 200, r.get_json()
        t_headers = {"Authorization": f"Bearer {r.get_json()['token']}"}

        started = time.perf_counter()
        if args.load == "api":
            account_ids, contact_ids = bulk_load_api(tclient, t_headers, args.rows, rng)
        else:
            account_ids, contact_ids = bulk_load_core(ws, admin["id"], args.rows, rng)
        load_seconds = time.perf_counter() - started
        analyze(ws)
        print(
            f"[{backend}] loaded {len(contact_ids):,} contacts and {len(account_ids)} accounts "
            f"via {'the bulk API' if args.load == 'api' else 'SQLAlchemy Core executemany'} "
            f"in {load_seconds:.1f} s ({len(contact_ids) / load_seconds:,.0f} rows/s); contact audit {args.audit}",
            flush=True,
        )

        hand_token = "hand-" + uuid.uuid4().hex
        happ = hand_written_app(url, {hand_token: admin["id"]})
        hclient = happ.test_client()
        h_headers = {"Authorization": f"Bearer {hand_token}"}

        # one input generator per operation, shared by both implementations
        counter = iter(range(10_000_000, 99_999_999))
        ops = [
            Op(
                "create",
                lambda i: contact_values(rng, account_ids, next(counter)),
                lambda body: tclient.post("/api/v1/contact", json=body, headers=t_headers),
                lambda body: hclient.post("/contacts", json=body, headers=h_headers),
                201,
            ),
            Op(
                "get",
                lambda i: rng.choice(contact_ids),
                lambda rid: tclient.get(f"/api/v1/contact/{rid}", headers=t_headers),
                lambda rid: hclient.get(f"/contacts/{rid}", headers=h_headers),
                200,
            ),
            Op(
                "list",
                lambda i: rng.choice(COUNTRIES),
                lambda c: tclient.get(
                    "/api/v1/contact",
                    query_string={"country": c, "sort": "last_name", "limit": "50"},
                    headers=t_headers,
                ),
                lambda c: hclient.get("/contacts", query_string={"country": c}, headers=h_headers),
                200,
            ),
        ]
        counts = {
            "create": args.creates or args.requests or 2000,
            "get": args.gets or args.requests or 5000,
            "list": args.lists or args.requests or 2000,
        }

        # the two answer alike (same record shape, same first page)
        rid = rng.choice(contact_ids)
        a, b = ops[1].tessera(rid).get_json(), ops[1].hand(rid).get_json()
        assert a["id"] == b["id"] == rid and a["last_name"] == b["last_name"], (a, b)
        a, b = ops[2].tessera("Germany").get_json(), ops[2].hand("Germany").get_json()
        assert [x["id"] for x in a["data"]] == [x["id"] for x in b["data"]] and len(a["data"]) == 50

        result: dict[str, Any] = {
            "backend": backend,
            "rows": len(contact_ids),
            "load_seconds": load_seconds,
            "load": args.load,
            "audit": args.audit,
            "ops": {},
        }
        if args.profile:
            op = next(o for o in ops if o.name == args.profile)
            print(profile_op(op, counts[op.name], args.profiler))
        else:
            gc.collect()
            gc.freeze()  # the loaded ids and the metadata are long-lived: keep them out of GC passes
            for op in ops:
                samples = run_op(op, counts[op.name], args.warmup, rng)
                result["ops"][op.name] = {
                    "n": counts[op.name],
                    **{
                        f"{who}_{k}": round(pct(samples[who], q), 3)
                        for who in ("tessera", "hand")
                        for k, q in (("p50", 0.5), ("p95", 0.95))
                    },
                    **{f"{who}_mean": round(statistics.fmean(samples[who]) / 1e6, 3) for who in ("tessera", "hand")},
                }
                m = result["ops"][op.name]
                m["ratio_p50"] = round(m["tessera_p50"] / m["hand_p50"], 2)
                m["ratio_p95"] = round(m["tessera_p95"] / m["hand_p95"], 2)
                print(f"[{backend}] {op.name}: done", flush=True)
            gc.unfreeze()
        happ.extensions["bench_engine"].dispose()
        ws.close()
        return result


def report(results: list[dict[str, Any]], target: float) -> str:
    lines = [
        "| backend | operation | requests | Tessera p50 | hand p50 | ratio p50 | Tessera p95 | hand p95 "
        "| ratio p95 | within target |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for res in results:
        for name, m in res["ops"].items():
            ok = "yes" if m["ratio_p50"] <= target and m["ratio_p95"] <= target else "**no**"
            lines.append(
                f"| {res['backend']} | {name} | {m['n']:,} | {m['tessera_p50']:.2f} ms "
                f"| {m['hand_p50']:.2f} ms | {m['ratio_p50']:.2f} | {m['tessera_p95']:.2f} ms "
                f"| {m['hand_p95']:.2f} ms | {m['ratio_p95']:.2f} | {ok} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rows", type=int, default=100_000, help="contacts to load (default 100,000)")
    parser.add_argument(
        "--requests",
        type=int,
        default=None,
        help="requests per operation and implementation (default: 2,000 creates, 5,000 gets, 2,000 lists)",
    )
    parser.add_argument("--creates", type=int, default=None, help="override --requests for this operation")
    parser.add_argument("--gets", type=int, default=None, help="override --requests for this operation")
    parser.add_argument("--lists", type=int, default=None, help="override --requests for this operation")
    parser.add_argument("--warmup", type=int, default=100, help="unmeasured requests per operation first")
    parser.add_argument(
        "--load",
        choices=["core", "api"],
        default="core",
        help="bulk load via SQLAlchemy Core (default) or Tessera's bulk API, 1,000 a batch",
    )
    parser.add_argument(
        "--profile",
        choices=["create", "get", "list"],
        default=None,
        help="instead of comparing, cProfile Tessera's side of one operation",
    )
    parser.add_argument("--profiler", choices=["cprofile", "pyinstrument"], default="cprofile")
    parser.add_argument(
        "--audit",
        choices=["on", "off"],
        default="on",
        help="off: run with 'audit: false' on contact (the pack default, like core's, is on)",
    )
    parser.add_argument("--target", type=float, default=1.3, help="the ratio Tessera / hand-written to meet")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.rows < 100:
        parser.error("--rows must be at least 100")

    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(
        f"python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} CPUs; "
        f"SQLAlchemy {sa.__version__}; {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        flush=True,
    )
    results = [bench_backend(b, args) for b in backends]
    if args.profile:
        return 0
    print()
    print(report(results, args.target))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    within = all(
        m["ratio_p50"] <= args.target and m["ratio_p95"] <= args.target for res in results for m in res["ops"].values()
    )
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
