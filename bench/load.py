"""Load benchmark: the demo on PostgreSQL behind ``tessera serve --workers N``, driven by locust.

    pip install -e ".[bench]"
    python bench/load.py [--database-url URL] [--workers 1,2] [--users 2,4,7,10,14,20,28,40]
                         [--step-seconds 40] [--target-ms 500] [--stop-after K] [--drop] [--json FILE]

1. Creates the PostgreSQL database of ``--database-url`` (default ``tessera_load``) when it is
   missing and fills it with ``tessera demo --no-serve`` (all packs, sample data, one login per
   role; the first time takes minutes, later runs reuse it). ``--drop`` drops it at the end.
2. Starts one ``tessera serve --workers N`` per worker count, on its own port, all at once,
   with ``TESSERA_REDIS_URL`` set (sign-in throttles in Redis; jobs are left to ``tessera
   worker``, which is not started). Signs the demo logins in once (API token and UI cookie,
   handed to locust through ``TESSERA_LOAD_SESSIONS``), warms each server up for
   ``--warmup-seconds``, then runs ``bench/locustfile.py`` headless at each user count for
   ``--step-seconds`` against each server in turn (1, 2, 1, 2, ...: a change in the rest of
   the machine's load hits every worker count alike). All users start within a second and
   the statistics are reset once they run, so the ramp is not counted.
3. A step meets the target when its p95 is under ``--target-ms``, no request failed and the
   server logged no 5xx answer or worker timeout. Every step runs (on a shared machine one
   step may fail by chance); ``--stop-after K`` skips a server's remaining steps after K
   failing steps in a row.

It prints one table (users, req/s, p50, p95, failures, 5xx, CPU seconds of the server, of
the PostgreSQL backends serving the database (when it runs on this machine) and of locust,
load average) and the highest rate meeting the target per N. Locust runs on
the same machine as the server and the database: its CPU is printed so a reading can
subtract it.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import requests
import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
LOGINS = ("sales.rep", "sales.manager", "support.agent", "support.lead")
DOMAIN = "demo.tessera.dev"
PASSWORD = "Tessera-demo-2026"  # the demo's published password (engine/demo.py)  # nosec B105
SERVER_ERROR = re.compile(r'" 5\d\d \d')


def tessera_bin() -> str:
    found = Path(sys.executable).with_name("tessera")
    return str(found) if found.exists() else "tessera"


def locust_bin() -> str:
    found = Path(sys.executable).with_name("locust")
    return str(found) if found.exists() else "locust"


def ensure_database(url: str) -> bool:
    """Create the database of ``url`` if missing; True when it was created."""
    target = sa.make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    if target.get_backend_name() != "postgresql" or not target.database:
        raise SystemExit("--database-url must name a PostgreSQL database")
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}).first()
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    return not exists


def drop_database(url: str) -> None:
    target = sa.make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


def wait_until_up(base: str, proc: subprocess.Popen[bytes], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"tessera serve exited with {proc.returncode}; see its log")
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit(f"tessera serve did not answer on {base} within {seconds:.0f} s")


def sign_in(base: str) -> dict[str, dict[str, str]]:
    """One API token and one UI session cookie per login (the server allows 10 sign-ins a minute)."""
    sessions = {}
    for login in LOGINS:
        email = f"{login}@{DOMAIN}"
        r = requests.post(f"{base}/api/v1/auth/token", json={"email": email, "password": PASSWORD}, timeout=60)
        r.raise_for_status()
        browser = requests.Session()
        page = browser.get(f"{base}/login", timeout=60)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        form = {"csrf_token": csrf.group(1) if csrf else "", "email": email, "password": PASSWORD}
        browser.post(f"{base}/login", data=form, allow_redirects=False, timeout=60).raise_for_status()
        sessions[email] = {"token": r.json()["token"], "cookie": browser.cookies.get("tessera_session") or ""}
    return sessions


def tree_cpu(proc: psutil.Process) -> float:
    """CPU seconds (user + system) of a process and its children still alive."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def database_cpu(database: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving ``database`` (same machine only)."""
    found = {}
    for p in psutil.process_iter(["cmdline"]):
        title = " ".join(p.info["cmdline"] or [])
        if title.startswith("postgres:") and f" {database} " in title:
            try:
                t = p.cpu_times()
                found[p.pid] = t.user + t.system
            except psutil.Error:
                pass
    return found


