"""The acceptance-test runner behind ``tessera uat``.

The user acceptance cases (``docs/uat/MODULE.md``) are automated as scenario tests in
``tests/uat/test_MODULE.py``, one test per case, marked ``@pytest.mark.uat("UAT-MODULE-NN")``.
:func:`run` starts pytest on them in a child process with :mod:`engine.uat_plugin` as a plugin: the plugin
tags every test report with its case id and module, and the parent reads the outcomes back
from a JSON file and counts them per case (a case passes when all its runs pass: every
database it ran on).

The acceptance tests live in the source tree, not in the wheel: :func:`tests_folder` says
where they are, or ``None`` in an installation without them.
"""

from __future__ import annotations

import json
import os
import re

# runs pytest (sys.executable) with arguments built here, no shell
import subprocess  # nosec B404
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: the environment variable naming the file the plugin writes the outcomes to
REPORT_ENV = "TESSERA_UAT_REPORT"
#: a case id: UAT-MODULE-NN
CASE = re.compile(r"^UAT-[A-Z]+-[0-9]{2}$")
#: the pass rate a sign-off needs (percent)
THRESHOLD = 95.0


class UatError(Exception):
    """The acceptance tests cannot run (a one-line reason for the command line)."""


def tests_folder() -> Path | None:
    """``tests/uat`` of the source tree this engine runs from, if it is there."""
    folder = Path(__file__).resolve().parent.parent / "tests" / "uat"
    return folder if (folder / "conftest.py").exists() else None


def modules(folder: Path) -> list[str]:
    """The modules that have acceptance tests (``test_MODULE.py``), sorted."""
    return sorted(p.stem.removeprefix("test_") for p in folder.glob("test_*.py") if p.stem != "test_command")


@dataclass
class Tally:
    """The outcome of one module's cases."""

    module: str
    cases: dict[str, bool] = field(default_factory=dict)

    @property
    def passed(self) -> int:
        return sum(self.cases.values())

    @property
    def rate(self) -> float:
        return 100.0 * self.passed / len(self.cases) if self.cases else 0.0


@dataclass
class Result:
    """Every module's tally and the overall pass rate."""

    tallies: list[Tally]
    exit_code: int

    @property
    def cases(self) -> int:
        return sum(len(t.cases) for t in self.tallies)

    @property
    def passed(self) -> int:
        return sum(t.passed for t in self.tallies)

    @property
    def rate(self) -> float:
        return 100.0 * self.passed / self.cases if self.cases else 0.0

    @property
    def signed_off(self) -> bool:
        return self.cases > 0 and self.rate >= THRESHOLD

    def failed(self) -> Iterator[str]:
        for tally in self.tallies:
            yield from (case for case, good in sorted(tally.cases.items()) if not good)


def _arguments(
    folder: Path, module: str | None, database_url: str | None, workers: int, case: str | None
) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    target = folder
    if module is not None:
        known = modules(folder)
        if module not in known:
            raise UatError(f"no acceptance tests for module {module!r} (known: {', '.join(known)})")
        target = folder / f"test_{module}.py"
    selection = "sqlite"
    if database_url:
        if database_url.startswith("postgresql"):
            env["TESSERA_TEST_DATABASE_URL"] = database_url
            selection = "postgresql"
        elif not database_url.startswith("sqlite"):
            raise UatError(f"unsupported database URL {database_url!r} (sqlite:/// or postgresql://)")
    if case is not None:
        if not CASE.match(case):
            raise UatError(f"not a case id: {case!r} (e.g. UAT-DEALS-01)")
        selection += " and " + case.lower().replace("-", "_")
    args = [
        str(target),
        "--ignore",
        str(folder / "test_command.py"),
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "engine.uat_plugin",
        "-o",
        "addopts=",
        "-k",
        selection,
    ]
    args += ["-n", str(workers)] if workers > 0 else ["-p", "no:xdist"]
    return args, env


def run(
    module: str | None = None,
    database_url: str | None = None,
    workers: int = 0,
    quiet: bool = True,
    case: str | None = None,
) -> Result:
    """Run the acceptance tests (of one module or one case, on SQLite or the PostgreSQL
    database given)."""
    folder = tests_folder()
    if folder is None:
        raise UatError("the acceptance tests are not available in this installation (run from a source checkout)")
    args, env = _arguments(folder, module, database_url, workers, case)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "uat.json"
        env[REPORT_ENV] = str(report)
        output = subprocess.DEVNULL if quiet else None
        done = subprocess.run(  # nosec B603
            [sys.executable, "-m", "pytest", *args],
            cwd=folder.parent.parent,
            env=env,
            stdout=output,
            stderr=output,
            check=False,
        )
        outcomes = json.loads(report.read_text()) if report.exists() else []
    if done.returncode == 5:  # pytest: no tests collected
        raise UatError(f"no acceptance case matches {case or module or 'the selection'}")
    if done.returncode not in (0, 1) or not outcomes:
        raise UatError(f"the acceptance tests did not run (pytest exit code {done.returncode}; -v shows its output)")
    return Result(_tally(outcomes), done.returncode)


def _tally(outcomes: list[dict[str, Any]]) -> list[Tally]:
    tallies: dict[str, Tally] = {}
    for row in outcomes:
        tally = tallies.setdefault(row["module"], Tally(row["module"]))
        tally.cases[row["case"]] = tally.cases.get(row["case"], True) and row["passed"]
    return [tallies[name] for name in sorted(tallies)]


def table(result: Result) -> str:
    """The sign-off table: module, cases, passed, pass rate; then the overall rate."""
    lines = [f"{'module':<16}{'cases':>7}{'passed':>8}{'pass rate':>11}"]
    for t in result.tallies:
        lines.append(f"{t.module:<16}{len(t.cases):>7}{t.passed:>8}{t.rate:>10.1f}%")
    lines.append(f"{'overall':<16}{result.cases:>7}{result.passed:>8}{result.rate:>10.1f}%")
    failed = list(result.failed())
    if failed:
        lines.append("failed: " + ", ".join(failed))
    verdict = "signed off" if result.signed_off else "NOT signed off"
    lines.append(f"{verdict} (needs {THRESHOLD:.0f} % of the cases passing)")
    return "\n".join(lines)
