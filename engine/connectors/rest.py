"""The built-in ``rest`` connector kind: a JSON REST peer with pages, a cursor and three auths.

- **auth**: ``api_key`` (the key in the header ``api_key_header``), ``basic``, or
  ``oauth2_client_credentials`` (a token fetched from ``token_url`` with the client id and
  secret, cached per process until shortly before it expires, fetched again after a 401);
- **pull**: ``GET base_url + resource`` with ``cursor_param=CURSOR`` when the connector has a
  cursor; pages follow the mapping's ``pagination`` (``page`` numbers until a short or empty
  page, or a ``next`` link in the body); the new cursor is the highest ``cursor_field`` seen;
- **push**: one row at a time, ``create`` to the collection or ``update`` to
  ``RESOURCE/REMOTE_ID``.

Errors are :class:`RemoteError`: 408, 429 and 5xx (and no answer) may be retried; other
answers may not. Credentials never appear in a message.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_from_bytes, urljoin

import requests

from engine.connectors.mapping import dig, parse_document, parse_pagination, parse_request

TIMEOUT = 30.0
#: a peer answering more pages than this is looping (a next link pointing at itself)
MAX_PAGES = 10_000
_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


class RemoteError(Exception):
    """The peer could not be reached or refused; ``retry``: trying later may help."""

    def __init__(self, message: str, status: int | None = None, retry: bool = True):
        super().__init__(message)
        self.message, self.status, self.retry = message, status, retry


@dataclass
class PushResult:
    ok: bool
    remote_id: str | None = None
    error: str | None = None
    retry: bool = False


def _retryable(status: int) -> bool:
    return status in (408, 429) or status >= 500


class RestClient:
    """HTTP with the connector's authentication; bodies are JSON."""

    def __init__(self, values: dict[str, Any], session: requests.Session | None = None, timeout: float = TIMEOUT):
        self.values = values
        self.base = str(values.get("base_url") or "").rstrip("/") + "/"
        self.session = session or requests.Session()
        self.timeout = timeout

    def url(self, path: str) -> str:
        return urljoin(self.base, str(path or "").lstrip("/"))

    def _auth(self, fresh: bool = False) -> tuple[dict[str, str], Any]:
        kind = self.values.get("auth") or "none"
        if kind == "api_key":
            if not self.values.get("api_key"):
                raise RemoteError("the connector has no API key", retry=False)
            return {str(self.values.get("api_key_header") or "X-API-Key"): str(self.values["api_key"])}, None
        if kind == "basic":
            if not self.values.get("username") or not self.values.get("password"):
                raise RemoteError("the connector has no user name or password", retry=False)
            return {}, (str(self.values["username"]), str(self.values["password"]))
        if kind == "oauth2_client_credentials":
            return {"Authorization": f"Bearer {self._token(fresh)}"}, None
        return {}, None

    def _token(self, fresh: bool) -> str:
        """A client-credentials access token, cached until 30 s before it expires."""
        v = self.values
        if not v.get("token_url") or not v.get("client_id") or not v.get("client_secret"):
            raise RemoteError("OAuth2 needs a token URL, a client id and a client secret", retry=False)
        key = (str(v["token_url"]), str(v["client_id"]), str(v.get("scope") or ""))
        with _tokens_lock:
            cached = _tokens.get(key)
        if cached is not None and not fresh and cached[1] > time.monotonic():
            return cached[0]
        form = {"grant_type": "client_credentials"}
        if v.get("scope"):
            form["scope"] = str(v["scope"])
        try:
            answer = self.session.post(
                str(v["token_url"]),
                data=form,
                auth=(str(v["client_id"]), str(v["client_secret"])),
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise RemoteError(f"the token endpoint did not answer: {type(exc).__name__}") from None
        if answer.status_code != 200:
            raise RemoteError(
                f"the token endpoint answered {answer.status_code}",
                answer.status_code,
                _retryable(answer.status_code),
            )
        try:
            body = answer.json()
            token, lifetime = str(body["access_token"]), float(body.get("expires_in") or 3600)
        except (ValueError, KeyError, TypeError):
            raise RemoteError("the token endpoint's answer has no access_token") from None
        with _tokens_lock:
            _tokens[key] = (token, time.monotonic() + max(lifetime - 30, 0))
        return token

    def call(self, method: str, url: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        """One request; the JSON answer (None when empty). An expired token is renewed once."""
        for attempt in (0, 1):
            headers, auth = self._auth(fresh=attempt == 1)
            headers["Accept"] = "application/json"
            try:
                answer = self.session.request(
                    method,
                    url,
                    params=params,
                    json=body,
                    headers=headers,
                    auth=auth,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.Timeout:
                raise RemoteError(f"{method} {url}: no answer within {self.timeout:g} s") from None
            except requests.RequestException as exc:
                raise RemoteError(f"{method} {url}: {type(exc).__name__}") from None
            if answer.status_code == 401 and attempt == 0 and self.values.get("auth") == "oauth2_client_credentials":
                continue
            if answer.status_code >= 300:
                text = answer.text[:200].strip()
                raise RemoteError(
                    f"{method} {url} answered {answer.status_code}" + (f": {text}" if text else ""),
                    answer.status_code,
                    _retryable(answer.status_code),
                )
            if not answer.content:
                return None
            try:
                return answer.json()
            except ValueError:
                raise RemoteError(f"{method} {url}: the answer is not JSON", answer.status_code) from None
        raise RemoteError(f"{method} {url}: the peer refused the renewed token", 401, retry=False)


class RestSource:
    """What the sync calls: ``pull(cursor) -> (rows, next_cursor)`` and ``push(items) -> results``."""

    def __init__(self, ws: Any, values: dict[str, Any]):
        self.values = values
        self.client = RestClient(values)
        document = parse_document(values.get("mapping"))
        self.items = str(document["items"]) if document.get("items") else None
        self.pagination = parse_pagination(document)
        self.request = parse_request(document)

    def _rows(self, body: Any) -> list[Any]:
        rows = dig(body, self.items) if self.items else body
        if rows is None:
            return []
        if not isinstance(rows, list):
            raise RemoteError(f"the answer holds no list of rows at {self.items or 'its top level'}", retry=False)
        return rows

    def pull(self, cursor: str | None) -> tuple[list[Any], str | None]:
        v, p = self.values, self.pagination
        since = cursor or self.request.cursor_start or ""
        params: dict[str, Any] = {k: t.replace("{cursor}", since) for k, t in self.request.params.items()}
        if cursor and v.get("cursor_param"):
            params[str(v["cursor_param"])] = cursor
        if p.size_param and p.size:
            params[p.size_param] = p.size
        url: str | None = self.client.url(str(v.get("resource") or ""))
        page, rows = p.start, []
        for _ in range(MAX_PAGES):
            assert url is not None
            if p.style in ("page", "offset"):
                params[p.param] = page
            body = self.client.call("GET", url, params=params)
            batch = self._rows(body)
            rows.extend(batch)
            if p.style in ("page", "offset"):
                if not batch or (p.size is not None and len(batch) < p.size):
                    break
                page += len(batch) if p.style == "offset" else 1
            elif p.style == "next":
                link = dig(body, p.path)
                if not link:
                    break
                url, params = urljoin(url, str(link)), {}
            else:
                break
        else:
            raise RemoteError(f"more than {MAX_PAGES} pages: the peer's pagination loops", retry=False)
        return rows, _highest(rows, v.get("cursor_field"), cursor)

    def push(self, items: list[dict[str, Any]]) -> list[PushResult]:
        """Each item ``{"remote_id", "body", "create", "update"}`` (optionally ``resource`` and
        ``id_path``): created or updated remotely."""
        results = []
        for item in items:
            collection = self.client.url(str(item.get("resource") or self.values.get("resource") or ""))
            try:
                if item.get("remote_id"):
                    url = collection.rstrip("/") + "/" + quote_from_bytes(str(item["remote_id"]).encode(), safe="")
                    self.client.call(item.get("update", "PATCH"), url, body=item["body"])
                    results.append(PushResult(True, str(item["remote_id"])))
                else:
                    answer = self.client.call(item.get("create", "POST"), collection, body=item["body"])
                    remote_id = dig(answer, str(item.get("id_path") or self.values.get("remote_key") or "id"))
                    results.append(PushResult(True, None if remote_id is None else str(remote_id)))
            except RemoteError as exc:
                results.append(PushResult(False, item.get("remote_id"), exc.message, exc.retry))
        return results


def _highest(rows: list[Any], path: Any, cursor: str | None) -> str | None:
    """The highest change marker among ``rows`` and the old cursor: numerically when every
    marker is a number (versions, epoch seconds), else as text (ISO 8601 times sort as text)."""
    if not path:
        return cursor
    seen = [str(value) for row in rows if (value := dig(row, str(path))) is not None]
    markers = [*seen, *([cursor] if cursor else [])]
    if not markers:
        return None
    try:
        return max(markers, key=float)
    except ValueError:
        return max(markers)


def rest_factory(ws: Any, values: dict[str, Any]) -> RestSource:
    return RestSource(ws, values)
