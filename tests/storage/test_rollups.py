"""Rollup fields: stored aggregates over the records that link to a record, kept current by
the engine on every write of those records (tests/packs/rollupkit), on both databases."""

from __future__ import annotations

import datetime as dt
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.actor import SYSTEM
from engine.automation.schedules import run_due
from engine.checking import check_packs
from engine.cli import main
from engine.config import Config
from tests.conftest import make_config


@pytest.fixture
def config(database_url, tmp_path):
    return make_config(database_url, tmp_path, ("rollupkit",))


@pytest.fixture
def records(workspace):
    return workspace.records


def project(records, **values):
    return records.create(SYSTEM, "project", {"name": "P", **values})


def task(records, **values):
    return records.create(SYSTEM, "task", {"title": "T", **values})


def get(records, entity, record_id):
    return records.get(SYSTEM, entity, record_id)


def test_a_new_parent_starts_with_zero_counts_and_sums_and_empty_extremes(records):
    p = project(records)
    assert p["task_count"] == 0 and p["open_tasks"] == 0
    assert Decimal(str(p["hours_done"])) == 0
    assert p["avg_hours"] is None and p["next_due"] is None and p["last_done_at"] is None


def test_creating_children_updates_every_rollup_of_the_parent(records):
    p = project(records, budget="1000")
    task(records, project=p["id"], hours="2.5", due_on="2030-05-01")
    task(records, project=p["id"], hours="4", done=True, done_at="2030-04-02T10:00:00Z", due_on="2030-03-01")
    task(records, project=p["id"], hours="1.5", rate=50, due_on="2030-04-15")
    task(records, hours="99")  # no project: counts nowhere
    got = get(records, "project", p["id"])
    assert got["task_count"] == 3
    assert got["open_tasks"] == 2
    assert Decimal(str(got["hours_done"])) == Decimal("4")
    assert Decimal(str(got["avg_hours"])) == Decimal("2.67")
    assert got["next_due"] == "2030-04-15"  # the earliest open one; the done one is filtered out
    assert got["last_done_at"] == "2030-04-02T10:00:00+00:00"
    assert Decimal(str(got["weighted"])) == Decimal("7.25")  # 2.5 + 4 + 1.5 * 50 %


def test_updates_moves_deletes_and_restores_keep_both_parents_current(records):
    a, b = project(records, name="A"), project(records, name="B")
    t = task(records, project=a["id"], hours="3")
    task(records, project=a["id"], hours="1")
    records.update(SYSTEM, "task", t["id"], {"hours": "5", "done": True})
    assert get(records, "project", a["id"])["open_tasks"] == 1
    assert Decimal(str(get(records, "project", a["id"])["hours_done"])) == 5

    records.update(SYSTEM, "task", t["id"], {"project": b["id"]})  # moved: both recounted
    assert get(records, "project", a["id"])["task_count"] == 1
    assert Decimal(str(get(records, "project", a["id"])["hours_done"])) == 0
    assert get(records, "project", b["id"])["task_count"] == 1
    assert Decimal(str(get(records, "project", b["id"])["hours_done"])) == 5

    records.delete(SYSTEM, "task", t["id"])
    assert get(records, "project", b["id"])["task_count"] == 0
    records.restore(SYSTEM, "task", t["id"])
    assert get(records, "project", b["id"])["task_count"] == 1

    records.update(SYSTEM, "task", t["id"], {"project": None})
    assert get(records, "project", b["id"])["task_count"] == 0


def test_a_write_that_changes_nothing_the_rollup_reads_leaves_the_parent_alone(records):
    p = project(records)
    t = task(records, project=p["id"], hours="1")
    version = get(records, "project", p["id"])["version"]
    records.update(SYSTEM, "task", t["id"], {"title": "Renamed"})
    records.update(SYSTEM, "task", t["id"], {"hours": "1.00"})  # same value: nothing to write
    assert get(records, "project", p["id"])["version"] == version


