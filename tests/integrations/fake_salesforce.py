"""A fake Salesforce REST API (the parts the Salesforce profile uses), on top of FakePeer:

- ``POST /services/oauth2/token``: client credentials;
- ``GET /services/data/v59.0/query?q=SOQL``: ``FROM OBJECT`` and
  ``LastModifiedDate > VALUE`` are honoured; two records a page, the rest behind
  ``nextRecordsUrl`` (``{"totalSize", "done", "records", "nextRecordsUrl"}``);
- ``POST /services/data/v59.0/sobjects/OBJECT``: ``{"id", "success": true, "errors": []}``;
- ``PATCH /services/data/v59.0/sobjects/OBJECT/ID``: ``204``.

Collections are named after the object (``Account``); rows carry ``Id`` and ``LastModifiedDate``.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.integrations.fake_peer import FakePeer

API = "/services/data/v59.0"
PAGE = 2


class FakeSalesforce(FakePeer):
    def __init__(self) -> None:
        super().__init__(auth=("oauth2", "sf-client", "sf-secret"))
        self._batches: dict[str, list[dict[str, Any]]] = {}
        self._batch_ids = itertools.count(1)
        self._sf_ids = itertools.count(1)

    def record(self, sobject: str, **fields: Any) -> dict[str, Any]:
        """A record as a Salesforce user would create it."""
        prefix = {"Account": "001", "Contact": "003", "Opportunity": "006"}.get(sobject, "a00")
        row = {"attributes": {"type": sobject}, "Id": f"{prefix}{next(self._sf_ids):015d}", **fields}
        row["LastModifiedDate"] = self.stamp()
        self.collections.setdefault(sobject, []).append(row)
        return row

    def get(self, sobject: str, sf_id: str) -> dict[str, Any]:
        return next(r for r in self.collections.get(sobject, []) if r["Id"] == sf_id)

    def touch(self, sobject: str, sf_id: str, **fields: Any) -> None:
        self.get(sobject, sf_id).update(fields, LastModifiedDate=self.stamp())

    def _page(self, rows: list[dict[str, Any]]) -> Response:
        body: dict[str, Any] = {"totalSize": len(rows), "done": len(rows) <= PAGE, "records": rows[:PAGE]}
        if len(rows) > PAGE:
            batch = f"01g{next(self._batch_ids):015d}"
            self._batches[batch] = rows[PAGE:]
            body["nextRecordsUrl"] = f"{API}/query/{batch}-{PAGE}"
        return self._json(body)

    def route(self, request: Request) -> Response:
        path = request.path
        if path == f"{API}/query" and request.method == "GET":
            soql = request.args.get("q", "")
            sobject = re.search(r"\bFROM\s+(\w+)", soql)
            since = re.search(r"LastModifiedDate\s*>\s*(\S+)", soql)
            rows = sorted(
                self.collections.get(sobject.group(1) if sobject else "", []), key=lambda r: r["LastModifiedDate"]
            )
            if since:
                rows = [r for r in rows if r["LastModifiedDate"] > since.group(1)]
            return self._page(rows)
        if path.startswith(f"{API}/query/") and request.method == "GET":
            batch = path.rsplit("/", 1)[1].split("-")[0]
            return self._page(self._batches.pop(batch, []))
        match = re.fullmatch(rf"{API}/sobjects/(\w+)(?:/(\w+))?", path)
        if match and request.method == "POST" and match.group(2) is None:
            fields = dict(request.get_json())
            row = self.record(match.group(1), **fields)
            return self._json({"id": row["Id"], "success": True, "errors": []}, 201)
        if match and request.method == "PATCH" and match.group(2):
            try:
                self.touch(match.group(1), match.group(2), **request.get_json())
            except StopIteration:
                return self._json([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], 404)
            return Response(status=204)
        return Response(json.dumps([{"errorCode": "NOT_FOUND"}]), status=404, content_type="application/json")
