"""``POST /api/v1/ENTITY/import``: a job with progress and a report, the importing user's
permissions, and bad files refused with problem+json and nothing written."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from engine.app import create_app
from engine.automation.jobs import InProcessRunner, RqRunner
from engine.config import Config
from engine.dataio import import_jobs, importing
from engine.security.users import create_user, ensure_roles
from engine.workspace import Workspace
from tests.conftest import PASSWORD, Api, make_config, sign_in, table_rows

REDIS_URL = os.environ.get("TESSERA_TEST_REDIS_URL")
GOOD = (
    "Name,E-mail,Company,Score\n"
    "Ada,ada@example.com,Acme,10\n"
    "Bob,bob@example.com,Acme,20\n"
    "Cy,cy@example.com,Initech,30\n"
    "Di,di@example.com,Initech,40\n"
    "Ed,ed@example.com,Globex,50\n"
    "Flo,flo@example.com,Globex,60\n"
)


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> Config:
    return make_config(database_url, tmp_path, packs=("import_api_kit",))


@pytest.fixture
def users(workspace: Workspace) -> None:
    ensure_roles(workspace, {"importer": "Importer", "clerk": "Clerk", "scout": "Scout", "keeper": "Keeper"})
    create_user(workspace, "imp@test.dev", "Ida Importer", PASSWORD, ["importer"])
    create_user(workspace, "clerk@test.dev", "Cid Clerk", PASSWORD, ["clerk"])
    create_user(workspace, "scout@test.dev", "Sue Scout", PASSWORD, ["scout"])
    create_user(workspace, "keeper@test.dev", "Kim Keeper", PASSWORD, ["keeper"])


@pytest.fixture
def importer(client: Any, users: None) -> Api:
    return sign_in(client, "imp@test.dev")


@pytest.fixture
def clerk(client: Any, users: None) -> Api:
    return sign_in(client, "clerk@test.dev")


@pytest.fixture
def scout(client: Any, users: None) -> Api:
    return sign_in(client, "scout@test.dev")


def upload(api: Api, entity: str, content: str | bytes, filename: str = "prospects.csv", **fields: str) -> Any:
    body = content.encode() if isinstance(content, str) else content
    data: dict[str, Any] = {"file": (io.BytesIO(body), filename), **fields}
    return api.post(f"{entity}/import", data=data, content_type="multipart/form-data")


def prospects(admin: Api) -> list[dict[str, Any]]:
    return admin.get("prospect?sort=email&limit=100").get_json()["data"]


def nothing_kept(workspace: Workspace) -> bool:
    folder = workspace.config.instance_path / "imports"
    return not folder.exists() or not any(folder.iterdir())


def test_an_import_is_a_job_that_reports_progress_and_its_report(
    workspace: Workspace, importer: Api, admin: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = upload(importer, "prospect", GOOD, batch_size="2", key="email")
    assert response.status_code == 202, response.get_json()
    job = response.get_json()
    assert response.headers["Location"] == f"/api/v1/imports/{job['id']}"
    assert job["state"] == "queued"
    assert job["progress"] == {"done": 0, "total": 6}
    assert importer.get(response.headers["Location"]).get_json()["state"] == "queued"
    assert prospects(admin) == []

    # what a client polling the job sees while the rows go in, batch after batch
    seen: list[dict[str, Any]] = []
    real = importing.import_table

    def watched(*args: Any, **kwargs: Any) -> Any:
        inner = args[5] if len(args) > 5 else kwargs["progress"]

        def progress(done: int) -> None:
            inner(done)
            seen.append(importer.get(f"imports/{job['id']}").get_json())

        return real(*args[:5], progress)

    monkeypatch.setattr(importing, "import_table", watched)
    InProcessRunner(workspace).tick()

    assert [s["state"] for s in seen][:1] == ["running"]
    assert [s["progress"] for s in seen][:3] == [{"done": n, "total": 6} for n in (2, 4, 6)]
    done = importer.get(f"imports/{job['id']}").get_json()
    assert done["state"] == "done"
    assert done["progress"] == {"done": 6, "total": 6}
    assert done["report"]["created"] == 6 and done["report"]["failed"] == 0
    assert done["errors_url"] is None
    assert [p["email"] for p in prospects(admin)][:2] == ["ada@example.com", "bob@example.com"]
    assert len(prospects(admin)) == 6
    # the upload is gone once the job is done; its state stays for the report
    assert not list((workspace.config.instance_path / "imports" / job["id"]).glob("upload*"))
    # the job is listed for the user who started it
    assert [j["id"] for j in importer.get("imports").get_json()["data"]] == [job["id"]]


@pytest.mark.skipif(not REDIS_URL, reason="RQ tests need TESSERA_TEST_REDIS_URL (a Redis server)")
def test_an_rq_worker_runs_the_import(workspace: Workspace, importer: Api, admin: Api) -> None:
    from redis import Redis
    from rq import Queue

    job = upload(importer, "prospect", GOOD).get_json()
    queue = f"tessera-test-{uuid.uuid4().hex[:12]}"
    runner = RqRunner(workspace, REDIS_URL or "", queue)
    try:
        assert runner.tick().outbox["queued"] == 1
        assert importer.get(f"imports/{job['id']}").get_json()["state"] == "queued"
        runner.worker().work(burst=True)
    finally:
        runner.close()
        with Redis.from_url(REDIS_URL or "") as redis:
            Queue(queue, connection=redis).delete(delete_jobs=True)
    done = importer.get(f"imports/{job['id']}").get_json()
    assert (done["state"], done["report"]["created"]) == ("done", 6)
    assert len(prospects(admin)) == 6


def test_row_errors_leave_nothing_written_and_come_as_csv(workspace: Workspace, importer: Api, admin: Api) -> None:
    bad = GOOD.replace("Cy,cy@example.com,Initech,30", "Cy,cy@example.com,Initech,lots")
    response = upload(importer, "prospect", bad, wait="true")
    assert response.status_code == 200, response.get_json()
    job = response.get_json()
    assert job["state"] == "done"
    assert job["report"]["failed"] == 1
    assert job["report"]["written"] is False
    assert prospects(admin) == []
    errors = importer.get(job["errors_url"])
    assert errors.status_code == 200
    assert errors.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(errors.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:4] == ["row", "column", "field", "message"]
    assert [(r[0], r[2]) for r in rows[1:]] == [("3", "score")]

    # the same file with partial: the good rows land, the bad one is reported
    again = upload(importer, "prospect", bad, wait="true", partial="true", batch_size="1").get_json()
    assert again["report"]["failed"] == 1
    assert sorted(p["name"] for p in prospects(admin)) == ["Ada", "Bob", "Di", "Ed", "Flo"]


def test_dry_run_and_upsert_by_key(importer: Api, admin: Api) -> None:
    dry = upload(importer, "prospect", GOOD, wait="true", dry_run="true").get_json()
    assert dry["report"]["dry_run"] is True
    assert dry["report"]["created"] == 6
    assert prospects(admin) == []

    upload(importer, "prospect", GOOD, wait="true", key="email")
    before = prospects(admin)
    changed = GOOD.replace("Ada,ada@example.com,Acme,10", "Ada,ada@example.com,Umbrella,11")
    report = upload(importer, "prospect", changed, wait="true", key="email").get_json()["report"]
    assert report["created"] == 0
    after = prospects(admin)
    assert [p["id"] for p in after] == [p["id"] for p in before]
    assert (after[0]["company"], after[0]["score"]) == ("Umbrella", 11)
    assert after[1:] == before[1:]


@pytest.mark.parametrize(
    ("content", "filename", "status", "words"),
    [
        (b"", "empty.csv", 422, "empty"),
        (b"Name,E-mail\n" + b"Ada,ada@example.com\n" * 3000 + b"B\xe9a,bea@example.com\n", "latin.csv", 400, "utf-8"),
        (b"not a zip at all", "book.xlsx", 400, "XLSX"),
        (b"\xd0\xcf\x11\xe0old excel", "book.xls", 400, ".xls"),
    ],
)
def test_a_bad_file_is_a_problem_and_nothing_is_kept_or_written(
    workspace: Workspace, importer: Api, content: bytes, filename: str, status: int, words: str
) -> None:
    extra = {"encoding": "utf-8"} if filename == "latin.csv" else {}
    response = upload(importer, "prospect", content, filename, **extra)
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/problem+json"
    assert words in response.get_json()["detail"]
    assert table_rows(workspace, "prospect") == 0
    assert table_rows(workspace, "tessera_outbox") == 0
    assert nothing_kept(workspace)


def test_who_may_import_what(workspace: Workspace, rep: Api, importer: Api, clerk: Api, admin: Api) -> None:
    refused = upload(rep, "prospect", GOOD)
    assert refused.status_code == 403
    assert refused.mimetype == "application/problem+json"
    assert "may not import" in refused.get_json()["detail"]
    # an entity the user cannot read does not exist for them
    assert upload(importer, "ledger", "Entry,Amount\nx,1\n").status_code == 404
    assert upload(importer, "nothing_here", GOOD).status_code == 404
    # a field the clerk cannot read cannot be imported into, mapped or matched by its name
    mapped = upload(clerk, "prospect", "Name,Internal\nAda,A+\n", mapping='{"Name": "name", "Internal": "rating"}')
    assert mapped.status_code == 422
    assert mapped.get_json()["errors"] == [{"field": "mapping.Internal", "message": "prospect has no field 'rating'."}]
    assert table_rows(workspace, "tessera_outbox") == 0
    assert nothing_kept(workspace)
    # a column named like the hidden field is ignored: its value never lands, its field never shows
    report = upload(clerk, "prospect", "Name,rating\nAda,A+\n", wait="true").get_json()["report"]
    assert "rating" not in json.dumps(report["mapping"]) and report["ignored_columns"] == ["rating"]
    assert [p["rating"] for p in prospects(admin)] == [None]


@pytest.mark.parametrize(
    ("content", "fields", "words"),
    [
        ("Name\nAda\n", {"key": "email"}, "no column fills the key field 'email'"),
        ("Colour\nblue\n", {}, "no column of prospects.csv matches a field of prospect"),
        ("Name,P\nAda,x\n", {"mapping": '{"Name": "name", "P": "partner.nope"}'}, "partner has no stored field 'nope'"),
        ("Name,C\nAda,x\n", {"mapping": '{"Name": "name", "C": "company.x"}'}, "company"),
    ],
)
def test_what_the_header_row_makes_impossible_is_refused_at_once(
    workspace: Workspace, importer: Api, content: str, fields: dict[str, str], words: str
) -> None:
    response = upload(importer, "prospect", content, **fields)
    assert response.status_code == 400, response.get_json()
    assert response.mimetype == "application/problem+json"
    assert words in response.get_json()["detail"]
    assert table_rows(workspace, "tessera_outbox") == 0  # nothing queued
    assert nothing_kept(workspace)


def test_links_match_only_by_fields_the_importer_may_read(
    workspace: Workspace, clerk: Api, importer: Api, admin: Api
) -> None:
    acme = admin.post("partner", json={"name": "Acme", "tax_id": "DE-SECRET"}).get_json()
    # the clerk cannot see tax ids: a cell holding one matches nothing, and says nothing of them
    report = upload(clerk, "prospect", "Name,Partner\nAda,DE-SECRET\n", wait="true").get_json()["report"]
    (error,) = report["errors"]
    assert error["message"] == "No partner with id or name 'DE-SECRET' (or you may not see it)."
    refused = upload(clerk, "prospect", "Name,P\nAda,DE-SECRET\n", mapping='{"Name": "name", "P": "partner.tax_id"}')
    assert refused.status_code == 400
    assert refused.get_json()["detail"].startswith("partner has no stored field 'tax_id'")
    assert prospects(admin) == []
    # who may see them links by them
    report = upload(importer, "prospect", "Name,Partner\nAda,DE-SECRET\n", wait="true").get_json()["report"]
    assert report["created"] == 1
    assert [p["partner"] for p in prospects(admin)] == [acme["id"]]


def test_an_upsert_key_finds_only_records_the_importer_may_read(scout: Api, admin: Api) -> None:
    theirs = admin.post("prospect", json={"name": "Theirs", "email": "t@example.com"}).get_json()
    report = upload(scout, "prospect", "Name,E-mail\nMine now,t@example.com\n", wait="true", key="email")
    errors = report.get_json()["report"]["errors"]
    assert [e["field"] for e in errors] == ["email"]  # as if creating it: the e-mail is taken
    assert theirs["id"] not in json.dumps(errors)
    assert [(p["name"], p["version"]) for p in prospects(admin)] == [("Theirs", 1)]
    # the scout's own record is found by its key and updated
    upload(scout, "prospect", "Name,E-mail\nMine,m@example.com\n", wait="true", key="email")
    again = upload(scout, "prospect", "Name,E-mail\nMine too,m@example.com\n", wait="true", key="email")
    assert (again.get_json()["report"]["created"], again.get_json()["report"]["updated"]) == (0, 1)
    assert sorted(p["name"] for p in prospects(admin)) == ["Mine too", "Theirs"]


def test_an_import_grant_without_create_only_updates(client: Any, users: None, admin: Api) -> None:
    keeper = sign_in(client, "keeper@test.dev")
    admin.post("prospect", json={"name": "Ada", "email": "ada@example.com"})
    job = upload(keeper, "prospect", GOOD, wait="true", key="email", partial="true", batch_size="1").get_json()
    report = job["report"]
    assert (report["updated"], report["created"], report["failed"]) == (1, 0, 5)
    assert {e["message"] for e in report["errors"]} == {"You may not create prospect records"}
    assert [(p["name"], p["company"]) for p in prospects(admin)] == [("Ada", "Acme")]


@pytest.mark.parametrize(
    ("change", "words"),
    [({"active": False}, "no longer active"), ({"roles": ["sales_rep"]}, "may not import prospect records")],
)
def test_a_queued_import_runs_with_what_its_user_may_do_when_it_runs(
    workspace: Workspace, importer: Api, admin: Api, change: dict[str, Any], words: str
) -> None:
    job = upload(importer, "prospect", GOOD).get_json()
    user = admin.get("user?email=imp@test.dev").get_json()["data"][0]
    assert admin.patch(f"user/{user['id']}", json=change).status_code == 200
    InProcessRunner(workspace).tick()
    done = admin.get(f"imports/{job['id']}").get_json()
    assert (done["state"], done["problem"]["status"]) == ("failed", 403)
    assert words in done["problem"]["detail"]
    assert prospects(admin) == []


def test_a_job_is_only_visible_to_its_user_and_administrators(importer: Api, clerk: Api, admin: Api) -> None:
    job = upload(importer, "prospect", GOOD).get_json()
    assert clerk.get(f"imports/{job['id']}").status_code == 404
    assert clerk.get("imports").get_json()["data"] == []
    assert admin.get(f"imports/{job['id']}").get_json()["state"] == "queued"
    assert importer.get("imports/not-an-id").status_code == 404
    assert importer.get(f"imports/{job['id']}/errors.csv").status_code == 404


def test_bad_requests_are_problems(importer: Api) -> None:
    unknown = upload(importer, "prospect", GOOD, colour="blue")
    assert unknown.status_code == 400
    assert "colour" in unknown.get_json()["detail"]
    options = upload(importer, "prospect", GOOD, dedupe="merge", batch_size="0", mapping="[1]")
    assert options.status_code == 422
    assert {e["field"] for e in options.get_json()["errors"]} == {"dedupe", "batch_size", "mapping"}
    for zone in ("Mars/Olympus", "x" * 300, "../../etc/passwd"):  # 300 characters: too long a file name
        refused = upload(importer, "prospect", GOOD, timezone=zone)
        assert refused.status_code == 422, zone
        assert refused.get_json()["errors"][0]["field"] == "timezone"
    raw = importer.post("prospect/import", data=GOOD.encode(), content_type="text/csv")
    assert raw.status_code == 422
    assert raw.get_json()["errors"][0]["field"] == "filename"
    two = importer.post(
        "prospect/import",
        data={"a": (io.BytesIO(b"x"), "a.csv"), "b": (io.BytesIO(b"y"), "b.csv")},
        content_type="multipart/form-data",
    )
    assert two.status_code == 422


def test_a_raw_body_upload_works_too(importer: Api, admin: Api) -> None:
    # wait=1: a yes or no reads as every other option's (true/1/yes, false/0/no)
    response = importer.post("prospect/import?filename=p.csv&wait=1", data=GOOD.encode(), content_type="text/csv")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["report"]["created"] == 6
    assert len(prospects(admin)) == 6


def test_a_file_over_the_size_limit_is_refused(workspace: Workspace, config: Config, users: None) -> None:
    small = create_app(config.with_overrides(max_body_bytes=2000), workspace).test_client()
    api = sign_in(small, "imp@test.dev")
    big = "Name,E-mail\n" + "".join(f"P{i},p{i}@example.com\n" for i in range(200))
    response = upload(api, "prospect", big)
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert table_rows(workspace, "prospect") == 0
    assert nothing_kept(workspace)


def test_the_openapi_document_describes_imports(importer: Api) -> None:
    paths = importer.get("openapi.json").get_json()["paths"]
    post = paths["/api/v1/prospect/import"]["post"]
    assert {"202", "403", "413", "422"} <= set(post["responses"])
    assert "multipart/form-data" in post["requestBody"]["content"]
    assert paths["/api/v1/imports/{id}"]["get"]["responses"]["200"]
    assert "/api/v1/imports/{id}/errors.csv" in paths


def test_a_finished_job_runs_no_second_time_and_is_pruned_after_a_week(
    workspace: Workspace, importer: Api, admin: Api
) -> None:
    job = upload(importer, "prospect", GOOD, wait="true").get_json()
    # the outbox runs a job at least once: a second attempt finds it done and does nothing
    assert import_jobs.run_import(workspace, job["id"]) is None
    assert len(prospects(admin)) == 6
    finished = dt.datetime.fromisoformat(job["finished_at"].replace("Z", "+00:00"))
    assert import_jobs.prune(workspace, finished + dt.timedelta(days=6)) == 0
    assert importer.get(f"imports/{job['id']}").status_code == 200
    assert import_jobs.prune(workspace, finished + dt.timedelta(days=8)) == 1
    assert importer.get(f"imports/{job['id']}").status_code == 404
