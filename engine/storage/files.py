"""File references in records: what a ``file`` field holds and how records show it.

A ``file`` field stores a short string. An upload (``engine.files``) stores
``files/<file id>/<name>``, the id naming a row of ``tessera_file`` (name, size, type,
sha256, which record and field it was uploaded to); any other string is an external
reference (a path in another document store, a URL) and is shown as it is. Records show an
uploaded file as an object with its download URL; the URL always names the record the file
was uploaded to, so reading the file needs the right to read that record, wherever the
reference was copied (a version history row, another record).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.errors import FieldError
from engine.meta.model import EntityDef
from engine.storage import system_tables as st
from engine.storage.codec import to_json
from engine.storage.ids import new_id

_REFERENCE = re.compile(r"^files/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/([^/\x00\r\n]{1,255})$")


def reference(file_id: str, name: str) -> str:
    """The value a file field stores for an uploaded file."""
    return f"files/{file_id}/{name}"


def file_id_of(value: Any) -> str | None:
    """The uploaded file a stored value refers to; None for an external reference or null."""
    if not isinstance(value, str):
        return None
    match = _REFERENCE.match(value)
    return match.group(1) if match else None


def download_url(row: Row[Any] | Any) -> str:
    """Where the file is downloaded: the field of the record it was uploaded to, pinned to it."""
    return f"/api/v1/{row.entity}/{row.record_id}/files/{row.field}?file={row.id}"


def file_json(row: Row[Any] | Any) -> dict[str, Any]:
    """How records show an uploaded file (its JSON Schema: ``engine.api.files.FILE_OBJECT``)."""
    return {
        "ref": reference(row.id, row.name),
        "id": row.id,
        "name": row.name,
        "size": row.size,
        "content_type": row.content_type,
        "sha256": row.sha256,
        "uploaded_at": to_json(row.created_at),
        "uploaded_by": row.created_by,
        "url": download_url(row),
    }


def present_files(conn: Connection, items: list[dict[str, Any]], names: list[str]) -> None:
    """Replace references to uploaded files in ``items[name]`` by their objects (one query)."""
    wanted = {file_id for item in items for name in names if (file_id := file_id_of(item.get(name)))}
    if not wanted:
        return
    rows = {row.id: row for row in conn.execute(sa.select(st.file).where(st.file.c.id.in_(sorted(wanted))))}
    for item in items:
        for name in names:
            row = rows.get(file_id_of(item.get(name)) or "")
            if row is not None:
                item[name] = file_json(row)


def insert_file(
    conn: Connection,
    *,
    entity: str,
    record_id: str,
    field: str,
    name: str,
    size: int,
    content_type: str,
    sha256: str,
    now: dt.datetime,
    user_id: str | None,
) -> str:
    """Record one upload; returns the reference the field is set to."""
    file_id = new_id()
    conn.execute(
        st.file.insert(),
        {
            "id": file_id,
            "entity": entity,
            "record_id": record_id,
            "field": field,
            "name": name,
            "size": size,
            "content_type": content_type,
            "sha256": sha256,
            "created_at": now,
            "created_by": user_id,
        },
    )
    return reference(file_id, name)


def find_file(conn: Connection, file_id: str) -> Row[Any] | None:
    return conn.execute(sa.select(st.file).where(st.file.c.id == file_id)).first()


def record_files(conn: Connection, entity: str, record_id: str) -> list[Row[Any]]:
    """Every file uploaded to one record, newest first (old versions included)."""
    f = st.file
    return list(
        conn.execute(
            sa.select(f)
            .where(f.c.entity == entity, f.c.record_id == record_id)
            .order_by(f.c.created_at.desc(), f.c.id.desc())
        )
    )


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _percent_encoded(text: str) -> str:
    """UTF-8 bytes, everything but unreserved characters as ``%XX`` (RFC 5987 ``value-chars``)."""
    return "".join(chr(b) if chr(b) in _UNRESERVED else f"%{b:02X}" for b in text.encode())


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact name (RFC 6266 / 5987)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in name) or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{_percent_encoded(name)}"


#: the answer to a reference naming no file the writer may read (one for both: it tells nothing)
NO_SUCH_FILE = "No uploaded file has this reference; upload the file to the field."


def origin_errors(
    conn: Connection,
    snap: Any,
    entity: EntityDef,
    values: dict[str, Any],
    current: dict[str, Any],
    *,
    rc: Any,
) -> list[FieldError]:
    """A file field written with the reference of a file uploaded to another record copies
    the reference; the writer must be able to read the file where it was uploaded (that
    record and its field), else the reference gets the answer a made-up one gets (and the
    record would show the file's name, size and checksum to them)."""
    if "file" not in entity.field_types:
        return []
    errors = []
    for name, value in values.items():
        fd = entity.fields.get(name)
        file_id = file_id_of(value) if fd is not None and fd.type == "file" and value != current.get(name) else None
        row = None if file_id is None else find_file(conn, file_id)
        if row is None or (row.entity, row.record_id) == (entity.name, current.get("id")):
            continue  # no file (file_errors says so) or one uploaded to this record
        origin = snap.catalog.entities.get(row.entity)
        readable = origin is not None and not origin.child
        if readable and rc.access is not None:
            readable = rc.access.can(origin, "read") and row.field not in rc.hidden(origin)
        if not readable or not rc.sees(conn, snap, origin, row.record_id):
            errors.append(FieldError(name, NO_SUCH_FILE))
    return errors
