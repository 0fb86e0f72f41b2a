"""The collab pack: task assignment and due reminders, comments whose @mentions notify,
internal messages seen by their sender and recipient only. Walked through the REST API
as the demo roles (``ROLE@test.dev``, so ``@sales_rep`` mentions the sales rep), on SQLite
and PostgreSQL; scheduled rules run with ``run_due(ws, now)``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.automation.schedules import run_due
from tests.sales.rest import account, act, create, get, listing, ok, patch, set_manager, user_id


def inbox(api: Any) -> list[dict[str, Any]]:
    """The caller's in-app notifications, oldest first."""
    return listing(api, "notification", sort="created_at")


def titles(api: Any, entity: str | None = None) -> list[str]:
    return [n["title"] for n in inbox(api) if entity is None or n["related_entity"] == entity]


def at(moment: dt.datetime) -> str:
    return moment.isoformat()


def test_a_task_assigned_by_someone_else_notifies_the_assignee(sales_workspace, api_client):
    ws = sales_workspace("collab")
    admin, manager, rep = (api_client(ws, r) for r in ("admin", "sales_manager", "sales_rep"))
    rep_id, manager_id = user_id(admin, "sales_rep"), user_id(admin, "sales_manager")
    set_manager(admin, "sales_rep", "sales_manager")  # the manager reads the rep's tasks

    task = create(manager, "activity", {"kind": "task", "subject": "Call Hanse Bank", "owner": rep_id})
    assert titles(rep, "activity") == ["New task for you: Call Hanse Bank"]
    assert inbox(rep)[0]["related_id"] == task["id"]
    assert titles(manager, "activity") == []

    # a task of your own, and a note given to someone else, stay quiet
    create(rep, "activity", {"kind": "task", "subject": "Own task"})
    create(rep, "activity", {"kind": "task", "subject": "Assigned to myself", "owner": rep_id})
    create(manager, "activity", {"kind": "note", "subject": "Just a note", "owner": rep_id})
    assert titles(rep, "activity") == ["New task for you: Call Hanse Bank"]

    # reassigning tells the new assignee; editing without reassigning tells nobody
    patch(admin, "activity", task["id"], {"owner": manager_id})
    assert titles(manager, "activity") == ["New task for you: Call Hanse Bank"]
    patch(admin, "activity", task["id"], {"subject": "Call Hanse Bank again"})
    assert len(inbox(manager)) == 1 and len(inbox(rep)) == 1


def test_a_due_reminder_fires_once_per_task_and_an_overdue_task_alerts(sales_workspace, api_client):
    ws = sales_workspace("collab")
    admin, manager, rep = (api_client(ws, r) for r in ("admin", "sales_manager", "sales_rep"))
    rep_id = user_id(admin, "sales_rep")
    set_manager(admin, "sales_rep", "sales_manager")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    due = now + dt.timedelta(days=2)
    open_task = create(
        manager, "activity", {"kind": "task", "subject": "Send offer", "owner": rep_id, "due_at": at(due)}
    )
    done = create(manager, "activity", {"kind": "task", "subject": "Done already", "owner": rep_id, "due_at": at(due)})
    patch(rep, "activity", done["id"], {"done": True})
    create(manager, "activity", {"kind": "meeting", "subject": "Not a task", "owner": rep_id, "due_at": at(due)})
    before = len(inbox(rep))

    # 20 hours before the due time: the one-day reminder, once, however often the clock ticks
    tick = due - dt.timedelta(hours=20)
    run_due(ws, tick)
    run_due(ws, tick + dt.timedelta(minutes=5))
    reminders = [n for n in inbox(rep)[before:] if n["title"].startswith("Task due soon")]
    assert [(n["title"], n["related_id"]) for n in reminders] == [("Task due soon: Send offer", open_task["id"])]

    # past the due time: one overdue alert for the open task only
    late = due + dt.timedelta(hours=2)
    run_due(ws, late)
    run_due(ws, late + dt.timedelta(minutes=5))
    assert [t for t in titles(rep) if t.startswith("Task overdue")] == ["Task overdue: Send offer"]
    assert len([t for t in titles(rep) if t.startswith("Task due soon")]) == 1


