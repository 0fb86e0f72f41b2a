"""Plugins on the command line: ``tessera plugins list`` and the commands plugins add
(``tessera_cli_commands``).

Plugins are loaded when the command line starts; one that fails to load leaves a one-line
error (:data:`failure`) that every command but ``tessera plugins`` reports before exiting.
"""

from __future__ import annotations

import click

from engine.plugins import PluginError, collect_list, plugins

#: why the plugins could not be loaded, if they could not
failure: str | None = None


@click.group("plugins")
def plugins_group() -> None:
    """The installed plugins."""


@plugins_group.command("list")
def plugins_list() -> None:
    """Each plugin: its name, where it comes from and the hooks it implements."""
    if failure:
        click.echo(f"error: {failure}", err=True)
        raise SystemExit(1)
    found = plugins()
    if not found:
        click.echo("no plugins")
        return
    for info, hooks in found:
        click.echo(f"{info.label}  {info.origin}")
        click.echo(f"  hooks: {', '.join(hooks) if hooks else '(none)'}")


def add_plugin_commands(main: click.Group) -> None:
    """Add ``plugins`` and every plugin's commands to the ``tessera`` group (a plugin
    command never replaces a built-in one)."""
    global failure
    main.add_command(plugins_group)
    try:
        commands = collect_list("tessera_cli_commands")
    except PluginError as exc:
        failure = str(exc)
        return
    for command in commands:
        if not isinstance(command, click.Command) or not command.name:
            failure = f"a plugin's tessera_cli_commands returned {command!r}, not a named click command"
            return
        if command.name in main.commands:
            failure = f"a plugin's command {command.name!r} clashes with the built-in 'tessera {command.name}'"
            return
        main.add_command(command)
