"""The pack reference: one page per pack with its entities, fields, rules and workflows."""

from __future__ import annotations

from typing import Any

from engine.docgen.dsl_reference import table_cell
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef, FieldDef
from engine.meta.packs import Pack


def text(value: Any) -> str:
    """A label in English (labels may be ``{en: ..., de: ...}``)."""
    if isinstance(value, dict):
        value = value.get("en") or next(iter(value.values()), "")
    return "" if value is None else str(value)


def code(value: Any) -> str:
    return f"`{table_cell(str(value))}`" if value not in (None, "") else ""


def entity_link(catalog: Catalog, name: str) -> str:
    """A link to the entity's section on its pack's page (the pages are siblings)."""
    entity = catalog.entities.get(name)
    return f"[`{name}`]({entity.pack}.md#{name})" if entity else f"`{name}`"


def field_type(fd: FieldDef, catalog: Catalog) -> str:
    if fd.type in ("link", "links") and fd.target:
        return f"{fd.type} → {entity_link(catalog, fd.target)}"
    if fd.type == "enum":
        return "enum: " + ", ".join(f"`{o.value}`" for o in fd.enum_options)
    if fd.type == "table":
        return f"table of {entity_link(catalog, str(fd.opt('of', '')))}"
    return fd.type


def field_notes(fd: FieldDef) -> str:
    notes = []
    if fd.required:
        notes.append("required")
    if fd.unique:
        notes.append("unique")
    if fd.is_computed:
        notes.append(f"computed: {code(fd.options['compute'])}")
    elif "default" in fd.options:
        notes.append(f"default: {code(fd.options['default'])}")
    if fd.is_rollup:
        notes.append("roll-up")
    if fd.readonly and not (fd.is_computed or fd.is_rollup):
        notes.append("read-only")
    return "; ".join(notes)


def entity_section(catalog: Catalog, entity: EntityDef, pack: str) -> list[str]:
    """An entity's fields; for an entity of another pack, only the fields this pack adds."""
    own = entity.pack == pack
    fields = [fd for fd in entity.fields.values() if own or fd.pack == pack]
    heading = f"### {entity.name}" if own else f"### {entity.name} (fields added to the `{entity.pack}` pack's entity)"
    lines = [heading, ""]
    if own:
        kind = "child rows of a table field" if entity.child else "records with an API of their own"
        lines += [f"{text(entity.label)}: {kind}." + (f" {text(entity.help)}" if entity.help else ""), ""]
    lines += ["| field | label | type | notes |", "| --- | --- | --- | --- |"]
    for fd in fields:
        row = (code(fd.name), table_cell(text(fd.label)), table_cell(field_type(fd, catalog)), field_notes(fd))
        lines.append("| " + " | ".join(row) + " |")
    if own and entity.validations:
        lines += ["", "Validations:", ""]
        lines += [f"- {code(v.when)}: {table_cell(text(v.message))}" for v in entity.validations]
    return [*lines, ""]


def documents_of(catalog: Catalog, folder: str, pack: Pack) -> list[dict[str, Any]]:
    return [doc.data for owner, doc in catalog.documents.get(folder, []) if owner.name == pack.name]


def rules_section(catalog: Catalog, pack: Pack) -> list[str]:
    rules = [rule for data in documents_of(catalog, "rules", pack) for rule in data.get("rules", [])]
    if not rules:
        return []
    lines = ["## Rules", "", "| rule | entity | on | when |", "| --- | --- | --- | --- |"]
    for rule in rules:
        on = rule.get("on", "")
        on = ", ".join(on) if isinstance(on, list) else str(on)
        if rule.get("schedule"):
            on = "schedule"
        lines.append(
            f"| {code(rule.get('name'))} | {code(rule.get('entity'))} | {table_cell(on)} | {code(rule.get('when'))} |"
        )
    return [*lines, ""]


def workflows_section(catalog: Catalog, pack: Pack) -> list[str]:
    workflows = documents_of(catalog, "workflows", pack)
    lines = ["## Workflows", ""] if workflows else []
    for data in workflows:
        lines += [
            f"### {data.get('workflow')}",
            "",
            f"On `{data.get('entity')}`, field `{data.get('field')}`, starting in `{data.get('initial')}`.",
            "",
            "| transition | from | to | roles | when |",
            "| --- | --- | --- | --- | --- |",
        ]
        for t in data.get("transitions", []):
            sources = t.get("from", [])
            sources = ", ".join(map(str, sources)) if isinstance(sources, list) else str(sources)
            roles = ", ".join(t.get("roles", []) or [])
            row = (code(t.get("name")), table_cell(sources), code(t.get("to")), table_cell(roles), code(t.get("when")))
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return lines


def pack_page(catalog: Catalog, pack: Pack) -> str:
    manifest = pack.manifest.data if isinstance(pack.manifest.data, dict) else {}
    lines = [f"# {text(pack.label) or pack.name} (`{pack.name}`)", ""]
    lines += [f"Version {pack.version}; depends on: {', '.join(f'`{d}`' for d in pack.depends) or 'nothing'}.", ""]
    if manifest.get("description"):
        lines += [str(manifest["description"]).strip(), ""]
    own = [e for e in catalog.entities.values() if e.pack == pack.name]
    extended = [
        e
        for e in catalog.entities.values()
        if e.pack != pack.name and any(f.pack == pack.name for f in e.fields.values())
    ]
    if own or extended:
        lines += ["## Entities", ""]
    for entity in [*own, *extended]:
        lines += entity_section(catalog, entity, pack.name)
    lines += rules_section(catalog, pack)
    lines += workflows_section(catalog, pack)
    return "\n".join(lines).rstrip() + "\n"


def pack_pages(catalog: Catalog) -> dict[str, str]:
    """``reference/packs/index.md`` and one ``reference/packs/NAME.md`` per installed pack."""
    pages = {f"reference/packs/{pack.name}.md": pack_page(catalog, pack) for pack in catalog.packs}
    index = [
        "# Pack reference",
        "",
        "Generated from the packs' metadata when the site is built: every installed pack with its",
        "entities (fields and types), rules and workflows. How packs are written is described in",
        "[the pack format](../../metadata.md).",
        "",
        "| pack | version | entities | depends on |",
        "| --- | --- | --- | --- |",
    ]
    for pack in catalog.packs:
        count = sum(1 for e in catalog.entities.values() if e.pack == pack.name)
        depends = ", ".join(pack.depends) or "-"
        index.append(f"| [{pack.name}]({pack.name}.md) | {pack.version} | {count} | {depends} |")
    pages["reference/packs/index.md"] = "\n".join(index) + "\n"
    return pages
