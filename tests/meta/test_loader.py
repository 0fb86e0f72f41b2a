"""Loading and checking packs: every problem names file:line:col and the document path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine import plugins
from engine.checking import check_packs
from engine.cli import main
from engine.config import Config
from engine.errors import MetadataError
from engine.hookspecs import FieldType
from engine.meta.catalog import build_catalog
from engine.meta.packs import discover, resolve
from engine.meta.problems import Problems
from engine.meta.source import parse_text
from engine.workspace import Workspace


def write_pack(root: Path, name: str, files: dict[str, str], depends: tuple[str, ...] = ()) -> Path:
    pack = root / name
    (pack / "entities").mkdir(parents=True)
    deps = f"depends: [{', '.join(depends)}]\n" if depends else ""
    (pack / "pack.yaml").write_text(f"name: {name}\nversion: 1.0.0\n{deps}")
    for filename, text in files.items():
        (pack / filename).write_text(textwrap.dedent(text).lstrip())
    return pack


def problems_of(tmp_path: Path, packs: tuple[str, ...] | None = None) -> list[str]:
    config = Config(database_url="sqlite://", packs=packs, extra_pack_paths=(tmp_path,))
    problems, _ = check_packs(config, [tmp_path])
    return [str(p) for p in problems.items]


GOOD_ENTITY = """
    entity: widget
    title: name
    fields:
      name: {type: string, required: true}
      size: {type: int, min: 0}
