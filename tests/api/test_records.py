"""Record CRUD through the REST API, on every backend."""

from __future__ import annotations

import pytest

from tests.conftest import table_rows


def make_maker(api, name="Acme"):
    response = api.post("maker", {"name": name})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_returns_the_stored_record_with_location_and_etag(admin):
    response = admin.post("gadget", {"name": "Router", "price": "12.50", "tags": ["red", "blue"]})
    body = response.get_json()
    assert response.status_code == 201
    assert response.headers["Location"] == f"/api/v1/gadget/{body['id']}"
    assert response.headers["ETag"] == '"1"'
    assert body["version"] == 1
    assert body["number"].startswith("GAD-") and body["number"].endswith("00001")
    assert body["status"] == "draft" and body["active"] is True  # literal defaults
    assert float(body["price"]) == 12.5
    assert body["tags"] == ["red", "blue"]


def test_get_patch_delete_restore_cycle(admin, workspace):
    created = admin.post("gadget", {"name": "Switch"}).get_json()
    path = f"gadget/{created['id']}"
    assert admin.get(path).get_json()["name"] == "Switch"

    patched = admin.patch(path, {"name": "Core switch"}, headers={"If-Match": '"1"'})
    assert patched.status_code == 200 and patched.get_json()["version"] == 2

    assert admin.delete(path).status_code == 204
    assert admin.get(path).status_code == 404
    trash = admin.get("gadget?trash=true").get_json()["data"]
    assert [r["id"] for r in trash] == [created["id"]]

    restored = admin.post(f"{path}/restore")
    assert restored.status_code == 200 and restored.get_json()["name"] == "Core switch"
    assert admin.post(f"{path}/restore").status_code == 404  # no longer in the trash
    assert table_rows(workspace, "gadget") == 1


