"""HTML to PDF with xhtml2pdf (pure Python on ReportLab: no browser, no system libraries).

The HTML comes from a pack's template filled with record values (escaped by Jinja2), but
a template could still name images, style sheets or fonts. The renderer may read files
from the packs' ``templates/`` folders only and never the network: a document looks the
same on every machine and rendering cannot be turned into a request to somewhere else.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from pathlib import Path

from xhtml2pdf import pisa
from xhtml2pdf.config.resources import ResourceAccessPolicy

log = logging.getLogger("tessera.render")


class PdfFailed(Exception):
    """The HTML could not be laid out as PDF (the message says why)."""


def html_to_pdf(html: str, asset_dirs: Sequence[Path]) -> bytes:
    """The PDF of ``html``; images and styles it names resolve inside ``asset_dirs`` only."""
    roots = [Path(d).resolve() for d in asset_dirs if Path(d).is_dir()]
    policy = ResourceAccessPolicy.server(
        base_dir=roots[0] if roots else None,
        extra_roots=tuple(roots[1:]),
        allow_remote=False,
    )
    out = io.BytesIO()
    try:
        status = pisa.CreatePDF(
            html,
            dest=out,
            encoding="utf-8",
            path=str(roots[0] / "document.html") if roots else "",
            resource_policy=policy,
            raise_exception=False,
        )
    except Exception as exc:  # the library raises many kinds; the caller reports one
        raise PdfFailed(str(exc) or type(exc).__name__) from exc
    if status.err:
        log.warning("PDF rendering reported %s error(s)", status.err)
        raise PdfFailed(f"the HTML could not be laid out as PDF ({status.err} error(s))")
    return out.getvalue()
