"""``GET /metrics``: who may read it, and what it counts (docs/operations.md#monitoring)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.app import create_app
from engine.workspace import Workspace
from tests.conftest import Api, make_config

REDIS_URL = os.environ.get("TESSERA_TEST_REDIS_URL")
OUTSIDE = {"REMOTE_ADDR": "203.0.113.7"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition as (name, sorted labels) -> value."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_are_served_to_this_machine_only_without_a_token(client: Any) -> None:
    local = client.get("/metrics")
    assert local.status_code == 200
    assert local.headers["Content-Type"].startswith("text/plain")
    assert "tessera_build_info" in local.get_data(as_text=True)

    outside = client.get("/metrics", environ_base=OUTSIDE)
    assert outside.status_code == 403
    assert outside.headers["Content-Type"] == "application/problem+json"
    assert "TESSERA_METRICS_TOKEN" in outside.get_json()["detail"]


def test_with_a_token_every_caller_must_send_it(workspace: Workspace, database_url: str, tmp_path: Path) -> None:
    config = make_config(database_url, tmp_path, metrics_token="s3cret-scrape-token")
    client = create_app(config, workspace).test_client()
    assert client.get("/metrics").status_code == 401  # even from this machine
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"}, environ_base=OUTSIDE)
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    right = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"}, environ_base=OUTSIDE)
    assert right.status_code == 200


def test_requests_are_counted_by_route_template_and_status(admin: Api, anonymous: Api) -> None:
    gadget = admin.post("gadget", {"name": "Router"}).get_json()["id"]
    admin.get(f"gadget/{gadget}")
    admin.get(f"gadget/{gadget}")
    anonymous.get("gadget")  # 401
    anonymous.get("/no/such/page/at/all")  # 404, no route

    found = samples(anonymous.get("/metrics").get_data(as_text=True))
    one = (("method", "GET"), ("route", "/api/v1/<entity>/<record_id>"), ("status", "200"))
    assert found[("tessera_http_requests_total", one)] == 2
    assert found[("tessera_http_requests_total", (("method", "GET"), ("route", "/api/v1/<entity>"), ("status", "401")))]
    unmatched = (("method", "GET"), ("route", "<unmatched>"), ("status", "404"))
    assert found[("tessera_http_requests_total", unmatched)] == 1
    # record ids never become label values
    assert not [key for key in found if gadget in str(key)]
    count = found[("tessera_http_request_duration_seconds_count", (("method", "GET"), ("route", one[1][1])))]
    assert count == 2


def test_job_gauges_count_outbox_rows_like_the_admin_jobs_api(admin: Api, anonymous: Api, workspace: Workspace) -> None:
    invited = admin.post("auth/invitations", {"email": "new@test.dev", "full_name": "Nia New", "roles": ["sales_rep"]})
    assert invited.status_code in (200, 201), invited.get_json()  # queues the invitation e-mail
    expected = admin.get("admin/jobs/metrics").get_json()
    found = samples(anonymous.get("/metrics").get_data(as_text=True))
    name = workspace.name
    for state, count in expected.items():
        assert found[("tessera_jobs", (("state", state), ("workspace", name)))] == count
    assert found[("tessera_jobs", (("state", "queued"), ("workspace", name)))] >= 1
    assert found[("tessera_database_up", (("workspace", name),))] == 1
    assert ("tessera_db_pool_connections", (("state", "in_use"), ("workspace", name))) in found


def test_an_unreachable_database_is_a_gauge_not_an_error(client: Any, workspace: Workspace) -> None:
    import sqlalchemy as sa

    broken = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:9/none", connect_args={"connect_timeout": 1})
    real, workspace.db = workspace.db, broken
    try:
        answer = client.get("/metrics")
    finally:
        workspace.db = real
    assert answer.status_code == 200
    assert samples(answer.get_data(as_text=True))[("tessera_database_up", (("workspace", workspace.name),))] == 0


@pytest.mark.skipif(not REDIS_URL, reason="needs TESSERA_TEST_REDIS_URL")
def test_with_redis_the_rq_queues_are_reported(workspace: Workspace, database_url: str, tmp_path: Path) -> None:
    client = create_app(make_config(database_url, tmp_path, redis_url=REDIS_URL), workspace).test_client()
    found = samples(client.get("/metrics").get_data(as_text=True))
    assert found[("tessera_redis_up", ())] == 1


def test_every_answer_carries_a_request_id(anonymous: Api) -> None:
    fresh = anonymous.get("/healthz")
    assert len(fresh.headers["X-Request-ID"]) == 32
    kept = anonymous.get("/healthz", headers={"X-Request-ID": "nginx-abc123"})
    assert kept.headers["X-Request-ID"] == "nginx-abc123"
    unsafe = anonymous.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["X-Request-ID"] != "bad id\twith spaces"