def test_stale_if_match_is_refused_and_nothing_changes(admin):
    created = admin.post("gadget", {"name": "A"}).get_json()
    path = f"gadget/{created['id']}"
    assert admin.patch(path, {"name": "B"}, headers={"If-Match": '"1"'}).status_code == 200
    stale = admin.patch(path, {"name": "C"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.headers["Content-Type"] == "application/problem+json"
    assert admin.get(path).get_json()["name"] == "B"


def test_links_tables_and_expand(admin):
    acme, beta = make_maker(admin, "Acme"), make_maker(admin, "Beta")
    gadget = admin.post(
        "gadget",
        {
            "name": "Kit",
            "maker": acme["id"],
            "makers": [beta["id"], acme["id"]],
            "parts": [{"label": "screw", "qty": 4, "maker": beta["id"]}, {"label": "nut"}],
        },
    ).get_json()
    assert gadget["makers"] == [beta["id"], acme["id"]]
    assert [p["label"] for p in gadget["parts"]] == ["screw", "nut"]
    assert gadget["parts"][1]["qty"] == 1  # child default

    # rewriting the rows: keep the first (by id), change it, drop the second, add one
    first = gadget["parts"][0]
    updated = admin.patch(
        f"gadget/{gadget['id']}", {"parts": [{"id": first["id"], "label": "bolt", "qty": 2}, {"label": "washer"}]}
    ).get_json()
    assert [p["label"] for p in updated["parts"]] == ["bolt", "washer"]
    assert updated["parts"][0]["id"] == first["id"]

    listed = admin.get("gadget?expand=maker").get_json()["data"][0]
    assert listed["maker"]["name"] == "Acme"

    related = admin.get(f"maker/{acme['id']}/related/gadget.maker").get_json()["data"]
    assert [r["id"] for r in related] == [gadget["id"]]
    linked = admin.get(f"gadget/{gadget['id']}/related/makers").get_json()["data"]
    assert {r["name"] for r in linked} == {"Acme", "Beta"}


def test_link_to_a_missing_record_is_a_validation_error(admin, workspace):
    response = admin.post("gadget", {"name": "X", "maker": "01a20c15-81e9-731a-b6b1-197857feef58"})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "maker"
    assert table_rows(workspace, "gadget") == 0


def test_unique_field_conflict_is_409(admin, workspace):
    assert admin.post("gadget", {"name": "A", "email": "a@x.dev"}).status_code == 201
    response = admin.post("gadget", {"name": "B", "email": "a@x.dev"})
    assert response.status_code == 409
    assert response.get_json()["errors"][0]["field"] == "email"
    assert table_rows(workspace, "gadget") == 1


def test_idempotency_key_replays_the_first_create(admin, workspace):
    headers = {"Idempotency-Key": "order-42"}
    first = admin.post("gadget", {"name": "Once"}, headers=headers)
    second = admin.post("gadget", {"name": "Once"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.get_json()["id"] == second.get_json()["id"]
    assert table_rows(workspace, "gadget") == 1
    reused = admin.post("gadget", {"name": "Other"}, headers=headers)
    assert reused.status_code == 422
    assert table_rows(workspace, "gadget") == 1


def test_bulk_is_all_or_nothing(admin, workspace):
    ok = admin.post("gadget/bulk", [{"name": f"G{i}"} for i in range(5)])
    assert ok.status_code == 200 and len(ok.get_json()["data"]) == 5
    bad = admin.post("gadget/bulk", [{"name": "fine"}, {"name": "bad", "count": "many"}, {"count": 1}])
    assert bad.status_code == 422
    errors = bad.get_json()["errors"]
    assert {(e["index"], e["field"]) for e in errors} == {(1, "count"), (2, "name")}
    assert table_rows(workspace, "gadget") == 5
    # an update in bulk addresses the record by id
    first = ok.get_json()["data"][0]
    updated = admin.post("gadget/bulk", [{"id": first["id"], "name": "renamed"}, {"name": "new"}])
    assert updated.status_code == 200
    assert admin.get(f"gadget/{first['id']}").get_json()["name"] == "renamed"
    # headers a bulk request cannot honour are refused, not ignored (a retry was not safe)
    for header in ({"Idempotency-Key": "k1"}, {"If-Match": '"1"'}):
        refused = admin.post("gadget/bulk", [{"name": "again"}], headers=header)
        assert refused.status_code == 400 and next(iter(header)) in refused.get_json()["detail"]
    assert table_rows(workspace, "gadget") == 6


def test_bulk_unique_violation_reports_the_row_and_writes_nothing(admin, workspace):
    response = admin.post("gadget/bulk", [{"name": "a", "email": "d@x.dev"}, {"name": "b", "email": "d@x.dev"}])
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["index"] == 1
    assert table_rows(workspace, "gadget") == 0


def test_list_sort_filter_fields_count_and_cursor(admin):
    for i in range(7):
        admin.post("gadget", {"name": f"G{i}", "count": i % 3, "status": "live" if i % 2 else "draft"})
    page = admin.get("gadget?status=live&sort=count,-name&count=true&limit=2&fields=name,count").get_json()
    assert page["total"] == 3
    assert [r["name"] for r in page["data"]] == ["G3", "G1"]
    assert set(page["data"][0]) == {"id", "name", "count"}
    rest = admin.get(f"gadget?status=live&sort=count,-name&limit=2&fields=name,count&cursor={page['next_cursor']}")
    assert [r["name"] for r in rest.get_json()["data"]] == ["G5"]
    assert "next_cursor" not in rest.get_json()


def test_count_limit_counts_up_to_the_limit_and_says_when_there_are_more(admin):
    for i in range(7):
        admin.post("gadget", {"name": f"G{i}", "status": "live" if i < 5 else "draft"})
    capped = admin.get("gadget?count_limit=3&limit=2").get_json()
    assert (capped["total"], capped["total_capped"]) == (3, True)
    exact = admin.get("gadget?status=live&count_limit=5&limit=2").get_json()
    assert exact["total"] == 5 and "total_capped" not in exact
    # a page that holds every match is its own count, and a later page counts all of them
    whole = admin.get("gadget?status=draft&count=true").get_json()
    assert whole["total"] == 2 and len(whole["data"]) == 2
    later = admin.get(f"gadget?count=true&limit=2&cursor={capped['next_cursor']}").get_json()
    assert later["total"] == 7
    for bad in ("0", "x", "1000001"):
        response = admin.get(f"gadget?count_limit={bad}")
        assert response.status_code == 400 and "count_limit" in response.get_json()["detail"]


def test_cursor_pages_visit_every_row_once_with_nulls(admin):
    for i in range(11):
        admin.post("gadget", {"name": f"G{i:02d}", "count": None if i % 4 == 0 else i % 3})
    seen, cursor = [], None
    while True:
        url = "gadget?sort=-count&limit=3" + (f"&cursor={cursor}" if cursor else "")
        body = admin.get(url).get_json()
        seen += [r["name"] for r in body["data"]]
        cursor = body.get("next_cursor")
        if not cursor:
            break
    assert sorted(seen) == [f"G{i:02d}" for i in range(11)]
    counts = [admin.get(f"gadget?name={n}").get_json()["data"][0]["count"] for n in seen]
    non_null = [c for c in counts if c is not None]
    assert non_null == sorted(non_null, reverse=True) and counts[-3:] == [None, None, None]


@pytest.mark.parametrize("sort", ["active", "-active"])
def test_cursor_pages_sorted_by_a_yes_no_field(admin, sort):
    for i in range(7):
        admin.post("gadget", {"name": f"G{i}", "active": i % 3 != 0})
    seen, cursor = [], None
    while True:
        body = admin.get(f"gadget?sort={sort}&limit=2" + (f"&cursor={cursor}" if cursor else "")).get_json()
        seen += [(r["active"], r["name"]) for r in body["data"]]
        cursor = body.get("next_cursor")
        if not cursor:
            break
    assert sorted(name for _, name in seen) == [f"G{i}" for i in range(7)]
    assert [active for active, _ in seen] == sorted((a for a, _ in seen), reverse=sort.startswith("-"))


def test_history_lists_changes_newest_first(admin):
    created = admin.post("gadget", {"name": "H", "api_key": "s3cret"}).get_json()
    admin.patch(f"gadget/{created['id']}", {"name": "H2"})
    history = admin.get(f"gadget/{created['id']}/history").get_json()["data"]
    assert [h["action"] for h in history] == ["update", "create"]
    assert history[0]["changes"]["name"] == ["H", "H2"]
    assert history[1]["changes"]["api_key"] == [None, "********"]


def test_secret_is_never_returned(admin):
    created = admin.post("gadget", {"name": "S", "api_key": "top-secret"}).get_json()
    assert created["api_key"] == "********"
    assert "top-secret" not in admin.get(f"gadget/{created['id']}").get_data(as_text=True)


def test_requests_need_a_token(anonymous):
    response = anonymous.get("gadget")
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"


def test_logout_revokes_the_token(admin):
    assert admin.post("auth/logout").status_code == 204
    assert admin.get("gadget").status_code == 401


def test_healthz_needs_no_sign_in(anonymous):
    assert anonymous.get("/healthz").get_json() == {"status": "ok"}


def test_q_finds_every_word_in_the_search_fields_title_matches_first(admin):
    for name in ("Alpha pump", "Pump Alpha", "Big pump station", "Other", "50% off"):
        admin.post("gadget", {"name": name})
    found = admin.get("gadget?q=pump&sort=name&count=true").get_json()
    assert [r["name"] for r in found["data"]] == ["Pump Alpha", "Alpha pump", "Big pump station"]
    assert found["total"] == 3 and "next_cursor" not in found
    assert [r["name"] for r in admin.get("gadget?q=ALPHA%20pump").get_json()["data"]] == ["Alpha pump", "Pump Alpha"]
    assert [r["name"] for r in admin.get("gadget?q=50%25").get_json()["data"]] == ["50% off"]
    second = admin.get("gadget?q=pump&sort=name&limit=1&offset=1").get_json()["data"]
    assert [r["name"] for r in second] == ["Alpha pump"]
    for bad, message in (("q=pump&cursor=abc", "offset, not cursor"), ("q=" + "x" * 201, "at most 200")):
        reply = admin.get(f"gadget?{bad}")
        assert reply.status_code == 400 and message in reply.get_json()["detail"]
