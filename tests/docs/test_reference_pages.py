"""The generated reference pages cover every pack, entity, field, rule, workflow and API path.

The pages are generated at every build of the site (docs/hooks/reference.py), never
committed; these tests pin what they must contain.
"""

from __future__ import annotations

import json

import pytest

from engine.docgen import Sources, load_sources, reference_pages


@pytest.fixture(scope="module")
def sources() -> Sources:
    return load_sources()


@pytest.fixture(scope="module")
def pages(sources) -> dict[str, str]:
    return reference_pages(sources)


def test_every_pack_has_a_page_listed_in_the_index(sources, pages):
    index = pages["reference/packs/index.md"]
    for pack in sources.catalog.packs:
        assert f"reference/packs/{pack.name}.md" in pages
        assert f"[{pack.name}]({pack.name}.md)" in index


def test_every_entity_and_field_is_on_its_packs_page(sources, pages):
    for entity in sources.catalog.entities.values():
        page = pages[f"reference/packs/{entity.pack}.md"]
        assert f"\n### {entity.name}\n" in page
        for field in entity.fields.values():
            assert f"| `{field.name}` |" in pages[f"reference/packs/{field.pack}.md"], (entity.name, field.name)


def test_every_rule_and_workflow_transition_is_listed(sources, pages):
    for folder in ("rules", "workflows"):
        for pack, document in sources.catalog.documents.get(folder, []):
            page = pages[f"reference/packs/{pack.name}.md"]
            for rule in document.data.get("rules", []):
                assert f"| `{rule['name']}` |" in page
            if folder == "workflows":
                assert f"### {document.data['workflow']}\n" in page
                for transition in document.data.get("transitions", []):
                    assert f"| `{transition['name']}` |" in page


def test_the_api_reference_lists_every_operation_of_the_openapi_document(pages):
    document = json.loads(pages["reference/openapi.json"])
    page = pages["reference/api.md"]
    assert document["openapi"].startswith("3.")
    for path, item in document["paths"].items():
        for method in ("get", "post", "put", "patch", "delete"):
            if method in item:
                assert f"| {method.upper()} | `{path}` |" in page
