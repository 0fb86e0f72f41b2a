"""The staff web interface with the shipped sales packs, through a signed-in browser
session: navigation, lists (filters, sorting, saved views, bulk actions, export), record
pages (related lists, timeline, history, workflow and approval buttons) and forms
(validation messages, optimistic-lock conflicts). On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from openpyxl import load_workbook

from tests.conftest import PASSWORD
from tests.sales.procurement import act, catalog, opportunity, price_lists, set_manager, user_id
from tests.sales.rest import account, create, get, listing, ok
from tests.ui.pages import html


@pytest.fixture
def shop(sales_workspace: Any, api_client: Any, ui_client: Any) -> dict[str, Any]:
    ws = sales_workspace("quotes")
    return {
        "ws": ws,
        "api": {r: api_client(ws, r) for r in ("admin", "sales_rep", "sales_manager", "finance")},
        "ui": lambda role: ui_client(ws, role),
    }


def test_signed_out_pages_send_to_the_login_and_back(shop):
    from engine.app import create_app

    client = create_app(shop["ws"].config, shop["ws"]).test_client()
    reply = client.get("/app/account?sort=name")
    assert reply.status_code == 302 and "/login?next=/app/account?sort%3Dname" in reply.headers["Location"]
    page = client.get(reply.headers["Location"]).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    login = client.post(
        "/login",
        data={
            "email": "sales_rep@test.dev",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/app/account?sort=name",
        },
    )
    assert login.status_code in (302, 401)
    evil = client.post("/login", data={"csrf_token": token, "next": "//evil.example/"})
    assert "evil.example" not in (evil.headers.get("Location") or "")


def test_navigation_lists_only_what_the_role_may_read(shop):
    rep = html(shop["ui"]("sales_rep").get("/"))
    finance = html(shop["ui"]("finance").get("/"))
    assert 'href="/app/account"' in rep and 'href="/app/quote"' in rep
    readable = {e["name"] for e in ok(shop["api"]["finance"].get("/api/v1/meta/entities"))["data"]}
    hidden = [e for e in ("lead", "opportunity", "activity") if e not in readable]
    for name in hidden:
        assert f'href="/app/{name}"' not in finance
        assert shop["ui"]("finance").get(f"/app/{name}").status_code == 404


def test_create_through_the_form_shows_api_messages_and_writes_nothing_bad(shop):
    rep = shop["ui"]("sales_rep")
    form = html(rep.get("/app/account/new"))
    assert 'name="name"' in form and "required" in form
    refused = rep.post("/app/account/new", data={"csrf_token": rep.csrf, "name": "", "city": "Kiel"})
    page = html(refused, 422)
    assert 'class="invalid-feedback d-block" id="f-name-err"' in page
    assert listing(shop["api"]["sales_rep"], "account") == []
    created = rep.post("/app/account/new", data={"csrf_token": rep.csrf, "name": "Förde Werft AG", "city": "Kiel"})
    assert created.status_code == 302
    shown = html(rep.get(created.headers["Location"]))
    assert "Förde Werft AG" in shown and "Kiel" in shown
    assert [a["name"] for a in listing(shop["api"]["sales_rep"], "account")] == ["Förde Werft AG"]
    forged = rep.post("/app/account/new", data={"csrf_token": "forged", "name": "X"})
    assert forged.status_code == 403 and "CSRF" in forged.get_data(as_text=True)


def test_a_stale_edit_is_explained_and_the_newer_change_kept(shop):
    api, rep = shop["api"]["sales_rep"], shop["ui"]("sales_rep")
    acc = account(api, "Elbe Kliniken")
    form = html(rep.get(f"/app/account/{acc['id']}/edit"))
    version = re.search(r'name="version" value="(\d+)"', form).group(1)
    ok(api.patch(f"/api/v1/account/{acc['id']}", json={"city": "Lübeck"}))
    stale = rep.post(
        f"/app/account/{acc['id']}/edit",
        data={"csrf_token": rep.csrf, "version": version, "name": "Elbe Kliniken", "city": "Bremen"},
    )
    assert "Someone changed this record after you opened it" in html(stale, 409)
    assert get(api, "account", acc["id"])["city"] == "Lübeck"
    fresh = rep.post(
        f"/app/account/{acc['id']}/edit",
        data={"csrf_token": rep.csrf, "version": str(int(version) + 1), "name": "Elbe Kliniken", "city": "Bremen"},
    )
    assert fresh.status_code == 302 and get(api, "account", acc["id"])["city"] == "Bremen"


def test_list_filters_sorting_errors_and_pages(shop):
    api, rep = shop["api"]["sales_rep"], shop["ui"]("sales_rep")
    for i in range(30):
        account(api, f"Kunde {i:02d}", city="Kiel" if i % 3 == 0 else "Hamburg")
    page = html(rep.get("/app/account?bf=city&bo=eq&bv=Kiel&sort=-name"))
    names = list(dict.fromkeys(re.findall(r"Kunde \d\d", page)))
    assert names[:3] == ["Kunde 27", "Kunde 24", "Kunde 21"] and len(names) == 10
    assert "city == &#34;Kiel&#34;" in page  # the builder's DSL is shown to the user
    bad = html(rep.get("/app/account?filter=city%20%3D%3D"), 400)
    assert 'id="filter-error"' in bad
    typed = html(rep.get("/app/account?bf=annual_revenue&bo=gt&bv=lots"), 400)
    assert "is not a number" in typed
    first = html(rep.get("/app/account?sort=name"))
    assert len(set(re.findall(r"Kunde \d\d", first))) == 25 and 'rel="next"' in first
    cursor = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = html(rep.get(cursor))
    assert sorted(set(re.findall(r"Kunde \d\d", second))) == [f"Kunde {i}" for i in range(25, 30)]


def test_saved_views_are_private_unless_shared_with_a_role(shop, ui_client):
    rep = shop["ui"]("sales_rep")
    from engine.security.users import create_user

    create_user(shop["ws"], "rep2@test.dev", "Second Rep", PASSWORD, ["sales_rep"])
    for name, shared in (("Mine", ""), ("Team view", "sales_rep")):
        saved = rep.post(
            "/app/account/views",
            data={"csrf_token": rep.csrf, "name": name, "filter": 'city == "Kiel"', "shared_with": shared},
        )
        assert saved.status_code == 302 and "view=" in saved.headers["Location"]
    assert "Mine" in html(rep.get("/app/account")) and "Team view" in html(rep.get("/app/account"))
    other = shop["ui"]("sales_manager")
    page = html(other.get("/app/account"))
    assert "Mine" not in page and "Team view" not in page


def test_bulk_delete_is_all_or_nothing(shop):
    api, manager_api = shop["api"]["sales_rep"], shop["api"]["sales_manager"]
    mine = account(api, "Mein Kunde")
    theirs = account(manager_api, "Fremder Kunde")
    rep = shop["ui"]("sales_rep")
    reply = rep.post(
        "/app/account/bulk", data={"csrf_token": rep.csrf, "action": "delete", "ids": [mine["id"], theirs["id"]]}
    )
    assert reply.status_code == 302
    assert "Nothing was changed" in html(rep.get("/app/account"))
    assert {a["name"] for a in listing(api, "account")} == {"Mein Kunde", "Fremder Kunde"}


def test_export_of_the_current_view_neutralises_formulas(shop):
    api, rep = shop["api"]["sales_rep"], shop["ui"]("sales_rep")
    account(api, "=cmd|' /C calc'!A0", city="Kiel")
    account(api, "Harmlos GmbH", city="Hamburg")
    reply = rep.get("/app/account/export.csv?filter=city%20%3D%3D%20%22Kiel%22&columns=name,city")
    rows = list(csv.reader(io.StringIO(reply.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows == [["Name", "City"], ["'=cmd|' /C calc'!A0", "Kiel"]]
    book = load_workbook(io.BytesIO(rep.get("/app/account/export.xlsx?sort=name&columns=name").data))
    # XLSX: the text as typed, in a text cell, which a spreadsheet never runs
    cells = [row[0] for row in book.active.iter_rows()]
    assert [c.value for c in cells] == ["Name", "=cmd|' /C calc'!A0", "Harmlos GmbH"]
    assert {c.data_type for c in cells} == {"s"}


def test_export_of_the_current_view_needs_the_export_grant(shop):
    rep_api, manager_api = shop["api"]["sales_rep"], shop["api"]["sales_manager"]
    account(rep_api, "Mein Kunde")
    account(manager_api, "Fremder Kunde")
    rep, finance = shop["ui"]("sales_rep"), shop["ui"]("finance")
    assert "export.csv" in html(rep.get("/app/account"))
    rows = list(csv.reader(io.StringIO(rep.get("/app/account/export.csv?columns=name").get_data(as_text=True))))
    assert [r[0] for r in rows[1:]] == ["Mein Kunde"]  # export: own, although the rep reads every account
    assert "export.csv" not in html(finance.get("/app/account"))  # finance reads accounts, may not export them
    assert finance.get("/app/account/export.csv").status_code == 403


def test_search_finds_readable_records_and_quick_add_fills_the_timeline(shop):
    api, rep = shop["api"]["sales_rep"], shop["ui"]("sales_rep")
    acc = account(api, "Nordlicht Energie")
    found = html(rep.get("/app/search?q=nordlicht"))
    assert f"/app/account/{acc['id']}" in found
    assert "Nothing found" in html(rep.get("/app/search?q=zzzqqq"))
    added = rep.post(
        f"/app/account/{acc['id']}/timeline/activity",
        data={"csrf_token": rep.csrf, "kind": "call", "subject": "Discovery call"},
    )
    assert added.status_code == 302
    page = html(rep.get(f"/app/account/{acc['id']}"))
    assert "Discovery call" in page and 'id="timeline"' in page
    assert "History" in page and "create" in page


def test_quote_approval_through_the_buttons(shop):
    admin, rep_api = shop["api"]["admin"], shop["api"]["sales_rep"]
    products = catalog(admin)
    price_lists(shop["api"]["finance"], products)
    set_manager(admin, "sales_rep", "sales_manager")
    deal = opportunity(rep_api, account(rep_api)["id"], stage="proposal", presales_owner=user_id(admin, "presales"))
    lines = [{"line_no": 1, "product": products["SW-48"]["id"], "qty": 2, "discount_pct": 15}]
    quote = create(rep_api, "quote", {"opportunity": deal["id"], "title": "Switches", "lines": lines})
    rep, manager = shop["ui"]("sales_rep"), shop["ui"]("sales_manager")
    page = html(rep.get(f"/app/quote/{quote['id']}"))
    assert "Submit for approval" in page and "Awaiting approval" not in page
    rep.post(f"/app/quote/{quote['id']}/actions/submit", data={"csrf_token": rep.csrf})
    assert get(rep_api, "quote", quote["id"])["status"] == "pending_approval"
    assert "Awaiting approval" not in html(rep.get(f"/app/quote/{quote['id']}"))  # not the rep's decision
    refused = rep.post(f"/app/quote/{quote['id']}/actions/approve", data={"csrf_token": rep.csrf})
    assert "refused" in html(rep.get(refused.headers["Location"]))
    assert "Awaiting approval" in html(manager.get(f"/app/quote/{quote['id']}"))
    manager.post(f"/app/quote/{quote['id']}/actions/approve", data={"csrf_token": manager.csrf, "comment": "Fine"})
    assert get(rep_api, "quote", quote["id"])["status"] == "approved"
    assert "Fine" in html(rep.get(f"/app/quote/{quote['id']}"))
    assert ok(act(rep_api, "quote", quote["id"], "send")).get("status") in ("sent", "approved")


def _quote_setup(shop: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    admin, rep_api = shop["api"]["admin"], shop["api"]["sales_rep"]
    products = catalog(admin)
    price_lists(shop["api"]["finance"], products)
    deal = opportunity(rep_api, account(rep_api)["id"], stage="proposal", presales_owner=user_id(admin, "presales"))
    return products, deal


def test_the_form_preview_computes_totals_with_the_server_formulas_and_writes_nothing(shop):
    products, deal = _quote_setup(shop)
    rep = shop["ui"]("sales_rep")
    form = {
        "csrf_token": rep.csrf,
        "opportunity": deal["id"],
        "title": "Preview",
        "lines.present": "1",
        "lines.0.product": products["SW-48"]["id"],
        "lines.0.qty": "2",
        "lines.0.discount_pct": "10",
    }
    state = rep.post("/app/quote/preview", data=form).get_json()
    line = state["values"]["lines"][0]
    saved = ok(rep.post("/app/quote/new", data=form) and shop["api"]["sales_rep"].get("/api/v1/quote"))["data"]
    assert len(saved) == 1
    stored = get(shop["api"]["sales_rep"], "quote", saved[0]["id"])
    assert str(line["line_total"]) == str(stored["lines"][0]["line_total"])
    assert str(state["values"]["net_total"]) == str(stored["net_total"])
    assert stored["lines"][0]["unit_price"] == products["SW-48"]["list_price"]  # empty cells take defaults
    assert float(stored["net_total"]) > 0
    assert rep.post("/app/quote/preview", data={**form, "lines.0.qty": "many"}).get_json()["errors"]
    assert len(ok(shop["api"]["sales_rep"].get("/api/v1/quote"))["data"]) == 1  # previews never write


def test_readonly_if_freezes_fields_in_the_form(shop):
    products, deal = _quote_setup(shop)
    api = shop["api"]["sales_rep"]
    lines = [{"line_no": 1, "product": products["SW-48"]["id"], "qty": 1}]
    quote = create(api, "quote", {"opportunity": deal["id"], "title": "Frozen", "lines": lines})
    rep = shop["ui"]("sales_rep")
    assert 'name="valid_until"' in html(rep.get(f"/app/quote/{quote['id']}/edit"))
    assert not re.search(r'name="valid_until"[^>]*disabled', html(rep.get(f"/app/quote/{quote['id']}/edit")))
    ok(act(api, "quote", quote["id"], "submit"))  # approved at once: no longer a draft
    page = html(rep.get(f"/app/quote/{quote['id']}/edit"))
    assert re.search(r'name="valid_until"[^>]*disabled', page)
    state = rep.post("/app/quote/preview", data={"csrf_token": rep.csrf, "id": quote["id"]}).get_json()
    assert "valid_until" in state["readonly"]


def test_visible_if_shows_a_field_only_when_its_condition_holds(sales_workspace, ui_client):
    ws = sales_workspace("projects")
    manager = ui_client(ws, "sales_manager")
    form = html(manager.get("/app/project_task/new?kind=configuration"))
    assert re.search(r'data-field-wrap="asset" hidden', form)
    assert not re.search(
        r'data-field-wrap="asset" hidden', html(manager.get("/app/project_task/new?kind=installation"))
    )
    live = manager.post("/app/project_task/preview", data={"csrf_token": manager.csrf, "kind": "training"}).get_json()
    assert "asset" in live["hidden"]
    live = manager.post("/app/project_task/preview", data={"csrf_token": manager.csrf, "kind": "installation"})
    assert "asset" not in live.get_json()["hidden"]


def test_attachments_upload_from_the_record_page_with_the_field_checks(sales_workspace, api_client, ui_client):
    ws = sales_workspace("documents")
    api, page = api_client(ws, "sales_rep"), ui_client(ws, "sales_rep")
    doc = create(api, "document", {"title": "Master agreement", "kind": "contract"})
    url = f"/app/document/{doc['id']}"
    assert 'type="file"' in html(page.get(url))
    refused = page.post(
        f"{url}/files/file",
        data={"csrf_token": page.csrf, "file": (io.BytesIO(b"MZ\x90\x00"), "setup.exe", "application/x-msdownload")},
        content_type="multipart/form-data",
    )
    assert "Not attached" in html(page.get(refused.headers["Location"]))
    assert get(api, "document", doc["id"])["file"] is None
    page.post(
        f"{url}/files/file",
        data={"csrf_token": page.csrf, "file": (io.BytesIO(b"%PDF-1.4 tiny"), "agreement.pdf", "application/pdf")},
        content_type="multipart/form-data",
    )
    assert get(api, "document", doc["id"])["file"]["name"] == "agreement.pdf"
    assert "agreement.pdf" in html(page.get(url))


def test_bulk_assign_and_set_field(shop):
    manager_api = shop["api"]["sales_manager"]
    set_manager(shop["api"]["admin"], "sales_rep", "sales_manager")  # the rep joins the manager's team
    a, b = account(manager_api, "Alpha GmbH"), account(manager_api, "Beta GmbH")
    manager = shop["ui"]("sales_manager")
    rep_id = user_id(shop["api"]["admin"], "sales_rep")
    assert f'value="{rep_id}"' in html(manager.get("/app/account"))
    manager.post(
        "/app/account/bulk",
        data={
            "csrf_token": manager.csrf,
            "action": "set",
            "field": "city",
            "value": "Rostock",
            "ids": [a["id"], b["id"]],
        },
    )
    assert {get(manager_api, "account", x["id"])["city"] for x in (a, b)} == {"Rostock"}
    manager.post(
        "/app/account/bulk", data={"csrf_token": manager.csrf, "action": "assign", "owner": rep_id, "ids": [a["id"]]}
    )
    assert get(manager_api, "account", a["id"])["owner"] == rep_id
    assert get(manager_api, "account", b["id"])["owner"] != rep_id


def test_a_form_layout_orders_sections_and_fields_and_keeps_the_rest(shop):
    admin, rep = shop["api"]["admin"], shop["ui"]("sales_rep")
    layout = {
        "layout": "account_compact",
        "entity": "account",
        "sections": [{"label": "Where", "fields": ["city", "country"]}, {"label": "Who", "fields": ["name"]}],
    }
    bad = admin.post("/api/v1/meta/documents/layout", json={**layout, "sections": [{"label": "X", "fields": ["nope"]}]})
    assert bad.status_code in (400, 422) and "nope" in bad.get_data(as_text=True)
    ok(admin.post("/api/v1/meta/documents/layout", json=layout), 201)
    page = html(rep.get("/app/account/new"))
    legends = re.findall(r'<legend class="h6[^"]*">([^<]+)</legend>', page)
    assert legends[:2] == ["Where", "Who"] and len(legends) > 2  # the fields it does not name follow
    assert page.index('name="city"') < page.index('name="country"') < page.index('name="name"')
    assert page.index('name="name"') < page.index('name="industry"')


def test_long_lists_count_up_to_a_limit_and_related_lists_leave_out_the_parent_column(shop, monkeypatch):
    import ui.lists
    import ui.records

    monkeypatch.setattr(ui.lists, "PAGE_SIZE", 2)
    monkeypatch.setattr(ui.lists, "COUNT_LIMIT", 3)
    monkeypatch.setattr(ui.records, "RELATED_ROWS", 1)
    monkeypatch.setattr(ui.records, "RELATED_COUNT_LIMIT", 2)
    api, rep = shop["api"]["sales_rep"], shop["ui"]("sales_rep")
    parent = account(api, "Grosskunde AG")
    for i in range(4):
        create(api, "contact", {"first_name": f"Person{i}", "last_name": "Muster", "account": parent["id"]})
    listed = html(rep.get("/app/contact"))
    assert re.search(r"data-total>3\+</span>", listed)  # more than three: "3+"
    assert re.search(r"data-total>1</span>", html(rep.get("/app/account")))  # a whole page is its own count
    page = html(rep.get(f"/app/account/{parent['id']}"))
    first = re.search(r"Person\d", page).start()
    assert '<span class="badge text-bg-light">2+</span>' in page[first - 3000 : first]
    related = page[first : first + 3000]
    assert "Grosskunde AG" not in related  # the rows all belong to this account: no column for it
