"""Backup and restore: a round trip SQLite -> PostgreSQL -> SQLite leaves every row and file
identical, and a restore is all or nothing."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine.actor import SYSTEM
from engine.cli import main
from engine.config import Config
from engine.dataio.archive import BackupError
from engine.dataio.backup import create_backup
from engine.dataio.restore import restore_backup
from engine.files.attach import Upload, attach_file
from engine.overlays import add_field
from engine.security.users import create_user, ensure_roles
from engine.workspace import Workspace
from tests.conftest import PG_URL, TEST_PACKS, _pg_url

PACKS = ("core", "accounts", "competitors", "deals", "files_kit")


def _config(url: str, folder: Path) -> Config:
    return Config(
        database_url=url,
        packs=PACKS,
        extra_pack_paths=(TEST_PACKS,),
        secret_key="backup-test-secret-key-" + "x" * 24,
        instance_path=folder / "instance",
        files_path=folder / "files",
        password_hashing="fast",
    )


def _sqlite(folder: Path) -> Config:
    folder.mkdir(parents=True, exist_ok=True)
    return _config(f"sqlite:///{folder / 'tessera.db'}", folder)


@pytest.fixture
def pg_config(tmp_path: Path) -> Iterator[Config]:
    if not PG_URL:
        pytest.skip("the PostgreSQL leg of the round trip needs TESSERA_TEST_DATABASE_URL")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(_pg_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in _pg_url() else "?"
    yield _config(f"{_pg_url()}{sep}options=-csearch_path%3D{schema}", tmp_path / "pg")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _populate(config: Config) -> None:
    """Data of every shape a backup must keep: links into the same table, links fields,
    child rows, a trashed record, decimals, an admin's custom field, a file, a user."""
    ws = Workspace(config, meta_check_interval=0)
    ws.install()
    try:
        ensure_roles(ws)
        create_user(ws, "admin@test.dev", "Ada Admin", "Test-password-1", ["admin"])
        add_field(ws, SYSTEM, "account", {"name": "x_loyalty", "type": "decimal", "precision": 3})
        records = ws.records
        # the branch is older than its head office: in id order its link points forward,
        # which a restore must defer until the head office row exists
        branch = records.create(
            SYSTEM, "account", {"name": "Branch AG", "annual_revenue": "12.7", "x_loyalty": "0.125"}
        )
        head = records.create(SYSTEM, "account", {"name": "Head Office GmbH", "annual_revenue": "1234567.80"})
        records.update(SYSTEM, "account", branch["id"], {"parent_account": head["id"]})
        records.update(SYSTEM, "account", head["id"], {"city": "Köln ✓", "employees": 42})
        gone = records.create(SYSTEM, "account", {"name": "Gone Ltd"})
        records.delete(SYSTEM, "account", gone["id"])
        rival = records.create(SYSTEM, "competitor", {"name": "Rival Inc"})
        records.create(
            SYSTEM,
            "opportunity",
            {"name": "Big deal", "account": branch["id"], "amount": "99.90", "competitors": [rival["id"]]},
        )
        records.create(SYSTEM, "contact", {"last_name": "Müller", "first_name": "Jana", "account": branch["id"]})
        dossier = records.create(SYSTEM, "dossier", {"title": "Case 1", "history": [{"number": 1}, {"number": 2}]})
        attach_file(
            records,
            SYSTEM,
            "dossier",
            dossier["id"],
            "photo",
            Upload("note.txt", "text/plain", io.BytesIO(b"hello backup")),
        )
    finally:
        ws.close()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """One populated SQLite workspace for the whole module (read, never changed)."""
    config = _sqlite(tmp_path_factory.mktemp("source"))
    _populate(config)
    return config


