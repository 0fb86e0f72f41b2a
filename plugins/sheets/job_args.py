"""The ``import_sheet`` job's arguments, checked and turned into import options.

A job's arguments come from a rule (YAML literals, or ``=expressions`` evaluated against
the feed record). The import options among them mean what the HTTP import's options mean
and are checked by the same rules (:func:`engine.dataio.import_options.parse_options`,
which takes typed values as well as request strings). A wrong argument is a
``BadRequest`` naming it, so the job's outbox row says what to fix.
"""

from __future__ import annotations

from typing import Any

from engine.dataio.import_options import OPTION_NAMES, parse_options
from engine.errors import BadRequest, ValidationError

JOB_NAME = "import_sheet"
#: where the sheet is and who imports it
SOURCE_ARGS = {"entity", "url", "sheet", "credentials", "user", "api_base"}
#: ``ImportOptions`` fields, as for ``POST /api/v1/ENTITY/import`` (a job never dry-runs)
OPTION_ARGS = set(OPTION_NAMES) - {"dry_run"}
JOB_ARGS = SOURCE_ARGS | OPTION_ARGS


def job_options(args: dict[str, Any]) -> dict[str, Any]:
    """The job's arguments as ``ImportOptions`` keyword arguments; arguments not given (or
    null) are left out, so the importer's defaults apply as for the API (``batch_size``:
    2,500 rows, 1,000 with ``partial``)."""
    unknown = sorted(set(args) - JOB_ARGS)
    if unknown:
        raise BadRequest(f"{JOB_NAME} does not take {', '.join(unknown)}; it takes {', '.join(sorted(JOB_ARGS))}")
    for required in ("entity", "url"):
        if not args.get(required):
            raise BadRequest(f"{JOB_NAME} needs {required}")
    for name in ("entity", "url", "sheet", "user", "api_base"):
        if args.get(name) is not None and not isinstance(args[name], str):
            raise BadRequest(f"{JOB_NAME}: the argument {name} must be text (got {args[name]!r:.60})")
    try:
        options, _ = parse_options({name: args[name] for name in OPTION_ARGS if name in args})
    except ValidationError as exc:
        problems = "; ".join(f"the argument {e.field}: {e.message.rstrip('.')}" for e in exc.errors)
        raise BadRequest(f"{JOB_NAME}: {problems}") from None
    return options
