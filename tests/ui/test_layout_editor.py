"""The form layout editor of the admin area (``/admin/layouts/ENTITY``, ui/layout_editor.py),
driven through its plain form (what the page posts with or without JavaScript), on SQLite and
PostgreSQL: the default grouping shown, a dry run before every save, the saved layout in force
on the forms, translated section names kept, errors shown with nothing stored, the way back
to the pack's layout, and admins only."""

from __future__ import annotations

import html as entities
import re
from typing import Any

import pytest

from tests.sales.rest import ok
from tests.ui.pages import html


@pytest.fixture
def shop(sales_workspace: Any, api_client: Any, ui_client: Any) -> dict[str, Any]:
    ws = sales_workspace("quotes")
    return {
        "ws": ws,
        "api": api_client(ws, "admin"),
        "admin": ui_client(ws, "admin"),
        "rep": ui_client(ws, "sales_rep"),
    }


def cards(page: str) -> dict[str, str]:
    """``{field: section key}`` as the editor draws the field cards."""
    found = re.findall(r'name="field-([a-z0-9_]+)-section"[^>]*>(.*?)</select>', page, re.S)
    return {name: re.search(r'<option value="(\d+)" selected', options).group(1) for name, options in found}


def section_names(page: str) -> dict[str, str]:
    return dict(re.findall(r'name="section-(\d+)-label" value="([^"]*)"', page))


def arrangement(csrf: str, step: str, sections: list[tuple[str, list[str]]], **extra: str) -> dict[str, str]:
    """The form of an editor holding ``sections`` (name, fields) in this order."""
    data = {"csrf_token": csrf, "step": step, **extra}
    for key, (label, fields) in enumerate(sections):
        data[f"section-{key}-label"] = label
        data[f"section-{key}-original"] = "null"
        data[f"section-{key}-position"] = str(key + 1)
        for order, name in enumerate(fields):
            data[f"field-{name}-section"] = str(key)
            data[f"field-{name}-order"] = str(order + 1)
    return data


def checked_digest(page: str) -> str:
    return re.search(r'name="checked" value="([0-9a-f]+)"', page).group(1)


def legends(page: str) -> list[str]:
    return re.findall(r'<legend class="h6[^"]*">([^<]+)</legend>', page)


def test_the_editor_shows_the_default_grouping_and_is_linked_from_the_entities_page(shop):
    admin = shop["admin"]
    entities = html(admin.get("/admin/entities"))
    assert 'href="/admin/layouts/account"' in entities
    page = html(admin.get("/admin/layouts/account"))
    assert "has no layout yet" in page and 'src="/assets/js/layout-editor.js"' in page
    shown = cards(page)
    # every field a form can show is on a card once, in the section the record page uses
    assert {"name", "city", "country", "industry"} <= set(shown)
    names = section_names(page)
    form_sections = legends(html(shop["rep"].get("/app/account/new")))
    assert [names[k] for k in dict.fromkeys(shown.values())][: len(form_sections)] == form_sections
    # the form without JavaScript offers empty sections to move fields into
    assert list(names.values())[-2:] == ["", ""]