def run_locust(base: str, users: int, seconds: int, prefix: Path, env: dict[str, str]) -> None:
    command = [
        locust_bin(),
        "-f",
        str(HERE / "locustfile.py"),
        "--host",
        base,
        "--headless",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{seconds}s",
        "--reset-stats",
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    subprocess.run(command, env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def read_step(prefix: Path) -> dict[str, Any]:
    with open(f"{prefix}_stats.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    total = next(r for r in rows if r["Name"] == "Aggregated")
    with open(f"{prefix}_failures.csv", encoding="utf-8") as fh:
        failures = [
            {"request": f"{r['Name']}", "error": r["Error"], "count": int(r["Occurrences"])} for r in csv.DictReader(fh)
        ]
    slowest = sorted(
        (r for r in rows if r["Name"] != "Aggregated" and int(r["Request Count"]) >= 5),
        key=lambda r: -float(r["95%"]),
    )[:3]
    return {
        "requests": int(total["Request Count"]),
        "failures": int(total["Failure Count"]),
        "rps": float(total["Requests/s"]),
        "p50": float(total["50%"]),
        "p95": float(total["95%"]),
        "errors": failures,
        "slowest_p95": [(r["Name"], float(r["95%"])) for r in slowest],
    }


def server_errors(log: Path, start: int) -> tuple[int, list[str]]:
    """5xx answers and worker timeouts the server logged since byte ``start``."""
    with open(log, encoding="utf-8", errors="replace") as fh:
        fh.seek(start)
        lines = fh.read().splitlines()
    bad = [line for line in lines if SERVER_ERROR.search(line) or "WORKER TIMEOUT" in line or "Traceback" in line]
    return len(bad), bad[:5]


class Server:
    """``tessera serve --workers N`` on its own port, in its own process group."""

    def __init__(self, workers: int, port: int, env: dict[str, str], out: Path):
        self.workers, self.base = workers, f"http://127.0.0.1:{port}"
        self.log = out / f"serve_w{workers}.log"
        with open(self.log, "wb") as fh:
            self.proc = subprocess.Popen(
                [tessera_bin(), "serve", "--port", str(port), "--workers", str(workers)],
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                cwd=out,
                start_new_session=True,
            )
        self.ps = psutil.Process(self.proc.pid)
        self.failing = 0  # failing steps in a row

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def run_step(args: argparse.Namespace, server: Server, users: int, env: dict[str, str], out: Path) -> dict[str, Any]:
    prefix = out / f"w{server.workers}_u{users}"
    log_start = server.log.stat().st_size
    cpu_server, cpu_children = tree_cpu(server.ps), resource.getrusage(resource.RUSAGE_CHILDREN)
    database = sa.make_url(args.database_url).database or ""
    cpu_db = database_cpu(database)
    wall = time.monotonic()
    run_locust(server.base, users, args.step_seconds, prefix, env)
    wall = time.monotonic() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    step = read_step(prefix)
    step["server_5xx"], step["server_lines"] = server_errors(server.log, log_start)
    step.update(
        workers=server.workers,
        users=users,
        seconds=round(wall, 1),
        cpu_server_s=round(tree_cpu(server.ps) - cpu_server, 1),
        cpu_db_s=round(sum(t - cpu_db.get(pid, 0.0) for pid, t in database_cpu(database).items()), 1),
        cpu_locust_s=round(after.ru_utime + after.ru_stime - cpu_children.ru_utime - cpu_children.ru_stime, 1),
        loadavg=round(os.getloadavg()[0], 1),
    )
    step["ok"] = step["failures"] == 0 and step["server_5xx"] == 0 and step["p95"] < args.target_ms
    server.failing = 0 if step["ok"] else server.failing + 1
    print(row(step), flush=True)
    for error in step["errors"]:
        print(f"     failure: {error['count']} x {error['request']}: {error['error']}", flush=True)
    for line in step["server_lines"]:
        print(f"     server: {line}", flush=True)
    return step


def bench(args: argparse.Namespace, worker_counts: list[int], env: dict[str, str], out: Path) -> list[dict[str, Any]]:
    """Every server runs at once (an idle one costs nothing); the steps alternate between them,
    so a change in the machine's other load hits every worker count alike."""
    servers: list[Server] = []
    steps: list[dict[str, Any]] = []
    try:
        for i, workers in enumerate(worker_counts):
            servers.append(Server(workers, args.port + i, env, out))
        started = time.monotonic()
        for server in servers:
            wait_until_up(server.base, server.proc)
        print(f"servers up in {time.monotonic() - started:.0f} s", flush=True)
        sessions_file = out / "sessions.json"
        sessions_file.write_text(json.dumps(sign_in(servers[0].base)))
        locust_env = {**env, "TESSERA_LOAD_SESSIONS": str(sessions_file)}
        for server in servers:  # every process compiles and caches on its first requests
            run_locust(server.base, 7, args.warmup_seconds, out / f"warmup_w{server.workers}", locust_env)
        print(f"\n{HEADER}", flush=True)
        for users in args.users:
            for server in servers:
                if not args.stop_after or server.failing < args.stop_after:
                    steps.append(run_step(args, server, users, locust_env, out))
    finally:
        for server in servers:
            server.stop()
    return steps


HEADER = (
    "| workers | users | req/s | p50 ms | p95 ms | failed | 5xx "
    "| server CPU s | PostgreSQL CPU s | locust CPU s | load avg | target |\n"
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
)


def row(s: dict[str, Any]) -> str:
    return (
        f"| {s['workers']} | {s['users']} | {s['rps']:.1f} | {s['p50']:.0f} | {s['p95']:.0f} | {s['failures']} | "
        f"{s['server_5xx']} | {s['cpu_server_s']} | {s.get('cpu_db_s', '')} | {s['cpu_locust_s']} | {s['loadavg']} | "
        f"{'yes' if s['ok'] else 'no'} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "TESSERA_LOAD_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/tessera_load"
        ),
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--workers", default="1,2", help="comma list of worker process counts")
    parser.add_argument("--users", default="2,4,7,10,14,20,28,40", help="comma list of user counts (steps)")
    parser.add_argument("--step-seconds", type=int, default=40)
    parser.add_argument("--warmup-seconds", type=int, default=20, help="unmeasured run per server first")
    parser.add_argument("--target-ms", type=float, default=500.0)
    parser.add_argument("--port", type=int, default=8766, help="first port; one per worker count")
    parser.add_argument("--instance-path", type=Path, help="the instance folder (secret key); default: a temp folder")
    parser.add_argument("--out", type=Path, help="folder for the locust CSVs and server logs; default: a temp folder")
    parser.add_argument("--stop-after", type=int, default=0, help="skip a server's steps after K failing in a row")
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    parser.add_argument("--json", type=Path, help="write the steps as JSON")
    args = parser.parse_args()
    args.users = [int(u) for u in args.users.split(",")]
    worker_counts = [int(w) for w in args.workers.split(",")]
    out = args.out or Path(tempfile.mkdtemp(prefix="tessera_load_"))
    out.mkdir(parents=True, exist_ok=True)
    instance = args.instance_path or Path(tempfile.gettempdir()) / "tessera_load_instance"
    env = {
        **os.environ,
        "TESSERA_DATABASE_URL": args.database_url,
        "TESSERA_REDIS_URL": args.redis_url,
        "TESSERA_INSTANCE_PATH": str(instance),
    }
    (out / "sessions.json").unlink(missing_ok=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the servers are stopped
    started = time.monotonic()
    created = ensure_database(args.database_url)
    print(
        f"database {'created' if created else 'exists'}; preparing the demo data (tessera demo --no-serve)", flush=True
    )
    subprocess.run([tessera_bin(), "demo", "--no-serve"], env=env, cwd=out, check=True, stdout=subprocess.DEVNULL)
    print(f"prepared in {time.monotonic() - started:.0f} s; results in {out}", flush=True)

    try:
        steps = bench(args, worker_counts, env, out)
    finally:
        if args.drop:
            drop_database(args.database_url)
    print(f"\n{HEADER}")
    for step in sorted(steps, key=lambda s: (s["workers"], s["users"])):
        print(row(step))
    best: dict[int, float] = {}
    for workers in worker_counts:
        passing = [s["rps"] for s in steps if s["workers"] == workers and s["ok"]]
        best[workers] = max(passing, default=0.0)
        target = f"p95 < {args.target_ms:.0f} ms and no errors"
        print(f"workers={workers}: highest rate with {target}: {best[workers]:.1f} req/s")
    counts = sorted(best)
    for low, high in itertools.pairwise(counts):
        gain = (best[high] - best[low]) / (high - low)
        print(f"{low} -> {high} workers: {gain:+.1f} req/s per added process")
    print(f"total {time.monotonic() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"steps": steps, "best": best}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
