"""The calendar, the personal settings and the help pages in a real browser (headless
Chromium): the month shows the user's own activities and a training over its days, "Next"
goes to the next month, an entry opens its record; the profile saves name and time zone and
shows refusals next to the field, the password form changes the password, setting up the
second factor shows a QR code and refuses a wrong code; the help pages open the guides.
Each of these pages passes axe-core's WCAG 2.1 A/AA rules with no violation at all."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

import pyotp
import pytest

from engine.security.users import create_user
from tests.browser.conftest import screenshot
from tests.browser.test_admin_area import axe_violations, flashed
from tests.browser.test_staff_ui import api
from tests.conftest import PASSWORD
from tests.sales.rest import create, get
from ui.settings import DOCS, GUIDES

TODAY = dt.datetime.now(dt.UTC).date()
NEXT_MONTH = (TODAY.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def sign_in(browser: Any, served: dict[str, Any], email: str, password: str = PASSWORD, otp: str = "") -> Any:
    """A new browser context, signed in through the login form (the page after it)."""
    context = browser.new_context(base_url=served["url"], viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)  # a dry run of a metadata change checks all packs: slow on a busy CI machine
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    if otp:
        page.get_by_label(re.compile("One-time code")).fill(otp)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return page


def new_user(served: dict[str, Any], email: str, name: str) -> str:
    """A user of its own for tests that change the password or the second factor."""
    return str(create_user(served["ws"], email, name, PASSWORD, ["sales_rep"])["id"])


# --- accessibility of every page ------------------------------------------------------------
PAGES = [
    "/app/calendar",
    "/app/calendar?view=week",
    "/app/calendar?view=day",
    "/app/calendar?view=month&scope=team",
    "/app/profile",
    "/app/help",
    *[f"/app/help/{name}" for name in GUIDES if (DOCS / f"{name}.md").is_file()],
]


@pytest.mark.parametrize("path", PAGES)
def test_calendar_settings_and_help_pages_have_no_accessibility_violations(as_role: Any, path: str) -> None:
    page = as_role("sales_rep")
    reply = page.goto(path)
    assert reply is not None and reply.status == 200
    assert axe_violations(page) == []


# --- calendar --------------------------------------------------------------------------------
def test_the_month_shows_my_activities_and_next_leads_to_the_next_month(as_role: Any, served: dict[str, Any]) -> None:
    rep, manager = api(served, "sales_rep"), api(served, "sales_manager")
    call = create(rep, "activity", {"kind": "call", "subject": "Anruf Nordwind", "due_at": f"{TODAY}T12:00:00Z"})
    fair_day = NEXT_MONTH + dt.timedelta(days=14)
    fair = create(rep, "activity", {"kind": "meeting", "subject": "Messe Hannover", "due_at": f"{fair_day}T09:00:00Z"})
    create(manager, "activity", {"kind": "meeting", "subject": "Chef Termin", "due_at": f"{TODAY}T13:00:00Z"})

    page = as_role("sales_rep")
    page.get_by_role("link", name="Calendar").first.click()
    page.get_by_role("heading", name=TODAY.strftime("%B %Y")).wait_for()
    today = page.locator(f'td[data-date="{TODAY}"]')
    entry = today.get_by_role("link", name=re.compile("Anruf Nordwind"))
    assert entry.is_visible() and "12:00" in entry.inner_text()
    assert page.get_by_text("Chef Termin").count() == 0  # the manager's, not mine
    assert page.get_by_text("Messe Hannover").count() == 0  # next month's
    assert axe_violations(page) == []
    screenshot(page, "calendar-month")

    page.get_by_role("link", name="Next").click()
    page.get_by_role("heading", name=NEXT_MONTH.strftime("%B %Y")).wait_for()
    assert f"date={NEXT_MONTH}" in page.url
    assert page.locator(f'td[data-date="{TODAY}"]').get_by_text("Anruf Nordwind").count() == 0
    cell = page.locator(f'td[data-date="{fair_day}"]')
    cell.get_by_role("link", name=re.compile("Messe Hannover")).click()
    page.get_by_role("heading", name="Messe Hannover").wait_for()
    assert page.url.endswith(f"/app/activity/{fair['id']}")

    page.goto("/app/calendar?view=week")
    page.locator(f'section[data-date="{TODAY}"]').get_by_role("link", name=re.compile("Anruf Nordwind")).click()
    page.wait_for_url(re.compile(f"/app/activity/{call['id']}$"))


def test_a_training_over_three_days_is_on_each_of_them(as_role: Any, served: dict[str, Any]) -> None:
    lead = api(served, "support_lead")
    starts = NEXT_MONTH + dt.timedelta(days=9)
    training = create(
        lead,
        "training",
        {"title": "Firewall Bootcamp", "starts_on": str(starts), "ends_on": str(starts + dt.timedelta(days=2))},
    )
    page = as_role("support_lead")
    page.goto(f"/app/calendar?view=month&date={NEXT_MONTH}")
    shown = [
        str(starts + dt.timedelta(days=offset))
        for offset in range(-1, 4)
        if page.locator(f'td[data-date="{starts + dt.timedelta(days=offset)}"]')
        .get_by_text("Firewall Bootcamp")
        .count()
    ]
    assert shown == [str(starts + dt.timedelta(days=offset)) for offset in range(3)]
    assert axe_violations(page) == []
    page.locator(f'td[data-date="{starts}"]').get_by_role("link", name=re.compile("Firewall Bootcamp")).click()
    page.wait_for_url(re.compile(f"/app/training/{training['id']}$"))


# --- personal settings -------------------------------------------------------------------------
def test_the_profile_saves_name_and_time_zone_and_explains_a_refusal(browser: Any, served: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    user = new_user(served, "paula.profil@test.dev", "Paula Profil")
    page = sign_in(browser, served, "paula.profil@test.dev")
    page.goto("/app/profile")
    screenshot(page, "profile")
    page.get_by_label("Name", exact=True).fill("")
    page.get_by_role("button", name="Save settings").click()
    name = page.get_by_label("Name", exact=True)
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(name).to_have_accessible_description(re.compile(r"\w"))  # the message, read with the field
    assert page.locator("#full_name-error").is_visible()
    assert axe_violations(page) == []
    admin = api(served, "admin")
    assert get(admin, "user", user)["full_name"] == "Paula Profil"  # nothing saved

    page.get_by_label("Name", exact=True).fill("Paula Profil-Neu")
    page.get_by_label("Time zone").select_option("Europe/Berlin")
    page.get_by_label("Send me notifications by e-mail too").uncheck()
    page.get_by_role("button", name="Save settings").click()
    flashed(page, "Your settings were saved.")
    assert page.get_by_label("Name", exact=True).input_value() == "Paula Profil-Neu"
    assert page.get_by_label("Time zone").input_value() == "Europe/Berlin"
    stored = get(admin, "user", user)
    assert (stored["full_name"], stored["timezone"], stored["notify_email"]) == (
        "Paula Profil-Neu",
        "Europe/Berlin",
        False,
    )
    page.goto("/app/calendar")
    assert page.get_by_text("Times in Europe/Berlin.").is_visible()  # the calendar uses the new zone
    page.context.close()


def test_the_password_form_refuses_mistakes_then_changes_the_password(browser: Any, served: dict[str, Any]) -> None:
    new_user(served, "pia.passwort@test.dev", "Pia Passwort")
    page = sign_in(browser, served, "pia.passwort@test.dev")
    page.goto("/app/profile")
    new = "Ein-neues-Passwort-2026!"

    def change(current: str, password: str, repeat: str) -> None:
        page.get_by_label("Current password").fill(current)
        page.get_by_label("New password", exact=True).fill(password)
        page.get_by_label("Repeat the new password").fill(repeat)
        page.get_by_role("button", name="Change password").click()

    change(PASSWORD, new, new + "x")
    page.get_by_role("alert").filter(has_text="The two new passwords differ.").wait_for()
    change("not-my-password", new, new)
    alert = page.get_by_role("alert").first
    alert.wait_for()
    assert "passwords differ" not in alert.inner_text()
    assert axe_violations(page) == []
    change(PASSWORD, new, new)
    flashed(page, "Your password was changed.")
    page.context.close()

    assert "/login" in sign_in(browser, served, "pia.passwort@test.dev").url  # the old one no longer works
    fresh = sign_in(browser, served, "pia.passwort@test.dev", new)
    assert "/login" not in fresh.url
    fresh.context.close()


def wrong_code(secret: str) -> str:
    """A six-digit code the authenticator would not show in the accepted window."""
    now = time.time()
    valid = {pyotp.TOTP(secret).at(now + shift) for shift in (-60, -30, 0, 30, 60)}
    return next(code for code in ("000000", "111111", "222222", "333333", "444444", "555555") if code not in valid)


def test_two_step_sign_in_shows_a_qr_code_and_refuses_a_wrong_code(browser: Any, served: dict[str, Any]) -> None:
    new_user(served, "tom.totp@test.dev", "Tom Totp")
    page = sign_in(browser, served, "tom.totp@test.dev")
    page.goto("/app/profile")
    page.get_by_role("button", name="Set up two-step sign-in").click()
    qr = page.get_by_role("img", name="QR code for your authenticator app")
    qr.wait_for()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")  # the image loads (CSP allows it)
    secret = page.locator("[data-totp-secret]").inner_text()
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret)
    assert axe_violations(page) == []
    screenshot(page, "profile-totp-setup")

    page.get_by_label("Code from the app").fill(wrong_code(secret))
    page.get_by_role("button", name="Confirm and turn on").click()
    page.get_by_role("alert").filter(has_text="Wrong or expired code.").wait_for()
    assert axe_violations(page) == []
    page.goto("/app/profile")
    assert page.get_by_role("button", name="Set up two-step sign-in").is_visible()  # still off
    other = sign_in(browser, served, "tom.totp@test.dev")  # and signing in needs no code
    assert "/login" not in other.url
    other.context.close()

    page.get_by_role("button", name="Set up two-step sign-in").click()
    secret = page.locator("[data-totp-secret]").inner_text()
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm and turn on").click()
    flashed(page, "Two-step sign-in is on")
    page.context.close()
    assert "/login" in sign_in(browser, served, "tom.totp@test.dev").url  # a code is needed now
    signed = sign_in(browser, served, "tom.totp@test.dev", otp=pyotp.TOTP(secret).now())
    assert "/login" not in signed.url
    signed.context.close()


# --- help --------------------------------------------------------------------------------------
def test_help_opens_the_guides_and_links_between_them(as_role: Any) -> None:
    page = as_role("sales_rep")
    page.goto("/app/profile")
    page.get_by_role("link", name="Conditions and formulas (the DSL)").click()
    page.wait_for_url(re.compile("/app/help/dsl$"))
    crumbs = page.get_by_role("navigation", name="breadcrumb")
    assert crumbs.locator("[aria-current=page]").inner_text() == "Conditions and formulas (the DSL)"
    assert page.locator("article.help-guide h1").count() == 1
    screenshot(page, "help-guide")
    crumbs.get_by_role("link", name="Help").click()
    page.get_by_role("heading", level=1, name="Help").wait_for()
    listed = page.locator("main ul li a").all_inner_texts()
    assert listed == [title for name, title in GUIDES.items() if (DOCS / f"{name}.md").is_file()]
    page.get_by_role("link", name="Rules, workflows and notifications").click()
    page.wait_for_url(re.compile("/app/help/automation$"))
    # code examples wider than the column scroll, and the keyboard reaches them to scroll
    wide = page.locator("article.help-guide pre").evaluate_all(
        "pres => pres.filter(p => p.scrollWidth > p.clientWidth).map(p => p.tabIndex)"
    )
    assert wide and all(index == 0 for index in wide)
    to_guide = page.locator('article.help-guide a[href^="/app/help/"]').first
    target = (to_guide.get_attribute("href") or "").split("#")[0]
    to_guide.click()
    page.wait_for_url(re.compile(re.escape(target) + "(#.*)?$"))
    assert page.locator("article.help-guide h1").count() == 1
    missing = page.goto("/app/help/nonexistent")
    assert missing is not None and missing.status == 404
