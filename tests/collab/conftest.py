"""The collab tests use the sales packs' workspace fixtures (``sales_workspace``,
``api_client``): the shipped packs on SQLite and PostgreSQL, one user per demo role."""

from tests.sales.conftest import api_client, sales_workspace

__all__ = ["api_client", "sales_workspace"]
