"""Files in records: ``PUT``/``GET /api/v1/ENTITY/ID/files/FIELD`` and ``GET .../files``.

The ``files_kit`` test pack's dossier has an ``attachment`` (PDF, text or images, at most 64
bytes), a ``photo`` without limits, a read-only ``scan``, a ``secret_file`` sales reps may
not see, and a rule appending every new attachment to its ``history`` rows.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.app import create_app
from engine.files.store import LocalBlobStore
from engine.security.users import create_user, ensure_roles
from engine.workspace import Workspace
from tests.conftest import PASSWORD, Api, make_config, sign_in

PDF = b"%PDF-1.4 first version"


@pytest.fixture
def ws(database_url: str, tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace(make_config(database_url, tmp_path, ("files_kit",)), meta_check_interval=0)
    workspace.install()
    ensure_roles(workspace)
    create_user(workspace, "admin@test.dev", "Ada Admin", PASSWORD, ["admin"])
    create_user(workspace, "rep@test.dev", "Rex Rep", PASSWORD, ["sales_rep"])
    create_user(workspace, "other@test.dev", "Olga Other", PASSWORD, ["sales_rep"])
    yield workspace
    workspace.close()


@pytest.fixture
def client(ws: Workspace) -> Any:
    return create_app(ws.config, ws).test_client()


def _dossier(api: Api, title: str = "Site survey") -> dict[str, Any]:
    reply = api.post("dossier", {"title": title})
    assert reply.status_code == 201, reply.get_json()
    return reply.get_json()


def _put(api: Api, path: str, content: bytes, content_type: str, name: str | None = None, **kw: Any) -> Any:
    query = f"?filename={name}" if name else ""
    return api.client.put(
        f"/api/v1/{path}{query}",
        data=content,
        headers={**api.headers, "Content-Type": content_type, **kw.pop("headers", {})},
        **kw,
    )


def test_an_upload_sets_the_field_and_downloads_as_an_attachment(client: Any, ws: Workspace) -> None:
    rep = sign_in(client, "rep@test.dev")
    dossier = _dossier(rep)
    reply = _put(rep, f"dossier/{dossier['id']}/files/attachment", PDF, "application/pdf", "Survey report.pdf")
    assert reply.status_code == 200, reply.get_json()
    record = reply.get_json()
    value = record["attachment"]
    assert value["name"] == "Survey report.pdf" and value["size"] == len(PDF)
    assert value["content_type"] == "application/pdf"
    assert value["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert value["url"] == f"/api/v1/dossier/{dossier['id']}/files/attachment?file={value['id']}"
    assert value["ref"] == f"files/{value['id']}/Survey report.pdf"
    assert record["version"] > dossier["version"] and reply.headers["ETag"] == f'"{record["version"]}"'
    # the record reads the same way, single and in lists
    assert rep.get(f"dossier/{dossier['id']}").get_json()["attachment"] == value
    assert rep.get("dossier").get_json()["data"][0]["attachment"] == value

    download = rep.get(f"dossier/{dossier['id']}/files/attachment")
    assert download.status_code == 200
    assert download.data == PDF
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"] == (
        "attachment; filename=\"Survey report.pdf\"; filename*=UTF-8''Survey%20report.pdf"
    )
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert rep.get(value["url"]).data == PDF
    # the content is kept by the blob store under its sha256, written whole
    store = LocalBlobStore(ws.config.resolved_files_path())
    assert store.exists(value["sha256"])
    assert not [p for p in ws.config.resolved_files_path().iterdir() if p.name.startswith(".upload-")]


def test_multipart_uploads_and_names_from_content_disposition(client: Any) -> None:
    rep = sign_in(client, "rep@test.dev")
    dossier = _dossier(rep)
    reply = rep.client.put(
        f"/api/v1/dossier/{dossier['id']}/files/photo",
        data={"file": (io.BytesIO(b"\x89PNG fake"), "../../etc/site photo.png", "image/png")},
        headers=rep.headers,
        content_type="multipart/form-data",
    )
    assert reply.status_code == 200, reply.get_json()
    photo = reply.get_json()["photo"]
    assert photo["name"] == "site photo.png" and photo["content_type"] == "image/png"  # no folders
    raw = _put(
        rep,
        f"dossier/{dossier['id']}/files/photo",
        b"plain words",
        "text/plain; charset=utf-8",
        headers={"Content-Disposition": "attachment; filename*=UTF-8''Notiz%20%C3%BCber.txt"},
    )
    assert raw.status_code == 200, raw.get_json()
    assert raw.get_json()["photo"]["name"] == "Notiz über.txt"
    assert raw.get_json()["photo"]["content_type"] == "text/plain"
    download = rep.get(f"dossier/{dossier['id']}/files/photo")
    assert download.headers["Content-Disposition"] == (
        "attachment; filename=\"Notiz _ber.txt\"; filename*=UTF-8''Notiz%20%C3%BCber.txt"
    )


def test_accept_max_size_and_malformed_uploads_are_refused_with_problems(client: Any) -> None:
    rep = sign_in(client, "rep@test.dev")
    dossier = _dossier(rep)
    path = f"dossier/{dossier['id']}/files/attachment"

    wrong_type = _put(rep, path, b"<script>", "text/html", "page.html")
    assert wrong_type.status_code == 415
    assert wrong_type.headers["Content-Type"] == "application/problem+json"
    assert "application/pdf, .txt, image/*" in wrong_type.get_json()["detail"]
    assert _put(rep, path, b"a text", "application/octet-stream", "note.txt").status_code == 200  # by extension
    assert _put(rep, path, b"GIF89a", "image/gif", "logo.gif").status_code == 200  # image/*

    too_big = _put(rep, path, b"%PDF" + b"x" * 100, "application/pdf", "big.pdf")
    assert too_big.status_code == 413 and "64 bytes" in too_big.get_json()["detail"]
    chunked = rep.client.put(  # no Content-Length: the limit holds while the body streams in
        f"/api/v1/{path}?filename=big.pdf",
        input_stream=io.BytesIO(b"%PDF" + b"x" * 100),
        headers={**rep.headers, "Content-Type": "application/pdf", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},  # what a server sets for a chunked body
    )
    assert chunked.status_code == 413

    nameless = _put(rep, path, PDF, "application/pdf")
    assert nameless.status_code == 422 and nameless.get_json()["errors"][0]["field"] == "filename"
    empty = _put(rep, path, b"", "application/pdf", "empty.pdf")
    assert empty.status_code == 422
    readonly = _put(rep, f"dossier/{dossier['id']}/files/scan", PDF, "application/pdf", "scan.pdf")
    assert readonly.status_code == 422
    assert _put(rep, f"dossier/{dossier['id']}/files/title", PDF, "application/pdf", "x.pdf").status_code == 404
    assert _put(rep, path + "?color=red", PDF, "application/pdf", "x.pdf").status_code == 400
    # the refused uploads changed nothing: the text and the image above are the only versions
    files = rep.get(f"dossier/{dossier['id']}/files").get_json()["data"]
    assert [f["name"] for f in files] == ["logo.gif", "note.txt"]


def test_permissions_of_the_record_and_the_field_apply(client: Any) -> None:
    rep, other, admin = (sign_in(client, e) for e in ("rep@test.dev", "other@test.dev", "admin@test.dev"))
    dossier = _dossier(rep)
    path = f"dossier/{dossier['id']}/files/attachment"
    refused = _put(other, path, PDF, "application/pdf", "mine.pdf")  # reps update their own dossiers only
    assert refused.status_code == 403
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert rep.get(f"dossier/{dossier['id']}/files").get_json()["data"] == []  # nothing was stored
    assert _put(rep, path, PDF, "application/pdf", "report.pdf").status_code == 200
    assert other.get(path).data == PDF  # reading the record is enough to download
    anonymous = client.get(f"/api/v1/{path}")
    assert anonymous.status_code == 401
    # a field the role may not see does not exist for it
    assert _put(rep, f"dossier/{dossier['id']}/files/secret_file", PDF, "application/pdf", "s.pdf").status_code == 404
    assert _put(admin, f"dossier/{dossier['id']}/files/secret_file", PDF, "application/pdf", "s.pdf").status_code == 200
    assert rep.get(f"dossier/{dossier['id']}/files/secret_file").status_code == 404
    assert "secret_file" not in rep.get(f"dossier/{dossier['id']}").get_json()
    assert [f["field"] for f in rep.get(f"dossier/{dossier['id']}/files").get_json()["data"]] == ["attachment"]
    assert rep.get("dossier/0190a1b2-0000-7000-8000-000000000000/files/attachment").status_code == 404


def test_an_upload_is_audited_and_old_versions_stay_downloadable(client: Any) -> None:
    rep = sign_in(client, "rep@test.dev")
    dossier = _dossier(rep)
    path = f"dossier/{dossier['id']}/files/attachment"
    first = _put(rep, path, PDF, "application/pdf", "v1.pdf").get_json()["attachment"]
    second_record = _put(rep, path, b"%PDF-1.4 second", "application/pdf", "v2.pdf").get_json()
    second = second_record["attachment"]
    # the rule saw the change: a counter and a history row per upload, through add_row
    assert second_record["uploads"] == 2
    history = second_record["history"]
    assert [(h["number"], h["file"]["name"]) for h in history] == [(1, "v1.pdf"), (2, "v2.pdf")]
    assert history[0]["file"]["url"] == first["url"]
    # the old version is still there, by its pinned URL
    assert rep.get(path).data == b"%PDF-1.4 second"
    assert rep.get(first["url"]).data == PDF
    assert [f["name"] for f in rep.get(f"dossier/{dossier['id']}/files").get_json()["data"]] == ["v2.pdf", "v1.pdf"]
    # the audit trail names the change of the field, by whom
    entries = rep.get(f"dossier/{dossier['id']}/history").get_json()["data"]
    changes = [e for e in entries if "attachment" in (e.get("changes") or {})]
    assert len(changes) == 2
    assert changes[0]["changes"]["attachment"] == [first["ref"], second["ref"]]
    # a file id of another record or field is not served here
    assert rep.get(f"dossier/{dossier['id']}/files/photo?file={first['id']}").status_code == 404
    other = _dossier(rep, "Other")
    assert rep.get(f"dossier/{other['id']}/files/attachment?file={first['id']}").status_code == 404
    assert rep.get(f"dossier/{other['id']}/files/attachment").status_code == 404  # nothing uploaded


def test_references_can_be_copied_and_external_ones_stay_strings(client: Any) -> None:
    rep, other = sign_in(client, "rep@test.dev"), sign_in(client, "other@test.dev")
    dossier = _dossier(rep)
    value = _put(rep, f"dossier/{dossier['id']}/files/attachment", PDF, "application/pdf", "a.pdf").get_json()
    ref = value["attachment"]["ref"]
    copy = other.post("dossier", {"title": "Copy", "photo": ref}).get_json()
    assert copy["photo"]["name"] == "a.pdf"
    assert copy["photo"]["url"] == value["attachment"]["url"]  # downloads stay with the original record
    external = other.post("dossier", {"title": "DMS", "photo": "dms://archive/2026/a.pdf"}).get_json()
    assert external["photo"] == "dms://archive/2026/a.pdf"
    assert other.get(f"dossier/{external['id']}/files/photo").status_code == 404


def test_a_reference_written_to_a_file_field_obeys_its_accept_and_max_size(client: Any) -> None:
    rep = sign_in(client, "rep@test.dev")
    dossier = _dossier(rep)
    # files uploaded to the unrestricted photo field, copied into the attachment by reference
    page = _put(rep, f"dossier/{dossier['id']}/files/photo", b"<p>hi</p>", "text/html", "page.html").get_json()
    big = _put(rep, f"dossier/{dossier['id']}/files/photo", b"%PDF" + b"x" * 100, "application/pdf", "big.pdf")
    small = _put(rep, f"dossier/{dossier['id']}/files/photo", PDF, "application/pdf", "small.pdf").get_json()

    def refused(reply: Any) -> str:
        assert reply.status_code == 422, reply.get_json()
        assert reply.headers["Content-Type"] == "application/problem+json"
        (error,) = reply.get_json()["errors"]
        assert error["field"] == "attachment"
        return str(error["message"])

    path = f"dossier/{dossier['id']}"
    assert "page.html is text/html" in refused(rep.patch(path, {"attachment": page["photo"]["ref"]}))
    assert "at most 64 bytes" in refused(rep.patch(path, {"attachment": big.get_json()["photo"]["ref"]}))
    assert "at most 64 bytes" in refused(
        rep.post("dossier", {"title": "New", "attachment": big.get_json()["photo"]["ref"]})
    )
    unknown = "files/00000000-0000-4000-8000-000000000000/a.pdf"
    assert "No uploaded file" in refused(rep.patch(path, {"attachment": unknown}))
    renamed = small["photo"]["ref"].replace("small.pdf", "other.pdf")
    assert "No uploaded file" in refused(rep.patch(path, {"attachment": renamed}))
    # an external reference is checked against accept by its name
    assert "Accepts application/pdf, .txt, image/*" in refused(rep.patch(path, {"attachment": "dms://archive/a.exe"}))
    assert rep.get(path).get_json()["attachment"] is None  # nothing was written
    # what fits is taken, and other changes of the record do not check the file again
    ok = rep.patch(path, {"attachment": small["photo"]["ref"]})
    assert ok.status_code == 200 and ok.get_json()["attachment"]["name"] == "small.pdf"
    assert rep.patch(path, {"attachment": "dms://archive/2026/scan.pdf"}).status_code == 200
    assert rep.patch(path, {"title": "Renamed"}).status_code == 200


def test_the_same_content_is_stored_once_and_concurrent_writes_are_whole(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    blobs: list[Any] = []

    def put() -> None:
        blobs.append(store.put(io.BytesIO(b"same bytes" * 1000)))

    threads = [threading.Thread(target=put) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({b.sha256 for b in blobs}) == 1
    with store.open(blobs[0].sha256) as fh:
        assert fh.read() == b"same bytes" * 1000
    files = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert len(files) == 1 and not files[0].name.startswith(".upload-")
    with pytest.raises(FileNotFoundError):
        store.open("../../etc/passwd")


def test_openapi_documents_the_file_operations(client: Any) -> None:
    from engine.api.files import add_file_paths, file_value_schema

    class Spec:
        def __init__(self) -> None:
            self.paths: dict[str, Any] = {}

        def path(self, path: str, operations: dict[str, Any]) -> None:
            self.paths[path] = operations

    spec = Spec()
    ws = client.application.extensions["tessera"].for_host("localhost")
    add_file_paths(spec, ws.snapshot().catalog)
    upload = spec.paths["/api/v1/dossier/{id}/files/attachment"]["put"]
    assert {"413", "415", "422"} <= set(upload["responses"])
    assert "application/pdf" in upload["summary"]
    assert "/api/v1/dossier/{id}/files" in spec.paths
    assert file_value_schema("in")["type"] == "string"
    assert file_value_schema("out")["oneOf"][0]["required"][:2] == ["ref", "id"]


def test_a_reference_to_a_file_the_writer_may_not_read_is_refused(client: Any) -> None:
    """Copying it showed the file's name, size, checksum and uploader to a writer who may not
    read the field (or record) it was uploaded to; it now gets the answer a made-up one gets."""
    rep, admin = sign_in(client, "rep@test.dev"), sign_in(client, "admin@test.dev")
    dossier = _dossier(admin, "Board pack")
    put = _put(admin, f"dossier/{dossier['id']}/files/secret_file", PDF, "application/pdf", "s.pdf")
    hidden_ref = put.get_json()["secret_file"]["ref"]
    refused = rep.post("dossier", {"title": "Copy", "photo": hidden_ref})
    assert refused.status_code == 422
    assert refused.get_json()["errors"] == [
        {"field": "photo", "message": "No uploaded file has this reference; upload the file to the field."}
    ]
    mine = _dossier(rep, "Mine")
    assert rep.patch(f"dossier/{mine['id']}", {"photo": hidden_ref}).status_code == 422
    assert admin.post("dossier", {"title": "Copy", "photo": hidden_ref}).status_code == 201  # may read it
    shown = _put(rep, f"dossier/{mine['id']}/files/attachment", PDF, "application/pdf", "a.pdf").get_json()
    copied = rep.patch(f"dossier/{mine['id']}", {"photo": shown["attachment"]["ref"]})  # a file rep may read
    assert copied.status_code == 200 and copied.get_json()["photo"]["name"] == "a.pdf"
