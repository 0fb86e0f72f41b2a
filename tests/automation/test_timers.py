"""Due timers fire in batches: each timer all or nothing, each once, and a crash loses none.

The pack ``tests/packs/auto_timers`` nudges every client a day after it was created (a task
naming the client and its city, or a welcome for clients in Hamburg); clients in explosives
fail their nudge, retail clients get a WELCOME voucher whose code is unique, printers have
their voucher's code set to PRINTED (also refused the second time), and a removals
client moves the client called Next to Hamburg. Its SLA chases a deal a day after it was
created; chasing one of Acme's deals settles all of them.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa

from engine.actor import SYSTEM
from engine.app import create_app
from engine.automation import rules
from engine.automation.timers import fire_due, next_due
from engine.storage import system_tables as st
from engine.workspace import Workspace
from tests.conftest import Api, sign_in

T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
LATER = T0 + dt.timedelta(days=2)


class Office:
    """The API as a sales rep, with the workspace clock set per request."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self.api: Api = sign_in(create_app(ws.config, ws).test_client(), "rep@test.dev")

    def create(self, minute: int, entity: str, **values: Any) -> dict[str, Any]:
        moment = T0 + dt.timedelta(minutes=minute)
        self.ws.records.clock = lambda: moment
        response = self.api.post(entity, values)
        assert response.status_code == 201, response.get_json()
        return dict(response.get_json())

    def tasks(self) -> list[str]:
        return sorted(t["subject"] for t in self.api.get("task?limit=100").get_json()["data"])

    def timers(self) -> dict[str, tuple[str, Any]]:
        """Record id -> (state, payload) of every timer."""
        with self.ws.db.connect() as conn:
            rows = conn.execute(sa.select(st.timer.c.record_id, st.timer.c.state, st.timer.c.payload)).all()
        return {row.record_id: (row.state, row.payload) for row in rows}


@pytest.fixture
def office(auto_workspace: Any) -> Office:
    return Office(auto_workspace("auto_timers"))


@pytest.mark.parametrize("savepoints", [False, True], ids=["savepoints-after-a-failure", "savepoints-always"])
def test_a_failing_timer_is_marked_failed_and_the_rest_of_its_batch_fires(office: Office, savepoints: bool) -> None:
    one = office.create(0, "client", name="One", city="Berlin")
    boom = office.create(1, "client", name="Boom", city="Essen", industry="explosives")
    three = office.create(2, "client", name="Three", city="Bonn")
    assert fire_due(office.ws, LATER, savepoints=savepoints) == 2
    # Boom's own nudge task went with its failure; the others stand
    assert office.tasks() == ["Nudge One in Berlin", "Nudge Three in Bonn"]
    timers = office.timers()
    assert timers[one["id"]][0] == timers[three["id"]][0] == "fired"
    state, payload = timers[boom["id"]]
    assert state == "failed" and "subject" in payload["error"]
    assert next_due(office.ws) is None  # a failed timer is not tried again
    assert fire_due(office.ws, LATER + dt.timedelta(days=1)) == 0


def test_a_value_the_database_refuses_fails_only_that_timer(office: Office) -> None:
    first = office.create(0, "client", name="Corner shop", city="Kiel", industry="retail")
    second = office.create(1, "client", name="Mall", city="Ulm", industry="retail")
    assert fire_due(office.ws, LATER) == 1
    vouchers = office.api.get("voucher").get_json()["data"]
    assert [(v["code"], v["client"]) for v in vouchers] == [("WELCOME", first["id"])]
    assert office.tasks() == ["Nudge Corner shop in Kiel"]
    state, payload = office.timers()[second["id"]]
    assert state == "failed" and payload["error"]


@pytest.mark.parametrize("savepoints", [False, True], ids=["savepoints-after-a-failure", "savepoints-always"])
def test_an_update_the_database_refuses_fails_only_that_timer(office: Office, savepoints: bool) -> None:
    """A record update of a batch waits (it is sent with the next statement or at the batch's
    end), so the database may refuse it after its timer's turn: still only that timer fails."""
    first = office.create(0, "client", name="Print shop", city="Kiel", industry="printing")
    second = office.create(1, "client", name="Press", city="Ulm", industry="printing")
    for client, code in ((first, "P-1"), (second, "P-2")):
        office.ws.records.create(SYSTEM, "voucher", {"code": code, "client": client["id"]})
    assert fire_due(office.ws, LATER, savepoints=savepoints) == 1
    vouchers = office.api.get("voucher").get_json()["data"]
    assert sorted((v["code"], v["client"]) for v in vouchers) == sorted(
        [("PRINTED", first["id"]), ("P-2", second["id"])]
    )
    assert office.tasks() == ["Nudge Print shop in Kiel"]
    state, payload = office.timers()[second["id"]]
    assert state == "failed" and payload["error"]