"""


def test_a_valid_pack_has_no_problems(tmp_path):
    write_pack(tmp_path, "alpha", {"entities/widget.yaml": GOOD_ENTITY})
    assert problems_of(tmp_path) == []


def test_unknown_option_is_reported_at_its_line_and_column(tmp_path):
    write_pack(
        tmp_path,
        "alpha",
        {
            "entities/widget.yaml": """
        entity: widget
        fields:
          name: {type: string, required: true}
          size: {type: int, maxlength: 3}
    """
        },
    )
    [problem] = problems_of(tmp_path)
    assert problem.startswith(f"{tmp_path}/alpha/entities/widget.yaml:4:")
    assert "unknown key 'maxlength'" in problem
    assert "(fields.size.maxlength)" in problem


def test_unknown_field_type_lists_the_known_ones(tmp_path):
    write_pack(
        tmp_path,
        "alpha",
        {
            "entities/widget.yaml": """
        entity: widget
        fields:
          name: {type: strin}
    """
        },
    )
    [problem] = problems_of(tmp_path)
    assert "widget.yaml:3:" in problem and "unknown field type 'strin'" in problem and "string" in problem


def test_every_problem_is_reported_not_only_the_first(tmp_path):
    write_pack(
        tmp_path,
        "alpha",
        {
            "entities/widget.yaml": """
        entity: widget
        fields:
          a: {type: enum}
          b: {type: link}
          c: {type: string, max_length: 0}
    """
        },
    )
    found = problems_of(tmp_path)
    assert len(found) == 3
    assert any("'options' is a required property" in p for p in found)
    assert any("'to' is a required property" in p for p in found)


def test_missing_dependency_names_both_packs(tmp_path):
    write_pack(tmp_path, "alpha", {"entities/widget.yaml": GOOD_ENTITY}, depends=("ghost",))
    [problem] = problems_of(tmp_path)
    assert "pack 'alpha' depends on 'ghost'" in problem and "alpha/pack.yaml:3:" in problem


def test_dependency_cycle_names_the_chain(tmp_path):
    write_pack(tmp_path, "alpha", {}, depends=("beta",))
    write_pack(tmp_path, "beta", {}, depends=("alpha",))
    found = problems_of(tmp_path)
    assert any(
        "dependency cycle: alpha -> beta -> alpha" in p or "dependency cycle: beta -> alpha -> beta" in p for p in found
    )


def test_link_to_unknown_entity_and_to_undeclared_pack(tmp_path):
    write_pack(tmp_path, "alpha", {"entities/widget.yaml": GOOD_ENTITY})
    write_pack(
        tmp_path,
        "beta",
        {
            "entities/gizmo.yaml": """
        entity: gizmo
        fields:
          widget: {type: link, to: widget}
          other:  {type: link, to: nothing}
    """
        },
    )
    found = problems_of(tmp_path)
    assert any(
        "gizmo.widget links to 'widget' of pack 'alpha', which pack 'beta' does not depend on" in p for p in found
    )
    assert any("gizmo.other links to unknown entity 'nothing'" in p and "gizmo.yaml:4:" in p for p in found)


def test_extension_adds_fields_and_conflicts_name_both_files(tmp_path):
    write_pack(tmp_path, "alpha", {"entities/widget.yaml": GOOD_ENTITY})
    write_pack(
        tmp_path,
        "beta",
        {
            "entities/widget_more.yaml": """
        extends: widget
        fields:
          colour: {type: string}
          size: {type: decimal}
    """
        },
        depends=("alpha",),
    )
    [problem] = problems_of(tmp_path)
    assert "widget_more.yaml:4:" in problem
    assert (
        "field widget.size is already defined differently in" in problem and "alpha/entities/widget.yaml:5:" in problem
    )


def test_same_field_defined_identically_by_an_extension_is_fine(tmp_path):
    write_pack(tmp_path, "alpha", {"entities/widget.yaml": GOOD_ENTITY})
    write_pack(
        tmp_path,
        "beta",
        {
            "entities/more.yaml": """
        extends: widget
        fields:
          size: {type: int, min: 0}
          colour: {type: string}
    """
        },
        depends=("alpha",),
    )
    assert problems_of(tmp_path) == []


def test_yaml_one_point_one_booleans_stay_strings():
    doc = parse_text("on: [create]\noptions: [yes, no, on, off]\nflag: true\nwhen: 2026-01-31\n", Path("x.yaml"))
    assert doc.data == {"on": ["create"], "options": ["yes", "no", "on", "off"], "flag": True, "when": "2026-01-31"}


def test_duplicate_keys_and_syntax_errors_have_positions(tmp_path):
    write_pack(
        tmp_path,
        "alpha",
        {
            "entities/a.yaml": "entity: a\nfields:\n  x: {type: int}\n  x: {type: int}\n",
            "entities/b.yaml": "entity: b\nfields: [\n",
        },
    )
    found = problems_of(tmp_path)
    assert any("a.yaml:4:3: duplicate key 'x'" in p for p in found)
    assert any("b.yaml:" in p and "not valid YAML/JSON" in p for p in found)


def test_json_documents_are_accepted(tmp_path):
    write_pack(
        tmp_path, "alpha", {"entities/widget.json": '{"entity": "widget", "fields": {"name": {"type": "string"}}}'}
    )
    assert problems_of(tmp_path) == []


def test_reserved_and_child_rules(tmp_path):
    write_pack(
        tmp_path,
        "alpha",
        {
            "entities/w.yaml": """
        entity: widget
        fields:
          id: {type: string}
          rows: {type: table, of: widget}
    """
        },
    )
    found = problems_of(tmp_path)
    assert any("'id' is a system field" in p for p in found)
    assert any("table rows must be an entity with 'child: true'" in p for p in found)


def test_start_up_refuses_invalid_packs_with_the_same_messages(tmp_path):
    write_pack(tmp_path, "alpha", {"entities/widget.yaml": "entity: widget\nfields:\n  a: {type: nope}\n"})
    config = Config(database_url=f"sqlite:///{tmp_path / 'x.db'}", packs=("alpha",), extra_pack_paths=(tmp_path,))
    with pytest.raises(MetadataError) as caught:
        Workspace(config)
    assert any("widget.yaml:3:" in e.message and "unknown field type 'nope'" in e.message for e in caught.value.errors)


def test_check_command_prints_every_problem_and_exits_1(tmp_path, monkeypatch):
    write_pack(
        tmp_path, "alpha", {"entities/widget.yaml": "entity: widget\nfields:\n  a: {type: nope}\n  b: {type: link}\n"}
    )
    monkeypatch.setenv("TESSERA_EXTRA_PACK_PATHS", str(tmp_path))
    result = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if "widget.yaml:" in line]
    assert len(lines) == 2 and all(line.startswith(str(tmp_path)) for line in lines)
    assert "2 problem(s)" in result.output


def test_check_command_passes_the_shipped_packs(monkeypatch):
    monkeypatch.delenv("TESSERA_PACKS", raising=False)
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 0, result.output
    assert "no problems" in result.output


def test_permission_rules_and_field_names_are_checked(tmp_path):
    write_pack(
        tmp_path,
        "alpha",
        {
            "entities/widget.yaml": """
        entity: widget
        fields:
          name: {type: string}
        permissions:
          sales_rep: {read: all, where: 'nmae == "x"', fields: {colour: none}}
    """
        },
    )
    found = problems_of(tmp_path)
    assert any("permissions of sales_rep name an unknown field 'colour'" in p for p in found)
    assert any("widget has no field 'nmae'" in p for p in found)


@pytest.mark.parametrize("name", ["privacy", "meta", "tessera_x", "a__b"])
def test_reserved_entity_names_are_refused(tmp_path, name):
    write_pack(tmp_path, "alpha", {"entities/w.yaml": f"entity: {name}\nfields:\n  x: {{type: int}}\n"})
    assert any("is a reserved name" in p for p in problems_of(tmp_path))


def test_a_document_checked_again_gives_the_same_problems_and_new_field_types_count(tmp_path, monkeypatch):
    # a pack's documents are checked once however often the metadata is rebuilt
    write_pack(
        tmp_path, "alpha", {"entities/widget.yaml": "entity: widget\nfields:\n  a: {type: strin}\n  b: {type: stars}\n"}
    )
    packs = resolve(discover([tmp_path], Problems()), None, Problems())
    first, again = Problems(), Problems()
    build_catalog(packs, (), first)
    build_catalog(packs, (), again)
    assert [str(p) for p in again.items] == [str(p) for p in first.items]
    assert ["strin" in str(p) or "stars" in str(p) for p in first.items] == [True, True]
    monkeypatch.setattr(plugins, "_field_types", {"stars": FieldType("stars", "int")})  # a plugin installed since
    later = Problems()
    build_catalog(packs, (), later)
    assert ["'strin'" in str(p) for p in later.items] == [True]
