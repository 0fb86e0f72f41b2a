"""Backups on a schedule: timestamped names, retention, and a verifying test restore.

The schedule itself is the operating system's (cron or a systemd timer running
``tessera backup --dir``, docs/backup.md), not the job runner's: a backup of a large
database takes minutes, and inside ``tessera worker`` it would hold up timers and
deliveries for that long, and run once per worker process.

Retention is a pure function over the archives' times (:func:`choose_kept`), so the rule
can be tested without files: keep the newest archive of each of the last N days that have
one, and of each of the last M ISO weeks that have one; the newest archive is always kept.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from engine.config import Config
from engine.dataio.archive import BackupError
from engine.dataio.backup import create_backup, table_digests
from engine.dataio.restore import restore_backup
from engine.storage.database import friendly_db_errors

PREFIX = "tessera-"
_NAME = re.compile(r"^tessera-(\d{8}T\d{6}Z)\.zip(\.enc)?$")


def archive_name(now: dt.datetime, encrypted: bool) -> str:
    """``tessera-20261202T080000Z.zip`` (``.zip.enc`` when sealed): sorts by time."""
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{PREFIX}{stamp}.zip{'.enc' if encrypted else ''}"


def archive_time(name: str) -> dt.datetime | None:
    """The time in an archive's name; None for any other file (never pruned)."""
    match = _NAME.match(name)
    if match is None:
        return None
    return dt.datetime.strptime(match[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)


def choose_kept(times: Iterable[dt.datetime], keep_daily: int, keep_weekly: int) -> set[dt.datetime]:
    """The archive times to keep: the newest of each of the last ``keep_daily`` days and of
    each of the last ``keep_weekly`` ISO weeks, plus the newest overall. With both 0 every
    archive is kept (no retention asked for)."""
    ordered = sorted(set(times), reverse=True)
    if not ordered or (keep_daily <= 0 and keep_weekly <= 0):
        return set(ordered)
    kept = {ordered[0]}
    for count, period in ((keep_daily, lambda t: t.date()), (keep_weekly, lambda t: t.isocalendar()[:2])):
        seen: set[Any] = set()
        for moment in ordered:
            key = period(moment)
            if key in seen:
                continue
            if len(seen) >= count:
                break
            seen.add(key)
            kept.add(moment)
    return kept


def prune(folder: Path, keep_daily: int, keep_weekly: int, keep: Iterable[Path] = ()) -> list[Path]:
    """Delete the archives of ``folder`` that :func:`choose_kept` does not keep, never one
    of ``keep`` (the archive just written: a copied-in or clock-skewed archive with a later
    name must not make a run delete its own backup); the removed."""
    archives: dict[dt.datetime, list[Path]] = {}
    for path in Path(folder).iterdir():
        moment = archive_time(path.name)
        if moment is not None and path.is_file():
            archives.setdefault(moment, []).append(path)
    kept = choose_kept(archives, keep_daily, keep_weekly)
    spared = {Path(path).resolve() for path in keep}
    removed = [
        path
        for moment, paths in sorted(archives.items())
        if moment not in kept
        for path in paths
        if path.resolve() not in spared
    ]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def verify_backup(config: Config, path: Path, key: bytes | None = None) -> list[str]:
    """Restore ``path`` into a temporary SQLite database and compare every table's rows and
    checksum with the manifest; the differences (an empty list: the backup is good)."""
    from engine.workspace import Workspace

    with tempfile.TemporaryDirectory(prefix="tessera-verify-") as folder:
        trial = config.with_overrides(
            database_url=f"sqlite:///{Path(folder) / 'verify.db'}",
            files_path=Path(folder) / "files",
            instance_path=Path(folder) / "instance",
            secret_key=config.secret_key or "verify-only",
        )
        result = restore_backup(trial, path, key)
        manifest = result.manifest
        names = [p["name"] for p in manifest.get("packs", []) if p["name"] != "system"]
        with friendly_db_errors():
            ws = Workspace(trial.with_overrides(packs=tuple(names)))
            try:
                digests = table_digests(ws)
            finally:
                ws.close()
    problems = []
    for name, entry in sorted(manifest.get("tables", {}).items()):
        found = digests.get(name, {"rows": 0, "sha256": None})
        if found["rows"] != entry["rows"]:
            problems.append(f"{name}: {entry['rows']} row(s) backed up, {found['rows']} restored")
        elif found["sha256"] != entry["sha256"]:
            problems.append(
                f"{name}: the {entry['rows']} row(s) restored differ from those backed up (a value the database"
                " restored into cannot hold exactly, such as a decimal beyond SQLite's 15 digits, or damage)"
            )
    expected_files = manifest.get("files", {}).get("count", 0)
    if result.files != expected_files:
        problems.append(f"files: {expected_files} backed up, {result.files} restored")
    return problems


def backup_to_folder(
    ws: Any,
    folder: Path,
    key: bytes | None = None,
    keep_daily: int = 0,
    keep_weekly: int = 0,
    verify: bool = False,
    now: dt.datetime | None = None,
) -> tuple[Path, dict[str, Any], list[Path]]:
    """A new timestamped archive in ``folder``, verified when asked, then the old ones pruned
    (only after the new one is complete and verified: a failed run deletes nothing)."""
    now = now or dt.datetime.now(dt.UTC)
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot create the backup folder {folder}: {exc.strerror or exc}") from None
    target = folder / archive_name(now, key is not None)
    manifest = write_backup(ws, target, key, verify, now)
    return target, manifest, prune(folder, keep_daily, keep_weekly, keep=[target])


def write_backup(
    ws: Any, target: Path, key: bytes | None = None, verify: bool = False, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Write the archive ``target``; its manifest. With ``verify`` it is written under a
    hidden name, restored into a scratch database, and only then takes ``target``'s name,
    so a previous archive of that name stays as it was when the new one fails. A failed
    archive is kept for inspection as ``TARGET.failed`` (a name retention neither counts nor
    prunes), whether the test restore raised or restored something else."""
    if not verify:
        return create_backup(ws, target, key, now)
    target = Path(target)
    pending, failed = target.with_name(f".{target.name}.unverified"), target.with_name(target.name + ".failed")
    manifest = create_backup(ws, pending, key, now)
    try:
        problems = verify_backup(ws.config, pending, key)
    except Exception as exc:
        pending.replace(failed)
        raise BackupError(f"the new backup {failed} failed its test restore: {exc}") from exc
    if problems:
        pending.replace(failed)
        raise BackupError(f"the new backup {failed} failed its test restore: {problems[0]}")
    pending.replace(target)
    return manifest
