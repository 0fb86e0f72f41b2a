"""Google Sheets import against a local fake of Google: the CSV export, the Sheets API with a
service account (JWT bearer flow), and the scheduled re-import as an upsert."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import logging
import re
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
from engine.automation.jobs import InProcessRunner, run_job
from engine.config import Config
from engine.dataio import importing
from engine.dataio.importing import ImportOptions
from engine.errors import BadRequest, PermissionDenied, ValidationError
from engine.workspace import Workspace
from plugins.sheets import google as sheets_google
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
PUBLISHED = "2PACX-1vQfakePublishedSheet"
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
        #: what the token endpoint answers instead of a token (a 5xx: Google is unavailable)
        self.token_status: int | None = None
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
            return Response(self.csv(), content_type="text/csv; charset=utf-8")
        if path == f"/spreadsheets/d/e/{PUBLISHED}/pub" and request.args.get("output") == "csv":
            return Response(self.csv(), content_type="text/csv; charset=utf-8")
        if path.endswith("/export"):  # a private sheet: Google's sign-in page
            return Response("<html>Sign in</html>", content_type="text/html; charset=utf-8")
        if path == "/sign-in-as-csv":  # a sign-in page behind a proxy that calls everything CSV
            return Response("<!doctype html>\n<html>Sign in</html>", content_type="text/csv")
        return Response("not found", status=404)

    def csv(self) -> str:
        out = io.StringIO()
        width = len(self.rows[0])  # the export pads every row to the sheet's width
        csv.writer(out, lineterminator="\n").writerows(r + [""] * (width - len(r)) for r in self.rows)
        return out.getvalue()

    def token(self, request: Request) -> Response:
        if self.token_status is not None:
            return Response("<html>Server Error</html>", status=self.token_status, content_type="text/html")
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


def test_urls_of_a_browser_signed_in_to_several_google_accounts(google: FakeGoogle) -> None:
    edit = f"https://docs.google.com/spreadsheets/u/1/d/{SHEET_ID}/edit#gid=7"
    assert parse_sheet(edit).spreadsheet_id == SHEET_ID
    assert csv_export_url(parse_sheet(edit)) == (
        f"https://docs.google.com/spreadsheets/d/{SHEET_ID}/export?format=csv&gid=7"
    )
    table = sheet_source(f"{google.base}/spreadsheets/u/0/d/{SHEET_ID}/edit#gid=0")
    assert table.headers == ["Name", "E-mail", "Company", "Score"]
    assert google.requests == [f"/spreadsheets/d/{SHEET_ID}/export?format=csv&gid=0"]


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


def test_a_sign_in_page_is_recognised_by_its_content_too(google: FakeGoogle) -> None:
    with pytest.raises(SheetUnavailable, match=r"not public \(Google answered with a sign-in page\)"):
        sheet_source(f"{google.base}/sign-in-as-csv")


def test_a_tab_name_needs_the_sheets_api(google: FakeGoogle) -> None:
    """The CSV export has no parameter for a tab's name: it would give the first tab."""
    with pytest.raises(BadRequest, match=r"A tab name needs the Sheets API .*put the tab's gid in the URL \(#gid"):
        sheet_source(f"{google.base}/spreadsheets/d/{SHEET_ID}/edit", sheet="Old")
    assert google.requests == []


def test_a_header_repeated_in_the_sheet_is_refused_either_way(google: FakeGoogle, key_file: Path) -> None:
    google.rows[0] = ["Name", "E-mail", " name ", "Score"]
    with pytest.raises(BadRequest, match="Leads: the column 'name' appears twice in the header row"):
        sheet_source(SHEET_ID, key_file, api_base=f"{google.base}/v4")
    with pytest.raises(BadRequest, match="the column 'name' appears twice in the header row"):
        sheet_source(f"{google.base}/spreadsheets/d/{SHEET_ID}/edit")


