"""Integration connectors: syncing records with back-end systems (ERP, HRMS, ITSM) over REST.

The pieces, one idea a module:

- :mod:`engine.connectors.store`: which entities hold connectors, runs and dead letters
  (a pack document names them; the engine names none);
- :mod:`engine.connectors.mapping`: the YAML mapping (remote paths, DSL transforms, push);
- :mod:`engine.connectors.rest`: the built-in ``rest`` kind (auth, pages, cursor);
- :mod:`engine.connectors.sync`: a pull run, row by row through the data-access layer, with
  the dead-letter list and the run's counts;
- :mod:`engine.connectors.push`: local changes out through the outbox, without echo;
- :mod:`engine.connectors.schedule`: cron schedules and the ``connector_sync`` job;
- :mod:`engine.connectors.cli` and :mod:`engine.api.connectors`: run one now.

Kinds come from here (``rest``) and from plugins (``tessera_connectors``,
:class:`engine.hookspecs.ConnectorKind`): ``factory(workspace, values)`` returns an object
with ``pull(cursor) -> (rows, next_cursor)`` and ``push(items) -> results``.
"""

from __future__ import annotations

from engine.hookspecs import ConnectorKind


def kinds() -> dict[str, ConnectorKind]:
    """Every connector kind by name: the built-in ``rest`` and the plugins' (a plugin's wins)."""
    from engine import plugins
    from engine.connectors.rest import rest_factory

    found = {"rest": ConnectorKind("rest", rest_factory, "A JSON REST API (built in).")}
    for kind in plugins.collect_list("tessera_connectors"):
        found[kind.name] = kind
    return found
