"""Fixtures of the user acceptance tests (``docs/uat``): the shipped packs' workspaces and
clients signed in as the demo roles, from the sales pack tests."""

from tests.sales.conftest import api_client, sales_workspace  # noqa: F401
