"""The first-party Google Sheets plugin: the ``import_sheet`` job (see :mod:`plugins.sheets.google`).

A cron rule queues it (``enqueue: {job: import_sheet, args: {entity, url, key...}}``) to
re-import a sheet as an upsert; ``docs/data-import-api.md`` describes its arguments.
"""

from __future__ import annotations

from typing import Any

from engine.hookspecs import hookimpl


@hookimpl
def tessera_jobs() -> dict[str, Any]:
    from plugins.sheets.google import JOB_NAME, import_sheet_job

    return {JOB_NAME: import_sheet_job}
