"""Uploading into a record's file field and reading it back, through the data-access layer.

An upload is checked before its body is read (the field exists and the caller may see it,
the caller may change the record, the type is one the field ``accept``s), then streamed into
the blob store (never more than the field's ``max_size``), and finally the field is set to the
new reference by ``Records``' own update: permissions, validations, rules, workflows, audit
and events all apply, and the ``tessera_file`` row is written in the same transaction. The
previous file of the field is left alone, so a rule can still read it and its download URL
keeps working.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy.engine import Row

from engine.actor import Actor
from engine.errors import FieldError, NotFound, PayloadTooLarge, PermissionDenied, UnsupportedMediaType, ValidationError
from engine.files.store import blob_store
from engine.meta.model import EntityDef, FieldDef
from engine.storage.files import file_json, find_file, insert_file, record_files
from engine.storage.ids import is_id
from engine.storage.reading import fetch_row, get_record

OCTET_STREAM = "application/octet-stream"
_MEDIA_TYPE = re.compile(r"^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+$")
MAX_NAME = 255


@dataclass
class Upload:
    """One file sent by a client: its name, declared type, bytes and (if known) length."""

    name: str | None
    content_type: str | None
    stream: IO[bytes]
    length: int | None = None


@dataclass
class Download:
    name: str
    content_type: str
    size: int
    sha256: str
    stream: IO[bytes]


def safe_name(name: str | None) -> str:
    """The file name without folders or control characters; 422 when nothing is left."""
    text = unicodedata.normalize("NFC", name or "")
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(c for c in text if unicodedata.category(c)[0] != "C").strip().strip(".")
    if not text:
        raise ValidationError("The upload needs a file name", [FieldError("filename", "Give the file's name.")])
    if len(text) > MAX_NAME:
        stem, dot, ext = text.rpartition(".")
        text = (stem[: MAX_NAME - len(ext) - 1] + dot + ext) if dot and len(ext) < 16 else text[:MAX_NAME]
    return text


def media_type(declared: str | None, name: str) -> str:
    """The declared type without parameters; guessed from the name when missing or generic."""
    value = (declared or "").split(";", 1)[0].strip().lower()
    if _MEDIA_TYPE.match(value) and value != OCTET_STREAM:
        return value
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or OCTET_STREAM


def accepts(fd: FieldDef, name: str, content_type: str) -> bool:
    """``accept`` lists media types (``application/pdf``, ``image/*``) and extensions
    (``.pdf``); a file matching any of them is accepted, and every file when it is empty."""
    patterns = [str(p).strip().lower() for p in fd.opt("accept") or ()]
    if not patterns:
        return True
    lower = name.lower()
    for pattern in patterns:
        if pattern.startswith("."):
            if lower.endswith(pattern):
                return True
        elif pattern.endswith("/*"):
            if content_type.startswith(pattern[:-1]):
                return True
        elif content_type == pattern:
            return True
    return False


def _file_field(records: Any, snap: Any, actor: Actor, entity: EntityDef, name: str) -> FieldDef:
    fd = entity.fields.get(name)
    hidden = records._rc(actor, snap).hidden(entity)
    if fd is None or fd.type != "file" or not fd.has_column or name in hidden:
        raise NotFound(f"{entity.name} has no file field {name!r}")
    return fd


def attach_file(
    records: Any,
    actor: Actor,
    entity_name: str,
    record_id: str,
    field_name: str,
    upload: Upload,
    if_match: int | None = None,
) -> dict[str, Any]:
    """Store ``upload`` and set the record's file field to it; the record afterwards."""
    snap = records.ws.snapshot()
    entity = records._entity(snap, actor, entity_name)
    fd = _file_field(records, snap, actor, entity, field_name)
    with records._reading() as conn:  # refuse before reading the body: the record first
        current = dict(fetch_row(conn, snap, entity, record_id)._mapping)
        if not records._allows(conn, snap, actor, entity, "read", current):
            raise NotFound(f"No {entity.name} with id {record_id!r}")
        if not records._allows(conn, snap, actor, entity, "update", current):
            raise PermissionDenied(f"You may not change this {entity.name}")
    name = safe_name(upload.name)
    content_type = media_type(upload.content_type, name)
    if not accepts(fd, name, content_type):
        allowed = ", ".join(str(p) for p in fd.opt("accept"))
        raise UnsupportedMediaType(f"{entity.name}.{fd.name} accepts {allowed}; {name} is {content_type}")
    records._load(snap, entity, {fd.name: f"files/{'0' * 36}/{name}"}, actor)  # read-only field: 422 now
    max_size = fd.opt("max_size")
    if max_size is not None and upload.length is not None and upload.length > max_size:
        raise PayloadTooLarge(f"{entity.name}.{fd.name} takes files of at most {max_size} bytes")
    blob = blob_store(records.ws).put(upload.stream, max_size)
    if blob.size == 0:
        raise ValidationError("The file is empty", [FieldError(fd.name, "The file has no content.")])

    def write(conn: Any) -> dict[str, Any]:
        now = records.clock()
        ref = insert_file(
            conn,
            entity=entity.name,
            record_id=record_id,
            field=fd.name,
            name=name,
            size=blob.size,
            content_type=content_type,
            sha256=blob.sha256,
            now=now,
            user_id=actor.user_id,
        )
        values = records._load(snap, entity, {fd.name: ref}, actor)
        records._apply_update(conn, snap, actor, entity, record_id, values, if_match, now)
        return get_record(conn, snap, entity, record_id, rc=records._rc(actor, snap))

    result: dict[str, Any] = records._write(entity, write)
    return result


def open_file(
    records: Any, actor: Actor, entity_name: str, record_id: str, field_name: str, file_id: str | None = None
) -> Download:
    """The field's current file, or (``file_id``) an earlier one uploaded to the same field."""
    snap = records.ws.snapshot()
    entity = records._entity(snap, actor, entity_name)
    fd = _file_field(records, snap, actor, entity, field_name)
    value = records.get(actor, entity.name, record_id, {"fields": fd.name}).get(fd.name)  # 404 unless readable
    if file_id is None:
        if not isinstance(value, dict):
            raise NotFound(f"The {fd.name} of this {entity.name} holds no uploaded file")
        file_id = str(value["id"])
    if not is_id(file_id):
        raise NotFound(f"No file {file_id!r} in {entity.name}.{fd.name}")
    with records._reading() as conn:
        row = find_file(conn, file_id)
    if row is None or (row.entity, row.record_id, row.field) != (entity.name, record_id, fd.name):
        raise NotFound(f"No file {file_id!r} in {entity.name}.{fd.name} of this record")
    try:
        stream = blob_store(records.ws).open(row.sha256)
    except FileNotFoundError:
        raise NotFound(f"The content of {row.name} is missing from the file store") from None
    return Download(row.name, row.content_type, row.size, row.sha256, stream)


def list_files(records: Any, actor: Actor, entity_name: str, record_id: str) -> list[dict[str, Any]]:
    """Every file uploaded to the record's visible file fields, newest first."""
    snap = records.ws.snapshot()
    entity = records._entity(snap, actor, entity_name)
    records.get(actor, entity.name, record_id, {"fields": "id"})  # 404 unless the caller may read it
    hidden = records._rc(actor, snap).hidden(entity)
    with records._reading() as conn:
        rows: list[Row[Any]] = record_files(conn, entity.name, record_id)
    return [{**file_json(r), "field": r.field} for r in rows if r.field in entity.fields and r.field not in hidden]
