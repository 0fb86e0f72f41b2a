"""Plugins end to end: the example plugin found through a real ``tessera.plugins`` entry
point (a temporary ``.dist-info`` on sys.path, no pip install), every hook it implements
at work on SQLite and PostgreSQL, and the errors a broken plugin gives."""

from __future__ import annotations

import os
import subprocess  # nosec B404 - runs the tessera command line of this checkout
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from openapi_spec_validator import validate

from engine import plugins
from engine.app import create_app
from engine.automation.actions import ACTIONS
from engine.cli import main
from engine.dsl import default_functions
from engine.meta.schema_check import iter_errors
from engine.plugin_cli import add_plugin_commands
from engine.plugin_testing import plugin_installed
from engine.plugins import PluginError
from engine.workspace import Workspace
from tests.conftest import PASSWORD, sign_in
from tests.ui.pages import csrf_of, html

ROOT = Path(__file__).resolve().parents[2]


def _client(ws: Workspace) -> Any:
    return create_app(ws.config, ws).test_client()


def test_the_entry_point_plugin_is_listed_with_its_source_and_hooks(hello_plugin):
    found = {info.name: (info, hooks) for info, hooks in plugins.plugins()}
    info, hooks = found["hello"]
    assert (info.source, info.distribution, info.version) == ("entry point", "tessera-hello", "0.1.0")
    assert hooks == [
        "tessera_actions",
        "tessera_blueprints",
        "tessera_cli_commands",
        "tessera_dsl_functions",
        "tessera_field_types",
        "tessera_pack_roots",
        "tessera_ui_panels",
    ]
    result = CliRunner().invoke(main, ["plugins", "list"])
    assert result.exit_code == 0, result.output
    assert "hello  entry point (tessera-hello 0.1.0)\n" in result.output
    assert "  hooks: tessera_actions, tessera_blueprints, tessera_cli_commands, tessera_dsl_functions," in result.output
    assert "\nsheets  first-party (plugins/sheets)\n  hooks: tessera_jobs\n" in "\n" + result.output


def test_a_reset_forgets_the_plugin_and_its_registrations():
    with plugin_installed("hello", "tessera_hello", source=ROOT / "examples" / "plugin_hello"):
        plugins.install()
        assert "hello" in ACTIONS
        assert default_functions().get("greeting") is not None
    assert "hello" not in ACTIONS
    assert default_functions().get("greeting") is None
    assert "hello" not in [info.name for info, _ in plugins.plugins()]
    assert "tessera_hello" not in sys.modules


def test_the_plugin_action_and_dsl_function_run_in_a_rule(hello_ws):
    admin = sign_in(_client(hello_ws), "admin@test.dev")
    created = admin.post("visitor", {"name": "Ada"})
    assert created.status_code == 201, created.get_json()
    assert admin.get(f"visitor/{created.get_json()['id']}").get_json()["greeting"] == "Hello, Ada!"


def test_a_list_filter_runs_the_plugin_function_in_sql(hello_ws):
    admin = sign_in(_client(hello_ws), "admin@test.dev")
    for name in ("Ada", "Bob", "Cy"):
        assert admin.post("visitor", {"name": name}).status_code == 201
    page = admin.get('visitor?filter=greeting(name) == "Hello, Bob!"').get_json()
    assert [r["name"] for r in page["data"]] == ["Bob"]
    # the same function in a list filter of a pack-independent query: the greeting column
    page = admin.get("visitor?filter=greeting == greeting(name)&sort=name").get_json()
    assert [r["name"] for r in page["data"]] == ["Ada", "Bob", "Cy"]


def test_the_plugin_field_type_cleans_values_and_rejects_bad_ones(hello_ws):
    admin = sign_in(_client(hello_ws), "admin@test.dev")
    created = admin.post("visitor", {"name": "Ada", "handle": " Ada  Lovelace "})
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["handle"] == "ada-lovelace"
    refused = admin.post("visitor", {"name": "Bob", "handle": "bob!"})
    assert refused.status_code == 422
    assert refused.get_json()["errors"] == [
        {"field": "handle", "message": "Use letters, digits, spaces and dashes only."}
    ]
    assert admin.post("visitor", {"name": "Bob", "handle": 7}).get_json()["errors"][0]["field"] == "handle"
    # stored and described as its base type
    spec = admin.get("openapi.json").get_json()
    assert spec["components"]["schemas"]["Visitor"]["properties"]["handle"]["type"] == ["string", "null"]


def test_pack_validation_accepts_the_plugin_field_type_with_its_base_options(hello_plugin):
    entity = {"entity": "probe", "fields": {"handle": {"type": "slug", "max_length": 40}}}
    assert list(iter_errors("entity", entity)) == []
    bad = {"entity": "probe", "fields": {"handle": {"type": "slug", "options": ["a"]}}}
    assert list(iter_errors("entity", bad)) == [(("fields", "handle", "options"), "unknown key 'options'")]
    unknown = {"entity": "probe", "fields": {"handle": {"type": "slugg"}}}
    [(path, message)] = list(iter_errors("entity", unknown))
    assert path == ("fields", "handle", "type")
    assert message.startswith("unknown field type 'slugg'; known types: string, text,")
    assert message.endswith(", autonumber, slug")


