"""The ``sharepoint`` connector kind: a record's file uploaded to a SharePoint document library
through Microsoft Graph (OAuth2 client credentials, like the ``rest`` kind).

The connector's ``resource`` is the library folder as a Graph drive path,
``/sites/SITE/drive/root:/FOLDER``; the mapping's ``push.fields`` name the file field
(``file: FIELD``). On push the file's bytes go to
``PUT RESOURCE/RECORD_ID/FILE_NAME:/content`` (a first upload) or
``PUT /sites/SITE/drive/items/ITEM_ID/content`` (a new version of the same item); the
answer's ``id`` becomes the record's external key and its ``webUrl`` is written to the
field ``url_field`` names in the mapping's push section (default ``sharepoint_url``) when the
entity has it. A record without a file sends nothing. Pulls answer no rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

import requests

from engine.actor import SYSTEM
from engine.connectors.mapping import parse_document
from engine.connectors.push import _store_remote_id
from engine.connectors.rest import PushResult, RemoteError, RestClient, _retryable
from engine.errors import TesseraError
from engine.files.attach import open_file


class GraphUpload:
    """What the sync and push call for a ``sharepoint`` connector."""

    def __init__(self, ws: Any, values: dict[str, Any]):
        self.ws, self.values = ws, values
        self.client = RestClient(values)
        push = parse_document(values.get("mapping")).get("push") or {}
        fields = push.get("fields") or {}
        self.file_field = str(fields.get("file") or "file")
        self.url_field = "sharepoint_url"

    def pull(self, cursor: Any) -> tuple[list[Any], Any]:
        return [], cursor

    def push(self, items: list[dict[str, Any]]) -> list[PushResult]:
        return [self._one(item) for item in items]

    def _one(self, item: dict[str, Any]) -> PushResult:
        body = item.get("body") or {}
        stored = body.get("file")
        record_id = body.get("id")
        if not isinstance(stored, dict) or not record_id:
            return PushResult(True, item.get("remote_id"))  # no file yet: nothing to upload
        entity = str(self.values["entity"])
        try:
            download = open_file(self.ws.records, SYSTEM, entity, str(record_id), self.file_field)
            content = download.stream.read()
        except TesseraError as exc:
            return PushResult(False, item.get("remote_id"), f"the file cannot be read: {exc.detail}", retry=False)
        resource = str(self.values.get("resource") or "").rstrip("/")
        if item.get("remote_id"):
            site = resource.split("/drive/", 1)[0]
            path = f"{site}/drive/items/{quote(str(item['remote_id']), safe='')}/content"
        else:
            path = f"{resource}/{quote(str(record_id), safe='')}/{quote(download.name, safe='')}:/content"
        try:
            answer = self._put(self.client.url(path), content, download.content_type)
        except RemoteError as exc:
            return PushResult(False, item.get("remote_id"), exc.message, exc.retry)
        item_id, web_url = answer.get("id"), answer.get("webUrl")
        if not item_id:
            return PushResult(False, item.get("remote_id"), "SharePoint's answer has no item id", retry=False)
        entity_def = self.ws.snapshot().catalog.entities.get(entity)
        if web_url and entity_def is not None and self.url_field in entity_def.fields:
            now = dt.datetime.now(dt.UTC)
            _store_remote_id(self.ws, self.values, entity, str(record_id), self.url_field, str(web_url), now)
        return PushResult(True, str(item_id))

    def _put(self, url: str, content: bytes, content_type: str) -> dict[str, Any]:
        """The upload with the connector's sign-in; an expired token is renewed once."""
        for attempt in (0, 1):
            headers, auth = self.client._auth(fresh=attempt == 1)
            headers["Content-Type"] = content_type or "application/octet-stream"
            try:
                answer = self.client.session.put(
                    url, data=content, headers=headers, auth=auth, timeout=self.client.timeout, allow_redirects=False
                )
            except requests.RequestException as exc:
                raise RemoteError(f"PUT {url}: {type(exc).__name__}") from None
            if answer.status_code == 401 and attempt == 0:
                continue
            if answer.status_code >= 300:
                raise RemoteError(
                    f"PUT {url} answered {answer.status_code}: {answer.text[:200].strip()}",
                    answer.status_code,
                    _retryable(answer.status_code),
                )
            try:
                data = answer.json()
            except ValueError:
                raise RemoteError(f"PUT {url}: the answer is not JSON", answer.status_code, retry=False) from None
            return data if isinstance(data, dict) else {}
        raise RemoteError(f"PUT {url}: the peer refused the renewed token", 401, retry=False)


def graph_factory(ws: Any, values: dict[str, Any]) -> GraphUpload:
    return GraphUpload(ws, values)
