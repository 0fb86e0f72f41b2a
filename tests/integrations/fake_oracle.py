"""A fake Oracle Fusion REST API (HCM workers, Receivables invoices), on top of FakePeer:

- ``GET /hcmRestApi/resources/11.13.18.05/workers`` and
  ``GET /fscmRestApi/resources/11.13.18.05/receivablesInvoices``: rows sorted by
  ``LastUpdateDate``; ``q=LastUpdateDate > 'VALUE'`` keeps the newer ones; ``offset`` and
  ``limit`` (default 25) page them; the answer is
  ``{"items", "count", "hasMore", "limit", "offset", "links"}``;
- basic authentication.
"""

from __future__ import annotations

import re
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.integrations.fake_peer import FakePeer

WORKERS = "/hcmRestApi/resources/11.13.18.05/workers"
INVOICES = "/fscmRestApi/resources/11.13.18.05/receivablesInvoices"


class FakeOracle(FakePeer):
    def __init__(self) -> None:
        super().__init__(auth=("basic", "tessera.integration", "fusion-pass"))

    def stamp(self) -> str:
        """Oracle's LastUpdateDate: an ISO time with offset that grows (text order is time order)."""
        n = next(self._clock)
        return f"2026-11-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}+00:00"

    def put_row(self, resource: str, **fields: Any) -> dict[str, Any]:
        """A row as an Oracle user would create or change it (``key`` names its id field)."""
        key = "PersonNumber" if resource == WORKERS else "CustomerTransactionId"
        with self._lock:
            rows = self.collections.setdefault(resource, [])
            row = next((r for r in rows if r[key] == fields[key]), None)
            if row is None:
                row = {}
                rows.append(row)
            row.update(fields, LastUpdateDate=self.stamp())
            return row

    def route(self, request: Request) -> Response:
        if request.method != "GET" or request.path not in (WORKERS, INVOICES):
            return self._json({"title": "Not Found", "status": "404"}, 404)
        rows = sorted(self.collections.get(request.path, []), key=lambda r: r["LastUpdateDate"])
        since = re.fullmatch(r"\s*LastUpdateDate\s*>\s*'([^']*)'\s*", request.args.get("q", ""))
        if request.args.get("q") and since is None:
            return self._json({"title": "Bad Request", "detail": "bad q"}, 400)
        if since:
            rows = [r for r in rows if r["LastUpdateDate"] > since.group(1)]
        offset, limit = int(request.args.get("offset", 0)), int(request.args.get("limit", 25))
        chunk = rows[offset : offset + limit]
        return self._json(
            {
                "items": chunk,
                "count": len(chunk),
                "hasMore": offset + limit < len(rows),
                "limit": limit,
                "offset": offset,
                "links": [{"rel": "self", "href": request.url}],
            }
        )
