"""Imports as background jobs: the upload is kept, checked, queued, run, and reported on.

``POST /api/v1/ENTITY/import`` (:mod:`engine.api.imports`) calls :func:`start_import`: the
file is copied under the instance folder (``imports/JOB_ID/``), read once in full so a file
that cannot be read is refused at once (problem+json, nothing kept), and the job is queued
as an outbox row of channel ``job`` (job ``import_file``). Whatever runner the workspace
has (the in-process thread of ``tessera serve``, or ``tessera worker`` with RQ) runs it,
as the importing user, through :func:`engine.dataio.importing.import_table`.

The job's state lives next to its file in ``state.json`` (written atomically), so any web
process on the same host (or sharing the instance folder) can answer ``GET
/api/v1/imports/JOB_ID``: ``queued``, ``running`` (rows done of the total), ``done`` (the
report, and ``errors.csv`` with the row-level errors) or ``failed`` (a problem). The
upload is deleted when the job ends; finished jobs are pruned after :data:`KEEP_FINISHED`.

The outbox runs a job at least once: a second attempt finds the job finished, or running
with a fresh heartbeat, and does nothing; a job whose process died (stale heartbeat) runs
again (an all-or-nothing import wrote nothing the first time).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from engine.actor import Actor
from engine.automation.jobs import register_job
from engine.dataio.import_options import check_access, parse_options
from engine.errors import FieldError, NotFound, PayloadTooLarge, PermissionDenied, TesseraError, ValidationError
from engine.storage import system_tables as st
from engine.storage.database import write_transaction
from engine.storage.ids import ID_PATTERN, new_id

log = logging.getLogger("tessera.import")

STATES = ("queued", "running", "done", "failed")
JOB_NAME = "import_file"
#: finished jobs (their state and error report) are deleted after this long
KEEP_FINISHED = dt.timedelta(days=7)
#: a running job whose heartbeat is older belongs to a process that died
STALE_AFTER = dt.timedelta(minutes=2)
HEARTBEAT_SECONDS = 30.0
_COPY_CHUNK = 1 << 16


@dataclass
class ImportJob:
    """One import's state, as ``state.json`` holds it."""

    id: str
    entity: str
    filename: str
    actor: dict[str, Any]
    options: dict[str, Any]
    read: dict[str, Any]
    state: str = "queued"
    created_at: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    heartbeat: str | None = None
    done: int = 0
    total: int | None = None
    report: dict[str, Any] | None = None
    errors_file: bool = False
    problem: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def user_id(self) -> str | None:
        return self.actor.get("user_id")

    def as_dict(self) -> dict[str, Any]:
        """What the API shows (the actor's details and file paths stay inside)."""
        url = f"/api/v1/imports/{self.id}"
        return {
            "id": self.id,
            "entity": self.entity,
            "filename": self.filename,
            "state": self.state,
            "progress": {"done": self.done, "total": self.total},
            "options": {**self.options, **{k: v for k, v in self.read.items() if v is not None}},
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "report": self.report,
            "errors_url": f"{url}/errors.csv" if self.errors_file else None,
            "problem": self.problem,
            "url": url,
        }


# --- where jobs live ------------------------------------------------------------------


def jobs_root(ws: Any) -> Path:
    return Path(ws.config.instance_path) / "imports"


