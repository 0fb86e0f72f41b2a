"""The administration area through a signed-in browser session: only admins get in; users,
grants, custom fields, automation documents (checked before they are stored, a rule's
condition previewed on the records it matches), the job queue and the audit search.
On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pyotp
import pytest

from engine.actor import SYSTEM
from engine.automation.jobs import InProcessRunner
from engine.storage.database import write_transaction
from tests.sales.rest import account, ok
from tests.ui.pages import html


@pytest.fixture
def admin_area(sales_workspace: Any, api_client: Any, ui_client: Any) -> dict[str, Any]:
    ws = sales_workspace("deals")
    return {"ws": ws, "api": api_client(ws, "admin"), "ui": lambda role: ui_client(ws, role)}


def post(client: Any, path: str, status: int = 302, **form: Any) -> str:
    return html(client.post(path, data={"csrf_token": client.csrf, **form}), status)


def test_only_admins_reach_the_administration_pages(admin_area):
    rep = admin_area["ui"]("sales_rep")
    for path in ("/admin", "/admin/users", "/admin/permissions", "/admin/entities", "/admin/documents",
                 "/admin/documents/rule/new", "/admin/jobs", "/admin/audit"):  # fmt: skip
        assert "You may not do this." in html(rep.get(path), 403), path
    assert rep.post("/admin/entities/fields", data={"csrf_token": rep.csrf, "entity": "account"}).status_code == 403
    admin = admin_area["ui"]("admin")
    for path in ("/admin", "/admin/users", "/admin/permissions?entity=account", "/admin/entities",
                 "/admin/documents?kind=workflow", "/admin/jobs", "/admin/audit?entity=account"):  # fmt: skip
        html(admin.get(path))
    assert admin.post("/admin/entities/fields", data={"entity": "account"}).status_code == 403  # no form token
    assert "/app/crm_setting/" in html(admin.get("/admin"))  # the settings record's page


def user_row(page: str, email: str) -> str:
    """The row of the users page that shows ``email``."""
    found = re.search(rf'<tr data-user="{re.escape(email)}".*?</tr>', page, re.DOTALL)
    assert found is not None, email
    return found.group(0)


def test_admins_reset_a_lost_second_factor_from_the_users_page(admin_area, api_client):
    ws, api = admin_area["ws"], admin_area["api"]
    rep = api_client(ws, "sales_rep")
    secret = ok(rep.post("/api/v1/auth/totp"))["secret"]
    ok(rep.post("/api/v1/auth/totp/confirm", json={"code": pyotp.TOTP(secret).now()}), 204)
    rep_id = ok(api.get("/api/v1/user?email=sales_rep@test.dev"))["data"][0]["id"]
    reset = f"/admin/users/{rep_id}/totp-reset"

    admin = admin_area["ui"]("admin")
    page = html(admin.get("/admin/users"))
    assert 'data-second-factor="on"' in user_row(page, "sales_rep@test.dev") and reset in page
    assert page.count("Reset second factor</button>") == 1  # only the one user whose factor is on
    assert 'data-second-factor="off"' in user_row(page, "admin@test.dev")
    assert admin_area["ui"]("sales_manager").post(reset, data={"csrf_token": "x"}).status_code == 403

    post(admin, reset)
    page = html(admin.get("/admin/users"))
    assert "Sales Rep: second factor off; they sign in with their password" in page
    assert 'data-second-factor="off"' in user_row(page, "sales_rep@test.dev")
    assert "Reset second factor</button>" not in page
    api_client(ws, "sales_rep")  # signs in with the password alone
    post(admin, reset)
    assert "Second factor not reset: sales_rep@test.dev has no second factor to reset" in html(
        admin.get("/admin/users")
    )


def test_a_packs_rule_opens_in_the_editor_as_its_pack_file_has_it(admin_area):
    admin = admin_area["ui"]("admin")
    listed = html(admin.get("/admin/documents?kind=rule"))
    assert 'data-document="opportunity_created_stage"' in listed
    page = html(admin.get("/admin/documents/rule/opportunity_created_stage"))
    assert "from <strong>deals</strong>" in page
    assert "entity: opportunity\non:\n- create\n" in page


def test_a_custom_field_is_checked_then_added_and_the_api_shows_it(admin_area):
    admin, api = admin_area["ui"]("admin"), admin_area["api"]
    form = {"entity": "account", "name": "loyalty_level", "type": "enum", "options": "basic, plus, premium"}
    checked = post(admin, "/admin/entities/fields", 200, step="check", extra="default: basic", **form)
    assert "The check passed; nothing is stored yet." in checked and "loyalty_level" in checked
    fields = lambda: [f["name"] for f in ok(api.get("/api/v1/meta/entities/account"))["fields"]]  # noqa: E731
    assert "loyalty_level" not in fields()

    post(admin, "/admin/entities/fields", step="apply", extra="default: basic", **form)
    assert "loyalty_level" in fields()
    created = account(api, "Hanse Kontor")
    assert created["loyalty_level"] == "basic"

    broken = post(admin, "/admin/entities/fields", 422, step="check", entity="account", name="bad", type="link")
    assert "data-problems" in broken and "to" in broken
    assert "bad" not in fields()


def test_a_broken_rule_shows_the_checker_error_and_changes_nothing(admin_area):
    admin, api = admin_area["ui"]("admin"), admin_area["api"]
    before = ok(api.get("/api/v1/meta/documents/rule"))["data"]
    source = 'name: vip_city\nentity: account\non: [create]\nwhen: city == 42 and\ndo:\n  - set: {city: "Hamburg"}\n'
    for step in ("check", "save"):
        page = post(admin, "/admin/documents/rule", 422, step=step, document=source)
        assert "data-problems" in page and "when" in page
        assert "name: vip_city" in page  # the editor keeps what was typed
    assert ok(api.get("/api/v1/meta/documents/rule"))["data"] == before

    good = source.replace("city == 42 and", 'city == "Lübeck"')
    assert "The check passed" in post(admin, "/admin/documents/rule", 200, step="check", document=good)
    assert api.get("/api/v1/meta/documents/rule/vip_city").status_code == 404
    post(admin, "/admin/documents/rule", step="save", document=good)
    saved = ok(api.get("/api/v1/meta/documents/rule/vip_city"))
    assert (saved["source"], saved["enabled"]) == ("overlay", True)

    post(admin, "/admin/documents/rule/vip_city/enabled", enabled="false")
    assert ok(api.get("/api/v1/meta/documents/rule/vip_city"))["enabled"] is False
    assert "Switch on" in html(admin.get("/admin/documents?kind=rule"))
    post(admin, "/admin/documents/rule/vip_city/delete")
    assert api.get("/api/v1/meta/documents/rule/vip_city").status_code == 404


def test_a_rule_preview_lists_the_records_its_condition_matches(admin_area):
    admin, api = admin_area["ui"]("admin"), admin_area["api"]
    for name, city in (("Kontor Nord", "Kleinstadt-Nord"), ("Kontor Mitte", "Kleinstadt-Nord"), ("Elbe AG", "Hamburg")):
        account(api, name, city=city)
    rule = 'name: north\nentity: account\non: [update]\nwhen: city == "Kleinstadt-Nord"\ndo:\n  - set: {city: "Nord"}\n'
    page = post(admin, "/admin/documents/rule", 200, step="preview", document=rule)
    assert re.search(r"data-preview-total>2<", page)
    assert "Kontor Nord" in page and "Kontor Mitte" in page and "Elbe AG" not in page
    assert api.get("/api/v1/meta/documents/rule/north").status_code == 404  # a preview stores nothing

    post(admin, "/admin/documents/rule", step="save", document=rule)
    stored = html(admin.get("/admin/documents/rule/north?preview=1"))
    assert re.search(r"data-preview-total>2<", stored)
    wrong = post(admin, "/admin/documents/rule/north", 422, step="preview", document=rule.replace("city ==", "nope =="))
    assert "data-problems" in wrong and "nope" in wrong


def test_a_failed_job_is_retried_from_the_job_queue(admin_area):
    ws, admin = admin_area["ws"], admin_area["ui"]("admin")
    now = dt.datetime.now(dt.UTC)
    with write_transaction(ws.db) as conn:
        job_id = ws.records._run(conn, ws.snapshot(), SYSTEM, now).outbox("nowhere", {"message": "hello"})
    InProcessRunner(ws).tick(now + dt.timedelta(seconds=1))  # an unknown channel fails for good

    home = html(admin.get("/admin"))
    assert f'data-job="{job_id}"' in home and "unknown channel" in home
    assert re.search(r'data-metric="failed">[1-9]', home)
    post(admin, f"/admin/jobs/{job_id}/retry", next="/admin/jobs?state=pending")
    pending = html(admin.get("/admin/jobs?state=pending"))
    assert f'data-job="{job_id}"' in pending and f"Job {job_id}: queued again." in pending
    assert f'data-job="{job_id}"' not in html(admin.get("/admin/jobs?state=failed"))
    post(admin, f"/admin/jobs/{job_id}/discard")
    assert f'data-job="{job_id}"' in html(admin.get("/admin/jobs?state=discarded"))
    again = html(admin.get(post_and_follow(admin, f"/admin/jobs/{job_id}/retry")))
    assert "only failed jobs can be retried" in again


def post_and_follow(client: Any, path: str) -> str:
    reply = client.post(path, data={"csrf_token": client.csrf})
    assert reply.status_code == 302
    return str(reply.headers["Location"])


def test_admins_invite_disable_users_set_roles_and_grants(admin_area):
    admin, api = admin_area["ui"]("admin"), admin_area["api"]
    post(admin, "/admin/users/invite", email="new.hire@test.dev", full_name="New Hire", roles=["sales_rep"])
    page = html(admin.get("/admin/users"))
    assert "new.hire@test.dev is invited" in page
    [hire] = ok(api.get("/api/v1/user?email=new.hire@test.dev"))["data"]
    post(admin, f"/admin/users/{hire['id']}", change="roles", roles=["sales_manager", "presales"])
    post(admin, f"/admin/users/{hire['id']}", change="active", active="false")
    hire = ok(api.get(f"/api/v1/user/{hire['id']}"))
    assert hire["active"] is False and len(hire["roles"]) == 2

    grants = html(admin.get("/admin/permissions?entity=opportunity"))
    assert 'data-grant="sales_rep"' in grants and "from the pack" in grants
    post(admin, "/admin/permissions/opportunity", role="sales_rep", change="set", grant="read: all\ncreate: true\n")
    assert ok(api.get("/api/v1/meta/entities/opportunity"))  # still valid
    assert "changed here" in html(admin.get("/admin/permissions?entity=opportunity"))
    post(admin, "/admin/permissions/opportunity", role="sales_rep", change="set", grant="read: everything\n")
    assert "sales_rep: not saved" in html(admin.get("/admin/permissions?entity=opportunity"))
    post(admin, "/admin/permissions/opportunity", role="sales_rep", change="restore")
    assert "changed here" not in html(admin.get("/admin/permissions?entity=opportunity"))

    audit = html(admin.get("/admin/audit?entity=meta"))
    assert "set_permission" in audit and "remove_permission" in audit
    assert "must be an ISO 8601 datetime" in html(admin.get("/admin/audit?since=yesterday"))
