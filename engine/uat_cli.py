"""``tessera uat``: run the user acceptance tests and print the sign-off table."""

from __future__ import annotations

import click


@click.command("uat")
@click.option("--module", "module", default=None, help="Only this module's cases (e.g. deals).")
@click.option(
    "--database-url",
    default=None,
    help="Run on this database: sqlite:/// (the default) or a PostgreSQL URL the tests may create schemas in.",
)
@click.option("--case", default=None, help="Only this case (e.g. UAT-DEALS-01).")
@click.option("--workers", "-n", default=0, show_default=True, help="Parallel test workers (pytest-xdist).")
@click.option("--verbose", "-v", is_flag=True, help="Show the pytest output too.")
def uat_command(module: str | None, database_url: str | None, case: str | None, workers: int, verbose: bool) -> None:
    """Run the user acceptance tests and print the pass rate per module (exit 1 below 95 %)."""
    from engine.uat import UatError, run, table

    try:
        result = run(module, database_url, workers, quiet=not verbose, case=case)
    except UatError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    click.echo(table(result))
    if not result.signed_off:
        raise SystemExit(1)
