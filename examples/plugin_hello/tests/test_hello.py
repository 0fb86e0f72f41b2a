"""The hello plugin's own tests. They run whether the plugin is pip-installed or not:
``engine.plugin_testing.plugin_installed`` exposes its entry point from this folder.

    pytest examples/plugin_hello/tests
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.actor import SYSTEM
from engine.config import Config
from engine.errors import ValidationError
from engine.plugin_testing import plugin_installed
from engine.workspace import Workspace

HERE = Path(__file__).resolve().parents[1]


@pytest.fixture
def plugin() -> Iterator[None]:
    with plugin_installed("hello", "tessera_hello", source=HERE, version="0.1.0"):
        yield


@pytest.fixture
def ws(plugin: None, tmp_path: Path) -> Iterator[Workspace]:
    config = Config(
        database_url=f"sqlite:///{tmp_path / 'hello.db'}",
        packs=("hello",),
        secret_key="hello-plugin-test-" + "x" * 32,
        instance_path=tmp_path / "instance",
        password_hashing="fast",
    )
    workspace = Workspace(config, meta_check_interval=0)
    workspace.install()
    yield workspace
    workspace.close()


def test_slugs_are_cleaned(plugin: None):
    from tessera_hello import clean_slug

    assert clean_slug("  Ada  Lovelace ") == "ada-lovelace"
    with pytest.raises(ValueError, match="letters, digits"):
        clean_slug("ada!")


def test_a_new_visitor_is_greeted_and_found_by_its_greeting(ws: Workspace):
    created = ws.records.create(SYSTEM, "visitor", {"name": "Ada", "handle": "Ada Lovelace"})
    record = ws.records.get(SYSTEM, "visitor", created["id"])
    assert (record["greeting"], record["handle"]) == ("Hello, Ada!", "ada-lovelace")
    page = ws.records.list(SYSTEM, "visitor", {"filter": 'greeting(name) == "Hello, Ada!"'})
    assert [r["id"] for r in page.data] == [created["id"]]


def test_a_bad_handle_is_a_field_error(ws: Workspace):
    with pytest.raises(ValidationError) as raised:
        ws.records.create(SYSTEM, "visitor", {"name": "Bob", "handle": "bob!"})
    assert [(e.field, e.message) for e in raised.value.errors] == [
        ("handle", "Use letters, digits, spaces and dashes only.")
    ]