def test_the_sheets_api_with_a_service_account(google: FakeGoogle, key_file: Path) -> None:
    table = sheet_source(SHEET_ID, key_file, api_base=f"{google.base}/v4")
    assert table.name == "Leads"
    assert table.headers == ["Name", "E-mail", "Company", "Score"]
    assert list(table.rows) == [
        ["Ada", "ada@example.com", "Acme", "10"],
        ["Bob", "bob@example.com", None, None],
        [],  # a blank row, skipped by the importer but counted, as in the CSV export
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


def test_a_token_endpoint_that_fails_is_unavailable_not_refusing(google: FakeGoogle, key_file: Path) -> None:
    google.token_status = 503
    with pytest.raises(SheetUnavailable, match=r"^Google's token endpoint answered 503; try again later$"):
        sheet_source(SHEET_ID, key_file, api_base=f"{google.base}/v4")


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


def _edit_url(google: FakeGoogle) -> str:
    return f"{google.base}/spreadsheets/d/{SHEET_ID}/edit#gid=0"


def test_row_numbers_after_a_blank_row_are_the_same_from_the_api_and_the_csv_export(
    workspace: Workspace, google: FakeGoogle, key_file: Path
) -> None:
    google.rows[4] = ["Cy", "cy@example.com", "Initech", "lots"]  # the sheet's row 5: data row 4
    api = {"credentials": str(key_file), "api_base": f"{google.base}/v4", "url": SHEET_ID}
    for source in (api, {"url": _edit_url(google)}):
        with pytest.raises(ValidationError, match=r"1 of 3 rows failed \(nothing was written\); first: row 4 score"):
            import_sheet(workspace, {"entity": "prospect", **source})


def test_a_partial_run_that_wrote_batches_is_done_and_logs_its_row_errors(
    workspace: Workspace, google: FakeGoogle, caplog: pytest.LogCaptureFixture
) -> None:
    """Without a key a retry would create the written rows again: the job succeeds and warns."""
    google.rows[1] = ["Ada", "ada@example.com", "Acme", "lots"]
    args = {"entity": "prospect", "url": _edit_url(google), "partial": True, "batch_size": 1}
    with caplog.at_level(logging.WARNING, logger="tessera.import"):
        delivery = run_job(workspace, {"payload": {"job": "import_sheet", "args": args}})
    assert delivery.ok
    assert [p["email"] for p in _prospects(workspace)] == ["bob@example.com", "cy@example.com"]
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "1 of 3 rows failed" in warning.getMessage()
    assert "2 created, 0 updated" in warning.getMessage() and "row 1 score" in warning.getMessage()
    # a partial run that wrote nothing because of row errors fails, to be retried and listed
    google.rows[1:] = [["Eve", "eve@example.com", "", "lots"]]
    with pytest.raises(ValidationError, match=r"1 of 1 rows failed \(nothing was written\)"):
        import_sheet(workspace, args)


@pytest.fixture
def options_seen(monkeypatch: pytest.MonkeyPatch) -> list[ImportOptions]:
    """The ImportOptions each import_table call gets (the import still runs)."""
    seen: list[ImportOptions] = []
    real = importing.import_table

    def spy(ws: Any, actor: Any, entity: str, table: Any, options: ImportOptions, *rest: Any) -> Any:
        seen.append(options)
        return real(ws, actor, entity, table, options, *rest)

    monkeypatch.setattr(importing, "import_table", spy)
    return seen


def test_the_job_takes_the_reading_options_of_the_api(
    workspace: Workspace, google: FakeGoogle, options_seen: list[ImportOptions]
) -> None:
    google.rows = [["Entry", "Amount"], ["Rent", "8.500"]]  # a German-locale sheet
    args = {
        "entity": "ledger",
        "url": _edit_url(google),
        "mapping": {"Entry": "entry"},
        "auto": True,
        "decimal": ",",
        "date_order": "mdy",
        "timezone": "Europe/Berlin",
        "values": {"entry": {"Rent": "Miete"}},
    }
    report = import_sheet(workspace, args)
    assert (report.created, report.failed) == (1, 0), report.errors
    [entry] = workspace.records.list(SYSTEM, "ledger", {}).as_dict()["data"]
    assert (entry["entry"], entry["amount"]) == ("Miete", 8500)
    [options] = options_seen
    assert (options.date_order, options.timezone, options.auto) == ("mdy", "Europe/Berlin", True)
    bad = {
        "decimal": ";",
        "date_order": "ymd",
        "timezone": "Mars/Olympus_Mons",
        "values": {"entry": "Miete"},
        "partial": "maybe",
        "batch_size": 0,
        "dedupe": "merge",
        "auto": "sometimes",
        "mapping": ["Entry"],
        "key": 5,
        "source_detail": ["a", "b"],
    }
    for name, value in bad.items():
        with pytest.raises(BadRequest, match=f"^import_sheet: the argument {name}: "):
            import_sheet(workspace, {**args, name: value})
    # the HTTP import's rules, so the same words, and every problem at once
    with pytest.raises(BadRequest) as all_at_once:
        import_sheet(workspace, {**args, "dedupe": "merge", "batch_size": "0"})
    assert str(all_at_once.value) == (
        "import_sheet: the argument dedupe: Must be one of skip, update, flag, not 'merge'; "
        "the argument batch_size: Must be a whole number from 1 to 10,000, not 0"
    )


def test_the_batch_size_defaults_as_for_the_api(
    workspace: Workspace, google: FakeGoogle, options_seen: list[ImportOptions]
) -> None:
    import_sheet(workspace, {"entity": "prospect", "url": _edit_url(google)})
    import_sheet(workspace, {"entity": "prospect", "url": _edit_url(google), "key": "email", "partial": True})
    assert [(o.batch_size, o.batch_rows) for o in options_seen] == [(None, 2500), (None, 1000)]


def test_default_credentials_only_for_a_spreadsheet_id_and_null_opts_out(
    workspace: Workspace, google: FakeGoogle, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    published = f"{google.base}/spreadsheets/d/e/{PUBLISHED}/pub?output=csv"
    first = import_sheet(workspace, {"entity": "prospect", "url": published, "key": "email"})
    assert (first.created, first.failed) == (3, 0)
    assert google.requests == [f"/spreadsheets/d/e/{PUBLISHED}/pub?output=csv"]
    # null: the CSV export, although the URL names a spreadsheet and credentials are set
    google.requests.clear()
    again = import_sheet(
        workspace, {"entity": "prospect", "url": _edit_url(google), "key": "email", "credentials": None}
    )
    assert (again.created, again.failed) == (0, 0)
    assert google.requests == [f"/spreadsheets/d/{SHEET_ID}/export?format=csv&gid=0"]
    # absent, with a spreadsheet id: the default credentials and the Sheets API
    google.requests.clear()
    import_sheet(workspace, {"entity": "prospect", "url": SHEET_ID, "key": "email", "api_base": f"{google.base}/v4"})
    assert google.requests[0] == "/token"


def test_a_sheet_without_data_rows_fails_the_job(workspace: Workspace, google: FakeGoogle) -> None:
    google.rows[1:] = [[]]  # emptied by mistake: only the header row (and a blank one) is left
    with pytest.raises(BadRequest, match=r"the sheet .* has no data rows \(only a header row\)"):
        import_sheet(workspace, {"entity": "prospect", "url": _edit_url(google), "key": "email"})


# --- the documented example -----------------------------------------------------------------

DOCS = Path(__file__).parents[2] / "docs" / "data-import-api.md"


def _google_sheets_section() -> str:
    return DOCS.read_text(encoding="utf-8").split("\n## Google Sheets\n", 1)[1].split("\n## ", 1)[0]


@pytest.fixture
def documented(database_url: str, tmp_path: Path, key_file: Path) -> Iterator[Workspace]:
    """A workspace with the leads pack and the docs' example as the pack ``my_pack``."""
    pack = tmp_path / "doc_packs" / "my_pack"
    for block in re.findall(r"```yaml\n(.*?)```", _google_sheets_section(), re.S):
        where = pack / block.splitlines()[0].removeprefix("# metadata/my_pack/")
        where.parent.mkdir(parents=True, exist_ok=True)
        where.write_text(block.replace("/etc/tessera/google-service-account.json", str(key_file)))
    (pack / "pack.yaml").write_text("name: my_pack\nlabel: The docs' example\nversion: 1.0.0\n")
    config = make_config(database_url, tmp_path, packs=("core", "accounts", "leads", "my_pack"))
    config = dataclasses.replace(config, extra_pack_paths=(*config.extra_pack_paths, pack.parent))
    ws = Workspace(config, meta_check_interval=0)
    ws.install()
    yield ws
    ws.close()


def test_the_documented_feed_of_leads_runs(
    documented: Workspace, google: FakeGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sheets_google, "SHEETS_API", f"{google.base}/v4")
    google.rows = [
        ["First name", "Last name", "E-mail", "Company"],
        ["Ada", "Lovelace", "ada@example.com", "Analytical Engines"],
        [],
        ["Bob", "Byte", "bob@example.com"],
    ]
    posted = re.search(r"`POST /api/v1/sheet_feed (\{.*?\})`", _google_sheets_section(), re.S)
    assert posted is not None
    feed = json.loads(posted.group(1))
    feed["url"] = feed["url"].replace("/d/ID/", f"/d/{SHEET_ID}/")
    documented.records.create(SYSTEM, "sheet_feed", feed)
    runner = InProcessRunner(documented)
    t0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
    for hour in range(2):  # imported, then imported again: the same leads, updated in place
        tick = runner.tick(t0 + dt.timedelta(hours=hour))
        assert tick.scheduled == 1 and tick.outbox["failed"] == tick.outbox["retry"] == 0
        leads = documented.records.list(SYSTEM, "lead", {"sort": "email"}).as_dict()["data"]
        assert [(lead["name"], lead["email"], lead["company"]) for lead in leads] == [
            ("Ada Lovelace", "ada@example.com", "Analytical Engines"),
            ("Bob Byte", "bob@example.com", None),
        ]
    assert google.requests[0] == "/token"  # the documented credentials: the Sheets API
