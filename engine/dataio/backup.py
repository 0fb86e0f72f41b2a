"""``tessera backup``: one portable archive of a whole workspace.

The archive holds every table the engine owns or derived from the metadata, row for row
(trashed records, versions, timestamps and ids as they are), the run-time overlays, and
the content of every uploaded file; ``manifest.json`` says which versions wrote it and
holds a count and a SHA-256 per table, so a restore (and ``--verify``) can prove that
nothing was lost. It is a *full* backup: password hashes, hashed API keys and tokens, and
encrypted secrets are in it, so it must be kept like the database itself (docs/backup.md).

All rows are read in one transaction (repeatable read on PostgreSQL, a read snapshot on
SQLite in WAL mode), so the archive is consistent while the application keeps running.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import os
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine import __version__
from engine.config import Config
from engine.dataio.archive import ArchiveWriter, BackupError, atomic_output, encrypt_file
from engine.files.store import CHUNK, blob_store
from engine.meta.catalog import build_catalog
from engine.meta.packs import Pack, builtin_pack_roots, discover, resolve
from engine.meta.problems import Problems
from engine.storage import summaries
from engine.storage import system_tables as st
from engine.storage.dump import TablePlan, dump_line, existing_columns, read_rows, table_plans
from engine.storage.system_tables import SYSTEM_TABLE_NAMES
from engine.storage.tables import build_tables

FORMAT = "tessera-backup"
#: bumped when the archive layout changes; a restore refuses archives from a newer format
FORMAT_VERSION = 1


def key_fingerprint(key: str) -> str:
    """A short keyed digest of a secret key (never the key itself)."""
    return hmac.new(key.encode(), b"tessera-backup-fingerprint", hashlib.sha256).hexdigest()[:16]


def secret_key_fingerprint(config: Config) -> str | None:
    """The fingerprint of TESSERA_SECRET_KEY: a restore under another key warns that
    encrypted secrets will not open. None when no key was made yet."""
    key = config.secret_key
    if not key:
        path = config.instance_path / "secret_key"
        key = path.read_text().strip() if path.is_file() else None
    return key_fingerprint(key) if key else None


def _alembic_revision(conn: Connection) -> str | None:
    if not sa.inspect(conn).has_table("tessera_alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM tessera_alembic_version")).scalar()


def _snapshot_connection(ws: Any) -> Connection:
    """A connection whose reads all see one moment of the database."""
    conn = ws.db.connect()
    if conn.dialect.name == "postgresql":
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
    return conn


def _uncovered(present: dict[str, set[str]], plans: list[TablePlan]) -> tuple[set[str], set[str]]:
    """The tables, and the ``table.column``s of known tables, that the database holds but
    neither the configured packs nor the overlays define (a backup would leave them out)."""
    planned = {plan.name: plan for plan in plans}
    tables = {
        name
        for name in present
        if name not in planned
        and name not in SYSTEM_TABLE_NAMES
        and not name.startswith(("sqlite_", summaries.PREFIX))  # derived, rebuilt after a restore
    }
    columns = {
        f"{name}.{column}" for name, plan in planned.items() for column in present.get(name, set()) - set(plan.kinds)
    }
    return tables, columns


def _defined_by(pack: str, packs: list[Pack]) -> set[str]:
    """The tables (an entity's own, its child and link tables) and ``table.column``s that
    ``pack`` defines, as the loader builds them from ``packs`` (it and its dependencies)."""
    problems = Problems()  # a pack that does not load cleanly still names what it can
    catalog = build_catalog(packs, (), problems)
    defined = set()
    for name, built in build_tables(catalog, problems).entities.items():
        entity = catalog.entities[name]
        main = built.main.name
        defined |= {main} if entity.pack == pack else set()
        defined |= {f"{main}.{f.name}" for f in entity.fields.values() if f.pack == pack}
        defined |= {t.name for f, t in {**built.children, **built.joins}.items() if entity.fields[f].pack == pack}
    return defined


def _packs_defining(ws: Any, tables: set[str], columns: set[str]) -> dict[str, list[str]]:
    """The packs found here but not configured, with what of ``tables``/``columns`` they
    define (each pack loaded with its dependencies, so packs that cannot be loaded together
    are each named for what is theirs)."""
    configured = {pack.name for pack in ws.packs}
    problems = Problems()
    available = discover([*builtin_pack_roots(), *ws.config.extra_pack_paths], problems)
    owners: dict[str, list[str]] = {}
    for name in sorted(set(available) - configured):
        found = sorted(_defined_by(name, resolve(available, (name,), problems)) & (tables | columns))
        if found:
            owners[name] = found
    return owners


def _check_coverage(ws: Any, present: dict[str, set[str]], plans: list[TablePlan]) -> list[str]:
    """Refuse a backup that would silently leave out the data of packs the configuration
    does not load (TESSERA_PACKS narrower than the database); the orphans no pack found
    here defines (left by a removed overlay entity or field) are returned, and left out
    like orphan columns are."""
    tables, columns = _uncovered(present, plans)
    if not tables and not columns:
        return []
    owners = _packs_defining(ws, tables, columns)
    if owners:
        found = {item for items in owners.values() for item in items}
        held = sorted(found & tables) + sorted(found & columns)  # whole tables first: they tell most
        shown = ", ".join(held[:5]) + (f", ... ({len(held)} in all)" if len(held) > 5 else "")
        raise BackupError(
            f"the database holds tables of packs not configured ({', '.join(owners)}: {shown});"
            " set TESSERA_PACKS to include them (or leave it unset for every pack) and run the backup again"
        )
    return sorted(tables)


def _write_tables(
    conn: Connection, plans: list[TablePlan], present: dict[str, set[str]], out: ArchiveWriter | None
) -> dict[str, dict[str, Any]]:
    """Dump every table into ``out``; the count and SHA-256 of each (``out`` None: only those)."""
    tables: dict[str, dict[str, Any]] = {}
    for plan in plans:
        if plan.name not in present:
            continue  # an engine table of a newer revision than this database has
        member = f"tables/{plan.name}.jsonl"
        digest, count = hashlib.sha256(), 0
        with out.open(member) if out is not None else contextlib.nullcontext() as fh:
            for row in read_rows(conn, plan, present[plan.name]):
                line = dump_line(row)
                digest.update(line)
                if fh is not None:
                    fh.write(line)
                count += 1
        kind = "system" if plan.name in st.system_metadata.tables else "entity"
        tables[plan.name] = {"file": member, "rows": count, "sha256": digest.hexdigest(), "kind": kind}
    return tables


def _write_files(conn: Connection, ws: Any, out: ArchiveWriter) -> dict[str, Any]:
    """Every blob a ``tessera_file`` row names, once; missing or damaged blobs are listed
    under ``missing`` and left out (a damaged member would make the archive unrestorable)."""
    store = blob_store(ws)
    hashes = conn.execute(sa.select(st.file.c.sha256).distinct().order_by(st.file.c.sha256)).scalars().all()
    written, size, missing = 0, 0, []
    for sha256 in hashes:
        try:
            source = store.open(sha256)
        except FileNotFoundError:
            missing.append(sha256)
            continue
        # the digest is known only at the end: the bytes wait in a spool (on disk past 8 MiB)
        digest, length = hashlib.sha256(), 0
        with source, tempfile.SpooledTemporaryFile(max_size=8 * CHUNK) as spool:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                spool.write(chunk)
                length += len(chunk)
            if digest.hexdigest() != sha256:
                missing.append(sha256)  # the stored bytes are not the file any more
                continue
            spool.seek(0)
            with out.open(f"files/{sha256}") as fh:
                while chunk := spool.read(CHUNK):
                    fh.write(chunk)
        written, size = written + 1, size + length
    return {"count": written, "bytes": size, "missing": missing}


def _write_archive(ws: Any, path: Path, now: dt.datetime) -> dict[str, Any]:
    out = ArchiveWriter(path)
    try:
        with _snapshot_connection(ws) as conn, conn.begin():
            version = ws._read_state(conn)
            snap = ws.build_snapshot(version, ws._read_overlays(conn))
            plans = table_plans(snap.tables.metadata.tables.values())
            present = existing_columns(conn)
            orphans = _check_coverage(ws, present, plans)
            tables = _write_tables(conn, plans, present, out)
            files = _write_files(conn, ws, out)
            revision = _alembic_revision(conn)
            dialect = conn.dialect.name
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "tessera_version": __version__,
            "schema_revision": revision,
            "created_at": now.astimezone(dt.UTC).isoformat(),
            "dialect": dialect,
            "metadata_version": version,
            "packs": [{"name": p.name, "version": p.version} for p in ws.packs],
            "overlays": tables.get(st.overlay.name, {}).get("rows", 0),
            "secret_key_fingerprint": secret_key_fingerprint(ws.config),
            "tables": tables,
            "files": files,
            "orphan_tables": orphans,
        }
        out.write_json("manifest.json", manifest)
    finally:
        out.close()
    return manifest


def _refuse_database_file(ws: Any, target: Path) -> None:
    """A backup written over the live SQLite file (or its -wal, -shm, -journal) destroys it."""
    if ws.db.dialect.name != "sqlite" or ws.db.url.database in (None, "", ":memory:"):
        return
    database = Path(ws.db.url.database).resolve()
    files = {database, *(database.with_name(database.name + end) for end in ("-wal", "-shm", "-journal"))}
    same = target.resolve() in files or (
        target.exists() and any(f.exists() and os.path.samefile(target, f) for f in files)
    )
    if same:
        raise BackupError(f"{target} is the workspace's database file: write the backup somewhere else")


def create_backup(ws: Any, target: Path, key: bytes | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """Write the workspace to ``target`` (sealed with ``key`` when given); the manifest.

    Nothing appears at ``target`` until the archive is complete: an error (a full disk, a
    folder that cannot be written) leaves whatever was there before."""
    now = now or dt.datetime.now(dt.UTC)
    target = Path(target)
    _refuse_database_file(ws, target)
    with atomic_output(target) as temp:
        if key is None:
            return _write_archive(ws, temp, now)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".zip.part", dir=temp.parent)
        os.close(fd)
        plain = Path(name)
        try:
            manifest = _write_archive(ws, plain, now)
            encrypt_file(plain, temp, key)
        finally:
            plain.unlink(missing_ok=True)
        return manifest


def table_digests(ws: Any) -> dict[str, dict[str, Any]]:
    """The rows and SHA-256 of every table as a backup would write them (``--verify``)."""
    with _snapshot_connection(ws) as conn, conn.begin():
        snap = ws.build_snapshot(ws._read_state(conn), ws._read_overlays(conn))
        return _write_tables(conn, table_plans(snap.tables.metadata.tables.values()), existing_columns(conn), None)