@pytest.fixture(scope="module")
def archive(source: Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("archive") / "b.zip"
    ws = Workspace(source)
    try:
        create_backup(ws, path)
    finally:
        ws.close()
    return path


def _backup(config: Config, path: Path) -> dict[str, Any]:
    ws = Workspace(config)
    try:
        return create_backup(ws, path)
    finally:
        ws.close()


def _normal(value: Any) -> Any:
    """One spelling per value across dialects (NUMERIC 12.70 vs REAL 12.7, naive vs aware)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float | Decimal):
        text = format(Decimal(repr(value) if isinstance(value, float) else value).normalize(), "f")
        return "0" if text == "-0" else text
    if isinstance(value, dt.datetime):
        return (value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.dumps(json.loads(value), sort_keys=True)
        except ValueError:
            return value
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def _database(config: Config) -> dict[str, list[str]]:
    """Every table of the database, read by reflection (not by the code under test)."""
    engine = sa.create_engine(config.database_url)
    metadata = sa.MetaData()
    try:
        with engine.connect() as conn:
            metadata.reflect(conn)
            tables = {}
            for table in metadata.sorted_tables:
                if table.name == "tessera_meta_state":
                    continue  # a restore starts its own metadata version
                rows = conn.execute(sa.select(table)).mappings().all()
                tables[table.name] = sorted(
                    json.dumps({k: _normal(v) for k, v in row.items()}, sort_keys=True, default=str) for row in rows
                )
    finally:
        engine.dispose()
    return tables


def _files(config: Config) -> dict[str, bytes]:
    root = config.resolved_files_path()
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_round_trip_sqlite_postgresql_sqlite_keeps_every_row_and_file(
    tmp_path: Path, source: Config, archive: Path, pg_config: Config
) -> None:
    before = _database(source)
    assert len(before["account"]) == 3 and len(before["dossier__history"]) == 2
    assert any('"deleted_at": null' not in row for row in before["account"])  # the trashed one travels too

    restore_backup(pg_config, archive)
    assert _database(pg_config) == before
    assert _files(pg_config) == _files(source)

    _backup(pg_config, tmp_path / "two.zip")
    final = _sqlite(tmp_path / "final")
    restore_backup(final, tmp_path / "two.zip")
    assert _database(final) == before
    assert _files(final) == _files(source)


def test_restored_workspace_works(tmp_path: Path, archive: Path) -> None:
    target = _sqlite(tmp_path / "target")
    restore_backup(target, archive)

    ws = Workspace(target)
    try:
        account = ws.records.list(SYSTEM, "account", {"filter": "name == 'Branch AG'"}).data[0]
        assert Decimal(str(account["x_loyalty"])) == Decimal("0.125")  # the overlay's field and its data
        token, _ = ws.auth.issue_token("admin@test.dev", "Test-password-1")  # the password hash came back
        assert ws.auth.resolve(token).is_admin
        created = ws.records.create(SYSTEM, "account", {"name": "After restore"})
        assert created["version"] == 1
    finally:
        ws.close()


def test_backup_archive_holds_manifest_tables_and_files(tmp_path: Path, source: Config) -> None:
    manifest = _backup(source, tmp_path / "b.zip")

    with zipfile.ZipFile(tmp_path / "b.zip") as archive:
        names = set(archive.namelist())
        stored = json.loads(archive.read("manifest.json"))
        accounts = [json.loads(line) for line in archive.read("tables/account.jsonl").splitlines()]
    assert stored == manifest
    assert stored["format_version"] == 1 and stored["dialect"] == "sqlite"
    assert {p["name"] for p in stored["packs"]} >= set(PACKS)
    assert stored["tables"]["account"]["rows"] == 3 and stored["overlays"] == 1
    assert {"tables/tessera_credential.jsonl", "tables/user__roles.jsonl", "tables/dossier__history.jsonl"} <= names
    branch = next(a for a in accounts if a["name"] == "Branch AG")
    assert branch["annual_revenue"] == "12.7" and branch["x_loyalty"] == "0.125"
    head = next(a for a in accounts if a["name"] == "Head Office GmbH")
    assert branch["created_at"].endswith("+00:00") and branch["version"] == 2
    assert branch["parent_account"] == head["id"] and head["employees"] == 42
    assert len([n for n in names if n.startswith("files/")]) == stored["files"]["count"] == 1


def test_restore_refuses_a_database_that_is_not_empty(tmp_path: Path, archive: Path) -> None:
    target = _sqlite(tmp_path / "target")
    engine = sa.create_engine(target.database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE notes (id INTEGER PRIMARY KEY)"))
    with pytest.raises(BackupError, match="not empty"):
        restore_backup(target, archive)
    assert sa.inspect(engine).get_table_names() == ["notes"]


def _rewrite(
    path: Path, target: Path, change: dict[str, Any] | None = None, drop: str | None = None, damage: str | None = None
) -> None:
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(target, "w") as out:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == drop:
                continue
            if item.filename == "manifest.json" and change:
                data = json.dumps({**json.loads(data), **change}).encode()
            if item.filename == damage:
                data = data.replace(b"Branch AG", b"Branch XY")
            out.writestr(item, data)


def test_restore_refuses_a_newer_format_and_unknown_packs(tmp_path: Path, archive: Path) -> None:
    _rewrite(archive, tmp_path / "newer.zip", {"format_version": 99, "tessera_version": "9.0"})
    _rewrite(archive, tmp_path / "packs.zip", {"packs": [{"name": "warehouse", "version": "1.0.0"}]})
    _rewrite(archive, tmp_path / "schema.zip", {"schema_revision": "9999_from_the_future"})
    target = _sqlite(tmp_path / "target")
    with pytest.raises(BackupError, match="upgrade Tessera"):
        restore_backup(target, tmp_path / "newer.zip")
    with pytest.raises(BackupError, match="warehouse"):
        restore_backup(target, tmp_path / "packs.zip")
    with pytest.raises(BackupError, match="newer database schema"):
        restore_backup(target, tmp_path / "schema.zip")
    assert sa.inspect(sa.create_engine(target.database_url)).get_table_names() == []


def test_a_damaged_archive_restores_nothing(tmp_path: Path, archive: Path) -> None:
    _rewrite(archive, tmp_path / "damaged.zip", damage="tables/account.jsonl")
    target = _sqlite(tmp_path / "target")

    with pytest.raises(BackupError, match=r"tables/account\.jsonl does not match"):
        restore_backup(target, tmp_path / "damaged.zip")
    assert sa.inspect(sa.create_engine(target.database_url)).get_table_names() == []
    restore_backup(target, archive)  # the same target takes the good archive afterwards
    assert len(_database(target)["account"]) == 3


def test_cli_backup_and_restore(tmp_path: Path, source: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    env = {
        "TESSERA_DATABASE_URL": source.database_url,
        "TESSERA_PACKS": ",".join(PACKS),
        "TESSERA_EXTRA_PACK_PATHS": str(TEST_PACKS),
        "TESSERA_INSTANCE_PATH": str(source.instance_path),
        "TESSERA_FILES_PATH": str(source.resolved_files_path()),
        "TESSERA_SECRET_KEY": source.secret_key or "",
    }
    monkeypatch.chdir(tmp_path)
    done = runner.invoke(main, ["backup", str(tmp_path / "cli.zip")], env=env)
    assert done.exit_code == 0, done.output
    assert "wrote" in done.output and "1 file(s)" in done.output

    again = runner.invoke(main, ["restore", str(tmp_path / "cli.zip")], env=env)
    assert again.exit_code == 1
    assert again.output.strip().startswith("error: the target database is not empty")

    target = tmp_path / "target"
    target.mkdir()
    env_target = {
        **env,
        "TESSERA_DATABASE_URL": f"sqlite:///{target / 't.db'}",
        "TESSERA_FILES_PATH": str(target / "files"),
    }
    restored = runner.invoke(main, ["restore", str(tmp_path / "cli.zip")], env=env_target)
    assert restored.exit_code == 0, restored.output
    assert "restored" in restored.output and "1 file(s)" in restored.output
    assert (target / "files").exists()

    missing = runner.invoke(main, ["restore", str(tmp_path / "nothing.zip")], env=env_target)
    assert missing.exit_code == 1 and "no backup file" in missing.output


def test_a_failed_restore_leaves_postgresql_empty(tmp_path: Path, archive: Path, pg_config: Config) -> None:
    _rewrite(archive, tmp_path / "damaged.zip", damage="tables/account.jsonl")
    with pytest.raises(BackupError, match="does not match"):
        restore_backup(pg_config, tmp_path / "damaged.zip")
    engine = sa.create_engine(pg_config.database_url)
    try:
        assert sa.inspect(engine).get_table_names() == []  # schema changes rolled back too
    finally:
        engine.dispose()
