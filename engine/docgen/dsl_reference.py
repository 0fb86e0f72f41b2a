"""The DSL function reference: one section per function of the registry."""

from __future__ import annotations

from engine.dsl.functions import Function, FunctionRegistry


def table_cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def first_sentence(text: str) -> str:
    head, dot, _ = text.partition(". ")
    return head + ("." if dot else "")


def where_it_runs(function: Function) -> str:
    if function.sql is None:
        return "Python only: defaults, computed values, validations and rules; not in list filters or permission rules"
    return "Python and SQL: everywhere, including list filters, aggregates and permission rules"


def dsl_page(functions: FunctionRegistry) -> str:
    """Markdown for every function: signature, description, where it runs, example."""
    listed = [f for f in map(functions.get, functions.names()) if f is not None]
    lines = [
        "# DSL function reference",
        "",
        "Generated from the function registry (`engine.dsl.default_functions()`, built-in and",
        "plugin functions) when the site is built. The language itself (syntax, types, null",
        "rules, aggregates over related rows) is described in [the expression language](../dsl.md).",
        "Every example below is compiled and evaluated by `tests/docs/test_dsl_examples.py`.",
        "",
        'In a signature, `T` means "the same type as the other `T` arguments", `?` an optional',
        "argument and `...` any number of further arguments. Unless a function says otherwise, a",
        "null argument makes the result null.",
        "",
        "| function | what it gives |",
        "| --- | --- |",
    ]
    lines += [f"| [`{f.name}`](#{f.name}) | {table_cell(first_sentence(f.doc))} |" for f in listed]
    for function in listed:
        lines += [
            "",
            f"## {function.name}",
            "",
            "```",
            function.signature,
            "```",
            "",
            function.doc or "(no description)",
            "",
        ]
        lines.append(f"Runs in: {where_it_runs(function)}.")
        if not function.null_propagates:
            lines += ["", "Null arguments do not make the result null: the function decides."]
        if function.example:
            lines += ["", "Example:", "", "```", function.example, "```"]
    return "\n".join(lines) + "\n"