def test_a_timer_sees_what_an_earlier_timer_of_its_batch_changed(office: Office) -> None:
    office.create(0, "client", name="Mover", city="Berlin", industry="removals")
    office.create(1, "client", name="Next", city="Munich")
    assert fire_due(office.ws, LATER) == 2
    assert office.tasks() == ["Nudge Mover in Berlin", "Welcome Next to Hamburg"]


def test_a_crash_mid_batch_leaves_every_timer_of_the_batch_pending(
    office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    for minute, name in enumerate(["One", "Two", "Three"]):
        office.create(minute, "client", name=name, city="Berlin")
    original = rules.COMPONENT.on_event

    def crash_on_three(run: Any, event: Any) -> None:
        if event.kind == "timer" and event.record.get("name") == "Three":
            raise RuntimeError("worker died")
        original(run, event)

    monkeypatch.setattr(rules.COMPONENT, "on_event", crash_on_three)
    with pytest.raises(RuntimeError):
        fire_due(office.ws, LATER)
    assert office.tasks() == []
    assert {state for state, _ in office.timers().values()} == {"pending"}
    assert next_due(office.ws) == T0 + dt.timedelta(days=1)

    monkeypatch.undo()  # the next pass claims them again
    assert fire_due(office.ws, LATER) == 3
    assert office.tasks() == ["Nudge One in Berlin", "Nudge Three in Berlin", "Nudge Two in Berlin"]


def test_every_due_timer_fires_once_over_several_batches(office: Office) -> None:
    for minute in range(5):
        office.create(minute, "client", name=f"Client {minute}", city="Berlin")
    assert fire_due(office.ws, T0 + dt.timedelta(days=1, minutes=2), batch=2) == 3  # due by then: 0, 1, 2
    assert fire_due(office.ws, LATER, batch=2) == 2
    assert fire_due(office.ws, LATER, batch=2) == 0
    assert len(office.tasks()) == 5


def test_two_workers_at_once_fire_each_timer_once(office: Office) -> None:
    for minute in range(30):
        office.create(minute, "client", name=f"Client {minute:02}", city="Berlin")
    with ThreadPoolExecutor(2) as pool:
        fired = list(pool.map(lambda _: fire_due(office.ws, LATER, batch=4), range(2)))
    assert sum(fired) == 30
    assert office.tasks() == sorted(f"Nudge Client {minute:02} in Berlin" for minute in range(30))


def test_sla_timers_of_a_batch_see_what_earlier_ones_changed(office: Office) -> None:
    client = office.create(0, "client", name="Acme", city="Berlin")
    other = office.create(0, "client", name="Other", city="Bonn")
    office.create(1, "deal", name="Acme one", client=client["id"])
    second = office.create(2, "deal", name="Acme two", client=client["id"])
    office.create(3, "deal", name="Other one", client=other["id"])
    fire_due(office.ws, LATER)
    # chasing Acme one settled Acme two before its own timer fired in the same batch
    assert [t for t in office.tasks() if t.startswith("Chase")] == ["Chase Acme one", "Chase Other one"]
    assert office.api.get(f"deal/{second['id']}").get_json()["status"] == "sent"
    assert next_due(office.ws) is None


def test_what_a_failing_sla_timer_changed_is_forgotten_by_the_rest_of_its_batch(office: Office) -> None:
    client = office.create(0, "client", name="Acme", city="Berlin")
    broken = office.create(1, "deal", name="Acme broken", client=client["id"])
    second = office.create(2, "deal", name="Acme two", client=client["id"])
    # the broken chase settled Acme two, then failed: Acme two is chased after all
    assert fire_due(office.ws, LATER) == 2  # Acme's nudge and Acme two's chase
    assert [t for t in office.tasks() if t.startswith("Chase")] == ["Chase Acme two"]
    assert office.timers()[broken["id"]][0] == "failed"
    assert office.api.get(f"deal/{second['id']}").get_json()["status"] == "sent"


def test_two_clocks_of_one_case_due_in_one_batch(auto_workspace: Any) -> None:
    ws = auto_workspace("auto_sla")
    api = sign_in(create_app(ws.config, ws).test_client(), "rep@test.dev")
    berlin = dt.timezone(dt.timedelta(hours=2))  # June 2026 in Berlin (see test_sla.py)
    ws.records.clock = lambda: dt.datetime(2026, 6, 1, 8, tzinfo=berlin)
    case = api.post("case", {"subject": "Printer on fire", "priority": "P2"}).get_json()
    # the response breach (10:00) and the resolution levels (from 14:00) fire in one pass
    assert fire_due(ws, dt.datetime(2026, 6, 3, 12, tzinfo=berlin)) == 2
    late = api.get(f"case/{case['id']}").get_json()
    assert (late["sla_state"], late["escalation_level"], late["priority"], late["note"]) == (
        "breached",
        2,
        "P1",
        "Resolution at risk",
    )
    tasks = api.get(f"task?case={case['id']}").get_json()["data"]
    assert [t["subject"] for t in tasks] == ["Breached: Printer on fire"]
    assert next_due(ws) is None
