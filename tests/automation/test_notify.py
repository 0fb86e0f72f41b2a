"""The ``notify`` action: in-app notifications, e-mail and SMS through the outbox.

E-mail goes to a local SMTP server (aiosmtpd) and SMS to a local HTTP gateway, both in the
test process; texts come from the templates of ``tests/packs/auto_notify/templates``.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from engine.actor import SYSTEM
from engine.app import create_app
from engine.automation.events import Event
from engine.automation.outbox import dispatch_due
from engine.errors import MetadataError
from engine.security.users import create_user
from engine.storage import system_tables as st
from engine.storage.database import read_transaction, write_transaction
from engine.workspace import Workspace
from tests.conftest import PASSWORD, Api, make_config, sign_in

T0 = dt.datetime(2030, 1, 7, 9, 0, tzinfo=dt.UTC)


class Mailbox:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.recipients.append(list(envelope.rcpt_tos))
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


class Gateway:
    """A local SMS gateway: records each JSON request and its Authorization header."""

    def __init__(self) -> None:
        self.received: list[tuple[str | None, dict[str, Any]]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                gateway.received.append((self.headers.get("Authorization"), json.loads(body)))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gw = Gateway()
    yield gw
    gw.close()


@pytest.fixture
def ws(auto_workspace: Any, mailbox: tuple[Mailbox, int], gateway: Gateway) -> Workspace:
    workspace: Workspace = auto_workspace(
        "auto_notify",
        smtp_host="127.0.0.1",
        smtp_port=mailbox[1],
        smtp_from="crm@test.dev",
        sms_url=gateway.url,
        sms_token="gateway-token",
    )
    workspace.records.clock = lambda: T0
    create_user(workspace, "lena@test.dev", "Lena Lead", PASSWORD, ["support_lead"], mobile="+49 151 1111")
    create_user(workspace, "lars@test.dev", "Lars Lead", PASSWORD, ["support_lead"])
    create_user(workspace, "gone@test.dev", "Gone Lead", PASSWORD, ["support_lead"], active=False)
    create_user(workspace, "tom@test.dev", "Tom Tech", PASSWORD, ["sales_rep"], mobile="+49 151 2222")
    return workspace


@pytest.fixture
def app(ws: Workspace) -> Any:
    return create_app(ws.config, ws)


@pytest.fixture
def rep(app: Any) -> Api:
    return sign_in(app.test_client(), "rep@test.dev")


def _user_id(ws: Workspace, email_address: str) -> str:
    return ws.records.list(SYSTEM, "user", {"email": email_address}).data[0]["id"]


def _notifications(ws: Workspace, email_address: str) -> list[dict[str, Any]]:
    query = {"user": _user_id(ws, email_address), "sort": "created_at"}
    return ws.records.list(SYSTEM, "notification", query).data


def _outbox(ws: Workspace, channel: str) -> list[Any]:
    o = st.outbox
    with read_transaction(ws.db) as conn:
        return conn.execute(sa.select(o).where(o.c.channel == channel).order_by(o.c.created_at, o.c.id)).all()


# --- in-app ---------------------------------------------------------------------------


def test_the_assignee_gets_an_in_app_notification_from_the_template(ws: Workspace, rep: Api) -> None:
    tom = _user_id(ws, "tom@test.dev")
    case = rep.post("case", {"subject": "Printer jam", "priority": "P2"}).get_json()
    assert _notifications(ws, "tom@test.dev") == []
    rep.patch(f"case/{case['id']}", {"assignee": tom})
    [notice] = _notifications(ws, "tom@test.dev")
    assert notice["title"] == f"{case['number']} is yours: Printer jam"
    assert "is now assigned to you" in notice["body"]
    assert (notice["level"], notice["related_entity"], notice["related_id"]) == ("warning", "case", case["id"])
    assert notice["read_at"] is None


def test_a_role_reaches_every_active_user_with_it(ws: Workspace, rep: Api) -> None:
    case = rep.post("case", {"subject": "Data centre on fire", "priority": "P1"}).get_json()
    for lead in ("lena@test.dev", "lars@test.dev"):
        [notice] = _notifications(ws, lead)
        assert (notice["title"], notice["body"], notice["level"]) == (
            "P1 case: Data centre on fire",
            "Someone has to look at it now.",
            "alert",
        )
        assert notice["related_id"] == case["id"]
    assert _notifications(ws, "gone@test.dev") == []  # inactive
    assert _notifications(ws, "rep@test.dev") == []  # not a support lead
    rep.post("case", {"subject": "Slow mouse", "priority": "P4"})
    assert len(_notifications(ws, "lena@test.dev")) == 1  # the rule's condition holds only for P1


def test_a_path_through_a_link_finds_the_owner_of_the_client(ws: Workspace, rep: Api) -> None:
    client = rep.post("client", {"name": "Acme"}).get_json()  # the rep owns it
    case = rep.post("case", {"subject": "Invoice question", "client": client["id"]}).get_json()
    rep.patch(f"case/{case['id']}", {"status": "closed"})
    [notice] = _notifications(ws, "rep@test.dev")
    assert (notice["title"], notice["level"]) == ("Closed: Invoice question", "info")


def test_my_notifications_with_the_unread_count_and_marking_them_read(ws: Workspace, app: Any) -> None:
    lena = sign_in(app.test_client(), "lena@test.dev")
    rep = sign_in(app.test_client(), "rep@test.dev")
    for minutes, subject in enumerate(("One", "Two", "Three")):
        ws.records.clock = lambda minutes=minutes: T0 + dt.timedelta(minutes=minutes)
        rep.post("case", {"subject": subject, "priority": "P1"})
    mine = lena.get("me/notifications").get_json()
    assert [n["title"] for n in mine["data"]] == ["P1 case: Three", "P1 case: Two", "P1 case: One"]
    assert mine["unread"] == 3
    assert rep.get("me/notifications").get_json() == {"data": [], "unread": 0}  # only one's own

    answer = lena.post("me/notifications/read", {"ids": [mine["data"][0]["id"]]})
    assert answer.status_code == 200 and answer.get_json() == {"unread": 2}
    unread = lena.get("me/notifications?unread=true").get_json()
    assert [n["title"] for n in unread["data"]] == ["P1 case: Two", "P1 case: One"]
    # another user's notification cannot be marked (it does not exist for them)
    assert rep.post("me/notifications/read", {"ids": [unread["data"][0]["id"]]}).status_code == 404
    assert lena.post("me/notifications/read", {"all": True}).get_json() == {"unread": 0}
    assert lena.get("me/notifications").get_json()["unread"] == 0
    assert len(lena.get("me/notifications").get_json()["data"]) == 3
    assert lena.post("me/notifications/read", {"ids": "x"}).status_code == 400
    assert lena.get("me/notifications?unread=maybe").status_code == 400


# --- e-mail ---------------------------------------------------------------------------


def test_an_email_row_is_written_once_per_change_even_when_the_rule_runs_again(ws: Workspace, rep: Api) -> None:
    tom = _user_id(ws, "tom@test.dev")
    case = rep.post("case", {"subject": "Laptop", "assignee": tom}).get_json()
    [row] = _outbox(ws, "email")
    assert row.payload["to"] == "tom@test.dev"
    assert row.payload["template"] == "case_assigned"
    assert row.payload["record"]["subject"] == "Laptop"  # the record as it was at the event
    assert (row.entity, row.record_id) == ("case", case["id"])

    # the same change seen again (a retried rule): no second e-mail
    with write_transaction(ws.db) as conn:
        snap = ws.snapshot()
        run = ws.records._run(conn, snap, SYSTEM, T0)
        record = run.fetch("case", case["id"])
        entity = snap.catalog.entities["case"]
        run.emit(Event("create", entity, case["id"], record, None, SYSTEM, frozenset({"assignee", "subject"})))
    assert len(_outbox(ws, "email")) == 1
    # a new change is a new e-mail
    rep.patch(f"case/{case['id']}", {"assignee": None})
    rep.patch(f"case/{case['id']}", {"assignee": tom})
    assert len(_outbox(ws, "email")) == 2


def test_emails_are_rendered_from_the_template_and_sent_over_smtp(
    ws: Workspace, rep: Api, mailbox: tuple[Mailbox, int]
) -> None:
    box = mailbox[0]
    tom = _user_id(ws, "tom@test.dev")
    case = rep.post("case", {"subject": "Screen <flickers>", "priority": "P2", "assignee": tom}).get_json()
    rep.patch(f"case/{case['id']}", {"subject": "Renamed later"})  # the e-mail shows the state at the event
    assert dispatch_due(ws, T0) == 1
    [message] = box.messages
    assert box.recipients == [["tom@test.dev"]]
    assert message["From"] == "crm@test.dev"
    assert message["Subject"] == f"{case['number']} is yours: Screen <flickers>"
    text = message.get_body(("plain",)).get_content()
    assert "Hello Tom Tech," in text and "Priority: P2." in text and "Screen <flickers>" in text
    html = message.get_body(("html",)).get_content()
    assert "Screen &lt;flickers&gt;" in html  # HTML templates escape values
    [row] = _outbox(ws, "email")
    assert row.state == "sent"
    assert message["Message-ID"] == f"<{row.id}@tessera>"


def test_an_email_without_a_template_uses_the_title_and_body(
    ws: Workspace, rep: Api, mailbox: tuple[Mailbox, int]
) -> None:
    rep.post("case", {"subject": "Core switch down", "priority": "P1"})
    rows = _outbox(ws, "email")
    assert sorted(r.payload["to"] for r in rows) == ["lars@test.dev", "lena@test.dev", "oncall@example.com"]
    assert dispatch_due(ws, T0) == 3
    subjects = {m["To"]: (m["Subject"], m.get_content().strip()) for m in mailbox[0].messages}
    assert subjects["oncall@example.com"] == ("P1 case: Core switch down", "Someone has to look at it now.")


def test_an_unreachable_mail_server_is_retried(
    auto_workspace: Any,
) -> None:
    ws = auto_workspace("auto_notify", smtp_host="127.0.0.1", smtp_port=_free_port())
    ws.records.clock = lambda: T0
    api = sign_in(create_app(ws.config, ws).test_client(), "rep@test.dev")
    api.post("case", {"subject": "A", "priority": "P1"})
    dispatch_due(ws, T0)
    assert {r.state for r in _outbox(ws, "email")} == {"pending"}  # retried later
    assert "could not send e-mail" in _outbox(ws, "email")[0].last_error


# e-mail without a configured server goes to the log: tests/automation/test_delivery_console.py


def test_an_invitation_is_sent_with_the_engines_default_template(
    ws: Workspace, app: Any, mailbox: tuple[Mailbox, int]
) -> None:
    admin = sign_in(app.test_client(), "admin@test.dev")
    response = admin.post("auth/invitations", {"email": "newbie@test.dev", "roles": ["sales_rep"]})
    assert response.status_code == 201
    assert dispatch_due(ws) == 1
    [message] = mailbox[0].messages
    assert message["To"] == "newbie@test.dev"
    assert message["Subject"] == "You are invited to Tessera"
    text = message.get_content()
    assert "Choose your password with this link:" in text
    assert "/invite/" in text


# --- SMS ------------------------------------------------------------------------------


def test_sms_go_to_the_users_phone_and_literal_numbers_through_the_gateway(
    ws: Workspace, rep: Api, gateway: Gateway
) -> None:
    tom = _user_id(ws, "tom@test.dev")
    case = rep.post("case", {"subject": "Waiting for a part", "assignee": tom}).get_json()
    rep.patch(f"case/{case['id']}", {"status": "waiting"})
    assert sorted(r.payload["to"] for r in _outbox(ws, "sms")) == ["+49 151 2222", "+49 30 1234567"]
    dispatch_due(ws, T0)
    assert sorted(gateway.received, key=lambda r: r[1]["to"]) == [
        (
            "Bearer gateway-token",
            {"to": "+49 151 2222", "text": f"{case['number']} waits for the customer: Waiting for a part"},
        ),
        (
            "Bearer gateway-token",
            {"to": "+49 30 1234567", "text": f"{case['number']} waits for the customer: Waiting for a part"},
        ),
    ]
    assert {r.state for r in _outbox(ws, "sms")} == {"sent"}


# --- definitions ----------------------------------------------------------------------


def _check(tmp_path: Path, rules: str, entities: str = "") -> str:
    """The problems of a pack ``broken`` (depending on autokit) holding ``rules``."""
    pack = tmp_path / "packs" / "broken"
    (pack / "rules").mkdir(parents=True)
    (pack / "pack.yaml").write_text("name: broken\nversion: 1.0.0\ndepends: [autokit]\n")
    (pack / "rules" / "r.yaml").write_text(rules)
    config = make_config(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, ("autokit", "broken"))
    config = config.with_overrides(extra_pack_paths=(*config.extra_pack_paths, tmp_path / "packs"))
    with pytest.raises(MetadataError) as caught:
        Workspace(config)
    return "\n".join(e.message for e in caught.value.errors)


def test_bad_notify_definitions_are_reported_where_they_are(tmp_path: Path) -> None:
    problems = _check(
        tmp_path,
        """rules:
  - name: bad
    entity: case
    on: create
    do:
      - notify: {to: '=client', title: x}
      - notify: {to: someone, title: x}
      - notify: {to: '=assignee', template: no_such_template}
      - notify: {to: '=assignee', channel: fax, title: x}
      - notify: {to: '=assignee', title: x, level: shouting}
      - notify: {to: '=assignee', channel: email}
