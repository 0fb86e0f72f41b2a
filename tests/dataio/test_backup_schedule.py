"""Scheduled backups: retention, encryption, verification and atomic writes."""

from __future__ import annotations

import datetime as dt
import errno
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.actor import SYSTEM
from engine.cli import main
from engine.config import Config
from engine.dataio import archive as archive_module
from engine.dataio import backup as backup_module
from engine.dataio.archive import BackupError, decrypt_file, encrypt_file, read_key
from engine.dataio.backup import create_backup
from engine.dataio.backup_schedule import archive_name, archive_time, backup_to_folder, choose_kept, verify_backup
from engine.dataio.restore import restore_backup
from engine.workspace import Workspace
from tests.conftest import TEST_PACKS

KEY = b"a-backup-key-of-enough-length-0123"


def at(day: int, hour: int = 3) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, tzinfo=dt.UTC)


# --- retention (a pure function) ------------------------------------------------------


def test_keep_daily_keeps_the_newest_archive_of_each_recent_day() -> None:
    times = [at(d, h) for d in (1, 2, 3, 4) for h in (3, 15)]
    assert choose_kept(times, keep_daily=2, keep_weekly=0) == {at(4, 15), at(3, 15)}


def test_keep_weekly_reaches_further_back_than_the_daily_ones() -> None:
    # 2026-03-01 is a Sunday (ISO week 9); the 2nd to the 8th are week 10, the 9th to 15th week 11
    times = [at(d) for d in range(1, 16)]
    kept = choose_kept(times, keep_daily=3, keep_weekly=3)
    assert kept == {at(15), at(14), at(13), at(8), at(1)}


def test_days_without_backups_do_not_count() -> None:
    times = [at(1), at(5), at(9)]
    assert choose_kept(times, keep_daily=2, keep_weekly=0) == {at(9), at(5)}


def test_without_retention_everything_stays_and_the_newest_always_stays() -> None:
    times = [at(1), at(2)]
    assert choose_kept(times, 0, 0) == set(times)
    assert choose_kept(times, 0, 1) == {at(2)}
    assert choose_kept([], 3, 3) == set()


def test_archive_names_sort_by_time_and_other_files_are_not_archives() -> None:
    name = archive_name(dt.datetime(2026, 12, 2, 8, 30, 5, tzinfo=dt.UTC), encrypted=True)
    assert name == "tessera-20261202T083005Z.zip.enc"
    assert archive_time(name) == dt.datetime(2026, 12, 2, 8, 30, 5, tzinfo=dt.UTC)
    assert archive_time("tessera-20261202T083005Z.zip.failed") is None
    assert archive_time("notes.txt") is None


# --- encryption -----------------------------------------------------------------------


