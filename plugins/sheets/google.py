"""Google Sheets as an import source, and the ``import_sheet`` job that re-imports one
(registered by the first-party ``sheets`` plugin, :mod:`plugins.sheets`).

Two ways to read a sheet, both giving a :class:`engine.dataio.sources.Table` (first row:
the headers) that :func:`engine.dataio.importing.import_table` takes like a file:

- **CSV export** (no credentials): a sheet shared as "anyone with the link" (or published
  to the web) is downloaded from its CSV export URL. ``https://docs.google.com/spreadsheets
  /d/ID/edit#gid=0`` becomes ``.../d/ID/export?format=csv&gid=0``; any other ``http(s)``
  URL (a "publish to web" CSV link) is fetched as given.
- **Sheets API v4** (a service account): ``spreadsheets.values.get`` with an OAuth2 access
  token from the JWT bearer flow (RFC 7523): a JWT signed with the account's private key
  (RS256, ``joserfc``) is exchanged at the key file's ``token_uri``. Share the sheet with
  the account's ``client_email``. The key file is the JSON Google gives; its path comes
  from the job's ``credentials`` argument or ``GOOGLE_APPLICATION_CREDENTIALS``.

Base URLs are arguments (``api_base``; the key file's ``token_uri``), so tests run against
a local fake server.

**Scheduled re-import**: the ``import_sheet`` job (args ``entity``, ``url``, ``key``,
``mapping``...; see :mod:`plugins.sheets.job_args`) imports a sheet as an upsert on
``key``: a row whose key exists updates that record, a new key creates one, so running it
again changes only what changed. It does not mirror the sheet: empty cells are never
written (a cell cleared in the sheet keeps the record's value) and rows removed from the
sheet are not deleted. A cron rule in a pack or overlay queues it (``enqueue: {job:
import_sheet, args: ...}``); see ``docs/data-import-api.md``.
"""

from __future__ import annotations

import codecs
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit
from urllib.parse import quote as percent_encoded

import requests

from engine.actor import Actor
from engine.errors import BadRequest, TesseraError, ValidationError
from plugins.sheets.job_args import JOB_NAME, job_options

log = logging.getLogger("tessera.import")

SHEETS_API = "https://sheets.googleapis.com/v4"
EXPORT_HOST = "https://docs.google.com"
SCOPE = "https://www.googleapis.com/auth/spreadsheets.readonly"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: the largest CSV export read (the sheet is held in memory while it is parsed)
MAX_BYTES = 50 * 1024 * 1024
TIMEOUT = 30.0
#: a spreadsheet's path; ``/u/N/`` (the account, in a browser signed in to several) may precede ``/d/``
_SHEET_PATH = re.compile(r"/spreadsheets/(?:u/\d+/)?d/([A-Za-z0-9_-]+)")
_BARE_ID = re.compile(r"^[A-Za-z0-9_-]{20,}$")
#: what Google's sign-in (or error) page starts with, whatever its Content-Type says
_HTML_STARTS = (b"<!doctype html", b"<html")
#: row errors a partial run's warning quotes
LOGGED_ERRORS = 5


class SheetUnavailable(TesseraError):
    """Google (or the network) did not hand over the sheet."""

    status = 502
    title = "Bad gateway"


@dataclass(frozen=True)
class SheetRef:
    """Where a sheet is: its spreadsheet id and tab (``gid``), or a URL to fetch as is."""

    spreadsheet_id: str | None
    gid: str | None
    url: str | None


def parse_sheet(source: str) -> SheetRef:
    """A spreadsheet id, a ``.../spreadsheets/d/ID/...`` (or ``.../spreadsheets/u/N/d/ID/...``)
    URL, or another CSV URL."""
    source = source.strip()
    if _BARE_ID.match(source):
        return SheetRef(source, None, None)
    parts = urlsplit(source)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest(f"{source!r} is neither a spreadsheet id nor an http(s) URL of a sheet")
    gids = parse_qs(parts.query).get("gid") or parse_qs(parts.fragment).get("gid")
    gid = gids[0] if gids else None
    found = _SHEET_PATH.search(parts.path)
    if found and found.group(1) != "e":  # /d/e/2PACX...: a "publish to web" link, fetched as is
        return SheetRef(found.group(1), gid, source)
    return SheetRef(None, gid, source)


