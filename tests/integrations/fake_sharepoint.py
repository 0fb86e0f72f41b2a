"""A fake Microsoft Graph (the drive upload the SharePoint kind uses), on top of FakePeer:

- ``POST /oauth/token``: client credentials;
- ``PUT /sites/SITE/drive/root:/PATH:/content``: creates (or replaces) the file at PATH;
- ``PUT /sites/SITE/drive/items/ID/content``: a new version of the item;
  both answer the driveItem ``{"id", "name", "size", "webUrl", "file": {"mimeType"}}``.

``files`` holds every item by id: ``{"path", "content", "mime", "versions"}``.
"""

from __future__ import annotations

import itertools
import re
from typing import Any
from urllib.parse import quote, unquote

from werkzeug.wrappers import Request, Response

from tests.integrations.fake_peer import FakePeer

SITE = "contoso.sharepoint.com,00000000-0000-0000-0000-000000000001,00000000-0000-0000-0000-000000000002"


class FakeGraph(FakePeer):
    def __init__(self) -> None:
        super().__init__(auth=("oauth2", "graph-app", "graph-secret"))
        self.files: dict[str, dict[str, Any]] = {}
        self._item_ids = itertools.count(1)

    def _item(self, item_id: str) -> Response:
        f = self.files[item_id]
        url = "https://contoso.sharepoint.com/sites/crm/" + quote(f["path"])
        name = f["path"].rsplit("/", 1)[-1]
        return self._json(
            {"id": item_id, "name": name, "size": len(f["content"]), "webUrl": url, "file": {"mimeType": f["mime"]}},
            200 if f["versions"] > 1 else 201,
        )

    def route(self, request: Request) -> Response:
        path = unquote(request.path)
        by_path = re.fullmatch(r"/sites/([^/]+)/drive/root:/(.+):/content", path)
        by_id = re.fullmatch(r"/sites/([^/]+)/drive/items/([^/]+)/content", path)
        if request.method != "PUT" or not (by_path or by_id):
            return self._json({"error": {"code": "itemNotFound"}}, 404)
        site = (by_path or by_id).group(1)  # type: ignore[union-attr]
        if site != SITE:
            return self._json({"error": {"code": "invalidRequest", "message": "no such site"}}, 400)
        content, mime = request.get_data(), request.content_type or ""
        with self._lock:
            if by_path:
                item_id = next((i for i, f in self.files.items() if f["path"] == by_path.group(2)), None)
                if item_id is None:
                    item_id = f"01ABC{next(self._item_ids):06d}"
                    self.files[item_id] = {"path": by_path.group(2), "versions": 0}
            else:
                item_id = by_id.group(2)  # type: ignore[union-attr]
                if item_id not in self.files:
                    return self._json({"error": {"code": "itemNotFound"}}, 404)
            f = self.files[item_id]
            f.update(content=content, mime=mime, versions=f["versions"] + 1)
            return self._item(item_id)
