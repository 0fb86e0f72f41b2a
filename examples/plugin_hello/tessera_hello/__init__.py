"""An example Tessera plugin, one of each: install it (``pip install ./examples/plugin_hello``)
and Tessera finds it through its ``tessera.plugins`` entry point.

- DSL function ``greeting(string) -> string``: ``greeting(name) == "Hello, Ada!"`` in
  Python (rules, defaults) and in SQL (list filters, permission rules);
- action ``hello: {field: NAME}``: writes the greeting of the record's title into a field;
- field type ``slug`` (stored as ``string``): ``" Ada Lovelace "`` is stored as
  ``ada-lovelace``; anything but letters, digits, spaces and dashes is a 422 field error;
- a panel on every record page, and a route ``GET /api/v1/plugins/hello/ENTITY/ID``;
- the ``hello`` pack (a ``visitor`` entity and a rule using the action).

It uses only the public contract: :mod:`engine.hookspecs`, the DSL's ``Function``, the
action protocol, the request context and the records API; it patches nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from flask import Blueprint, jsonify
from markupsafe import escape

from engine.hookspecs import FieldType, Panel, hookimpl

PACKS = Path(__file__).resolve().parent / "packs"


def greet(name: str) -> str:
    return f"Hello, {name}!"


# --- the DSL function ---------------------------------------------------------------


@hookimpl
def tessera_dsl_functions() -> list[Any]:
    from engine.dsl.functions import Function
    from engine.dsl.sqlparts import SqlValue

    return [
        Function(
            "greeting",
            "greeting(string) -> string",
            greet,  # null in, null out (null_propagates), so greet never sees None
            lambda ctx, name: SqlValue(sa.literal("Hello, ").op("||")(name.expr).op("||")(sa.literal("!"))),
            "A friendly greeting for a name.",
            'greeting(name) == "Hello, Ada!"',
        )
    ]


# --- the action ---------------------------------------------------------------------


class HelloAction:
    """``hello: {field: NAME}``: set text field NAME to the greeting of the record's title."""

    def compile(self, c: Any, spec: Any, entity: Any, path: tuple[Any, ...]) -> Any:
        name = spec.get("field") if isinstance(spec, dict) else None
        fd = entity.fields.get(name) if isinstance(name, str) else None
        if fd is None or fd.type not in ("string", "text"):
            c.fail(f"hello needs {{field: NAME}}, a text field of {entity.name}", *path)
            return None

        def run_hello(run: Any, target: Any) -> None:
            record = target.record(run)
            title = record.get(target.entity.title_field) or record.get("id")
            run.update(target.entity, target.record_id, {fd.name: greet(str(title))}, target.source)

        return run_hello


@hookimpl
def tessera_actions() -> dict[str, Any]:
    return {"hello": HelloAction()}


# --- the field type -----------------------------------------------------------------


def clean_slug(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9 -]*", value):
        raise ValueError("Use letters, digits, spaces and dashes only.")
    slug = re.sub(r"[ -]+", "-", value.strip().lower()).strip("-")
    if not slug:
        raise ValueError("Must contain a letter or a digit.")
    return slug


@hookimpl
def tessera_field_types() -> list[FieldType]:
    return [FieldType("slug", "string", clean=clean_slug, doc="Lower-case words joined by dashes.")]


# --- the panel and the route --------------------------------------------------------


def render_panel(ws: Any, actor: Any, entity: str, record: dict[str, Any]) -> str | None:
    title = record.get("name") or record.get("id")
    return f'<p class="mb-0">{escape(greet(str(title)))}</p>'  # escape what goes into HTML


@hookimpl
def tessera_ui_panels() -> list[Panel]:
    return [Panel("hello", "Hello", render_panel)]


bp = Blueprint("plugin_hello", __name__, url_prefix="/api/v1/plugins/hello")


@bp.get("/<entity>/<record_id>")
def greeting_of(entity: str, record_id: str) -> Any:
    """The greeting of a record, read through the records API (permissions apply)."""
    from engine.api.context import actor, workspace

    ws = workspace()
    record = ws.records.get(actor(), entity, record_id)  # NotFound/PermissionDenied: problem+json
    title_field = ws.snapshot().catalog.entities[entity].title_field
    return jsonify({"id": record["id"], "greeting": greet(str(record.get(title_field) or record["id"]))})


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


#: the route in the API's OpenAPI document (GET /api/v1/openapi.json)
bp.openapi_paths = {  # type: ignore[attr-defined]
    "/api/v1/plugins/hello/{entity}/{record_id}": {
        "get": {
            "operationId": "plugin_hello_greeting",
            "tags": ["plugins"],
            "summary": "The greeting of a record",
            "parameters": [_path_param("entity"), _path_param("record_id")],
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["id", "greeting"],
                                "properties": {"id": {"type": "string"}, "greeting": {"type": "string"}},
                            }
                        }
                    },
                },
                "401": {"description": "Not signed in"},
                "404": {"description": "No such record"},
            },
        }
    }
}


@hookimpl
def tessera_blueprints() -> list[Blueprint]:
    return [bp]


# --- the pack and a command ---------------------------------------------------------


@hookimpl
def tessera_pack_roots() -> list[Path]:
    return [PACKS]


@click.command("hello")
@click.argument("name")
def hello_command(name: str) -> None:
    """Print a greeting (an example plugin command)."""
    click.echo(greet(name))


@hookimpl
def tessera_cli_commands() -> list[click.Command]:
    return [hello_command]
