"""The ``import_sheet`` job's arguments, checked and turned into import options.

A job's arguments come from a rule (YAML literals, or ``=expressions`` evaluated against
the feed record), not from a request's strings, so they are checked here by type; their
meaning and allowed values are those of the HTTP import's options
(:mod:`engine.dataio.import_options`). A wrong argument is a ``BadRequest`` naming it, so
the job's outbox row says what to fix.
"""

from __future__ import annotations

from typing import Any

from engine.dataio.import_options import DATE_ORDERS, DECIMALS, DEDUPE_MODES, MAX_BATCH, OPTION_NAMES, parse_flag
from engine.errors import BadRequest
from engine.timezones import zone_named

JOB_NAME = "import_sheet"
#: where the sheet is and who imports it
SOURCE_ARGS = {"entity", "url", "sheet", "credentials", "user", "api_base"}
#: ``ImportOptions`` fields, as for ``POST /api/v1/ENTITY/import`` (a job never dry-runs)
OPTION_ARGS = set(OPTION_NAMES) - {"dry_run"}
JOB_ARGS = SOURCE_ARGS | OPTION_ARGS


def _refuse(name: str, message: str) -> BadRequest:
    return BadRequest(f"{JOB_NAME}: the argument {name} {message}")


def _text(args: dict[str, Any], name: str) -> str | None:
    value = args.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _refuse(name, f"must be text (got {value!r})")
    return value


def _choice(args: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str | None:
    value = _text(args, name)
    if value is not None and value not in allowed:
        raise _refuse(name, f"must be one of {', '.join(allowed)} (got {value!r})")
    return value


def _flag(args: dict[str, Any], name: str) -> bool | None:
    value = args.get(name)
    if value is None or isinstance(value, bool):
        return value
    flag = parse_flag(value) if isinstance(value, str) else None
    if flag is None:
        raise _refuse(name, f"must be true or false (got {value!r})")
    return flag


def _mapping(args: dict[str, Any], name: str, example: str) -> dict[str, Any] | None:
    value = args.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _refuse(name, f"must be a mapping, e.g. {example} (got {value!r})")
    return value


def _batch_size(args: dict[str, Any]) -> int | None:
    value = args.get("batch_size")
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BATCH:
        raise _refuse("batch_size", f"must be a whole number from 1 to {MAX_BATCH} (got {value!r})")
    return value


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
        _text(args, name)
    mapping = _mapping(args, "mapping", "{E-mail: email, Notes: null}")
    if mapping is not None and not all(isinstance(v, str) or v is None for v in mapping.values()):
        raise _refuse("mapping", "maps column names to field names (null ignores a column)")
    values = _mapping(args, "values", "{status: {Open Deal: qualified}}")
    if values is not None and not all(isinstance(v, dict) for v in values.values()):
        raise _refuse("values", "maps a field to {cell text: stored value}")
    timezone = _text(args, "timezone")
    if timezone is not None and zone_named(timezone) is None:
        raise _refuse("timezone", f"names no known time zone ({timezone!r})")
    options = {
        "mapping": mapping,
        "key": _text(args, "key"),
        "dedupe": _choice(args, "dedupe", DEDUPE_MODES),
        "partial": _flag(args, "partial"),
        "rules": _flag(args, "rules"),
        "batch_size": _batch_size(args),
        "source_detail": _text(args, "source_detail"),
        "defaults": _mapping(args, "defaults", "{source: import}"),
        "auto": _flag(args, "auto"),
        "values": values,
        "date_order": _choice(args, "date_order", DATE_ORDERS),
        "decimal": _choice(args, "decimal", DECIMALS),
        "timezone": timezone,
    }
    return {k: v for k, v in options.items() if v is not None}