def test_the_plugin_route_answers_through_the_records_api(hello_ws):
    client = _client(hello_ws)
    admin = sign_in(client, "admin@test.dev")
    record_id = admin.post("visitor", {"name": "Ada"}).get_json()["id"]
    reply = admin.get(f"/api/v1/plugins/hello/visitor/{record_id}")
    assert reply.status_code == 200
    assert reply.get_json() == {"id": record_id, "greeting": "Hello, Ada!"}
    assert client.get(f"/api/v1/plugins/hello/visitor/{record_id}").status_code == 401
    assert admin.get("/api/v1/plugins/hello/visitor/nope").status_code in (400, 404)
    document = admin.get("openapi.json").get_json()
    validate(document)  # still valid OpenAPI 3.1 with the plugin's operation in it
    assert document["paths"]["/api/v1/plugins/hello/{entity}/{record_id}"]["get"]["operationId"] == (
        "plugin_hello_greeting"
    )


def test_the_plugin_panel_shows_on_record_pages(hello_ws):
    client = _client(hello_ws)
    record_id = sign_in(client, "admin@test.dev").post("visitor", {"name": "<Ada>"}).get_json()["id"]
    token = csrf_of(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"email": "rep@test.dev", "password": PASSWORD, "csrf_token": token})
    page = html(client.get(f"/app/visitor/{record_id}"))
    assert 'id="panel-hello"' in page
    assert "Hello, &lt;Ada&gt;!" in page


def test_the_plugin_command_joins_the_command_line(hello_plugin):
    group = click.Group("tessera")
    add_plugin_commands(group)
    assert {"plugins", "hello"} <= set(group.commands)
    result = CliRunner().invoke(group, ["hello", "Ada"])
    assert (result.exit_code, result.output) == (0, "Hello, Ada!\n")


# --- broken plugins ---------------------------------------------------------------------


def _plugin_source(tmp_path: Path, module: str, code: str) -> Path:
    (tmp_path / module).mkdir()
    (tmp_path / module / "__init__.py").write_text(code)
    return tmp_path


def _tessera(info: Path, source: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(info.parent), str(source), str(ROOT)])}
    return subprocess.run(  # nosec B603 - fixed arguments
        [sys.executable, "-c", "from engine.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_a_plugin_that_fails_to_import_gives_one_line_naming_it(tmp_path):
    source = _plugin_source(tmp_path, "tessera_broken", "import not_a_module_xyz\n")
    with plugin_installed("broken", "tessera_broken", source=source) as info:
        with pytest.raises(PluginError) as raised:
            plugins.manager()
        assert str(raised.value) == (
            "plugin 'broken' (entry point tessera_broken of tessera-broken) failed to load:"
            " ModuleNotFoundError: No module named 'not_a_module_xyz'"
        )
        done = _tessera(info, source, "plugins", "list")
    assert done.returncode == 1
    assert done.stderr == f"error: {raised.value}\n"


def test_a_dsl_function_defined_twice_is_a_clear_error(tmp_path):
    code = (
        "from engine.dsl.functions import Function\nfrom engine.hookspecs import hookimpl\n\n"
        "@hookimpl\ndef tessera_dsl_functions():\n"
        "    return [Function('greeting', 'greeting(string) -> string', str.upper)]\n"
    )
    source = _plugin_source(tmp_path, "tessera_twin", code)
    with (
        plugin_installed("hello", "tessera_hello", source=ROOT / "examples" / "plugin_hello"),
        plugin_installed("twin", "tessera_twin", source=source),
        pytest.raises(PluginError, match=r"^plugin '(twin|hello)': DSL function 'greeting' is already"),
    ):
        default_functions()


def test_a_plugin_may_not_redefine_a_standard_function_or_field_type(tmp_path):
    code = (
        "from engine.dsl.functions import Function\nfrom engine.hookspecs import FieldType, hookimpl\n\n"
        "@hookimpl\ndef tessera_dsl_functions():\n"
        "    return [Function('lower', 'lower(string) -> string', str.lower)]\n\n"
        "@hookimpl\ndef tessera_field_types():\n"
        "    return [FieldType('email', 'string')]\n"
    )
    source = _plugin_source(tmp_path, "tessera_clash", code)
    with plugin_installed("clash", "tessera_clash", source=source):
        with pytest.raises(
            PluginError, match=r"^plugin 'clash': DSL function 'lower' is already defined by the standard"
        ):
            default_functions()
        with pytest.raises(PluginError, match=r"^plugin 'clash': field type 'email' is already defined$"):
            plugins.field_types()
