"""``TESSERA_LOG_FORMAT=json``: one JSON object per log line (docs/operations.md#logs)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from engine.app import create_app
from engine.cli import main
from engine.config import load_config
from engine.logging_setup import configure_logging
from engine.workspace import Workspace
from tests.conftest import PASSWORD, make_config


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("json", stream)
    yield stream
    configure_logging("text")  # the next test gets the usual logging back


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_format_is_read_from_the_environment_and_checked() -> None:
    assert load_config({"TESSERA_LOG_FORMAT": "JSON"}, Path("/nonexistent.toml")).log_format == "json"
    assert load_config({}, Path("/nonexistent.toml")).log_format == "text"
    result = CliRunner().invoke(main, ["tick"], env={"TESSERA_LOG_FORMAT": "xml"})
    assert result.exit_code == 1
    assert "error: TESSERA_LOG_FORMAT must be text or json, not 'xml'" in result.output


def test_a_log_line_outside_a_request_is_one_json_object(log_lines: io.StringIO) -> None:
    logging.getLogger("tessera.jobs").info("delivered %s", "01abc", extra={"channel": "email"})
    try:
        raise ValueError("broken")
    except ValueError:
        logging.getLogger("tessera.api").exception("request failed")
    first, second = records(log_lines)
    assert first["level"] == "INFO" and first["logger"] == "tessera.jobs"
    assert first["message"] == "delivered 01abc" and first["channel"] == "email"
    assert first["timestamp"].endswith("+00:00")
    assert "request_id" not in first
    assert second["level"] == "ERROR" and "ValueError: broken" in second["exception"]


def test_each_request_is_logged_with_its_id_and_workspace(
    workspace: Workspace, database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, tmp_path, log_format="json")
    client = create_app(config, workspace).test_client()
    stream = io.StringIO()
    configure_logging("json", stream)  # what create_app installed, writing here instead of stderr
    try:
        signed_in = client.post("/api/v1/auth/token", json={"email": "admin@test.dev", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {signed_in.get_json()['token']}", "X-Request-ID": "req-42"}
        answer = client.get("/api/v1/gadget", headers=headers)
    finally:
        configure_logging("text")
    assert answer.headers["X-Request-ID"] == "req-42"
    lines = [entry for entry in records(stream) if entry["logger"] == "tessera.request"]
    assert [(entry["method"], entry["route"], entry["status"]) for entry in lines] == [
        ("POST", "/api/v1/auth/token", 200),
        ("GET", "/api/v1/<entity>", 200),
    ]
    last = lines[-1]
    assert last["request_id"] == "req-42"
    assert last["workspace"] == workspace.name
    assert last["path"] == "/api/v1/gadget" and last["message"] == "GET /api/v1/gadget 200"
    assert isinstance(last["duration_ms"], float)
    assert "Bearer" not in stream.getvalue()  # headers are not logged
    assert len(lines[0]["request_id"]) == 32  # none sent: one is made


def test_text_format_leaves_logging_alone() -> None:
    assert configure_logging("text") is None
    assert not [h for h in logging.getLogger("tessera").handlers if getattr(h, "tessera_json", False)]