def job_dir(ws: Any, job_id: str) -> Path:
    if not ID_PATTERN.match(job_id):  # the id becomes a path: nothing else gets that far
        raise NotFound(f"No import job {job_id!r}")
    return jobs_root(ws) / job_id


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _parse(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def save_job(ws: Any, job: ImportJob) -> None:
    """Write the state atomically (a reader sees the old or the new state, never half)."""
    folder = job_dir(ws, job.id)
    tmp = folder / f"state.{os.getpid()}.{threading.get_ident()}.tmp"
    tmp.write_text(json.dumps(dataclasses.asdict(job), default=str))
    os.replace(tmp, folder / "state.json")


def load_job(ws: Any, job_id: str) -> ImportJob:
    path = job_dir(ws, job_id) / "state.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise NotFound(f"No import job {job_id!r}") from None
    return ImportJob(**data)


def job_for(ws: Any, actor: Actor, job_id: str) -> ImportJob:
    """The job, if ``actor`` started it or is an administrator (else it does not exist for them)."""
    job = load_job(ws, job_id)
    if not actor.is_admin and (actor.user_id is None or job.user_id != actor.user_id):
        raise NotFound(f"No import job {job_id!r}")
    return job


def errors_path(ws: Any, job: ImportJob) -> Path:
    if not job.errors_file:
        raise NotFound("This import has no row-level errors")
    return job_dir(ws, job.id) / "errors.csv"


def list_jobs(ws: Any, actor: Actor, limit: int = 50) -> list[dict[str, Any]]:
    """The caller's jobs (an administrator's: everyone's), newest first."""
    root = jobs_root(ws)
    if not root.is_dir():
        return []
    jobs = []
    for folder in sorted(root.iterdir(), reverse=True):  # ids grow with time
        if not ID_PATTERN.match(folder.name):
            continue
        try:
            jobs.append(job_for(ws, actor, folder.name).as_dict())
        except NotFound:
            continue
        if len(jobs) >= limit:
            break
    return jobs


def prune(ws: Any, now: dt.datetime | None = None) -> int:
    """Delete jobs that finished more than :data:`KEEP_FINISHED` ago; returns how many."""
    now = now or _now()
    root = jobs_root(ws)
    removed = 0
    if not root.is_dir():
        return 0
    for folder in root.iterdir():
        if not ID_PATTERN.match(folder.name):
            continue
        try:
            job = load_job(ws, folder.name)
        except (NotFound, ValueError, TypeError):
            continue
        finished = _parse(job.finished_at)
        if finished is not None and now - finished > KEEP_FINISHED:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


# --- starting ---------------------------------------------------------------------------


def actor_dict(actor: Actor) -> dict[str, Any]:
    out = dataclasses.asdict(actor)
    return {k: sorted(v) if isinstance(v, frozenset) else v for k, v in out.items()}


def actor_from(data: dict[str, Any]) -> Actor:
    values: dict[str, Any] = {k: frozenset(v) if isinstance(v, list) else v for k, v in data.items()}
    return Actor(**values)


def current_actor(ws: Any, data: dict[str, Any]) -> Actor:
    """The actor a job stored, as the user is now: a job queued before the user was
    deactivated or lost a role runs with what they may do when it runs (or not at all)."""
    from engine.security.identity import load_actor
    from engine.storage.database import read_transaction

    stored = actor_from(data)
    if stored.user_id is None:
        return stored
    with read_transaction(ws.db) as conn:
        actor = load_actor(conn, ws.snapshot(), stored.user_id, stored.source)
    if actor is None:
        raise PermissionDenied("The user who started this import is no longer active")
    return dataclasses.replace(actor, impersonator=stored.impersonator)


def _suffix(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    return suffix if suffix in (".csv", ".tsv", ".txt", ".xlsx", ".xlsm") else ".csv"


def store_upload(folder: Path, stream: IO[bytes], filename: str, max_bytes: int | None) -> Path:
    """Copy the upload to ``folder`` (at most ``max_bytes``)."""
    path = folder / f"upload{_suffix(filename)}"
    size = 0
    with path.open("wb") as out:
        while chunk := stream.read(_COPY_CHUNK):
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise PayloadTooLarge(f"The file is larger than the limit of {max_bytes} bytes")
            out.write(chunk)
    if size == 0:
        raise ValidationError("The file is empty", [FieldError("file", "Send a CSV or XLSX file with a header row.")])
    return path


def open_table(path: Path, filename: str, read: dict[str, Any]) -> Any:
    """The file as a :class:`engine.dataio.sources.Table` (a file that cannot be read: a
    ValidationError naming the problem)."""
    from engine.dataio.sources import read_table

    try:
        return read_table(path, filename=filename, **read)
    except TesseraError:
        raise
    except Exception as exc:  # parsers of untrusted files raise many kinds (zip, XML, codecs)
        raise ValidationError(f"The file {filename!r} cannot be read: {exc}") from None


def check_upload(ws: Any, actor: Actor, job: ImportJob, path: Path) -> int:
    """Read the whole file once: its columns suit the options (a mapping, a key, links by a
    field) and every row decodes, else an error now and nothing queued; the job's total
    (for the progress)."""
    from engine.dataio import importing

    table = open_table(path, job.filename, job.read)
    total = 0
    try:
        importing.prepare_import(ws, actor, job.entity, table, importing.ImportOptions(**job.options))
        for _ in table.rows:
            total += 1
    except TesseraError:
        raise
    except Exception as exc:
        raise ValidationError(f"The file {job.filename!r} cannot be read after row {total}: {exc}") from None
    finally:
        close = getattr(table.rows, "close", None)  # a generator: its file is closed at once
        if close is not None:
            close()
    return total


def start_import(
    ws: Any,
    actor: Actor,
    entity_name: str,
    stream: IO[bytes],
    filename: str,
    raw_options: dict[str, str],
    max_bytes: int | None = None,
    queue: bool = True,
) -> ImportJob:
    """Keep the upload, check it, and queue the job (``queue=False``: the caller runs it)."""
    options, read = parse_options(raw_options)
    check_access(ws, actor, entity_name, options)
    prune(ws)
    job = ImportJob(
        id=new_id(),
        entity=entity_name,
        filename=Path(filename).name or "upload.csv",
        actor=actor_dict(actor),
        options=options,
        read=read,
        created_at=_iso(_now()),
    )
    folder = job_dir(ws, job.id)
    folder.mkdir(parents=True)
    try:
        path = store_upload(folder, stream, job.filename, max_bytes)
        job.extra["upload"] = path.name
        job.total = check_upload(ws, actor, job, path)
        save_job(ws, job)
        if queue:
            enqueue(ws, job)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # a refused upload leaves nothing behind
        raise
    return job


def enqueue(ws: Any, job: ImportJob) -> None:
    """Queue the job as an outbox row (channel ``job``); the runner is woken at once."""
    now = _now()
    with write_transaction(ws.db) as conn:
        conn.execute(
            st.outbox.insert(),
            {
                "id": new_id(),
                "channel": "job",
                "payload": {"job": JOB_NAME, "args": {"import": job.id}},
                "state": "pending",
                "attempts": 0,
                "created_at": now,
                "available_at": now,
                "key": f"import:{job.id}",
                "entity": job.entity,
                "record_id": None,
            },
        )
    ws.wake_jobs()


# --- running ----------------------------------------------------------------------------


@contextmanager
def _heartbeat(ws: Any, job: ImportJob, lock: threading.Lock) -> Iterator[None]:
    """Touch the job's heartbeat while it runs (a long batch writes no progress)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            with lock:
                job.heartbeat = _iso(_now())
                save_job(ws, job)

    thread = threading.Thread(target=beat, name=f"tessera-import-{job.id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _claim(ws: Any, job_id: str) -> ImportJob | None:
    """The job if this attempt should run it; None when it finished or runs elsewhere."""
    try:
        job = load_job(ws, job_id)
    except NotFound:
        log.warning("import job %s is gone (pruned?); nothing to do", job_id)
        return None
    if job.state in ("done", "failed"):
        return None
    beat = _parse(job.heartbeat)
    if job.state == "running" and beat is not None and _now() - beat < STALE_AFTER:
        return None
    return job


def run_import(ws: Any, job_id: str) -> ImportJob | None:
    """Run a queued job to its end; the job afterwards (None: nothing to do)."""
    from engine.dataio import importing
    from engine.dataio.report import write_error_report

    job = _claim(ws, job_id)
    if job is None:
        return None
    lock = threading.Lock()
    job.state, job.started_at, job.heartbeat, job.done = "running", _iso(_now()), _iso(_now()), 0
    save_job(ws, job)
    folder = job_dir(ws, job.id)
    upload = folder / str(job.extra.get("upload", "upload.csv"))
    step = max(1, (job.total or 0) // 200)  # at most ~200 state writes per job
    written = [0]

    def progress(done: int) -> None:
        with lock:
            job.done = done
            if done - written[0] >= step or done == job.total:
                written[0] = done
                job.heartbeat = _iso(_now())
                save_job(ws, job)

    try:
        with _heartbeat(ws, job, lock):
            table = open_table(upload, job.filename, job.read)
            options = importing.ImportOptions(**job.options)
            report = importing.import_table(ws, current_actor(ws, job.actor), job.entity, table, options, progress)
        result = report.to_dict()
        job.report = result
        if report.errors or getattr(report, "flags", None):
            write_error_report(report, folder / "errors.csv")
            job.errors_file = True
        job.state = "done"
        job.done = job.total if job.total is not None else job.done
    except sa.exc.OperationalError:  # the database is away: the outbox tries again later
        job.state = "queued"
        with lock:
            save_job(ws, job)
        raise
    except TesseraError as exc:
        job.state, job.problem = "failed", problem_of(exc)
    except Exception:
        log.exception("import job %s failed", job.id)
        job.state = "failed"
        job.problem = {"status": 500, "title": "Internal server error", "detail": "The import failed; it is logged"}
    job.finished_at = _iso(_now())
    with lock:
        save_job(ws, job)
    upload.unlink(missing_ok=True)
    return job


def problem_of(exc: TesseraError) -> dict[str, Any]:
    return {
        "status": exc.status,
        "title": exc.title,
        "detail": exc.detail,
        "errors": [e.as_dict() for e in exc.errors],
    }


def import_file_job(ws: Any, args: dict[str, Any]) -> None:
    """The ``import_file`` job: runs the import job ``args["import"]``."""
    run_import(ws, str(args.get("import", "")))


register_job(JOB_NAME, import_file_job)
