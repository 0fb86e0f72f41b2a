"""``tessera restore``: a backup archive into an empty SQLite or PostgreSQL database.

The order matters and is the same on both backends, in ONE transaction:

1. the engine's tables (Alembic, to this code's head);
2. the overlays, then the entity tables the archive's packs and overlays define;
3. the rows, table by table in foreign-key order, in batches; links that form cycles or
   point into their own table are set once every row exists (engine.storage.dump);
4. PostgreSQL sequences moved past the loaded keys; SQLite's foreign keys checked;
5. the uploaded files, each checked against its SHA-256 as it is written, and all of them:
   every file the restored ``tessera_file`` rows name, the manifest's count.

Any failure rolls the whole transaction back (schema changes included: both backends have
transactional DDL), so the target stays empty and the restore can simply be run again.
Blobs written before a failure stay in the file store: they are content-addressed, so
they are harmless and a second run reuses them.

A restore is not a series of record writes: no rule, audit entry, event or validation
runs, because the rows are already the result of those (that is what makes the round trip
exact). Versions are checked instead: an archive of a newer format or schema revision is
refused, since this code cannot know what its new columns mean.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from engine import __version__
from engine.config import Config
from engine.dataio.archive import ArchiveReader, BackupError
from engine.dataio.backup import FORMAT, FORMAT_VERSION, key_fingerprint, secret_key_fingerprint
from engine.errors import MetadataError
from engine.files.store import blob_store
from engine.meta.packs import builtin_pack_roots, discover
from engine.meta.problems import Problems
from engine.storage import system_tables as st
from engine.storage.database import friendly_db_errors, write_transaction
from engine.storage.dump import TableLoader, TablePlan, foreign_key_problems, reset_sequences, table_plans
from engine.storage.migrate import JSON_NULLS_REVISION, clear_json_nulls, migrate, upgrade_system_tables
from engine.workspace import Workspace


@dataclass
class RestoreResult:
    tables: int = 0
    rows: int = 0
    files: int = 0
    warnings: list[str] = field(default_factory=list)
    #: the archive's manifest
    manifest: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return f"restored {self.rows} row(s) in {self.tables} table(s) and {self.files} file(s)"


def _scripts() -> ScriptDirectory:
    return ScriptDirectory(str(Path(__file__).resolve().parents[2] / "migrations"))


def _known_revision(revision: str | None) -> bool:
    if revision is None:
        return True
    try:
        return _scripts().get_revision(revision) is not None
    except Exception:  # alembic raises several kinds for an unknown id
        return False


def _predates(revision: str | None, target: str) -> bool:
    """Whether a database at ``revision`` (a known one: see ``check_manifest``) had not yet
    run the migration ``target``; an archive naming no revision is older than all."""
    if revision is None:
        return True
    return target not in {script.revision for script in _scripts().iterate_revisions(revision, "base")}


def check_manifest(manifest: dict[str, Any]) -> None:
    """Refuse archives this code cannot restore faithfully, saying what to do."""
    if manifest.get("format") != FORMAT:
        raise BackupError("the file is not a Tessera backup (its manifest names no tessera-backup format)")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BackupError(
            f"the backup has format {version} from Tessera {manifest.get('tessera_version')}; this Tessera"
            f" ({__version__}) reads format {FORMAT_VERSION} or older: upgrade Tessera to restore it"
        )
    if not _known_revision(manifest.get("schema_revision")):
        raise BackupError(
            f"the backup comes from a newer database schema ({manifest.get('schema_revision')}, Tessera"
            f" {manifest.get('tessera_version')}) than this Tessera ({__version__}) knows: upgrade Tessera first"
        )


def _restore_config(config: Config, manifest: dict[str, Any], result: RestoreResult) -> Config:
    """The configuration with the archive's packs; refused when one is not available here."""
    wanted = {p["name"]: p.get("version") for p in manifest.get("packs", []) if p["name"] != "system"}
    available = discover([*builtin_pack_roots(), *config.extra_pack_paths], Problems())
    missing = sorted(set(wanted) - set(available))
    if missing:
        raise BackupError(
            f"the backup needs pack(s) {', '.join(missing)}, which are not available here;"
            " add their folder to TESSERA_EXTRA_PACK_PATHS"
        )
    for name, version in sorted(wanted.items()):
        if version and available[name].version != version:
            result.warnings.append(f"pack {name} is {available[name].version} here, {version} in the backup")
    if config.packs is not None and set(config.packs) != set(wanted):
        result.warnings.append(f"TESSERA_PACKS differs from the backup's packs; set it to {','.join(sorted(wanted))}")
    return config.with_overrides(packs=tuple(sorted(wanted)))


def _check_empty(ws: Workspace) -> None:
    tables = sa.inspect(ws.db).get_table_names()
    if tables:
        raise BackupError(
            f"the target database is not empty ({len(tables)} table(s)); restore only into an empty database"
        )


