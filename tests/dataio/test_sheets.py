"""Google Sheets import against a local fake of Google: the CSV export, the Sheets API with a
service account (JWT bearer flow), and the scheduled re-import as an upsert."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from engine.actor import SYSTEM
from engine.automation.jobs import InProcessRunner
from engine.config import Config
from engine.errors import BadRequest, PermissionDenied, ValidationError
from engine.workspace import Workspace
from plugins.sheets.google import (
    SCOPE,
    ServiceAccount,
    SheetUnavailable,
    csv_export_url,
    import_sheet,
    parse_sheet,
    sheet_source,
)
from tests.conftest import make_config

SHEET_ID = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
TOKEN = "fake-access-token"
LEADS = [
    ["Name", "E-mail", "Company", "Score"],
    ["Ada", "ada@example.com", "Acme", "10"],
    ["Bob", "bob@example.com"],  # the API drops trailing empty cells
    [],
    ["Cy", "cy@example.com", "Initech", "30"],
]


def _private_pem() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


class FakeGoogle:
    """Google's token endpoint, the Sheets API v4 and the CSV export, for one spreadsheet."""

    def __init__(self, public_pem: str):
        self.public_key = RSAKey.import_key(public_pem)
        self.rows: list[list[str]] = [list(r) for r in LEADS]
        self.tabs = [{"properties": {"sheetId": 0, "title": "Leads"}}, {"properties": {"sheetId": 7, "title": "Old"}}]
        self.requests: list[str] = []
        self.server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        self.base = f"http://127.0.0.1:{self.server.server_port}"

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.requests.append(request.full_path.rstrip("?"))
        return self.route(request)(environ, start_response)

    def route(self, request: Request) -> Response:
        path = request.path
        if path == "/token" and request.method == "POST":
            return self.token(request)
        if path.startswith("/v4/"):
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return _json({"error": {"code": 401, "message": "Request had invalid credentials."}}, 401)
            if path == f"/v4/spreadsheets/{SHEET_ID}":
                return _json({"sheets": self.tabs})
            if path == f"/v4/spreadsheets/{SHEET_ID}/values/'Leads'":
                return _json({"range": "Leads!A1:D5", "majorDimension": "ROWS", "values": self.rows})
            return _json({"error": {"code": 404, "message": "Requested entity was not found."}}, 404)
        if path == f"/spreadsheets/d/{SHEET_ID}/export" and request.args.get("format") == "csv":
            out = io.StringIO()
            width = len(self.rows[0])  # the export pads every row to the sheet's width
            csv.writer(out, lineterminator="\n").writerows(r + [""] * (width - len(r)) for r in self.rows)
            return Response(out.getvalue(), content_type="text/csv; charset=utf-8")
        if path.endswith("/export"):  # a private sheet: Google's sign-in page
            return Response("<html>Sign in</html>", content_type="text/html; charset=utf-8")
        return Response("not found", status=404)

    def token(self, request: Request) -> Response:
        if request.form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return _json({"error": "unsupported_grant_type"}, 400)
        try:
            claims = jwt.decode(request.form["assertion"], self.public_key).claims
        except Exception:
            return _json({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, 400)
        if claims.get("aud") != f"{self.base}/token" or claims.get("scope") != SCOPE:
            return _json({"error": "invalid_grant", "error_description": "bad audience or scope"}, 400)
        return _json({"access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer"})

    def __enter__(self) -> FakeGoogle:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return _private_pem()


@pytest.fixture
def google(keys: tuple[str, str]) -> Iterator[FakeGoogle]:
    with FakeGoogle(keys[1]) as fake:
        yield fake


@pytest.fixture
def key_file(google: FakeGoogle, keys: tuple[str, str], tmp_path: Path) -> Path:
    path = tmp_path / "service-account.json"
    document = {
        "type": "service_account",
        "client_email": "importer@project.iam.gserviceaccount.com",
        "private_key_id": "k1",
        "private_key": keys[0],
        "token_uri": f"{google.base}/token",
    }
    path.write_text(json.dumps(document))
    return path


# --- reading a sheet ---------------------------------------------------------------------


def test_sheet_references_become_export_urls() -> None:
    edit = f"https://docs.google.com/spreadsheets/d/{SHEET_ID}/edit#gid=7"
    assert csv_export_url(parse_sheet(edit)) == (
        f"https://docs.google.com/spreadsheets/d/{SHEET_ID}/export?format=csv&gid=7"
    )
    assert csv_export_url(parse_sheet(SHEET_ID)) == (
        f"https://docs.google.com/spreadsheets/d/{SHEET_ID}/export?format=csv"
    )
    published = "https://docs.google.com/spreadsheets/d/e/2PACX-1vQ/pub?output=csv"
    assert csv_export_url(parse_sheet(published)) == published
    with pytest.raises(BadRequest, match="neither a spreadsheet id"):
        parse_sheet("file:///etc/passwd")


def test_a_shared_sheet_is_read_from_its_csv_export(google: FakeGoogle) -> None:
    table = sheet_source(f"{google.base}/spreadsheets/d/{SHEET_ID}/edit#gid=0")
    assert table.headers == ["Name", "E-mail", "Company", "Score"]
    rows = [r for r in table.rows if r]
    assert rows[0] == ["Ada", "ada@example.com", "Acme", "10"]
    assert rows[1][:2] == ["Bob", "bob@example.com"]
    assert google.requests == [f"/spreadsheets/d/{SHEET_ID}/export?format=csv&gid=0"]


def test_a_private_sheet_without_credentials_says_how_to_share_it(google: FakeGoogle) -> None:
    with pytest.raises(SheetUnavailable, match="anyone with the link"):
        sheet_source(f"{google.base}/spreadsheets/d/PRIVATEsheet0123456789xyz/edit")


def test_the_sheets_api_with_a_service_account(google: FakeGoogle, key_file: Path) -> None:
    table = sheet_source(SHEET_ID, key_file, api_base=f"{google.base}/v4")
    assert table.name == "Leads"
    assert table.headers == ["Name", "E-mail", "Company", "Score"]
    assert list(table.rows) == [
        ["Ada", "ada@example.com", "Acme", "10"],
        ["Bob", "bob@example.com", None, None],
        ["Cy", "cy@example.com", "Initech", "30"],
    ]
    assert google.requests[0] == "/token"
    assert google.requests[1].startswith(f"/v4/spreadsheets/{SHEET_ID}?fields=")
    assert google.requests[2].startswith(f"/v4/spreadsheets/{SHEET_ID}/values/")
    # a gid names another tab; one the spreadsheet lacks is a clear error
    with pytest.raises(BadRequest, match="no tab with gid 3"):
        sheet_source(
            f"https://docs.google.com/spreadsheets/d/{SHEET_ID}/edit#gid=3", key_file, api_base=f"{google.base}/v4"
        )


def test_a_wrong_key_or_a_sheet_not_shared_is_a_clear_error(google: FakeGoogle, key_file: Path, tmp_path: Path) -> None:
    wrong = json.loads(key_file.read_text()) | {"private_key": _private_pem()[0]}
    with pytest.raises(SheetUnavailable, match=r"refused the service account .*Invalid JWT Signature"):
        sheet_source(SHEET_ID, wrong, api_base=f"{google.base}/v4")
    with pytest.raises(SheetUnavailable, match="share the sheet with the service account"):
        sheet_source("OTHERsheet0123456789abcdef", key_file, api_base=f"{google.base}/v4")
    with pytest.raises(BadRequest, match="lacks private_key"):
        ServiceAccount.load({"client_email": "x@y.z"})


# --- importing, once and on a schedule ------------------------------------------------------


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> Config:
    return make_config(database_url, tmp_path, packs=("import_api_kit",))


def _prospects(ws: Workspace) -> list[dict[str, Any]]:
    return ws.records.list(SYSTEM, "prospect", {"sort": "email", "limit": "100"}).as_dict()["data"]


def test_importing_a_sheet_twice_as_an_upsert_gives_the_same_database(
    workspace: Workspace, google: FakeGoogle, key_file: Path
) -> None:
    args = {
        "entity": "prospect",
        "url": SHEET_ID,
        "credentials": str(key_file),
        "api_base": f"{google.base}/v4",
        "key": "email",
        "mapping": {"Name": "name", "E-mail": "email", "Company": "company", "Score": "score"},
    }
    first = import_sheet(workspace, args)
    assert (first.created, first.failed) == (3, 0)
    once = _prospects(workspace)
    again = import_sheet(workspace, args)
    assert (again.created, again.failed) == (0, 0)
    assert _prospects(workspace) == once
    with pytest.raises(BadRequest, match="does not take colour"):
        import_sheet(workspace, {**args, "colour": "blue"})


def test_a_sheet_with_a_bad_row_fails_the_job_and_writes_nothing(
    workspace: Workspace, google: FakeGoogle, key_file: Path
) -> None:
    google.rows[1] = ["Ada", "ada@example.com", "Acme", "lots"]
    args = {"entity": "prospect", "url": SHEET_ID, "credentials": str(key_file), "api_base": f"{google.base}/v4"}
    with pytest.raises(ValidationError, match=r"1 of 3 rows failed \(nothing was written\); first: row 1 score"):
        import_sheet(workspace, {**args, "key": "email"})
    assert _prospects(workspace) == []
    with pytest.raises(BadRequest, match=r"no active user 'nobody@test\.dev'"):
        import_sheet(workspace, {**args, "user": "nobody@test.dev"})
    # as a user, the user's permissions apply: a sales rep may not import prospects
    with pytest.raises(PermissionDenied, match="may not import"):
        import_sheet(workspace, {**args, "user": "rep@test.dev"})


def test_a_scheduled_rule_re_imports_a_sheet_as_an_upsert(workspace: Workspace, google: FakeGoogle) -> None:
    url = f"{google.base}/spreadsheets/d/{SHEET_ID}/edit#gid=0"
    workspace.records.create(SYSTEM, "sheet_feed", {"name": "Leads", "url": url, "target": "prospect", "key": "email"})
    t0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
    runner = InProcessRunner(workspace)

    first = runner.tick(t0)
    assert first.scheduled == 1 and first.outbox["sent"] == 1
    imported = _prospects(workspace)
    assert [(p["name"], p["company"], p["score"]) for p in imported] == [
        ("Ada", "Acme", 10),
        ("Bob", None, None),
        ("Cy", "Initech", 30),
    ]

    # the same hour again: nothing is due
    assert runner.tick(t0 + dt.timedelta(minutes=10)).outbox["sent"] == 0
    # the next hour: the sheet is imported again and the database stays exactly as it was
    assert runner.tick(t0 + dt.timedelta(hours=1)).outbox["sent"] == 1
    assert _prospects(workspace) == imported

    # a change in the sheet updates the record it keys; a new row is created
    google.rows[1][2] = "Umbrella"
    google.rows.append(["Di", "di@example.com", "Globex", "40"])
    assert runner.tick(t0 + dt.timedelta(hours=2)).outbox["sent"] == 1
    after = _prospects(workspace)
    assert [p["email"] for p in after] == ["ada@example.com", "bob@example.com", "cy@example.com", "di@example.com"]
    assert after[0]["id"] == imported[0]["id"] and after[0]["company"] == "Umbrella"
    assert after[1:3] == imported[1:3]
