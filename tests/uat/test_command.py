"""``tessera uat``: runs the acceptance tests in a child pytest and prints the sign-off table
(these tests are no acceptance cases themselves; the runner leaves this file out)."""

from __future__ import annotations

from click.testing import CliRunner

from engine import uat
from engine.cli import main


def test_one_case_runs_and_the_table_shows_it():
    result = CliRunner().invoke(main, ["uat", "--module", "competitors", "--case", "UAT-COMPETITORS-01"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["module", "cases", "passed", "pass", "rate"]
    assert lines[1].split() == ["competitors", "1", "1", "100.0%"]
    assert lines[2].split() == ["overall", "1", "1", "100.0%"]
    assert "signed off" in lines[-1] and "NOT" not in lines[-1]


def test_bad_input_gets_a_one_line_error():
    unknown = CliRunner().invoke(main, ["uat", "--module", "nosuchmodule"])
    assert unknown.exit_code == 2
    assert "no acceptance tests for module 'nosuchmodule'" in unknown.output and "leads" in unknown.output
    assert CliRunner().invoke(main, ["uat", "--case", "LEADS-1"]).exit_code == 2
    database = CliRunner().invoke(main, ["uat", "--database-url", "mysql://x"])
    assert database.exit_code == 2 and "unsupported database URL" in database.output


def test_an_installation_without_the_tests_says_so(monkeypatch):
    monkeypatch.setattr(uat, "tests_folder", lambda: None)
    result = CliRunner().invoke(main, ["uat"])
    assert result.exit_code == 2
    assert "acceptance tests are not available in this installation" in result.output


def test_the_table_and_the_threshold():
    tallies = uat._tally(
        [
            {"case": "UAT-A-01", "module": "a", "passed": True},
            {"case": "UAT-A-01", "module": "a", "passed": False},  # failed on one database: failed
            {"case": "UAT-A-02", "module": "a", "passed": True},
            {"case": "UAT-B-01", "module": "b", "passed": True},
        ]
    )
    result = uat.Result(tallies, 1)
    assert (result.cases, result.passed, round(result.rate, 1), result.signed_off) == (3, 2, 66.7, False)
    shown = uat.table(result).splitlines()
    assert shown[1].split() == ["a", "2", "1", "50.0%"]
    assert "failed: UAT-A-01" in shown and shown[-1].startswith("NOT signed off")
