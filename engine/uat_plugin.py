"""The pytest plugin of ``tessera uat`` (loaded in the child pytest with
``-p engine.uat_plugin``): it tags each test report with the test's acceptance case id
(``@pytest.mark.uat("UAT-MODULE-NN")``) and module, and the controlling process writes the
outcomes to the JSON file named by ``TESSERA_UAT_REPORT``. Works with and without
pytest-xdist (the tags travel with the reports from the workers)."""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from engine.uat import REPORT_ENV

_outcomes: list[dict[str, Any]] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    marker = item.get_closest_marker("uat")
    if marker is not None and marker.args:
        report.user_properties.append(("uat", (str(marker.args[0]), item.path.stem.removeprefix("test_"))))
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    tag: Any = dict(report.user_properties).get("uat")
    if not tag or (report.when != "call" and report.passed) or report.skipped:
        return
    case, module = tag
    _outcomes.append({"case": case, "module": module, "passed": report.passed, "when": report.when})


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get(REPORT_ENV)
    if path and not hasattr(session.config, "workerinput"):  # the controller writes, not xdist workers
        Path(path).write_text(json.dumps(_outcomes))