def test_links_sets_count_for_every_linked_parent_and_for_the_ones_left(records):
    a, b, c = (project(records, name=n) for n in "ABC")
    t = task(records, watchers=[a["id"], b["id"]])
    assert [get(records, "project", x["id"])["tagged_in"] for x in (a, b, c)] == [1, 1, 0]
    records.update(SYSTEM, "task", t["id"], {"watchers": [b["id"], c["id"]]})
    assert [get(records, "project", x["id"])["tagged_in"] for x in (a, b, c)] == [0, 1, 1]
    records.delete(SYSTEM, "task", t["id"])
    assert [get(records, "project", x["id"])["tagged_in"] for x in (a, b, c)] == [0, 0, 0]


def test_rollups_chain_and_stored_computed_fields_follow(records):
    folio = records.create(SYSTEM, "portfolio", {"name": "F"})
    p = project(records, portfolio=folio["id"], budget="100")
    task(records, project=p["id"], hours="2", done=True)
    assert get(records, "project", p["id"])["over_budget"] is True  # 2 h * 100 > 100
    f = get(records, "portfolio", folio["id"])
    assert Decimal(str(f["hours_total"])) == 2 and Decimal(str(f["budget_total"])) == 100


def test_the_parents_validations_do_not_block_a_child_write(records):
    p = project(records, status="closed")
    task(records, project=p["id"])  # the project now breaks its rule, the task is still saved
    assert get(records, "project", p["id"])["open_tasks"] == 1
    with pytest.raises(Exception, match="not valid"):
        records.update(SYSTEM, "project", p["id"], {"name": "Renamed"})


def test_a_trashed_parent_is_recounted_when_restored(records):
    p = project(records)
    t = task(records, project=p["id"])
    records.delete(SYSTEM, "project", p["id"])
    records.delete(SYSTEM, "task", t["id"])  # the parent is in the trash: nothing to write now
    records.restore(SYSTEM, "project", p["id"])
    assert get(records, "project", p["id"])["task_count"] == 0


def test_clock_dependent_rollups_are_refreshed_by_a_scheduled_recompute(workspace, records):
    p = project(records)
    today = dt.datetime.now(dt.UTC).date()
    task(records, project=p["id"], due_on=(today + dt.timedelta(days=1)).isoformat())
    task(records, project=p["id"], due_on=(today - dt.timedelta(days=1)).isoformat())
    assert get(records, "project", p["id"])["overdue_tasks"] == 1
    later = dt.datetime.combine(today + dt.timedelta(days=3), dt.time(1, 30), dt.UTC)
    run_due(workspace, later)  # the nightly rule recomputes as of its run
    assert get(records, "project", p["id"])["overdue_tasks"] == 2


def test_tessera_recompute_refreshes_a_rollup_for_every_record(workspace, records, config, monkeypatch):
    p = project(records)
    task(records, project=p["id"])
    with workspace.db.begin() as conn:  # as if the field had just been added to existing data
        conn.exec_driver_sql("UPDATE project SET task_count = 0")
    monkeypatch.setenv("TESSERA_DATABASE_URL", config.database_url)
    monkeypatch.setenv("TESSERA_PACKS", "rollupkit")
    monkeypatch.setenv("TESSERA_EXTRA_PACK_PATHS", str(Path(__file__).parents[1] / "packs"))
    monkeypatch.setenv("TESSERA_SECRET_KEY", config.secret_key)
    result = CliRunner().invoke(main, ["recompute", "project", "task_count"])
    assert result.exit_code == 0, result.output
    assert "1 project record(s)" in result.output
    assert get(records, "project", p["id"])["task_count"] == 1
    bad = CliRunner().invoke(main, ["recompute", "project", "name"])
    assert bad.exit_code != 0 and "no rollup field 'name'" in bad.output


def test_clients_cannot_write_a_rollup_and_meta_and_openapi_show_it_read_only(records, admin):
    p = project(records)
    response = admin.patch(f"project/{p['id']}", json={"task_count": 7})
    assert response.status_code == 422
    assert response.get_json()["errors"] == [{"field": "task_count", "message": "Is read-only."}]
    fields = {f["name"]: f for f in admin.get("meta/entities/project").get_json()["fields"]}
    assert fields["task_count"]["readonly"] is True
    assert fields["open_tasks"]["rollup"] == {
        "from": "task",
        "link": "project",
        "value": "count()",
        "filter": "done == false",
    }
    spec = admin.get("openapi.json").get_json()
    assert "task_count" not in spec["components"]["schemas"]["ProjectInput"]["properties"]
    assert spec["components"]["schemas"]["Project"]["properties"]["task_count"]["readOnly"] is True


