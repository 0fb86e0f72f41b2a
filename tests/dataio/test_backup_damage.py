"""Backups and restores that meet damage: a damaged file blob, a damaged or lacking file
member, a failing test restore, a clock-skewed archive name, a damaged encrypted archive,
a configuration narrower than the database, and targets that must be refused."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import secrets
import struct
import zipfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine.actor import SYSTEM
from engine.cli import main
from engine.config import Config
from engine.dataio import archive as archive_module
from engine.dataio import backup_schedule
from engine.dataio.archive import BackupError, decrypt_file, encrypt_file
from engine.dataio.backup import create_backup
from engine.dataio.backup_schedule import archive_name, backup_to_folder
from engine.dataio.restore import restore_backup
from engine.files.attach import Upload, attach_file
from engine.workspace import Workspace
from tests.conftest import TEST_PACKS, make_config

KEY = b"a-backup-key-of-enough-length-0123"


def at(day: int, hour: int = 3, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, 3, day, hour, tzinfo=dt.UTC)


def _attach(ws: Workspace, content: bytes) -> str:
    """A gadget with ``content`` as its manual; the file's SHA-256."""
    gadget = ws.records.create(SYSTEM, "gadget", {"name": f"Gadget {content[:12]!r}"})
    attach_file(
        ws.records, SYSTEM, "gadget", gadget["id"], "manual", Upload("m.txt", "text/plain", io.BytesIO(content))
    )
    return hashlib.sha256(content).hexdigest()


def _blob(ws: Workspace, sha256: str) -> Path:
    return ws.config.resolved_files_path() / sha256[:2] / sha256[2:4] / sha256


def _target(ws: Workspace, folder: Path) -> Config:
    """An empty SQLite database (and file store) to restore into."""
    folder.mkdir(parents=True, exist_ok=True)
    return ws.config.with_overrides(
        database_url=f"sqlite:///{folder / 'target.db'}", instance_path=folder / "instance", files_path=folder / "files"
    )


def _tables(config: Config) -> list[str]:
    engine = sa.create_engine(config.database_url)
    try:
        return sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def _rewrite(source: Path, target: Path, change: Any) -> None:
    """Copy the archive member by member; ``change(name, data)`` returns new data, or None
    to leave the member out."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as new:
        for name in old.namelist():
            data = change(name, old.read(name))
            if data is not None:
                new.writestr(name, data)


# --- files ------------------------------------------------------------------------------


def test_a_damaged_blob_is_left_out_and_listed_and_the_backup_restores(workspace: Workspace, tmp_path: Path) -> None:
    good = _attach(workspace, b"a file that is fine")
    bad = _attach(workspace, b"a file whose blob rots")
    _blob(workspace, bad).write_bytes(b"rotten bytes")

    manifest = create_backup(workspace, tmp_path / "b.zip")
    assert manifest["files"]["missing"] == [bad] and manifest["files"]["count"] == 1
    with zipfile.ZipFile(tmp_path / "b.zip") as archive:
        assert sorted(n for n in archive.namelist() if n.startswith("files/")) == [f"files/{good}"]
    result = restore_backup(_target(workspace, tmp_path / "t"), tmp_path / "b.zip")
    assert result.files == 1
    assert result.warnings == ["1 file(s) were already missing from the file store at backup time"]


def test_a_restore_lacking_a_file_member_fails_and_leaves_the_database_empty(
    workspace: Workspace, tmp_path: Path
) -> None:
    sha256 = _attach(workspace, b"a file the archive will lose")
    create_backup(workspace, tmp_path / "b.zip")
    _rewrite(
        tmp_path / "b.zip", tmp_path / "lacking.zip", lambda name, data: None if name.startswith("files/") else data
    )
    target = _target(workspace, tmp_path / "t")
    with pytest.raises(BackupError, match=f"^the backup lacks files/{sha256} "):
        restore_backup(target, tmp_path / "lacking.zip")
    assert _tables(target) == []


def test_a_corrupt_file_member_is_one_error(workspace: Workspace, tmp_path: Path) -> None:
    content = b"a file member whose bytes flip " * 8
    _attach(workspace, content)
    create_backup(workspace, tmp_path / "b.zip")
    _rewrite(tmp_path / "b.zip", tmp_path / "stored.zip", lambda name, data: data)  # stored: the bytes are visible
    raw = (tmp_path / "stored.zip").read_bytes()
    at_content = raw.index(content)
    (tmp_path / "flipped.zip").write_bytes(raw[:at_content] + b"X" + raw[at_content + 1 :])
    target = _target(workspace, tmp_path / "t")
    with pytest.raises(BackupError, match=r"^cannot read files/[0-9a-f]{64} from the backup: Bad CRC-32"):
        restore_backup(target, tmp_path / "flipped.zip")
    assert _tables(target) == []


# --- the scheduled run ------------------------------------------------------------------


def test_a_test_restore_that_raises_sets_the_archive_aside(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    good = folder / archive_name(at(1), encrypted=False)
    good.write_bytes(b"a good older backup")

    def broken_restore(*args: object) -> None:
        raise BackupError("the file x in the backup is damaged")

    monkeypatch.setattr("engine.dataio.backup_schedule.restore_backup", broken_restore)
    with pytest.raises(BackupError, match=r"failed its test restore: the file x in the backup is damaged$"):
        backup_to_folder(workspace, folder, keep_daily=1, verify=True, now=at(10))
    assert sorted(p.name for p in folder.iterdir()) == [good.name, archive_name(at(10), False) + ".failed"]


def test_a_failed_verify_keeps_the_previous_archive_of_that_name(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``tessera backup --verify nightly.zip``: a new archive that fails its test restore
    never replaces last night's good one; it is set aside as ``nightly.zip.failed``."""
    nightly = tmp_path / "nightly.zip"
    nightly.write_bytes(b"last night's good backup")
    real = backup_schedule.table_digests
    # the restored rows differ from those backed up (as decimals beyond SQLite's digits would)
    monkeypatch.setattr(
        backup_schedule, "table_digests", lambda ws: {n: {**d, "sha256": "?"} for n, d in real(ws).items()}
    )
    env = _env(workspace.config)
    failed = CliRunner().invoke(main, ["backup", "--verify", str(nightly)], env=env)
    assert failed.exit_code == 1
    assert failed.output.startswith(f"error: the new backup {nightly}.failed failed its test restore: ")
    assert "row(s) restored differ from those backed up" in failed.output
    assert nightly.read_bytes() == b"last night's good backup"
    assert sorted(p.name for p in tmp_path.iterdir() if "nightly" in p.name) == ["nightly.zip", "nightly.zip.failed"]
    monkeypatch.undo()
    assert CliRunner().invoke(main, ["backup", "--verify", str(nightly)], env=env).exit_code == 0
    assert nightly.read_bytes() != b"last night's good backup"