def csv_export_url(ref: SheetRef) -> str:
    """The URL the sheet's CSV is downloaded from."""
    if ref.spreadsheet_id is None:
        assert ref.url is not None
        return ref.url
    query = {"format": "csv", **({"gid": ref.gid} if ref.gid else {})}
    if ref.url is None:
        return f"{EXPORT_HOST}/spreadsheets/d/{ref.spreadsheet_id}/export?{urlencode(query)}"
    parts = urlsplit(ref.url)
    if parts.path.rstrip("/").endswith("/export"):
        return ref.url
    path = f"/spreadsheets/d/{ref.spreadsheet_id}/export"  # without /u/N/: the link works for anyone
    found = _SHEET_PATH.search(parts.path)
    prefix = parts.path[: found.start()] if found else ""
    return urlunsplit((parts.scheme, parts.netloc, prefix + path, urlencode(query), ""))


# --- service accounts ----------------------------------------------------------------


@dataclass(frozen=True)
class ServiceAccount:
    """The parts of a Google service-account key file the JWT bearer flow needs."""

    client_email: str
    private_key: str
    token_uri: str = "https://oauth2.googleapis.com/token"
    private_key_id: str | None = None

    @classmethod
    def load(cls, source: str | Path | dict[str, Any]) -> ServiceAccount:
        """From the key file's JSON (a dict) or its path."""
        if isinstance(source, dict):
            data = source
        else:
            try:
                data = json.loads(Path(source).read_text())
            except (OSError, ValueError) as exc:
                raise BadRequest(f"The service-account key file {str(source)!r} cannot be read: {exc}") from None
        if not isinstance(data, dict):
            raise BadRequest("The service-account key must be the JSON object Google gives")
        missing = [k for k in ("client_email", "private_key") if not data.get(k)]
        if missing:
            raise BadRequest(f"The service-account key lacks {', '.join(missing)}")
        return cls(
            data["client_email"],
            data["private_key"],
            data.get("token_uri") or cls.token_uri,
            data.get("private_key_id"),
        )


def default_credentials() -> ServiceAccount | None:
    """The key file ``GOOGLE_APPLICATION_CREDENTIALS`` names (Google's own convention), if set."""
    path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    return ServiceAccount.load(path) if path else None


def signed_assertion(service: ServiceAccount, now: float | None = None) -> str:
    """The JWT the token endpoint exchanges for an access token (valid one hour)."""
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    issued = int(now if now is not None else time.time())
    claims = {
        "iss": service.client_email,
        "scope": SCOPE,
        "aud": service.token_uri,
        "iat": issued,
        "exp": issued + 3600,
    }
    header = {"alg": "RS256", "typ": "JWT", **({"kid": service.private_key_id} if service.private_key_id else {})}
    try:
        key = RSAKey.import_key(service.private_key)
    except Exception as exc:  # joserfc and cryptography raise several kinds for a bad PEM
        raise BadRequest(f"The service account's private key is not a valid RSA key: {exc}") from None
    return jwt.encode(header, claims, key)


def access_token(service: ServiceAccount, session: requests.Session, timeout: float = TIMEOUT) -> str:
    """An OAuth2 access token for the account (JWT bearer grant)."""
    try:
        answer = session.post(
            service.token_uri,
            data={"grant_type": JWT_GRANT, "assertion": signed_assertion(service)},
            timeout=timeout,
        )
    except requests.RequestException as exc:
        raise SheetUnavailable(f"The token endpoint {service.token_uri} cannot be reached: {exc}") from None
    if answer.status_code >= 500:
        raise SheetUnavailable(f"Google's token endpoint answered {answer.status_code}; try again later")
    body = _json(answer)
    if answer.status_code != 200 or not body.get("access_token"):
        reason = body.get("error_description") or body.get("error") or f"status {answer.status_code}"
        raise SheetUnavailable(f"Google refused the service account {service.client_email}: {reason}")
    return str(body["access_token"])


