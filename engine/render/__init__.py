"""Documents from records: a record rendered to HTML or PDF through a pack's template.

An entity declares its document templates (``templates: {quote: quote.html}``, see
docs/metadata.md); the files live in a pack's ``templates/`` folder beside the message
templates and are Jinja2, run in the same sandbox (:mod:`engine.automation.templates`).
``GET /api/v1/ENTITY/ID/render/NAME?format=html|pdf`` renders one record for the caller:

- :mod:`engine.render.context` reads the record through the data-access layer as the
  caller (fields they may not read are absent, links they may not follow stay ids) with its
  child rows and linked records;
- :mod:`engine.render.formatting` gives templates labels and number/date formatting in the
  caller's locale;
- :mod:`engine.render.templates` finds and checks the files (``tessera check``, start-up);
- :mod:`engine.render.pdf` turns the HTML into PDF (xhtml2pdf, pure Python, no network).
"""

from __future__ import annotations

from engine.render.documents import Rendered, render_record
from engine.render.templates import check_render_templates

__all__ = ["Rendered", "check_render_templates", "render_record"]