def test_encryption_round_trips_in_chunks_and_a_wrong_key_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive_module, "CHUNK", 1000)
    plain = tmp_path / "plain"
    plain.write_bytes(bytes(range(256)) * 20)  # several chunks
    encrypt_file(plain, tmp_path / "sealed", KEY)
    assert bytes(range(256)) * 2 not in (tmp_path / "sealed").read_bytes()

    decrypt_file(tmp_path / "sealed", tmp_path / "opened", KEY)
    assert (tmp_path / "opened").read_bytes() == plain.read_bytes()
    with pytest.raises(BackupError, match="wrong backup key"):
        decrypt_file(tmp_path / "sealed", tmp_path / "wrong", b"another-key-of-enough-length-999")

    sealed = (tmp_path / "sealed").read_bytes()
    (tmp_path / "cut").write_bytes(sealed[: len(sealed) // 2])
    with pytest.raises(BackupError, match=r"incomplete|damaged"):
        decrypt_file(tmp_path / "cut", tmp_path / "opened-cut", KEY)


def test_a_file_that_is_not_a_backup_is_refused(tmp_path: Path) -> None:
    (tmp_path / "photo.zip").write_bytes(b"PK not really a zip")
    config = Config(database_url=f"sqlite:///{tmp_path / 't.db'}", instance_path=tmp_path / "instance")
    with pytest.raises(BackupError, match="is not a Tessera backup"):
        restore_backup(config, tmp_path / "photo.zip")
    assert not (tmp_path / "t.db").exists()


def test_a_short_key_is_refused() -> None:
    with pytest.raises(BackupError, match="too short"):
        read_key("secret")


def test_an_encrypted_backup_restores_only_with_its_key(workspace: Workspace, tmp_path: Path) -> None:
    first = workspace.records.create(SYSTEM, "gadget", {"name": "Sealed gadget"})
    create_backup(workspace, tmp_path / "b.zip.enc", KEY)
    assert b"Sealed" not in (tmp_path / "b.zip.enc").read_bytes()
    target = workspace.config.with_overrides(
        database_url=f"sqlite:///{tmp_path / 'target.db'}", instance_path=tmp_path / "target"
    )
    with pytest.raises(BackupError, match="encrypted: give --key-file"):
        restore_backup(target, tmp_path / "b.zip.enc")
    with pytest.raises(BackupError, match="wrong backup key"):
        restore_backup(target, tmp_path / "b.zip.enc", b"another-key-of-enough-length-999")
    result = restore_backup(target, tmp_path / "b.zip.enc", KEY)
    assert result.rows > 0 and not result.warnings

    restored = Workspace(target)
    try:  # the autonumber series came back too: the next number follows the last one
        assert restored.records.get(SYSTEM, "gadget", first["id"])["name"] == "Sealed gadget"
        second = restored.records.create(SYSTEM, "gadget", {"name": "After restore"})
        assert int(second["number"][-5:]) == int(first["number"][-5:]) + 1
    finally:
        restored.close()


# --- writing safely ------------------------------------------------------------------------


def test_a_failing_backup_leaves_the_previous_one_intact(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "backups").mkdir()
    target = tmp_path / "backups" / "nightly.zip"
    target.write_bytes(b"the previous backup")

    def disk_full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(backup_module, "_write_files", disk_full)
    with pytest.raises(BackupError, match=r"^cannot write .*nightly\.zip: No space left on device$"):
        create_backup(workspace, target)
    assert target.read_bytes() == b"the previous backup"
    assert [p.name for p in (tmp_path / "backups").iterdir()] == ["nightly.zip"]  # no temporary left


def test_an_unwritable_target_is_one_line(workspace: Workspace, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(BackupError, match=r"^cannot write to .*a-file"):
        create_backup(workspace, tmp_path / "a-file" / "b.zip")


# --- the scheduled run ---------------------------------------------------------------------


def test_backup_to_folder_verifies_and_prunes_old_archives(workspace: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    for day in (1, 2, 3):
        (folder / archive_name(at(day), encrypted=False)).write_bytes(b"old")
    (folder / "README").write_text("not a backup")

    target, manifest, removed = backup_to_folder(workspace, folder, keep_daily=2, verify=True, now=at(10))
    assert target.name == "tessera-20260310T030000Z.zip"
    assert manifest["tables"]["user"]["rows"] == 2
    assert sorted(p.name for p in removed) == [archive_name(at(1), False), archive_name(at(2), False)]
    assert sorted(p.name for p in folder.iterdir()) == ["README", archive_name(at(3), False), target.name]
    assert verify_backup(workspace.config, target) == []


def test_cli_backup_dir_with_key_file_verify_and_retention(workspace: Workspace, tmp_path: Path) -> None:
    key_file = tmp_path / "backup.key"
    key_file.write_bytes(KEY + b"\n")
    folder = tmp_path / "backups"
    folder.mkdir()
    (folder / archive_name(at(1), encrypted=True)).write_bytes(b"old")
    config = workspace.config
    env = {
        "TESSERA_DATABASE_URL": config.database_url,
        "TESSERA_PACKS": ",".join(config.packs or ()),
        "TESSERA_EXTRA_PACK_PATHS": str(TEST_PACKS),
        "TESSERA_INSTANCE_PATH": str(config.instance_path),
        "TESSERA_SECRET_KEY": config.secret_key or "",
    }
    runner = CliRunner()
    args = ["backup", "--dir", str(folder), "--keep-daily", "1", "--encrypt-key-file", str(key_file), "--verify"]
    done = runner.invoke(main, args, env=env)
    assert done.exit_code == 0, done.output
    assert "encrypted, verified" in done.output and "removed" in done.output
    archives = sorted(p.name for p in folder.iterdir())
    assert len(archives) == 1 and archives[0].endswith(".zip.enc")

    usage = runner.invoke(main, ["backup", str(tmp_path / "x.zip"), "--keep-daily", "2"], env=env)
    assert usage.exit_code == 2
    wrong = runner.invoke(
        main, ["restore", str(folder / archives[0])], env={**env, "TESSERA_BACKUP_KEY": "another-key-of-enough-length"}
    )
    assert (
        wrong.exit_code == 1 and wrong.output.startswith("error: cannot decrypt") and "wrong backup key" in wrong.output
    )


def test_verification_reports_a_backup_that_does_not_restore_the_same(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_backup(workspace, tmp_path / "b.zip")
    real = backup_module.table_digests

    def lose_a_user(ws: Workspace) -> dict[str, dict[str, object]]:
        digests = real(ws)
        digests["user"] = {"rows": 1, "sha256": "0" * 64}
        return digests

    monkeypatch.setattr("engine.dataio.backup_schedule.table_digests", lose_a_user)
    assert verify_backup(workspace.config, tmp_path / "b.zip") == ["user: 2 row(s) backed up, 1 restored"]
