"""E-mail and SMS without a gateway: written to the application log instead of being sent.

With ``TESSERA_SMTP_URL`` / ``TESSERA_SMS_URL`` unset (the embedded demo) or set to ``log:``,
each message is written to the ``tessera.messages`` log and its outbox row counts as
delivered, the attempt carrying a note that says so: nothing fails, nothing is retried.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pytest

from engine.actor import SYSTEM
from engine.app import create_app
from engine.automation.outbox import dispatch_due
from engine.config import load_config
from engine.errors import TesseraError
from engine.security.users import create_user
from engine.workspace import Workspace
from tests.conftest import PASSWORD, Api, sign_in

T0 = dt.datetime(2030, 1, 7, 9, 0, tzinfo=dt.UTC)
EMAIL_NOTE = "written to the log, not sent: no SMTP server is configured (TESSERA_SMTP_URL)"
SMS_NOTE = "written to the log, not sent: no SMS gateway is configured (TESSERA_SMS_URL)"


@pytest.fixture
def ws(auto_workspace: Any) -> Workspace:
    workspace: Workspace = auto_workspace("auto_notify")  # no SMTP server, no SMS gateway
    workspace.records.clock = lambda: T0
    create_user(workspace, "tom@test.dev", "Tom Tech", PASSWORD, ["sales_rep"], mobile="+49 151 2222")
    return workspace


@pytest.fixture
def app(ws: Workspace) -> Any:
    return create_app(ws.config, ws)


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tessera.messages"]


def test_e_mail_and_sms_go_to_the_log_and_count_as_delivered(
    ws: Workspace, app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    admin, rep = sign_in(app.test_client(), "admin@test.dev"), sign_in(app.test_client(), "rep@test.dev")
    tom = ws.records.list(SYSTEM, "user", {"email": "tom@test.dev"}).data[0]["id"]
    case = rep.post("case", {"subject": "Laptop", "assignee": tom}).get_json()  # an e-mail to tom
    rep.patch(f"case/{case['id']}", {"status": "waiting"})  # SMS to tom's mobile and the duty phone

    with caplog.at_level(logging.INFO, logger="tessera.messages"):
        assert dispatch_due(ws, T0) == 3

    [mail] = [m for m in logged(caplog) if m.startswith("e-mail ")]
    assert EMAIL_NOTE in mail
    assert f"To: tom@test.dev\nSubject: {case['number']} is yours: Laptop\n\nHello Tom Tech," in mail
    texts = [m for m in logged(caplog) if m.startswith("SMS ")]
    assert all(SMS_NOTE in t.split("\n", 1)[0] for t in texts)
    assert sorted(t.split("\n", 1)[1] for t in texts) == [
        f"To: +49 151 2222\n\n{case['number']} waits for the customer: Laptop",
        f"To: +49 30 1234567\n\n{case['number']} waits for the customer: Laptop",
    ]
    jobs = admin.get("admin/jobs").get_json()["data"]
    assert sorted((j["channel"], j["state"], j["last_error"]) for j in jobs) == [
        ("email", "sent", None),
        ("sms", "sent", None),
        ("sms", "sent", None),
    ]
    for job in jobs:
        [attempt] = admin.get(f"admin/jobs/{job['id']}/deliveries").get_json()["data"]
        assert (attempt["ok"], attempt["error"]) == (True, None)
        assert attempt["note"] == (EMAIL_NOTE if job["channel"] == "email" else SMS_NOTE)
    assert dispatch_due(ws, T0 + dt.timedelta(days=1)) == 0  # nothing left to retry


def test_an_invitation_shows_its_link_in_the_log(ws: Workspace, app: Any, caplog: pytest.LogCaptureFixture) -> None:
    admin: Api = sign_in(app.test_client(), "admin@test.dev")
    assert admin.post("auth/invitations", {"email": "newbie@test.dev", "roles": ["sales_rep"]}).status_code == 201
    with caplog.at_level(logging.INFO, logger="tessera.messages"):
        assert dispatch_due(ws) == 1
    [mail] = logged(caplog)
    assert "To: newbie@test.dev\nSubject: You are invited to Tessera" in mail
    assert "/invite/" in mail  # the demo's admin can follow the link from the terminal
    [job] = admin.get("admin/jobs?channel=email").get_json()["data"]
    assert job["state"] == "sent"


def test_log_colon_is_the_explicit_setting_and_wins_over_tessera_toml(tmp_path: Path) -> None:
    toml = tmp_path / "tessera.toml"
    toml.write_text('[tessera]\nsmtp_url = "smtp://mail.example.com"\nsms_url = "https://sms.example.com/send"\n')
    configured = load_config({}, toml)
    assert (configured.smtp_host, configured.sms_url) == ("mail.example.com", "https://sms.example.com/send")
    logged_only = load_config({"TESSERA_SMTP_URL": "log:", "TESSERA_SMS_URL": "log:"}, toml)
    assert (logged_only.smtp_host, logged_only.sms_url) == (None, None)
    unset = load_config({}, tmp_path / "none.toml")
    assert (unset.smtp_host, unset.sms_url) == (None, None)


def test_a_gateway_url_that_is_neither_http_nor_log_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TesseraError) as caught:
        load_config({"TESSERA_SMS_URL": "sms.example.com/send?token=s3cret"}, tmp_path / "none.toml")
    assert str(caught.value) == (
        "TESSERA_SMS_URL must be the gateway's http:// or https:// URL, or log: to write SMS to the log"
    )
    with pytest.raises(TesseraError, match="or be log: to write e-mail to the log"):
        load_config({"TESSERA_SMTP_URL": "logfile"}, tmp_path / "none.toml")
