"""Schema evolution: additive changes apply online, destructive ones need consent."""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine.actor import SYSTEM
from engine.cli import main
from engine.errors import DestructiveChange
from engine.workspace import Workspace
from tests.conftest import make_config


def write_widget(root: Path, fields: str, extra: str = "") -> None:
    pack = root / "shop"
    (pack / "entities").mkdir(parents=True, exist_ok=True)
    (pack / "pack.yaml").write_text("name: shop\nversion: 1.0.0\n")
    body = "entity: widget\ntitle: name\nfields:\n" + textwrap.indent(textwrap.dedent(fields).strip(), "  ") + "\n"
    (pack / "entities" / "widget.yaml").write_text(body + textwrap.dedent(extra))


def workspace_for(database_url: str, tmp_path: Path) -> Workspace:
    config = make_config(database_url, tmp_path, packs=("shop",))
    config = config.with_overrides(extra_pack_paths=(tmp_path / "packs",))
    return Workspace(config, meta_check_interval=0)


def columns(ws: Workspace, table: str) -> dict[str, sa.types.TypeEngine]:
    return {c["name"]: c["type"] for c in sa.inspect(ws.db).get_columns(table)}


@pytest.fixture
def packs(tmp_path: Path) -> Path:
    root = tmp_path / "packs"
    write_widget(root, "name: {type: string, max_length: 100}")
    return root


def test_install_creates_tables_and_a_second_plan_is_empty(database_url, tmp_path, packs):
    ws = workspace_for(database_url, tmp_path)
    plan = ws.install()
    assert any(s.action == "add_table" and s.table == "widget" for s in plan.steps)
    assert not ws.install(dry_run=True).steps


def test_additive_changes_apply_online_and_keep_data(database_url, tmp_path, packs):
    ws = workspace_for(database_url, tmp_path)
    ws.install()
    created = ws.records.create(SYSTEM, "widget", {"name": "kept"})
    write_widget(
        packs,
        """
        name: {type: string, max_length: 200}
        size: {type: int, index: true}
        code: {type: string, unique: true}
        maker: {type: user}
        parts: {type: links, to: user}
    """,
    )
    ws2 = workspace_for(database_url, tmp_path)
    plan = ws2.install(dry_run=True)
    actions = {(s.action, s.name) for s in plan.steps}
    assert ("add_column", "size") in actions and ("add_column", "code") in actions
    assert ("alter_type", "name") in actions  # widening 100 -> 200
    assert ("add_table", "") in actions  # widget__parts
    assert not plan.destructive
    ws2.install(destructive="refuse")
    assert {"size", "code", "maker"} <= set(columns(ws2, "widget"))
    record = ws2.records.get(SYSTEM, "widget", created["id"])
    assert record["name"] == "kept" and record["size"] is None
    ws2.records.update(SYSTEM, "widget", created["id"], {"size": 3, "code": "W-1"})
    assert not ws2.install(dry_run=True).steps


def test_removed_field_is_an_orphan_kept_until_allowed(database_url, tmp_path, packs):
    write_widget(packs, "name: {type: string, max_length: 100}\nlegacy: {type: string}")
    ws = workspace_for(database_url, tmp_path)
    ws.install()
    write_widget(packs, "name: {type: string, max_length: 100}")
    ws2 = workspace_for(database_url, tmp_path)
    plan = ws2.install(dry_run=True)
    assert plan.orphans == ["widget.legacy"]
    with pytest.raises(DestructiveChange):
        ws2.install(destructive="refuse")
    ws2.install(destructive="skip")  # start-up and overlays: additive only
    assert "legacy" in columns(ws2, "widget")
    ws2.install(destructive="apply")
    assert "legacy" not in columns(ws2, "widget")


def test_narrowing_a_type_is_destructive(database_url, tmp_path, packs):
    ws = workspace_for(database_url, tmp_path)
    ws.install()
    write_widget(packs, "name: {type: string, max_length: 20}")
    plan = workspace_for(database_url, tmp_path).install(dry_run=True)
    [step] = plan.steps
    assert step.action == "alter_type" and step.destructive


def test_removed_entity_table_is_reported_as_orphan(database_url, tmp_path, packs):
    write_widget(packs, "name: {type: string, max_length: 100}")
    (packs / "shop" / "entities" / "gizmo.yaml").write_text("entity: gizmo\nfields:\n  x: {type: int}\n")
    workspace_for(database_url, tmp_path).install()
    (packs / "shop" / "entities" / "gizmo.yaml").unlink()
    plan = workspace_for(database_url, tmp_path).install(dry_run=True)
    assert plan.orphans == ["gizmo"]
    assert all(s.destructive for s in plan.steps)


def test_migrate_command_prints_the_plan_and_refuses_destructive(database_url, tmp_path, packs, monkeypatch):
    monkeypatch.setenv("TESSERA_DATABASE_URL", database_url)
    monkeypatch.setenv("TESSERA_PACKS", "shop")
    monkeypatch.setenv("TESSERA_EXTRA_PACK_PATHS", str(packs))
    monkeypatch.setenv("TESSERA_INSTANCE_PATH", str(tmp_path / "instance"))
    runner = CliRunner()
    planned = runner.invoke(main, ["migrate", "--plan"])
    assert planned.exit_code == 0 and "+ add_table widget" in planned.output
    assert runner.invoke(main, ["migrate"]).exit_code == 0
    write_widget(packs, "other: {type: int}", extra="")
    (packs / "shop" / "entities" / "widget.yaml").write_text("entity: widget\nfields:\n  other: {type: int}\n")
    refused = runner.invoke(main, ["migrate"])
    assert refused.exit_code == 1
    assert "orphans (kept unless --allow-destructive): widget.name" in refused.output
    assert "error: The schema change would lose data" in refused.output
    assert "Traceback" not in refused.output
    assert runner.invoke(main, ["migrate", "--allow-destructive"]).exit_code == 0


def test_a_new_database_is_planned_as_autogenerate_would_plan_it(database_url, tmp_path):
    """A database without entity tables skips autogenerate's reflection (every table is
    new), and its plan is the one the comparison finds: the same steps, in the same order,
    for every shipped pack."""
    from engine.storage.migrate import _compared_steps, plan_migration
    from tests.sales.conftest import shipped_packs

    ws = Workspace(make_config(database_url, tmp_path, shipped_packs()), meta_check_interval=0)
    tables = ws.build_snapshot(0, ()).tables
    with ws.db.begin() as conn, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Cannot correctly sort tables", category=sa.exc.SAWarning)
        planned = [str(s) for s in plan_migration(conn, tables).steps]
        compared = [str(s) for s in _compared_steps(conn, tables)]
    ws.close()
    assert any(s.startswith("+ add_table") for s in planned) and any(" unique" in s for s in planned)
    assert [s for s in planned if "add_search_index" not in s] == compared