def test_mentions_notify_exactly_the_active_users_named(sales_workspace, api_client):
    ws = sales_workspace("collab")
    admin, rep, manager, agent = (api_client(ws, r) for r in ("admin", "sales_rep", "sales_manager", "support_agent"))
    ok(admin.patch(f"/api/v1/user/{user_id(admin, 'finance')}", json={"active": False}))
    customer = account(rep, "Hanse Bank AG")

    comment = create(
        rep,
        "record_comment",
        {
            "body": "@sales_manager and @SUPPORT_AGENT: please check. @finance @nobody, mail x@test.dev",
            "related_entity": "account",
            "related_id": customer["id"],
            "account": customer["id"],
        },
    )
    assert comment["author"] == user_id(admin, "sales_rep")
    assert sorted(comment["mentioned"]) == sorted([user_id(admin, "sales_manager"), user_id(admin, "support_agent")])
    for api in (manager, agent):
        assert titles(api, "record_comment") == ["Sales Rep mentioned you in a comment"]
        assert inbox(api)[0]["related_id"] == comment["id"]
    # the inactive finance user and the unknown handle got nothing: two notifications in all
    assert len([n for n in listing(admin, "notification") if n["related_entity"] == "record_comment"]) == 2
    assert titles(rep, "record_comment") == []

    # the mentioned support agent reads the comment; an unmentioned colleague does not
    assert get(agent, "record_comment", comment["id"])["body"].startswith("@sales_manager")
    presales = api_client(ws, "presales")
    assert presales.get(f"/api/v1/record_comment/{comment['id']}").status_code == 404
    # the comment is on the account's timeline
    timeline = ok(rep.get(f"/api/v1/account/{customer['id']}/timeline"))["data"]
    assert ("record_comment", comment["id"]) in [(e["entity"], e["record"]["id"]) for e in timeline]

    # an edit tells only the users it adds
    patch(rep, "record_comment", comment["id"], {"body": comment["body"] + " Also @presales."})
    assert titles(presales, "record_comment") == ["Sales Rep mentioned you in a comment"]
    assert len(titles(manager, "record_comment")) == 1


def test_a_message_is_seen_by_its_sender_and_recipient_only(sales_workspace, api_client):
    ws = sales_workspace("collab")
    admin, rep, manager, other = (api_client(ws, r) for r in ("admin", "sales_rep", "sales_manager", "presales"))
    message = create(
        rep,
        "internal_message",
        {"recipient": user_id(admin, "sales_manager"), "subject": "Pipeline review", "body": "Thursday?"},
    )
    assert message["sender"] == user_id(admin, "sales_rep") and message["read_at"] is None
    assert titles(manager, "internal_message") == ["Message from Sales Rep: Pipeline review"]
    assert titles(rep, "internal_message") == []

    for api in (rep, manager):
        assert get(api, "internal_message", message["id"])["subject"] == "Pipeline review"
        assert [m["id"] for m in listing(api, "internal_message")] == [message["id"]]
    assert other.get(f"/api/v1/internal_message/{message['id']}").status_code == 404
    assert listing(other, "internal_message") == []
    # the sender cannot fake another sender, nor edit a sent message
    forged = rep.post(
        "/api/v1/internal_message",
        json={"recipient": user_id(admin, "presales"), "subject": "x", "sender": user_id(admin, "director")},
    )
    assert forged.status_code == 422
    assert rep.patch(f"/api/v1/internal_message/{message['id']}", json={"subject": "y"}).status_code in (403, 404)

    # only the recipient marks it read; again keeps the first time
    assert act(rep, "internal_message", message["id"], "mark_read").status_code == 409
    read = ok(act(manager, "internal_message", message["id"], "mark_read"))
    assert read["read_at"] is not None
    assert ok(act(manager, "internal_message", message["id"], "mark_read"))["read_at"] == read["read_at"]
    assert act(other, "internal_message", message["id"], "mark_read").status_code == 404