def _json(answer: requests.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


# --- reading ------------------------------------------------------------------------


def sheet_source(
    source: str,
    credentials: ServiceAccount | str | Path | dict[str, Any] | None = None,
    *,
    sheet: str | None = None,
    api_base: str = SHEETS_API,
    session: requests.Session | None = None,
    timeout: float = TIMEOUT,
) -> Any:
    """The sheet as a :class:`engine.dataio.sources.Table`: through the Sheets API with a
    service account (``credentials``), else from its CSV export. ``sheet``: the tab's name
    (default: the tab the URL's ``gid`` names, else the first); only the Sheets API finds a
    tab by name, the CSV export takes the ``gid`` in the URL."""
    ref = parse_sheet(source)
    http = session or requests.Session()
    if credentials is None or isinstance(credentials, ServiceAccount):
        service = credentials
    else:
        service = ServiceAccount.load(credentials)
    if service is None:
        if sheet is not None:  # the export has no parameter for a tab's name
            raise BadRequest(
                "A tab name needs the Sheets API (a service account); for the CSV export put the tab's gid"
                " in the URL (#gid=...)"
            )
        return _from_csv_export(ref, http, timeout)
    if ref.spreadsheet_id is None:
        raise BadRequest(
            "The Sheets API needs a spreadsheet id or a .../spreadsheets/d/ID/... URL; a published CSV link"
            " is read without credentials (credentials: null)"
        )
    return _from_api(ref.spreadsheet_id, ref.gid, sheet, service, api_base.rstrip("/"), http, timeout)


def _from_csv_export(ref: SheetRef, http: requests.Session, timeout: float) -> Any:
    from engine.dataio.sources import read_table

    url = csv_export_url(ref)
    try:
        with http.get(url, timeout=timeout, stream=True, allow_redirects=True) as answer:
            if answer.status_code in (401, 403, 404):
                raise SheetUnavailable(
                    f"The sheet's CSV export answered {answer.status_code}: share the sheet as 'anyone with"
                    " the link can view', or use a service account"
                )
            if answer.status_code != 200:
                raise SheetUnavailable(f"The sheet's CSV export answered {answer.status_code}")
            html = "html" in answer.headers.get("Content-Type", "")
            content = b"" if html else _read_limited(answer)
    except requests.RequestException as exc:
        raise SheetUnavailable(f"The sheet cannot be downloaded: {exc}") from None
    if html or _is_html(content):  # Google's sign-in page, whatever its Content-Type says
        raise SheetUnavailable(
            "The sheet is not public (Google answered with a sign-in page): share it as 'anyone"
            " with the link can view', or use a service account"
        )
    name = ref.spreadsheet_id or Path(urlsplit(url).path).name or "sheet"
    return read_table(content, filename=f"{name}.csv")


def _is_html(content: bytes) -> bool:
    start = content[:1024].removeprefix(codecs.BOM_UTF8).lstrip()[:16].lower()
    return start.startswith(_HTML_STARTS)


def _read_limited(answer: requests.Response) -> bytes:
    chunks, size = [], 0
    for chunk in answer.iter_content(1 << 16):
        size += len(chunk)
        if size > MAX_BYTES:
            raise SheetUnavailable(f"The sheet is larger than {MAX_BYTES} bytes; import it as a file")
        chunks.append(chunk)
    return b"".join(chunks)


def _api_get(http: requests.Session, url: str, token: str, params: dict[str, str], timeout: float) -> dict[str, Any]:
    try:
        answer = http.get(url, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
    except requests.RequestException as exc:
        raise SheetUnavailable(f"The Sheets API cannot be reached: {exc}") from None
    body = _json(answer)
    if answer.status_code == 200:
        return body
    message = (body.get("error") or {}).get("message") if isinstance(body.get("error"), dict) else None
    if answer.status_code in (403, 404):
        raise SheetUnavailable(
            f"The Sheets API answered {answer.status_code} ({message or 'no access'}): check the spreadsheet id"
            " and share the sheet with the service account's client_email"
        )
    raise SheetUnavailable(f"The Sheets API answered {answer.status_code}: {message or answer.reason}")


def _from_api(
    spreadsheet_id: str,
    gid: str | None,
    sheet: str | None,
    service: ServiceAccount,
    api_base: str,
    http: requests.Session,
    timeout: float,
) -> Any:
    from engine.dataio.sources import Table, header_row

    token = access_token(service, http, timeout)
    base = f"{api_base}/spreadsheets/{percent_encoded(spreadsheet_id, safe='')}"
    if sheet is None:  # the tab the gid names, else the first
        meta = _api_get(http, base, token, {"fields": "sheets.properties(sheetId,title)"}, timeout)
        tabs = [s.get("properties", {}) for s in meta.get("sheets", [])]
        chosen = next((t for t in tabs if gid is not None and str(t.get("sheetId")) == str(gid)), None)
        if chosen is None and gid is not None:
            raise BadRequest(f"The spreadsheet has no tab with gid {gid}")
        chosen = chosen or (tabs[0] if tabs else None)
        if chosen is None:
            raise BadRequest("The spreadsheet has no tabs")
        sheet = str(chosen.get("title"))
    a1 = "'" + sheet.replace("'", "''") + "'"
    body = _api_get(
        http,
        f"{base}/values/{percent_encoded(a1, safe='')}",
        token,
        {"majorDimension": "ROWS", "valueRenderOption": "FORMATTED_VALUE"},
        timeout,
    )
    values: list[list[Any]] = body.get("values") or []
    if not values:
        raise BadRequest(f"The tab {sheet!r} is empty: the first row must name the columns")
    headers = header_row([_text(v) for v in values[0]], sheet)  # as a file's: stripped, no duplicates
    return Table(name=sheet, headers=headers, rows=_rows(values[1:], len(headers)))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


def _rows(values: list[list[Any]], width: int) -> Iterator[list[str | None]]:
    """Rows as the file reader gives them: the API drops trailing empty cells, so short rows
    are padded; a wholly empty row is ``[]``, which the importer skips but counts, so row
    numbers are those of the sheet (and of its CSV export)."""
    for row in values:
        cells = [_text(v) for v in row]
        if not any(c is not None for c in cells):
            yield []
            continue
        yield cells + [None] * (width - len(cells))


# --- the import_sheet job ------------------------------------------------------------


def _job_actor(ws: Any, user: Any) -> Actor:
    """The user the scheduled import acts as (their permissions apply), else the engine."""
    if not user:
        return Actor(None, frozenset({"admin"}), f"job:{JOB_NAME}")
    import sqlalchemy as sa

    from engine.security.identity import load_actor
    from engine.storage.database import read_transaction

    snap = ws.snapshot()
    users = snap.tables.main("user")
    with read_transaction(ws.db) as conn:
        user_id = conn.execute(
            sa.select(users.c.id).where(
                sa.func.lower(users.c.email) == str(user).strip().lower(), users.c.deleted_at.is_(None)
            )
        ).scalar()
        found = load_actor(conn, snap, user_id, f"job:{JOB_NAME}") if user_id else None
    if found is None:
        raise BadRequest(f"import_sheet: no active user {user!r} to import as")
    return found


def import_sheet(ws: Any, args: dict[str, Any]) -> Any:
    """The ``import_sheet`` job: import a sheet into ``entity``, upserting on ``key``.

    Raises when the sheet cannot be fetched (``SheetUnavailable``, 502: the outbox retries
    with backoff), or (400 and 422: the job fails at once) when an argument is wrong, the
    sheet has no data rows, or rows failed and so nothing was written
    (the default all or nothing, or ``partial`` with every batch rolled back). A ``partial``
    run that wrote some batches is done: running it again would create their rows again
    (without a ``key``), so its row errors are logged as a warning. Returns the report."""
    from engine.dataio import importing

    options = job_options(args)
    url, entity = str(args["url"]), str(args["entity"])
    credentials: ServiceAccount | str | dict[str, Any] | None
    if "credentials" in args:  # given, even as null (the CSV export)
        credentials = args["credentials"] or None
        if credentials is not None and not isinstance(credentials, str | dict):  # never shown: it may hold a key
            raise BadRequest(f"{JOB_NAME}: the argument credentials must be a key file's path")
    else:  # Google's convention, for a reference the Sheets API can read
        credentials = default_credentials() if parse_sheet(url).spreadsheet_id else None
    table = sheet_source(
        url,
        credentials,
        sheet=args.get("sheet") or None,
        api_base=str(args.get("api_base") or SHEETS_API),
        timeout=float(getattr(ws.config, "http_timeout", TIMEOUT) or TIMEOUT),
    )
    run = importing.ImportOptions(**options, dry_run=False)
    report = importing.import_table(ws, _job_actor(ws, args.get("user")), entity, table, run)
    summary = json.dumps({k: v for k, v in report.to_dict().items() if k not in ("errors", "flags")}, default=str)
    log.info("%s %s into %s: %s", JOB_NAME, url, entity, summary)
    if report.total == 0:  # as `tessera import` refuses a file without data rows
        raise BadRequest(f"{JOB_NAME}: the sheet {url} has no data rows (only a header row); nothing was imported")
    if not report.failed:
        return report
    first = [f"row {e.row} {e.field or e.column or ''}: {e.message}" for e in report.errors[:LOGGED_ERRORS]]
    failed = f"{JOB_NAME} {url} into {entity}: {report.failed} of {report.total} rows failed"
    if report.written:  # partial: the batches without errors are committed; a retry would write them twice
        log.warning(
            "%s (their batches were rolled back; the others were written: %d created, %d updated); first errors: %s",
            failed,
            report.created,
            report.updated,
            "; ".join(first) or "see the report",
        )
        return report
    # raised, so the job's outbox row shows why (failed at once: the same sheet fails the same way)
    raise ValidationError(f"{failed} (nothing was written); first: {first[0] if first else 'see the log'}")


def import_sheet_job(ws: Any, args: dict[str, Any]) -> None:
    import_sheet(ws, args)
