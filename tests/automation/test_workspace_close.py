"""Closing a workspace stops the job runner thread that serves it in this process."""

from __future__ import annotations

import threading
from pathlib import Path

from engine.automation.jobs import InProcessRunner, start_in_process
from engine.workspace import Workspace
from tests.automation.test_jobs import wait_for
from tests.conftest import make_config


def runner_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"tessera-jobs-{name}" and t.is_alive()]


def test_closing_the_workspace_stops_its_in_process_runner(database_url: str, tmp_path: Path) -> None:
    ws = Workspace(make_config(database_url, tmp_path, ("autokit", "auto_jobs")), name="closing", meta_check_interval=0)
    ws.install()
    runner = start_in_process(ws, max_sleep=3600)  # it would sleep for an hour: only close() ends it
    assert isinstance(runner, InProcessRunner) and ws.jobs_runner is runner
    assert wait_for(lambda: runner.passes >= 1)
    assert len(runner_threads("closing")) == 1

    ws.close()

    assert runner_threads("closing") == []
    assert ws.jobs_runner is None
    ws.close()  # closing again is harmless