""",
    )
    assert "r.yaml:6:" in problems and "a recipient must be a user" in problems and "link to client" in problems
    assert "r.yaml:7:" in problems and "'someone' is neither an e-mail address nor a phone number" in problems
    assert "no template 'no_such_template' in any pack's templates/ folder" in problems
    assert "unknown channel 'fax'; use in_app, email, sms" in problems
    assert "level must be one of info, success, warning, alert" in problems
    assert "notify needs a title (or a template with NAME.subject.txt)" in problems


def test_in_app_notify_needs_the_notification_entity(tmp_path: Path) -> None:
    pack = tmp_path / "packs" / "lonely"
    (pack / "entities").mkdir(parents=True)
    (pack / "rules").mkdir()
    (pack / "pack.yaml").write_text("name: lonely\nversion: 1.0.0\n")
    (pack / "entities" / "thing.yaml").write_text("entity: thing\nfields:\n  name: {type: string}\n")
    (pack / "rules" / "r.yaml").write_text(
        "rules:\n  - {name: tell, entity: thing, on: create, do: [{notify: {to: '=owner', title: New}}]}\n"
    )
    config = make_config(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, ("lonely",))
    config = config.with_overrides(extra_pack_paths=(tmp_path / "packs",))
    with pytest.raises(MetadataError) as caught:
        Workspace(config)
    [error] = caught.value.errors
    assert "r.yaml:2:" in error.message
    assert "in-app notifications are records of the entity 'notification'" in error.message
    # e-mail needs no notification entity
    rule = "{name: tell, entity: thing, on: create, do: [{notify: {to: '=owner', title: New, channel: email}}]}"
    (pack / "rules" / "r.yaml").write_text(f"rules:\n  - {rule}\n")
    Workspace(config).close()


def test_a_template_syntax_error_is_reported_with_its_file_and_line(tmp_path: Path) -> None:
    pack = tmp_path / "packs" / "broken"
    (pack / "templates").mkdir(parents=True)
    (pack / "templates" / "oops.email.txt").write_text("Hello\n{{ record.subject \n")
    rule = "{name: t, entity: case, on: create, do: [{notify: {to: '=assignee', title: x, template: oops}}]}"
    problems = _check(tmp_path, f"rules:\n  - {rule}\n")
    assert f"{pack / 'templates' / 'oops.email.txt'}:2:1: template error:" in problems


def test_the_smtp_url_configures_the_mail_server(tmp_path: Path) -> None:
    from engine.config import load_config
    from engine.errors import TesseraError

    env = {"TESSERA_SMTP_URL": "smtp+starttls://mailer:p%40ss@mail.example.com", "TESSERA_SMTP_FROM": "crm@x.dev"}
    config = load_config(env, tmp_path / "none.toml")
    assert (config.smtp_host, config.smtp_port, config.smtp_user, config.smtp_password) == (
        "mail.example.com",
        587,
        "mailer",
        "p@ss",
    )
    assert (config.smtp_starttls, config.smtp_ssl, config.smtp_from) == (True, False, "crm@x.dev")
    assert load_config({"TESSERA_SMTP_URL": "smtps://mail.example.com"}, tmp_path / "none.toml").smtp_port == 465
    with pytest.raises(TesseraError, match="TESSERA_SMTP_URL must look like") as caught:
        load_config({"TESSERA_SMTP_URL": "http://user:secret@mail.example.com"}, tmp_path / "none.toml")
    assert "secret" not in str(caught.value)
