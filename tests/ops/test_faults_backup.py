"""Fault: the disk fills up while ``tessera backup FILE`` writes.

The disk is made full at the lowest level the archive writer uses: the file object under
the zip writer fails with ``ENOSPC`` once a byte budget is used up, as a real full disk
does. The command answers one clear line (exit 1), the previous backup at FILE is intact,
and no temporary file is left beside it.
"""

from __future__ import annotations

import errno
import io
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.workspace import Workspace
from tests.conftest import TEST_PACKS, Api


class _FullDisk:
    """``io`` for the zip writer: files it opens fail with ENOSPC after ``budget`` bytes."""

    def __init__(self, budget: int) -> None:
        self.budget = budget

    def __getattr__(self, name: str) -> Any:
        return getattr(io, name)

    def open(self, *args: Any, **kwargs: Any) -> Any:
        return _FillingFile(open(*args, **kwargs), self)


class _FillingFile:
    def __init__(self, raw: Any, disk: _FullDisk) -> None:
        self._raw, self._disk = raw, disk

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def write(self, data: bytes) -> int:
        if len(data) > self._disk.budget:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._disk.budget -= len(data)
        return int(self._raw.write(data))


@pytest.fixture
def cli_env(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    config = workspace.config
    for key, value in {
        "TESSERA_DATABASE_URL": config.database_url,
        "TESSERA_PACKS": ",".join(config.packs),
        "TESSERA_EXTRA_PACK_PATHS": str(TEST_PACKS),
        "TESSERA_INSTANCE_PATH": str(config.instance_path),
        "TESSERA_SECRET_KEY": str(config.secret_key),
    }.items():
        monkeypatch.setenv(key, value)


@pytest.mark.parametrize("budget", [0, 3000], ids=["full-at-once", "full-midway"])
def test_fault_backup_onto_a_full_disk_fails_clearly_and_keeps_the_previous_backup(
    cli_env: None, admin: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, budget: int
) -> None:
    for i in range(5):
        assert admin.post("maker", {"name": f"Maker {i}", "code": "x" * 20}).status_code == 201
    target = tmp_path / "backups" / "tessera.zip"
    target.parent.mkdir()
    first = CliRunner().invoke(main, ["backup", str(target)])
    assert first.exit_code == 0, first.output
    previous = target.read_bytes()
    assert len(previous) > 2 * 3000  # the disk fills up midway through the second one
    assert admin.post("maker", {"name": "After the first backup"}).status_code == 201

    with monkeypatch.context() as disk:
        disk.setattr(zipfile, "io", _FullDisk(budget))
        failed = CliRunner().invoke(main, ["backup", str(target)])
    assert failed.exit_code == 1
    assert failed.output == f"error: cannot write {target}: No space left on device\n"
    assert target.read_bytes() == previous  # the previous backup is intact
    assert sorted(p.name for p in target.parent.iterdir()) == ["tessera.zip"]  # no temporary file left

    # space again: the next backup replaces the old one
    again = CliRunner().invoke(main, ["backup", str(target)])
    assert again.exit_code == 0, again.output
    assert target.read_bytes() != previous
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None