def _load_table(conn: Connection, reader: ArchiveReader, plan: TablePlan, entry: dict[str, Any]) -> TableLoader:
    """Insert one table's rows, proving the count and checksum of the manifest."""
    with_columns: list[str] | None = None
    loader: TableLoader | None = None
    digest = hashlib.sha256()
    for line in reader.lines(entry["file"]):
        digest.update(line)
        row = json.loads(line)
        if loader is None:
            with_columns = sorted(row)
            unknown = [c for c in with_columns if c not in plan.kinds]
            if unknown:
                raise BackupError(
                    f"the backup has {plan.name}.{unknown[0]}, which the packs here do not define;"
                    " restore with the packs (and versions) the backup was made with"
                )
            loader = TableLoader(conn, plan, with_columns)
        loader.add(row)
    if loader is None:
        loader = TableLoader(conn, plan, [])
    loader.flush()
    if loader.count != entry["rows"] or digest.hexdigest() != entry["sha256"]:
        raise BackupError(f"{entry['file']} does not match the manifest's count or checksum: the backup is damaged")
    return loader


def _restore_files(ws: Workspace, conn: Connection, reader: ArchiveReader, manifest: dict[str, Any]) -> int:
    """Write every ``files/`` member into the file store, each checked against its SHA-256;
    every file the restored ``tessera_file`` rows name must be there (or have been missing
    at backup time), and the count must be the manifest's."""
    store = blob_store(ws)
    listed = manifest.get("files") or {}
    expected = set(conn.execute(sa.select(st.file.c.sha256).distinct()).scalars()) - set(listed.get("missing") or [])
    restored: set[str] = set()
    for name in sorted(n for n in reader.names if n.startswith("files/")):
        sha256 = name.removeprefix("files/")
        stored = reader.read_into(name, store.put)
        if stored.sha256 != sha256:
            raise BackupError(f"the file {sha256} in the backup is damaged (its content does not match)")
        restored.add(sha256)
    lacking = sorted(expected - restored)
    if lacking:
        raise BackupError(f"the backup lacks files/{lacking[0]} ({len(lacking)} file(s) in all): it is damaged")
    if "count" in listed and listed["count"] != len(restored):
        raise BackupError(f"the backup holds {len(restored)} file(s), its manifest {listed['count']}: it is damaged")
    return len(restored)


def _load(ws: Workspace, conn: Connection, reader: ArchiveReader, result: RestoreResult) -> None:
    manifest = reader.manifest
    entries: dict[str, dict[str, Any]] = manifest.get("tables", {})
    upgrade_system_tables(conn)
    overlay_plan = next(p for p in table_plans([]) if p.name == st.overlay.name)
    if st.overlay.name in entries:
        _load_table(conn, reader, overlay_plan, entries[st.overlay.name])
    try:
        snap = ws.build_snapshot(1, ws._read_overlays(conn))
    except MetadataError as exc:
        first = exc.errors[0].message if exc.errors else exc.detail
        raise BackupError(f"the backup's overlays do not fit the packs here: {first}") from None
    migrate(conn, snap.tables, destructive="refuse")
    ws.bump_version(conn)
    plans = table_plans(snap.tables.metadata.tables.values())
    names = {p.name for p in plans}
    unknown = sorted(set(entries) - names)
    if unknown:
        raise BackupError(
            f"the backup has rows for {unknown[0]}, which the packs and overlays here do not define;"
            " restore with the packs the backup was made with"
        )
    loaders = []
    for plan in plans:
        if plan.name in entries and plan.name != st.overlay.name:
            loaders.append(_load_table(conn, reader, plan, entries[plan.name]))
            result.rows += entries[plan.name]["rows"]
    result.rows += entries.get(st.overlay.name, {}).get("rows", 0)
    result.tables = len(entries)
    for loader in loaders:
        loader.finish()
    if _predates(manifest.get("schema_revision"), JSON_NULLS_REVISION):
        clear_json_nulls(conn)  # the null fields of an archive made before that revision
    reset_sequences(conn, [p.table for p in plans])
    dangling = foreign_key_problems(conn)
    if dangling:
        raise BackupError(f"the backup has links to records it does not hold: {dangling[0]}")
    result.files = _restore_files(ws, conn, reader, manifest)


def _opening_fingerprints(config: Config) -> set[str | None]:
    """The fingerprints of the keys secrets open with here: TESSERA_SECRET_KEY and the
    rotation keys of TESSERA_SECRET_KEY_PREVIOUS (read as engine.storage.encryption does)."""
    previous = [k for k in os.environ.get("TESSERA_SECRET_KEY_PREVIOUS", "").split(",") if k]
    return {secret_key_fingerprint(config), *(key_fingerprint(k) for k in previous)}


def restore_backup(config: Config, path: Path, key: bytes | None = None) -> RestoreResult:
    """Restore the archive at ``path`` into the (empty) database of ``config``."""
    result = RestoreResult()
    with ArchiveReader(path, key) as reader:
        manifest = result.manifest = reader.manifest
        check_manifest(manifest)
        target_config = _restore_config(config, manifest, result)
        with friendly_db_errors():
            ws = Workspace(target_config)
            try:
                _check_empty(ws)
                with write_transaction(ws.db, foreign_keys=False) as conn:
                    _load(ws, conn, reader, result)
            finally:
                ws.close()
    fingerprint = manifest.get("secret_key_fingerprint")
    if fingerprint and fingerprint not in _opening_fingerprints(target_config):
        result.warnings.append(
            "TESSERA_SECRET_KEY here is not the one the backup was made under: secret fields, TOTP"
            " secrets and hook secrets will not open until you set the original key"
        )
    missing = manifest.get("files", {}).get("missing") or []
    if missing:
        result.warnings.append(f"{len(missing)} file(s) were already missing from the file store at backup time")
    return result
