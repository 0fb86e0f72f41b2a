"""Message templates: the words of e-mails, SMS and in-app notifications.

Templates are files in a pack's ``templates/`` folder, one file per part of a message:

| file | part |
| --- | --- |
| ``NAME.subject.txt`` | e-mail subject (first line), in-app title |
| ``NAME.email.txt`` | e-mail plain-text body, in-app body |
| ``NAME.email.html`` | e-mail HTML body (sent beside the text one; values are HTML-escaped) |
| ``NAME.sms.txt`` | SMS text |

A pack overrides a template of a pack it depends on by shipping a file of the same name;
the engine's own defaults (``engine/templates``: the invitation and password-reset e-mails)
come last. Templates are Jinja2 in its sandbox: they read the values they are given and
nothing else (no attribute tricks reach the interpreter). They are rendered when the
message is sent, from the outbox row's payload, so a message shows the record as it was
when the event happened.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from engine.meta.catalog import Catalog
from engine.meta.problems import Problems

#: the parts a template may have, as file-name suffixes
PARTS = ("subject.txt", "email.txt", "email.html", "sms.txt")
ENGINE_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


class MessageTemplates:
    """The templates of one metadata snapshot (packs in dependency order, then the engine's)."""

    def __init__(self, catalog: Catalog):
        # the last pack wins: a pack overrides the templates of the packs it depends on
        dirs = [p.root / "templates" for p in reversed(catalog.packs) if (p.root / "templates").is_dir()]
        self.dirs = (*dirs, ENGINE_TEMPLATES)
        self.env = _environment(self.dirs)

    def file(self, name: str, part: str) -> Path | None:
        """The file that holds ``part`` of template ``name``, if any."""
        for folder in self.dirs:
            path = folder / f"{name}.{part}"
            if path.is_file():
                return path
        return None

    def exists(self, name: str) -> bool:
        return any(self.file(name, part) for part in PARTS)

    def check(self, name: str, problems: Problems) -> None:
        """Report syntax errors of the template's files at their file and line."""
        for part in PARTS:
            path = self.file(name, part)
            if path is None:
                continue
            try:
                self.env.parse(path.read_text(encoding="utf-8"), name=f"{name}.{part}", filename=str(path))
            except jinja2.TemplateSyntaxError as exc:
                problems.add(f"{path}:{exc.lineno}:1", f"template error: {exc.message}")

    def render(self, name: str | None, part: str, context: dict[str, Any]) -> str | None:
        """``part`` of template ``name`` rendered with ``context``; None when it has no such file.

        A broken template raises :class:`jinja2.TemplateError` (the caller reports it)."""
        if not name or self.file(name, part) is None:
            return None
        return self.env.get_template(f"{name}.{part}").render(context)


def templates_for(snap: Any) -> MessageTemplates:
    """The templates of a workspace snapshot, made once per metadata version."""
    cached = snap.cache.get("message_templates")
    if cached is None:
        cached = snap.cache["message_templates"] = MessageTemplates(snap.catalog)
    return cached


@lru_cache(maxsize=32)
def _environment(dirs: tuple[Path, ...]) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=jinja2.FileSystemLoader([str(d) for d in dirs]),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