def test_a_layout_is_saved_only_after_its_dry_run_and_then_shapes_the_forms(shop):
    admin, api = shop["admin"], shop["api"]
    layout = [("Where", ["city", "country"]), ("Who", ["name"])]
    # the first "Save" is a check: the page shows what would be stored, nothing is
    first = admin.post("/admin/layouts/account", data=arrangement(admin.csrf, "save", layout))
    page = html(first)
    assert "The check passed; nothing is stored yet" in page
    shown = re.search(r"<pre[^>]*data-checked-layout>(.*?)</pre>", page, re.S).group(1)
    assert "layout: account" in shown and "- city" in shown and "label: Where" in shown
    assert api.get("/api/v1/meta/documents/layout/account").status_code == 404
    assert legends(html(shop["rep"].get("/app/account/new")))[0] != "Where"
    # the fields the arrangement does not place stay on the page (the layout leaves them out)
    assert {"industry", "name", "city"} <= set(cards(page))
    # a changed arrangement is checked again before it can be saved
    other = arrangement(admin.csrf, "save", [("Who", ["name"]), ("Where", ["city", "country"])])
    again = html(admin.post("/admin/layouts/account", data={**other, "checked": checked_digest(page)}))
    assert "differs from the one checked before" in again
    assert api.get("/api/v1/meta/documents/layout/account").status_code == 404
    # "Save" of exactly what was checked stores it, as an overlay
    saved = admin.post("/admin/layouts/account", data={**other, "checked": checked_digest(again)})
    assert saved.status_code == 302 and saved.headers["Location"].endswith("/admin/layouts/account")
    document = ok(api.get("/api/v1/meta/documents/layout/account"))
    assert document["source"] == "overlay"
    assert document["document"]["sections"] == [
        {"label": "Who", "fields": ["name"]},
        {"label": "Where", "fields": ["city", "country"]},
    ]
    form = html(shop["rep"].get("/app/account/new"))
    assert legends(form)[:2] == ["Who", "Where"]
    assert form.index('name="name"') < form.index('name="city"') < form.index('name="country"')
    assert form.index('name="country"') < form.index('name="industry"')  # the rest follows
    editor = html(admin.get("/admin/layouts/account"))
    assert "from <strong>overlay</strong>" in editor and list(section_names(editor).values())[:2] == ["Who", "Where"]


def test_positions_and_order_numbers_decide_and_translated_names_are_kept(shop):
    admin, api = shop["admin"], shop["api"]
    ok(
        api.post(
            "/api/v1/meta/documents/layout",
            json={
                "layout": "account_sheet",
                "entity": "account",
                "sections": [
                    {"label": {"en": "Company", "de": "Firma"}, "fields": ["name", "industry"]},
                    {"label": "Address", "fields": ["city", "country"]},
                ],
            },
        ),
        201,
    )
    page = html(admin.get("/admin/layouts/account"))
    assert list(section_names(page).values())[:2] == ["Company", "Address"]
    assert cards(page)["name"] == cards(page)["industry"] != cards(page)["city"]
    assert '"en": "Company"' in page.replace("&#34;", '"')  # the stored label travels with the form
    # without JavaScript: the address section first (positions), country before city (order)
    data = {
        "csrf_token": admin.csrf,
        "step": "check",
        "section-0-label": "Company",
        "section-0-original": '{"en": "Company", "de": "Firma"}',
        "section-0-position": "2",
        "section-1-label": "Postal address",
        "section-1-original": '"Address"',
        "section-1-position": "1",
        "field-name-section": "0",
        "field-name-order": "1",
        "field-industry-section": "0",
        "field-industry-order": "2",
        "field-city-section": "1",
        "field-city-order": "5",
        "field-country-section": "1",
        "field-country-order": "3",
    }
    checked = html(admin.post("/admin/layouts/account", data=data))
    saved = admin.post("/admin/layouts/account", data={**data, "step": "save", "checked": checked_digest(checked)})
    assert saved.status_code == 302, saved.get_data(as_text=True)[:2000]
    document = ok(api.get("/api/v1/meta/documents/layout/account_sheet"))["document"]
    assert document["sections"] == [
        {"label": "Postal address", "fields": ["country", "city"]},  # renamed: a plain name now
        {"label": {"en": "Company", "de": "Firma"}, "fields": ["name", "industry"]},  # kept
    ]


