"""Fixtures of the service pack tests: the sales packs' workspaces and signed-in clients."""

from tests.sales.conftest import api_client, sales_workspace  # noqa: F401
