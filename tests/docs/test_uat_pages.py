"""The acceptance pages (docs/uat/MODULE.md) and their automation (tests/uat/test_MODULE.py)
name the same cases: a case signed off on paper is a case the runner counts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES, TESTS = ROOT / "docs" / "uat", ROOT / "tests" / "uat"
HEADING = re.compile(r"^## (UAT-[A-Z]+-[0-9]{2}):", re.MULTILINE)
MARK = re.compile(r'@pytest\.mark\.uat\("(UAT-[A-Z]+-[0-9]{2})"\)')
MODULES = sorted(p.stem.removeprefix("test_") for p in TESTS.glob("test_*.py") if p.stem != "test_command")


def test_every_module_with_acceptance_tests_has_a_page_and_the_index_lists_it():
    pages = sorted(p.stem for p in PAGES.glob("*.md") if p.stem != "index")
    assert pages == MODULES
    index = (PAGES / "index.md").read_text(encoding="utf-8")
    assert [m for m in MODULES if f"]({m}.md)" not in index] == []


@pytest.mark.parametrize("module", MODULES)
def test_the_page_and_the_tests_name_the_same_cases(module):
    page = HEADING.findall((PAGES / f"{module}.md").read_text(encoding="utf-8"))
    tests = MARK.findall((TESTS / f"test_{module}.py").read_text(encoding="utf-8"))
    assert page == sorted(page) and len(page) == len(set(page))
    assert sorted(tests) == page
    assert all(case.startswith(f"UAT-{module.upper()}-") for case in page)
