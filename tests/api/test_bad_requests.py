"""A table of bad requests: each is answered with a 4xx problem document and writes nothing.

SPEC section 6: "A bad request never yields a 500 and never writes anything." Every case
below is sent against a workspace holding a few records; the whole database (every table
but the sign-in tokens) is compared before and after, on every backend.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.app import create_app
from engine.security.users import create_user, ensure_roles
from engine.workspace import Workspace
from tests.conftest import PASSWORD, PG_URL, Api, _pg_url, make_config, sign_in, table_rows

MISSING = "01a20c15-81e9-731a-b6b1-197857feef58"  # a well-formed id no record has
JSON = "application/json"
_UNSET: Any = object()


@dataclass(frozen=True)
class Bad:
    """One bad request. ``path`` may name ``{gadget}``, ``{maker}``, ``{beta}``, ``{part}``,
    ``{missing}`` and ``{cursor}`` (a real cursor of ``maker?sort=name&limit=1``)."""

    id: str
    method: str
    path: str
    status: int
    json: Any = _UNSET  # sent as JSON (placeholders substituted in strings)
    data: bytes | None = None  # sent raw instead
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    who: str = "admin"  # admin, rep, anonymous
    fields: frozenset[Any] | None = None  # the exact set of errors[].field (or (index, field))
    small_body_limit: bool = False  # served by an app whose body limit is 1,000 bytes


def _f(*names: Any) -> frozenset[Any]:
    return frozenset(names)


def post(
    id: str, body: Any, status: int = 422, fields: frozenset[Any] | None = None, path: str = "gadget", **kw: Any
) -> Bad:
    return Bad(id, "POST", path, status, json=body, fields=fields, **kw)


def bad_value(id: str, name: str, value: Any, error_field: str | None = None) -> Bad:
    """Create a gadget whose ``name`` field has a bad value: 422 naming that field."""
    return post(id, {"name": "Widget", name: value}, fields=_f(error_field or name))


def get(id: str, path: str, status: int = 400, **kw: Any) -> Bad:
    return Bad(id, "GET", path, status, **kw)


CASES = [
    # --- the body itself ----------------------------------------------------------------
    Bad("malformed-json", "POST", "gadget", 400, data=b'{"name": "Widget",', content_type=JSON),
    Bad("empty-body", "POST", "gadget", 400, data=b"", content_type=JSON),
    Bad(
        "non-json-content-type",
        "POST",
        "gadget",
        400,
        data=b"name=Widget",
        content_type="application/x-www-form-urlencoded",
    ),
    Bad("json-text-sent-as-text-plain", "POST", "gadget", 400, data=b'{"name": "Widget"}', content_type="text/plain"),
    Bad("invalid-utf8", "POST", "gadget", 400, data=b'{"name": "\xff\xfe"}', content_type=JSON),
    Bad("lone-surrogate-escaped", "POST", "gadget", 400, data=b'{"name": "a\\ud800b"}', content_type=JSON),
    Bad(
        "lone-surrogate-in-json-field-key",
        "POST",
        "gadget",
        400,
        data=b'{"name": "x", "specs": {"\\udfff": 1}}',
        content_type=JSON,
    ),
    Bad("lone-surrogate-raw-bytes", "POST", "gadget", 400, data=b'{"name": "a\xed\xa0\x80"}', content_type=JSON),
    Bad("nan-literal", "POST", "gadget", 400, data=b'{"name": "Widget", "weight": NaN}', content_type=JSON),
    Bad("nested-too-deep-for-the-parser", "POST", "gadget", 400, data=b"[" * 5000 + b"]" * 5000, content_type=JSON),
    Bad("null-body", "POST", "gadget", 422, data=b"null", content_type=JSON, fields=_f("(body)")),
    post("array-instead-of-object", [{"name": "Widget"}], fields=_f("(body)")),
    post("number-instead-of-object", 5, fields=_f("(body)")),
    Bad("patch-with-array-body", "PATCH", "gadget/{gadget}", 422, json=[{"name": "X"}], fields=_f("(body)")),
    # --- fields ---------------------------------------------------------------------------
    post("unknown-field", {"name": "Widget", "colour": "red"}, fields=_f("colour")),
    post("required-field-missing", {"notes": "no name"}, fields=_f("name")),
    post("required-field-empty", {"name": ""}, fields=_f("name")),
    post("required-field-null", {"name": None}, fields=_f("name")),
    post("read-only-autonumber-given", {"name": "Widget", "number": "GAD-1"}, fields=_f("number")),
    post(
        "several-bad-fields-all-reported",
        {"name": "Widget", "count": "x", "active": 1, "colour": 1},
        fields=_f("count", "active", "colour"),
    ),
    bad_value("int-given-a-fraction", "count", 2.5),
    bad_value("int-given-a-string", "count", "7"),
    bad_value("int-given-a-boolean", "count", True),
    bad_value("int-given-a-tiny-float", "count", 2.59e-42),
    bad_value("int-above-max", "count", 1_000_001),
    bad_value("int-below-min", "count", -1001),
    bad_value("int-beyond-64-bits", "count", 2**70),
    bad_value("bool-given-zero", "active", 0),
    bad_value("bool-given-yes", "active", "yes"),
    bad_value("decimal-given-text", "weight", "abc"),
    bad_value("decimal-given-nan-string", "weight", "NaN"),
    bad_value("decimal-given-infinity-string", "weight", "-Infinity"),
    bad_value("decimal-too-many-decimals", "weight", "1.2345"),  # precision 3
    bad_value("decimal-too-many-digits", "weight", "1234567890123456"),  # 15 before the point
    bad_value("decimal-huge-exponent", "weight", "1e999999999"),
    bad_value("decimal-given-boolean", "weight", True),
    bad_value("money-below-min", "price", -1),
    bad_value("percent-above-100", "discount", 101),
    bad_value("date-month-13", "released_on", "2026-13-01"),
    bad_value("date-us-format", "released_on", "01/02/2026"),
    bad_value("date-february-30", "released_on", "2026-02-30"),
    bad_value("datetime-without-offset", "seen_at", "2026-01-02T03:04:05"),
    bad_value("datetime-before-year-1-in-utc", "seen_at", "0001-01-01T00:00:00+01:00"),
    bad_value("datetime-after-9998", "seen_at", "9999-12-31T23:00:00-05:00"),
    bad_value("duration-negative", "warranty", -5),
    bad_value("duration-not-a-duration", "warranty", "soon"),
    bad_value("email-invalid", "email", "not-an-email"),
    bad_value("url-ftp", "website", "ftp://x"),
    bad_value("url-javascript", "website", "javascript:alert(1)"),
    bad_value("phone-letters", "phone", "call me maybe"),
    bad_value("enum-value-not-an-option", "status", "archived"),
    bad_value("enum-label-instead-of-value", "status", "Live"),
    bad_value("multi-enum-bad-value", "tags", ["red", "purple"]),
    bad_value("multi-enum-not-a-list", "tags", "red"),
    bad_value("link-not-an-id", "maker", "acme"),
    bad_value("link-to-missing-record", "maker", "{missing}"),
    bad_value("link-to-record-of-another-entity", "maker", "{gadget}"),
    bad_value("user-link-to-missing-user", "responsible", "{missing}"),
    bad_value("links-with-duplicates", "makers", ["{maker}", "{maker}"]),
    bad_value("links-with-missing-record", "makers", ["{maker}", "{missing}"]),
    bad_value("links-not-a-list", "makers", "{maker}"),
    bad_value("table-not-a-list", "parts", {"label": "screw"}),
    bad_value("table-row-unknown-field", "parts", [{"label": "screw", "colour": "red"}], "parts[0].colour"),
    bad_value("table-row-missing-required-label", "parts", [{"label": "nut"}, {"qty": 2}], "parts[1].label"),
    bad_value("table-row-qty-below-min", "parts", [{"label": "screw", "qty": 0}], "parts[0].qty"),
    bad_value(
        "table-row-link-to-missing-record", "parts", [{"label": "screw", "maker": "{missing}"}], "parts[0].maker"
    ),
    post(
        "json-field-fine-other-field-bad",
        {"name": "Widget", "specs": {"a": [1, 2.5, None], "b": {"c": "d"}}, "count": "many"},
        fields=_f("count"),
    ),
    bad_value("json-field-with-nul", "specs", {"note": "a\x00b"}),
    bad_value("json-field-nested-too-deep", "specs", json.loads("[" * 100 + "]" * 100)),
    bad_value("json-field-integer-beyond-64-bits", "specs", 2**63),
    bad_value("rating-above-max", "stars", 6),
    bad_value("rating-negative", "stars", -1),
    bad_value("string-over-max-length", "name", "x" * 121),
    bad_value("string-with-newline", "name", "two\nlines"),
    bad_value("string-with-nul", "name", "nul\x00byte"),
    bad_value("text-with-nul", "notes", "nul\x00byte"),
    bad_value("owner-not-an-id", "owner", "nobody"),
    bad_value("owner-missing-user", "owner", "{missing}"),
    post("idempotency-key-too-long", {"name": "Widget"}, status=400, headers={"Idempotency-Key": "k" * 256}),
    # --- updates ----------------------------------------------------------------------------
    Bad("patch-bad-type", "PATCH", "gadget/{gadget}", 422, json={"count": "many"}, fields=_f("count")),
    Bad("patch-required-to-null", "PATCH", "gadget/{gadget}", 422, json={"name": None}, fields=_f("name")),
    Bad(
        "patch-table-row-id-not-in-record",
        "PATCH",
        "gadget/{gadget}",
        422,
        json={"parts": [{"id": "{missing}", "label": "bolt"}]},
        fields=_f("parts[0].id"),
    ),
    Bad("patch-bad-if-match", "PATCH", "gadget/{gadget}", 400, json={"name": "X"}, headers={"If-Match": "yesterday"}),
    Bad("patch-stale-if-match", "PATCH", "gadget/{gadget}", 412, json={"name": "X"}, headers={"If-Match": '"7"'}),
    Bad("delete-stale-if-match", "DELETE", "gadget/{gadget}", 412, headers={"If-Match": '"7"'}),
    Bad("delete-bad-if-match", "DELETE", "gadget/{gadget}", 400, headers={"If-Match": "*"}),
    # --- addressing -------------------------------------------------------------------------
    get("unknown-entity-list", "nosuch", 404),
    post("unknown-entity-create", {"name": "Widget"}, status=404, path="nosuch"),
    get("child-entity-list", "gadget_part", 404),
    post("child-entity-create", {"label": "screw"}, status=404, path="gadget_part"),
    get("child-entity-row-by-id", "gadget_part/{part}", 404),
    get("record-id-malformed", "gadget/not-an-id", 404),
    get("record-id-of-another-entity", "maker/{gadget}", 404),
    Bad("patch-missing-record", "PATCH", "gadget/{missing}", 404, json={"name": "X"}),
    Bad("delete-missing-record", "DELETE", "gadget/{missing}", 404),
    post("restore-record-not-in-trash", None, status=404, path="gadget/{gadget}/restore"),
    get("history-of-malformed-id", "gadget/not-an-id/history", 404),
    get("related-unknown-list", "gadget/{gadget}/related/nosuch", 404),
    post("unknown-action", None, status=404, path="gadget/{gadget}/actions/explode"),
    Bad("method-not-allowed", "PUT", "gadget/{gadget}", 405, json={"name": "X"}),
    Bad("method-not-allowed-on-list", "DELETE", "gadget", 405),
    # --- list parameters --------------------------------------------------------------------
    get("sort-unknown-field", "gadget?sort=colour"),
    get("sort-on-links-field", "gadget?sort=makers"),
    get("sort-on-table-field", "gadget?sort=parts"),
    get("sort-same-field-twice", "gadget?sort=name,-name"),
    get("sort-two-signs", "gadget?sort=--name"),
    get("limit-zero", "gadget?limit=0"),
    get("limit-over-max", "gadget?limit=501"),
    get("limit-not-a-number", "gadget?limit=abc"),
    get("offset-negative", "gadget?offset=-1"),
    get("cursor-garbage", "gadget?cursor=!!not-a-cursor!!"),
    get("cursor-from-another-sort", "maker?sort=-name&limit=1&cursor={cursor}"),
    get("cursor-and-offset-together", "maker?sort=name&limit=1&offset=1&cursor={cursor}"),
    get(
        "cursor-with-wrong-value-type",
        "maker?sort=name&limit=1&cursor="
        "eyJzIjoibmFtZSIsInYiOls1LCIwMWEyMGMxNS04MWU5LTczMWEtYjZiMS0xOTc4NTdmZWVmNTgiXX0",
    ),  # {"s":"name","v":[5,id]}
    get("unknown-query-parameter", "gadget?colour=red"),
    get("repeated-parameter", "gadget?limit=1&limit=2"),
    get("equality-value-of-wrong-type", "gadget?count=many"),
    get("equality-int-beyond-column", "gadget?stars=99999"),
    get("equality-value-with-nul", "gadget?name=a%00b"),
    get("equality-on-links-field", "gadget?makers={maker}"),
    get("filter-unknown-field", "gadget?filter=colour%20%3D%3D%20%27red%27"),
    get("count-not-boolean", "gadget?count=maybe"),
    get("fields-unknown", "gadget?fields=name,colour"),
    get("expand-not-a-link", "gadget?expand=name"),
    get("record-read-with-list-parameter", "gadget/{gadget}?sort=name"),
    # --- bulk -------------------------------------------------------------------------------
    post("bulk-over-1000-items", [{"name": f"G{i}"} for i in range(1001)], status=400, path="gadget/bulk"),
    post("bulk-body-not-an-array", {"name": "Widget"}, status=400, path="gadget/bulk"),
    post(
        "bulk-one-bad-item-writes-none",
        [{"name": "fine"}, {"name": "bad", "count": "x"}, {"notes": "nameless"}],
        path="gadget/bulk",
        fields=_f((1, "count"), (2, "name")),
    ),
    post(
        "bulk-update-of-missing-record",
        [{"name": "fine"}, {"id": "{missing}", "name": "ghost"}],
        path="gadget/bulk",
        fields=_f((1, "id")),
    ),
    post(
        "bulk-unique-clash-within-batch",
        [{"name": "a", "email": "same@x.dev"}, {"name": "b", "email": "same@x.dev"}],
        path="gadget/bulk",
        fields=_f((1, "email")),
    ),
    # --- size, authentication, permissions ----------------------------------------------------
    post("body-over-configured-limit", {"name": "Widget", "notes": "x" * 2000}, status=413, small_body_limit=True),
    Bad(
        "body-over-default-10mb",
        "POST",
        "gadget",
        413,
        content_type=JSON,
        data=b'{"name": "Widget", "notes": "' + b"x" * (10 * 1024 * 1024) + b'"}',
    ),
    get("no-token", "gadget", 401, who="anonymous"),
    post("no-token-create", {"name": "Widget"}, status=401, who="anonymous"),
    post(
        "bogus-token",
        {"name": "Widget"},
        status=401,
        who="anonymous",
        headers={"Authorization": "Bearer not-a-real-token"},
    ),
    get("basic-auth-instead-of-bearer", "gadget", 401, who="anonymous", headers={"Authorization": "Basic YTpi"}),
    post(
        "non-admin-adds-overlay-field",
        {"name": "size", "type": "int"},
        status=403,
        who="rep",
        path="meta/entities/gadget/fields",
    ),
    post(
        "non-admin-adds-overlay-entity",
        {"entity": "widget", "fields": {"name": {"type": "string"}}},
        status=403,
        who="rep",
        path="meta/entities",
    ),
    post(
        "overlay-field-unknown-type",
        {"name": "size", "type": "nonsense"},
        path="meta/entities/gadget/fields",
        fields=_f("fields.size.type"),
    ),
    post(
        "overlay-enum-without-options",
        {"name": "size", "type": "enum"},
        path="meta/entities/gadget/fields",
        fields=_f("fields.size"),
    ),
    post("overlay-field-without-name", {"type": "int"}, status=400, path="meta/entities/gadget/fields"),
    post("overlay-field-duplicate", {"name": "count", "type": "int"}, status=409, path="meta/entities/gadget/fields"),
    post(
        "overlay-entity-duplicate",
        {"entity": "gadget", "fields": {"name": {"type": "string"}}},
        status=409,
        path="meta/entities",
    ),
    post(
        "overlay-field-on-unknown-entity",
        {"name": "size", "type": "int"},
        status=404,
        path="meta/entities/nosuch/fields",
    ),
    post(
        "overlay-field-on-child-entity",
        {"name": "size", "type": "int"},
        status=404,
        path="meta/entities/gadget_part/fields",
    ),
    post(
        "sign-in-wrong-password",
        {"email": "admin@test.dev", "password": "wrong"},
        status=401,
        path="auth/token",
        who="anonymous",
    ),
    post("sign-in-malformed", {"user": "admin@test.dev"}, status=400, path="auth/token", who="anonymous"),
]


@dataclass
class Shared:
    workspace: Workspace
    apis: dict[str, Api]
    world: dict[str, str]
    database_url: str
    tmp_path: Path


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    """One workspace per backend for the whole table: every case writes nothing, so the
    cases cannot disturb each other (and a case that does write fails on its own)."""
    if request.param == "postgresql" and not PG_URL:
        pytest.skip("PostgreSQL tests need TESSERA_TEST_DATABASE_URL")
    tmp_path = tmp_path_factory.mktemp("bad_requests")
    admin_engine, schema = None, f"t_{uuid.uuid4().hex[:12]}"
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tessera.db'}"
    else:
        admin_engine = sa.create_engine(_pg_url(), isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = f"{_pg_url()}{'&' if '?' in _pg_url() else '?'}options=-csearch_path%3D{schema}"
    config = make_config(url, tmp_path)
    ws = Workspace(config, meta_check_interval=0)
    ws.install()
    ensure_roles(ws)
    create_user(ws, "admin@test.dev", "Ada Admin", PASSWORD, ["admin"])
    create_user(ws, "rep@test.dev", "Rex Rep", PASSWORD, ["sales_rep"])
    client = create_app(config, ws).test_client()
    apis = {
        "admin": sign_in(client, "admin@test.dev"),
        "rep": sign_in(client, "rep@test.dev"),
        "anonymous": Api(client, None),
    }
    admin = apis["admin"]
    acme = admin.post("maker", {"name": "Acme"}).get_json()
    beta = admin.post("maker", {"name": "Beta"}).get_json()
    gadget = admin.post(
        "gadget", {"name": "Existing", "maker": acme["id"], "makers": [acme["id"]], "parts": [{"label": "screw"}]}
    ).get_json()
    cursor = admin.get("maker?sort=name&limit=1").get_json()["next_cursor"]
    world = {
        "maker": acme["id"],
        "beta": beta["id"],
        "gadget": gadget["id"],
        "part": gadget["parts"][0]["id"],
        "missing": MISSING,
        "cursor": cursor,
    }
    yield Shared(ws, apis, world, url, tmp_path)
    ws.close()
    if admin_engine is not None:
        with admin_engine.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin_engine.dispose()


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, replacement in names.items():
            value = value.replace("{" + key + "}", replacement)
        return value
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


def database_state(workspace: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, except sign-in tokens (signing in is not the request)."""
    state: dict[str, list[tuple[Any, ...]]] = {}
    with workspace.db.connect() as conn:
        for name in sorted(sa.inspect(conn).get_table_names()):
            if name == "tessera_token":
                continue
            rows = conn.execute(sa.text(f'SELECT * FROM "{name}"')).all()
            state[name] = sorted((tuple(r) for r in rows), key=repr)
    return state


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_request_is_a_problem_and_writes_nothing(case: Bad, shared: Shared) -> None:
    workspace, world = shared.workspace, shared.world
    if case.small_body_limit:
        config = make_config(shared.database_url, shared.tmp_path, max_body_bytes=1000)
        api = sign_in(create_app(config, workspace).test_client(), "admin@test.dev")
    else:
        api = shared.apis[case.who]
    counts = {t: table_rows(workspace, t) for t in ("gadget", "maker", "gadget__parts", "tessera_audit")}
    before = database_state(workspace)

    kw: dict[str, Any] = {"headers": _fill(case.headers, world)}
    if case.data is not None:
        kw["data"] = case.data
        if case.content_type:
            kw["headers"]["Content-Type"] = case.content_type
    elif case.json is not _UNSET and case.json is not None:
        kw["json"] = _fill(case.json, world)
    response = api._call(case.method, _fill(case.path, world), **kw)

    body = response.get_json(force=True, silent=True)
    assert response.status_code == case.status, body
    assert response.headers["Content-Type"] == "application/problem+json"
    assert isinstance(body, dict) and {"type", "title", "status", "detail"} <= set(body), body
    assert body["status"] == case.status and body["type"].startswith("https://")
    assert body["title"] and body["detail"]
    if case.fields is not None:
        reported = {(e["index"], e["field"]) if "index" in e else e["field"] for e in body.get("errors", [])}
        assert reported == set(case.fields), body
        assert all(e["message"] for e in body["errors"])
    if case.status == 405:
        assert response.headers.get("Allow")

    after = {t: table_rows(workspace, t) for t in counts}
    if case.path == "auth/token" and case.status == 401:  # a failed sign-in is audited, nothing else
        assert after.pop("tessera_audit") == counts.pop("tessera_audit") + 1
    assert after == counts
    if case.path != "auth/token":
        assert database_state(workspace) == before


def test_the_table_is_big_enough_and_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 35
