"""Fault: two admins change the same entity definition at once.

Two workspace objects over one database stand for two server processes, each with its own
cached metadata. Overlay writes are serialised under the schema lock and checked again
inside it: of two identical additions one wins and the other answers 409; a ``PUT`` with
``If-Match`` (the ETag a ``GET`` answered) replaces only the version read, else 412. Either
way the tables match the metadata afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from engine.app import create_app
from engine.storage.migrate import plan_migration
from engine.workspace import Workspace
from tests.automation.conftest import auto_workspace  # noqa: F401 - the fixture
from tests.automation.test_meta_dry_run import VIP
from tests.conftest import Api, sign_in


@pytest.fixture
def admins(auto_workspace: Any) -> Iterator[tuple[Workspace, Workspace, Api, Api]]:  # noqa: F811
    """Two "processes": the second caches its metadata for an hour, so it does not see the
    first one's changes before it writes."""
    first: Workspace = auto_workspace("auto_rules")
    second = Workspace(first.config, meta_check_interval=3600)
    second.snapshot()
    one = sign_in(create_app(first.config, first).test_client(), "admin@test.dev")
    two = sign_in(create_app(second.config, second).test_client(), "admin@test.dev")
    yield first, second, one, two
    second.close()


def _at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released together; their answers in call order."""
    barrier, answers = threading.Barrier(len(calls)), [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait(30)
        answers[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return answers


def _consistent(ws: Workspace) -> None:
    """The tables match the metadata: no schema step is left to apply."""
    snap = ws.reload()
    with ws.db.connect() as conn:
        assert plan_migration(conn, snap.tables).additive == []


def _column_type(ws: Workspace, table: str, column: str) -> str:
    with ws.db.connect() as conn:
        columns = {c["name"]: c["type"] for c in sa.inspect(conn).get_columns(table)}
    return type(columns[column]).__name__.upper()


def _is_conflict(response: Any, status: int) -> None:
    assert response.status_code == status, response.get_json()
    assert response.content_type == "application/problem+json"
    assert response.get_json()["status"] == status


def test_fault_the_same_field_added_by_two_admins_one_wins_the_other_gets_409(
    admins: tuple[Workspace, Workspace, Api, Api],
) -> None:
    first, second, one, two = admins
    won = one.post("meta/entities/case/fields", {"name": "region", "type": "string"})
    assert won.status_code == 201, won.get_json()
    # the second process still has the old metadata: its own check passes, the one under the lock does not
    lost = two.post("meta/entities/case/fields", {"name": "region", "type": "int"})
    _is_conflict(lost, 409)
    assert "region" in lost.get_json()["detail"]
    _consistent(first)
    assert "CHAR" in _column_type(first, "case", "region") or "TEXT" in _column_type(first, "case", "region")
    assert second.reload().catalog.entities["case"].fields["region"].type == "string"

    # at the same moment: different fields both land, the same one lands once
    answers = _at_once(
        lambda: one.post("meta/entities/case/fields", {"name": "zone", "type": "string"}),
        lambda: two.post("meta/entities/case/fields", {"name": "zone", "type": "int"}),
        lambda: one.post("meta/entities/case/fields", {"name": "floor", "type": "int"}),
        lambda: two.post("meta/entities/case/fields", {"name": "wing", "type": "string"}),
    )
    assert sorted(a.status_code for a in answers[:2]) == [201, 409], [a.get_json() for a in answers]
    _is_conflict(next(a for a in answers[:2] if a.status_code == 409), 409)
    assert [a.status_code for a in answers[2:]] == [201, 201], [a.get_json() for a in answers[2:]]
    _consistent(first)
    fields = first.reload().catalog.entities["case"].fields
    assert {"region", "zone", "floor", "wing"} <= set(fields)
    assert fields["zone"].type == ("string" if answers[0].status_code == 201 else "int")


def test_fault_the_same_document_added_twice_at_once_is_stored_once(
    admins: tuple[Workspace, Workspace, Api, Api],
) -> None:
    first, second, one, two = admins
    answers = _at_once(
        lambda: one.post("meta/documents/rule", VIP),
        lambda: two.post("meta/documents/rule", {**VIP, "when": 'subject == "VVIP"'}),
    )
    assert sorted(a.status_code for a in answers) == [201, 409], [a.get_json() for a in answers]
    winner = next(a for a in answers if a.status_code == 201).get_json()["document"]
    assert one.get("meta/documents/rule/flag_vip").get_json()["document"] == winner
    assert second.reload().version == first.reload().version
    _consistent(first)


def test_fault_a_put_with_if_match_replaces_only_the_version_read(
    admins: tuple[Workspace, Workspace, Api, Api],
) -> None:
    first, _, one, two = admins
    assert one.post("meta/documents/rule", VIP).status_code == 201
    read = one.get("meta/documents/rule/flag_vip")
    tag = read.headers["ETag"]

    mine = {**VIP, "when": 'subject == "VIP" or subject == "Gold"'}
    theirs = {**VIP, "do": [{"set": {"note": "very important"}}]}
    answers = _at_once(
        lambda: one.put("meta/documents/rule/flag_vip", mine, headers={"If-Match": tag}),
        lambda: two.put("meta/documents/rule/flag_vip", theirs, headers={"If-Match": tag}),
    )
    assert sorted(a.status_code for a in answers) == [200, 412], [a.get_json() for a in answers]
    stale = next(a for a in answers if a.status_code == 412)
    _is_conflict(stale, 412)
    assert "changed by someone else" in stale.get_json()["detail"]
    kept = next(a for a in answers if a.status_code == 200)
    now = one.get("meta/documents/rule/flag_vip")
    assert now.get_json()["document"] == kept.get_json()["document"]
    assert now.headers["ETag"] == kept.headers["ETag"] != tag

    # the loser reads again and applies its change to the new version
    retried = two.put("meta/documents/rule/flag_vip", theirs, headers={"If-Match": now.headers["ETag"]})
    assert retried.status_code == 200, retried.get_json()
    assert one.get("meta/documents/rule/flag_vip").get_json()["document"] == theirs
    # without If-Match the last writer wins, as before
    assert one.put("meta/documents/rule/flag_vip", VIP).status_code == 200
    # a tag of nothing in force, or an empty one, is refused
    _is_conflict(
        one.put("meta/documents/rule/nothing_here", {**VIP, "name": "nothing_here"}, headers={"If-Match": tag}), 412
    )
    assert one.put("meta/documents/rule/flag_vip", VIP, headers={"If-Match": '""'}).status_code == 400
    _consistent(first)