def test_rollups_can_be_filtered_sorted_and_aggregated(records, admin):
    for name, n in (("A", 0), ("B", 2), ("C", 1)):
        p = project(records, name=name)
        for _ in range(n):
            task(records, project=p["id"])
    listed = admin.get("project", query_string={"filter": "task_count >= 1", "sort": "-task_count"}).get_json()
    assert [r["name"] for r in listed["data"]] == ["B", "C"]
    total = admin.post("project/aggregate", json={"metrics": {"tasks": "sum(task_count)"}}).get_json()
    assert total["data"] == [{"tasks": 3}]


# --- load-time checks --------------------------------------------------------------------
def write_pack(root: Path, project_fields: str) -> Path:
    pack = root / "alpha"
    (pack / "entities").mkdir(parents=True)
    (pack / "pack.yaml").write_text("name: alpha\nversion: 1.0.0\n")
    (pack / "entities" / "task.yaml").write_text(
        textwrap.dedent(
            """
            entity: task
            fields:
              title: {type: string}
              hours: {type: decimal}
              project: {type: link, to: project}
              other: {type: link, to: task}
            """
        ).lstrip()
    )
    (pack / "entities" / "project.yaml").write_text(
        "entity: project\nfields:\n  name: {type: string}\n" + project_fields + "\n"
    )
    return pack


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("  n: {type: int, rollup: {from: nope, link: project, value: 'count()'}}", "unknown entity 'nope'"),
        ("  n: {type: int, rollup: {from: task, link: title, value: 'count()'}}", "task has no link field 'title'"),
        ("  n: {type: int, rollup: {from: task, link: other, value: 'count()'}}", "links to 'task', not to 'project'"),
        ("  n: {type: int, rollup: {from: task, link: project, value: 'total(hours)'}}", "value must read count()"),
        ("  n: {type: int, rollup: {from: task, link: project, value: 'sum(title)'}}", "sum() adds numbers"),
        ("  n: {type: int, rollup: {from: task, link: project, value: 'sum(hours)'}}", "gives decimal, but n is"),
        ("  n: {type: date, rollup: {from: task, link: project, value: 'count()'}}", "gives int, but n is"),
        (
            "  n: {type: int, rollup: {from: task, link: project, value: 'count()', filter: 'nope'}}",
            "task has no field 'nope'",
        ),
        (
            "  n: {type: int, rollup: {from: task, link: project, value: 'count()', filter: 'hours'}}",
            "a condition must be true or false",
        ),
        ("  n: {type: int, default: 1, rollup: {from: task, link: project, value: 'count()'}}", "cannot also have"),
        ("  n: {type: string, rollup: {from: task, link: project, value: 'count()'}}", "rollup"),
        ("  n: {type: int, rollup: {from: task, link: project}}", "value"),
    ],
)
def test_a_bad_rollup_is_a_check_problem_at_its_line(tmp_path, field, message):
    write_pack(tmp_path, field)
    problems, _ = check_packs(Config(database_url="sqlite://", extra_pack_paths=(tmp_path,)), [tmp_path])
    assert problems, "expected a problem"
    text = "\n".join(f"{p.location}: {p.message}" for p in problems.items)
    assert message in text
    assert f"{tmp_path}/alpha/entities/project.yaml:4:" in text


def test_the_check_command_prints_the_rollup_problem_with_a_caret(tmp_path, monkeypatch):
    write_pack(
        tmp_path, "  n: {type: int, rollup: {from: task, link: project, value: 'count()', filter: 'hours > \"x\"'}}"
    )
    monkeypatch.setenv("TESSERA_EXTRA_PACK_PATHS", str(tmp_path))
    result = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    start = next(i for i, text in enumerate(lines) if "project.yaml:" in text)
    assert lines[start].endswith("project.yaml:4:3: cannot compare decimal with string using > (line 1, column 7)")
    assert lines[start + 1 : start + 3] == ['    hours > "x"', "          ^ (project.n.rollup)"]
