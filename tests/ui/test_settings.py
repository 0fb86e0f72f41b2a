"""Personal settings on /app/profile: language (labels and right-to-left layout), time zone,
the second factor, the password form, and the in-app help. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest

import ui.settings  # noqa: F401 - registers the pages (ui.shell imports it in the app)
from engine.actor import SYSTEM
from engine.errors import PermissionDenied, ValidationError
from engine.security.users import own_profile, update_own_profile
from tests.conftest import PASSWORD
from tests.ui.pages import html


@pytest.fixture
def shop(sales_workspace: Any, ui_client: Any) -> dict[str, Any]:
    ws = sales_workspace("core")
    return {"ws": ws, "ui": lambda role: ui_client(ws, role)}


def save(client: Any, **fields: str) -> Any:
    return client.post("/app/profile/settings", data={"csrf_token": client.csrf, **fields})


def test_changing_the_language_changes_the_labels_and_the_layout_direction(shop):
    client = shop["ui"]("sales_rep")
    page = html(client.get("/app/profile"))
    assert '<option value="de">Deutsch (de)</option>' in page  # the packs translate into German
    assert ">Activities<" in html(client.get("/"))
    assert save(client, full_name="Rex Rep", locale="de", timezone="Europe/Berlin").status_code == 302
    profile = html(client.get("/app/profile"))
    assert "Your settings were saved." in profile
    assert '<option value="de" selected>' in profile and "<option selected>Europe/Berlin</option>" in profile
    german = html(client.get("/"))
    assert ">Aktivitäten<" in german and ">Activities<" not in german
    assert '<html lang="de" dir="ltr"' in german
    assert save(client, locale="ar", timezone="Asia/Dubai").status_code == 302
    assert '<html lang="ar" dir="rtl"' in html(client.get("/"))  # right to left for Arabic


def test_bad_settings_are_shown_next_to_the_fields_and_nothing_is_saved(shop):
    client = shop["ui"]("sales_rep")
    page = html(save(client, locale="xx_not a tag", timezone="Mars/Olympus"), 422)
    assert "A language tag such as en, de or pt-BR." in page
    assert "An IANA time zone such as Europe/Berlin." in page
    assert '<html lang="en"' in html(client.get("/"))
    forged = client.post("/app/profile/settings", data={"csrf_token": "forged", "locale": "de"})
    assert forged.status_code == 403
    assert '<html lang="en"' in html(client.get("/"))


def test_users_may_change_only_their_own_profile_fields(shop):
    ws = shop["ws"]
    token, _ = ws.auth.issue_token("sales_rep@test.dev", PASSWORD)
    rep = ws.auth.resolve(token)
    for field, value in (("email", "boss@test.dev"), ("roles", ["admin"]), ("active", False), ("manager", None)):
        with pytest.raises(ValidationError) as refused:
            update_own_profile(ws, rep, {field: value})
        assert refused.value.errors[0].field == field
    update_own_profile(ws, rep, {"timezone": "America/New_York"})
    assert own_profile(ws, rep)["timezone"] == "America/New_York"
    assert own_profile(ws, rep)["email"] == "sales_rep@test.dev"
    trail = ws.records.history(SYSTEM, "user", rep.user_id, {"limit": "100"}).data
    change = next(e for e in trail if "timezone" in (e["changes"] or {}))
    assert change["actor"] == rep.user_id  # the audit names the user, not the system
    impersonated = type(rep)(rep.user_id, rep.roles, "x", impersonator="someone")
    with pytest.raises(PermissionDenied):
        update_own_profile(ws, impersonated, {"locale": "de"})


def test_two_step_sign_in_is_set_up_on_the_profile_and_then_asked_for(shop):
    client = shop["ui"]("sales_rep")
    assert "Set up two-step sign-in" in html(client.get("/app/profile"))
    setup = html(client.post("/app/profile/totp", data={"csrf_token": client.csrf}))
    secret = re.search(r"<code[^>]*data-totp-secret>([A-Z2-7]+)</code>", setup).group(1)
    assert "otpauth://totp/Tessera:sales_rep%40test.dev?secret=" + secret in setup
    assert '<img src="data:image/svg+xml' in setup  # the QR code, as an image (no inline SVG)
    wrong = html(client.post("/app/profile/totp/confirm", data={"csrf_token": client.csrf, "code": "000000"}), 422)
    assert "Wrong or expired code." in wrong and "Confirm and turn on" in wrong
    code = pyotp.TOTP(secret).now()
    confirmed = client.post("/app/profile/totp/confirm", data={"csrf_token": client.csrf, "code": code})
    assert confirmed.status_code == 302
    profile = html(client.get("/app/profile"))
    assert "Two-step sign-in is on" in profile
    assert "If you lose the app, an administrator can switch the second factor off for you." in profile
    # signing in now needs the code as well
    from engine.app import create_app

    fresh = create_app(shop["ws"].config, shop["ws"]).test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', fresh.get("/login").get_data(as_text=True)).group(1)
    login = {"email": "sales_rep@test.dev", "password": PASSWORD, "csrf_token": token}
    assert fresh.post("/login", data=login).status_code == 401
    assert fresh.post("/login", data={**login, "otp": pyotp.TOTP(secret).now()}).status_code == 302


def test_the_password_form_still_changes_the_password(shop):
    client = shop["ui"]("sales_rep")
    differ = {"current_password": PASSWORD, "new_password": "New-password-22", "repeat_password": "Other-pass-22"}
    page = html(client.post("/app/profile/password", data={"csrf_token": client.csrf, **differ}), 422)
    assert "The two new passwords differ." in page and "Personal settings" in page
    same = {**differ, "repeat_password": "New-password-22"}
    assert client.post("/app/profile/password", data={"csrf_token": client.csrf, **same}).status_code == 302
    shop["ws"].auth.verify_password("sales_rep@test.dev", "New-password-22")


def test_help_links_to_the_guides(shop):
    client = shop["ui"]("sales_rep")
    profile = html(client.get("/app/profile"))
    assert 'href="/app/help/ui"' in profile
    guide = html(client.get("/app/help/ui"))
    assert "<h1>" in guide and "<script>alert" not in guide
    index = html(client.get("/app/help"))
    for name in re.findall(r'href="/app/help/(\w+)"', index):
        page = html(client.get(f"/app/help/{name}"))
        assert "style=" not in page  # table alignment as classes: the CSP allows no inline styles
        assert 'href="dsl.md' not in page  # links between guides stay inside the help
    html(client.get("/app/help/secrets"), 404)


def test_notification_emails_can_be_turned_off_on_the_profile(shop):
    client = shop["ui"]("sales_rep")
    page = html(client.get("/app/profile"))
    assert 'id="notify_email" name="notify_email" checked' in page  # on by default
    assert save(client, locale="en", timezone="UTC", notify_form="1").status_code == 302  # box unticked
    page = html(client.get("/app/profile"))
    assert 'id="notify_email" name="notify_email">' in page
    ws = shop["ws"]
    token, _ = ws.auth.issue_token("sales_rep@test.dev", PASSWORD)
    assert own_profile(ws, ws.auth.resolve(token))["notify_email"] is False
    assert save(client, notify_form="1", notify_email="on").status_code == 302
    assert 'id="notify_email" name="notify_email" checked' in html(client.get("/app/profile"))
