"""``engine/`` holds no module-specific code: no shipped pack's entity is named in it.

Every ``entity:`` of ``metadata/*/entities/*.yaml`` is looked for in the Python code of
``engine/`` as an identifier or as a string literal (``"ticket"``, ``"ticket.status"``).
Docstrings and comments may use the words (they explain, they do not decide). What a pack
needs from the engine is a general capability used from YAML, never ``if entity ==
"ticket"``. The few names below are part of the engine's own contract (SPEC.md) and are
allowed where that contract is implemented (and one ordinary word that happens to be an
entity's name).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "engine"
#: entities the engine owns (engine/system_pack), never checked
SYSTEM_ENTITIES = {"user", "team", "role", "webhook"}
#: (name, file relative to engine/) -> why the engine may say it
CONTRACT = {
    # SPEC section 8: the `account` permission scope and the portal user's `account` field
    ("account", "security/permissions.py"): "the account scope of permissions and user.account (SPEC 8)",
    # PACKS.md core: in-app notifications are the `notification` entity the notify channel writes
    ("notification", "automation/notify.py"): "the in_app channel writes notification records",
    ("notification", "automation/approvals.py"): "approvers are told in-app",
    ("notification", "api/notifications.py"): "the bell menu endpoints",
    ("notification", "api/openapi_automation.py"): "the bell menu endpoints in OpenAPI",
    # a word that is also an entity name, used in its ordinary sense
    ("quote", "dsl/parser.py"): "the quote character that opened a string literal",
    ("quote", "dataio/sheets.py"): "urllib.parse.quote, percent-encoding a sheet id in a URL",
}
#: entity names that are also the engine's own vocabulary, allowed everywhere: a metadata
#: "document" (a pack or overlay file's content, a rendered record) is not the documents pack's entity;
#: "order" (a rule's run order, a sort order) is not the commerce pack's entity
ORDINARY_WORDS = {"document", "order"}


def shipped_entities() -> set[str]:
    names = set()
    for path in sorted((ROOT / "metadata").glob("*/entities/*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(doc, dict) and isinstance(doc.get("entity"), str):
            names.add(doc["entity"])
    return names - SYSTEM_ENTITIES


def _docstring_lines(source: str) -> set[int]:
    """Lines of module, class and function docstrings (prose, not code)."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                doc = body[0].value
                if isinstance(doc.value, str):
                    lines.update(range(doc.lineno, (doc.end_lineno or doc.lineno) + 1))
    return lines


def mentions(source: str, names: set[str]) -> list[tuple[int, str]]:
    """(line, name) for every identifier or string literal naming one of ``names``."""
    prose = _docstring_lines(source)
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.start[0] in prose:
            continue
        if tok.type == tokenize.NAME and tok.string in names:
            found.append((tok.start[0], tok.string))
        elif tok.type == tokenize.STRING:
            try:
                value = ast.literal_eval(tok.string)
            except (ValueError, SyntaxError):  # f-strings: look at their text
                value = tok.string
            if not isinstance(value, str):
                continue
            for name in names:
                if re.fullmatch(rf"{re.escape(name)}([.:][\w.]*)?", value.strip()):
                    found.append((tok.start[0], name))
    return found


def test_the_search_finds_names_in_code_and_skips_prose():
    code = (
        'def f(ticket):\n    """A ticket\'s number."""\n    # the ticket\n'
        '    return x == "ticket" or y == "ticket.status"\n'
    )
    assert mentions(code, {"ticket"}) == [(1, "ticket"), (4, "ticket"), (4, "ticket")]


def test_engine_code_names_no_entity_of_the_shipped_packs():
    names = shipped_entities()
    assert {"account", "contact", "activity", "product"} <= names
    offenders = []
    for path in sorted(ENGINE.rglob("*.py")):
        relative = path.relative_to(ENGINE).as_posix()
        for line, name in mentions(path.read_text(encoding="utf-8"), names):
            if (name, relative) not in CONTRACT and name not in ORDINARY_WORDS:
                offenders.append(f"engine/{relative}:{line}: {name!r}")
    assert not offenders, "pack entity names in engine code (add a general capability instead):\n" + "\n".join(
        offenders
    )
