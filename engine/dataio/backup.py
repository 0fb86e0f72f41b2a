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
from engine.dataio.archive import ArchiveWriter, atomic_output, encrypt_file
from engine.files.store import CHUNK, blob_store
from engine.storage import system_tables as st
from engine.storage.dump import dump_line, existing_columns, read_rows, table_plans

FORMAT = "tessera-backup"
#: bumped when the archive layout changes; a restore refuses archives from a newer format
FORMAT_VERSION = 1


def secret_key_fingerprint(config: Config) -> str | None:
    """A short keyed digest of TESSERA_SECRET_KEY (never the key): a restore under another
    key warns that encrypted secrets will not open. None when no key was made yet."""
    key = config.secret_key
    if not key:
        path = config.instance_path / "secret_key"
        key = path.read_text().strip() if path.is_file() else None
    if not key:
        return None
    return hmac.new(key.encode(), b"tessera-backup-fingerprint", hashlib.sha256).hexdigest()[:16]


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


def _write_tables(conn: Connection, snap: Any, out: ArchiveWriter | None) -> dict[str, dict[str, Any]]:
    """Dump every table into ``out``; the count and SHA-256 of each (``out`` None: only those)."""
    present = existing_columns(conn)
    tables: dict[str, dict[str, Any]] = {}
    for plan in table_plans(snap.tables.metadata.tables.values()):
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
    """Every blob a ``tessera_file`` row names, once; missing or damaged blobs are listed."""
    store = blob_store(ws)
    hashes = conn.execute(sa.select(st.file.c.sha256).distinct().order_by(st.file.c.sha256)).scalars().all()
    written, size, missing = 0, 0, []
    for sha256 in hashes:
        try:
            source = store.open(sha256)
        except FileNotFoundError:
            missing.append(sha256)
            continue
        digest = hashlib.sha256()
        with source, out.open(f"files/{sha256}") as fh:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                fh.write(chunk)
                size += len(chunk)
        if digest.hexdigest() != sha256:
            missing.append(sha256)  # the stored bytes are not the file any more
        written += 1
    return {"count": written, "bytes": size, "missing": missing}


def _write_archive(ws: Any, path: Path, now: dt.datetime) -> dict[str, Any]:
    out = ArchiveWriter(path)
    try:
        with _snapshot_connection(ws) as conn, conn.begin():
            version = ws._read_state(conn)
            snap = ws.build_snapshot(version, ws._read_overlays(conn))
            tables = _write_tables(conn, snap, out)
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
        }
        out.write_json("manifest.json", manifest)
    finally:
        out.close()
    return manifest


def create_backup(ws: Any, target: Path, key: bytes | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """Write the workspace to ``target`` (sealed with ``key`` when given); the manifest.

    Nothing appears at ``target`` until the archive is complete: an error (a full disk, a
    folder that cannot be written) leaves whatever was there before."""
    now = now or dt.datetime.now(dt.UTC)
    target = Path(target)
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
        return _write_tables(conn, snap, None)
