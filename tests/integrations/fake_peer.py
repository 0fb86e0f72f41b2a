"""A fake back-end system (ERP, ITSM, HRMS...) for the connector tests: a JSON REST server
on 127.0.0.1 in a thread, with in-memory collections.

- ``GET /COLLECTION``: rows sorted by ``updated_at``; ``updated_since`` keeps the newer
  ones; ``page``/``per_page`` pages them (``{"data": [...], "next": URL}`` with ``next``
  links when the peer's ``style`` is ``next``);
- ``POST /COLLECTION`` and ``PATCH|PUT /COLLECTION/ID``: create and change rows (the peer
  stamps ``id`` and ``updated_at``);
- ``POST /oauth/token``: client-credentials tokens (counted);
- ``fail_next``: that many requests answer 500 first; ``auth``: what a request must carry.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from typing import Any
from urllib.parse import parse_qs, urlparse

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


class FakePeer:
    def __init__(self, style: str = "page", auth: tuple[str, ...] = ("none",)):
        self.collections: dict[str, list[dict[str, Any]]] = {}
        self.style = style
        self.auth = auth  # ("api_key", HEADER, KEY) | ("basic", USER, PASSWORD) | ("oauth2", ID, SECRET) | ("none",)
        self.requests: list[dict[str, Any]] = []
        self.fail_next = 0
        self.tokens_issued = 0
        #: tokens this peer issued and still accepts (clear it to revoke them)
        self.valid_tokens: set[str] = set()
        self.token_lifetime = 3600
        self._clock = itertools.count(1)
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def start(self) -> FakePeer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)

    def stamp(self) -> str:
        """A change marker that grows (fixed width, so text order is time order)."""
        return f"2026-11-01T00:00:{next(self._clock):06d}Z"

    def add(self, collection: str, **row: Any) -> dict[str, Any]:
        """A row as the remote system's users would create it."""
        with self._lock:
            row.setdefault("id", str(next(self._ids)))
            row["updated_at"] = self.stamp()
            self.collections.setdefault(collection, []).append(row)
            return row

    def change(self, collection: str, row_id: str, **values: Any) -> dict[str, Any]:
        with self._lock:
            row = self.find(collection, row_id)
            assert row is not None
            row.update(values, updated_at=self.stamp())
            return row

    def find(self, collection: str, row_id: str) -> dict[str, Any] | None:
        return next((r for r in self.collections.get(collection, []) if r["id"] == row_id), None)

    def writes(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] in ("POST", "PATCH", "PUT") and "token" not in r["path"]]

    # --- the WSGI application -----------------------------------------------------------
    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._answer(request)
        return response(environ, start_response)

    def _json(self, data: Any, status: int = 200) -> Response:
        return Response(json.dumps(data), status=status, content_type="application/json")

    def _authorised(self, request: Request) -> bool:
        kind = self.auth[0]
        if kind == "api_key":
            return request.headers.get(self.auth[1]) == self.auth[2]
        if kind == "basic":
            expected = base64.b64encode(f"{self.auth[1]}:{self.auth[2]}".encode()).decode()
            return request.headers.get("Authorization") == f"Basic {expected}"
        if kind == "oauth2":
            return request.headers.get("Authorization", "").removeprefix("Bearer ") in self.valid_tokens
        return True

    def _answer(self, request: Request) -> Response:
        body = request.get_data()
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "args": dict(request.args),
                "headers": dict(request.headers),
                "json": json.loads(body) if body and request.is_json else None,
            }
        )
        if self.fail_next > 0:
            self.fail_next -= 1
            return self._json({"error": "temporarily unavailable"}, 500)
        if request.path in ("/oauth/token", "/services/oauth2/token"):
            form = parse_qs(body.decode())
            expected = base64.b64encode(f"{self.auth[1]}:{self.auth[2]}".encode()).decode()
            if request.headers.get("Authorization") != f"Basic {expected}" or form.get("grant_type") != [
                "client_credentials"
            ]:
                return self._json({"error": "invalid_client"}, 401)
            self.tokens_issued += 1
            token = f"token-{self.server.server_port}-{self.tokens_issued}"
            self.valid_tokens.add(token)
            return self._json({"access_token": token, "expires_in": self.token_lifetime})
        if not self._authorised(request):
            return self._json({"error": "unauthorised"}, 401)
        return self.route(request)

    def route(self, request: Request) -> Response:
        """The peer's own API (a subclass may speak another dialect)."""
        parts = [p for p in request.path.split("/") if p]
        if not parts:
            return self._json({"error": "not found"}, 404)
        name = parts[0]
        with self._lock:
            if len(parts) == 1 and request.method == "GET":
                return self._list(request, name)
            if len(parts) == 1 and request.method == "POST":
                row = dict(request.get_json())
                row["id"] = str(next(self._ids))
                row["updated_at"] = self.stamp()
                self.collections.setdefault(name, []).append(row)
                return self._json(row, 201)
            if len(parts) == 2 and request.method in ("PATCH", "PUT"):
                row = self.find(name, parts[1])
                if row is None:
                    return self._json({"error": "no such row"}, 404)
                row.update(request.get_json(), updated_at=self.stamp())
                return self._json(row)
        return self._json({"error": "not found"}, 404)

    def _list(self, request: Request, name: str) -> Response:
        rows = sorted(self.collections.get(name, []), key=lambda r: r["updated_at"])
        since = request.args.get("updated_since")
        if since:
            rows = [r for r in rows if r["updated_at"] > since]
        size = int(request.args.get("per_page", 2))
        page = int(request.args.get("page", 1))
        chunk = rows[(page - 1) * size : page * size]
        if self.style == "next":
            more = page * size < len(rows)
            parsed = urlparse(request.url)
            link = f"{parsed.path}?page={page + 1}&per_page={size}" + (f"&updated_since={since}" if since else "")
            return self._json({"data": chunk, "next": link if more else None})
        return self._json({"data": chunk, "total": len(rows)})