def test_mistakes_are_shown_next_to_their_inputs_and_nothing_is_stored(shop):
    admin, api = shop["admin"], shop["api"]
    base = arrangement(admin.csrf, "save", [("Main", ["name", "city"]), ("", ["country"]), ("Gone", ["industry"])])
    page = html(admin.post("/admin/layouts/account", data={**base, "section-2-remove": "on"}), 422)
    assert "A section with fields needs a name." in page
    assert "Move its fields to another section first (Industry)" in page
    assert 'id="section-1-label-err"' in page and 'id="section-2-remove-err"' in page
    # what the admin arranged is drawn again, so nothing has to be done twice
    assert cards(page)["country"] == "1" and cards(page)["industry"] == "2"
    bad = {**base, "section-1-label": "Address", "field-city-order": "first", "field-country-section": "9"}
    page = html(admin.post("/admin/layouts/account", data=bad), 422)
    assert "A whole number" in page and "Choose one of the sections." in page
    nothing = {"csrf_token": admin.csrf, "step": "save", "section-0-label": "Empty"}
    assert "Put at least one field in a section." in html(admin.post("/admin/layouts/account", data=nothing), 422)
    assert api.get("/api/v1/meta/documents/layout/account").status_code == 404


def test_back_to_the_pack_layout_drops_the_overlay(shop):
    admin, api = shop["admin"], shop["api"]
    data = arrangement(admin.csrf, "check", [("Only", ["name"])])
    checked = html(admin.post("/admin/layouts/account", data=data))
    data.update(step="save", checked=checked_digest(checked))
    assert admin.post("/admin/layouts/account", data=data).status_code == 302
    assert legends(html(shop["rep"].get("/app/account/new")))[0] == "Only"
    assert "Back to the pack" in html(admin.get("/admin/layouts/account"))
    reset = admin.post("/admin/layouts/account/reset", data={"csrf_token": admin.csrf})
    assert reset.status_code == 302
    assert api.get("/api/v1/meta/documents/layout/account").status_code == 404
    assert legends(html(shop["rep"].get("/app/account/new")))[0] != "Only"
    again = admin.post("/admin/layouts/account/reset", data={"csrf_token": admin.csrf}, follow_redirects=True)
    assert "There is no saved change to drop" in html(again)


def test_only_admins_edit_layouts_and_only_of_entities_with_forms(shop):
    rep, admin, api = shop["rep"], shop["admin"], shop["api"]
    assert rep.get("/admin/layouts/account").status_code == 403
    data = arrangement(rep.csrf, "save", [("Mine", ["name"])])
    assert rep.post("/admin/layouts/account", data=data).status_code == 403
    assert admin.get("/admin/layouts/no_such_thing").status_code == 404
    assert admin.get("/admin/layouts/quote_line").status_code == 404  # child rows: no form of their own
    forged = arrangement("not-the-token", "check", [("Mine", ["name"])])
    assert admin.post("/admin/layouts/account", data=forged).status_code in (400, 403)  # a forged post
    assert api.get("/api/v1/meta/documents/layout/account").status_code == 404


def form_of(page: str) -> dict[str, str]:
    """What the editor's form posts as drawn (no JavaScript): inputs and chosen options."""
    form = page[page.index("data-layout-editor") :]
    data = {}
    for tag in re.findall(r"<input [^>]*>", form):
        name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
        if name and 'type="checkbox"' not in tag:
            data[name.group(1)] = entities.unescape(value.group(1)) if value else ""
    for name, options in re.findall(r'<select [^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        data[name] = re.search(r'<option value="([^"]*)" selected', options).group(1)
    return data


def test_the_plain_form_posted_as_drawn_keeps_the_forms_as_they_are(shop):
    admin = shop["admin"]
    before = legends(html(shop["rep"].get("/app/account/new")))
    drawn = form_of(html(admin.get("/admin/layouts/account")))
    # move the city to the first section, in front of everything, and leave the rest as drawn
    drawn.update({"field-city-section": drawn["field-name-section"], "field-city-order": "0", "step": "check"})
    checked = html(admin.post("/admin/layouts/account", data=drawn))
    assert admin.post("/admin/layouts/account", data={**form_of(checked), "step": "save"}).status_code == 302
    form = html(shop["rep"].get("/app/account/new"))
    assert legends(form) == before
    assert form.index('name="city"') < form.index('name="name"') < form.index('name="country"')