def test_retention_never_removes_the_archive_just_written(workspace: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    skewed = folder / archive_name(at(1, year=2099), encrypted=False)  # copied in, or a clock ahead
    skewed.write_bytes(b"an archive with a later name")

    target, _, removed = backup_to_folder(workspace, folder, keep_daily=1, now=at(10))
    assert target.is_file() and removed == []
    assert sorted(p.name for p in folder.iterdir()) == sorted([skewed.name, target.name])


# --- encryption -------------------------------------------------------------------------


def _seal_first_format(plain: bytes, target: Path) -> None:
    """An archive of the first encrypted format (no key check in the header), one chunk."""
    salt, prefix = secrets.token_bytes(16), secrets.token_bytes(8)
    header = archive_module.MAGIC_V1 + salt + prefix
    sealed = archive_module._aead(KEY, salt).encrypt(prefix + struct.pack(">I", 0), plain, header + b"\0" * 7 + b"\0\1")
    target.write_bytes(header + struct.pack(">I", len(sealed)) + sealed)


def test_a_damaged_one_chunk_archive_is_not_called_a_wrong_key(tmp_path: Path) -> None:
    (tmp_path / "plain").write_bytes(b"a small backup" * 100)
    encrypt_file(tmp_path / "plain", tmp_path / "sealed", KEY)
    sealed = bytearray((tmp_path / "sealed").read_bytes())
    sealed[-20] ^= 0xFF
    (tmp_path / "flipped").write_bytes(bytes(sealed))
    with pytest.raises(BackupError, match="the file is damaged at chunk 0"):
        decrypt_file(tmp_path / "flipped", tmp_path / "out", KEY)
    with pytest.raises(BackupError, match=r"wrong backup key \(or not this backup's key\)$"):
        decrypt_file(tmp_path / "sealed", tmp_path / "out", b"another-key-of-enough-length-999")

    # the first format still opens; there a failing first chunk can be either
    _seal_first_format(b"an older backup" * 100, tmp_path / "old")
    decrypt_file(tmp_path / "old", tmp_path / "opened", KEY)
    assert (tmp_path / "opened").read_bytes() == b"an older backup" * 100
    with pytest.raises(BackupError, match=r"wrong backup key, or the archive is damaged$"):
        decrypt_file(tmp_path / "old", tmp_path / "out", b"another-key-of-enough-length-999")


# --- what the configuration covers ------------------------------------------------------


def test_a_backup_refuses_tables_of_packs_not_configured_and_reports_orphans(tmp_path: Path) -> None:
    packs = ("testkit", "files_kit", "auto_notify")  # auto_notify also adds fields to the system's user
    everything = make_config(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path, packs=packs)
    ws = Workspace(everything, meta_check_interval=0)
    ws.install()
    ws.close()
    narrow = Workspace(everything.with_overrides(packs=("testkit",)))
    try:
        with pytest.raises(BackupError, match=r"^the database holds tables of packs not configured") as refused:
            create_backup(narrow, tmp_path / "b.zip")
        assert not (tmp_path / "b.zip").exists()
    finally:
        narrow.close()
    named = str(refused.value).split("(", 1)[1].split(":", 1)[0].split(", ")
    assert {"auto_notify", "autokit", "files_kit"} <= set(named)  # and the packs that define the same
    assert "dossier" in str(refused.value)
    narrow = Workspace(everything.with_overrides(packs=("testkit", "files_kit", "autokit")))
    try:  # a field one pack adds to another's entity: its column is named, and the pack
        with pytest.raises(BackupError, match=r"configured \(auto_notify: [^)]*user\.mobile\)"):
            create_backup(narrow, tmp_path / "b.zip")
    finally:
        narrow.close()

    ws = Workspace(everything)
    try:
        with ws.db.begin() as conn:  # a table no pack here defines (a removed overlay entity's)
            conn.execute(sa.text("CREATE TABLE leftover (id VARCHAR(36) PRIMARY KEY)"))
        manifest = create_backup(ws, tmp_path / "b.zip")
    finally:
        ws.close()
    assert manifest["orphan_tables"] == ["leftover"]
    assert {p["name"] for p in manifest["packs"]} >= {"testkit", "files_kit"}


# --- the key of secrets -----------------------------------------------------------------


def test_no_key_warning_when_the_original_key_is_a_previous_one(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_backup(workspace, tmp_path / "b.zip")
    target = _target(workspace, tmp_path / "t").with_overrides(secret_key="a-rotated-secret-key-" + "y" * 24)
    monkeypatch.setenv("TESSERA_SECRET_KEY_PREVIOUS", f"some-other-old-key,{workspace.config.secret_key}")
    assert restore_backup(target, tmp_path / "b.zip").warnings == []


# --- refused targets and settings (the command line) ------------------------------------


def _env(config: Config) -> dict[str, str]:
    return {
        "TESSERA_DATABASE_URL": config.database_url,
        "TESSERA_PACKS": ",".join(config.packs or ()),
        "TESSERA_EXTRA_PACK_PATHS": str(TEST_PACKS),
        "TESSERA_INSTANCE_PATH": str(config.instance_path),
        "TESSERA_SECRET_KEY": config.secret_key or "",
    }


def test_an_empty_backup_key_variable_is_an_error_not_an_unencrypted_backup(tmp_path: Path) -> None:
    config = make_config(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path)
    Workspace(config, meta_check_interval=0).install()
    done = CliRunner().invoke(
        main, ["backup", "--dir", str(tmp_path / "backups")], env={**_env(config), "TESSERA_BACKUP_KEY": " "}
    )
    assert done.exit_code == 1 and done.output.startswith("error: TESSERA_BACKUP_KEY is set but empty")
    assert not (tmp_path / "backups").exists()


def test_an_encrypted_archive_named_like_a_zip_is_warned_about(tmp_path: Path) -> None:
    config = make_config(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path)
    Workspace(config, meta_check_interval=0).install()
    env = {**_env(config), "TESSERA_BACKUP_KEY": "k" * 32}
    named = CliRunner().invoke(main, ["backup", str(tmp_path / "nightly.zip")], env=env)
    assert named.exit_code == 0, named.output
    warning = f"warning: {tmp_path / 'nightly.zip'} is encrypted; name it .enc so it is not taken for a zip archive"
    assert warning in named.output
    assert not zipfile.is_zipfile(tmp_path / "nightly.zip")
    right = CliRunner().invoke(main, ["backup", str(tmp_path / "nightly.zip.enc")], env=env)
    assert right.exit_code == 0 and "warning" not in right.output


def test_a_backup_never_overwrites_the_sqlite_database(tmp_path: Path) -> None:
    config = make_config(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path)
    ws = Workspace(config, meta_check_interval=0)
    ws.install()
    try:
        before = (tmp_path / "db.sqlite").read_bytes()
        for name in ("db.sqlite", "db.sqlite-wal"):
            with pytest.raises(BackupError, match="is the workspace's database file"):
                create_backup(ws, tmp_path / name)
        assert (tmp_path / "db.sqlite").read_bytes() == before
    finally:
        ws.close()


def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "db.sqlite").write_bytes(b"this is not a SQLite database, just some text")
    env = _env(make_config(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path))
    runner = CliRunner()
    backup = runner.invoke(main, ["backup", str(tmp_path / "b.zip")], env=env)
    assert backup.exit_code == 1
    assert backup.output == "error: cannot use the database: file is not a database\n"

    other = make_config(f"sqlite:///{tmp_path / 'good.sqlite'}", tmp_path / "good")
    ws = Workspace(other, meta_check_interval=0)
    ws.install()
    try:
        create_backup(ws, tmp_path / "good.zip")
    finally:
        ws.close()
    restore = runner.invoke(main, ["restore", str(tmp_path / "good.zip")], env=env)
    assert restore.exit_code == 1
    assert restore.output == "error: cannot use the database: file is not a database\n"
