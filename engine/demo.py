"""``tessera demo``: a workspace with every pack, sample data and one login per role."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from engine.config import Config
from engine.security.users import DEFAULT_ROLES, create_user, ensure_roles, find_user
from engine.seed import load_seed
from engine.storage.database import friendly_db_errors
from engine.workspace import Workspace

# the demo's published login, printed by tessera demo (not a secret)
DEMO_PASSWORD = "Tessera-demo-2026"  # nosec B105
DEMO_DOMAIN = "demo.tessera.dev"


def demo_logins() -> list[tuple[str, str, str]]:
    return [(f"{role.replace('_', '.')}@{DEMO_DOMAIN}", DEMO_PASSWORD, role) for role in DEFAULT_ROLES]


def _sqlite_file(config: Config) -> Path | None:
    url = sa.make_url(config.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(url.database)
    return None


def prepare_demo(config: Config, reset: bool = False) -> list[tuple[str, str, str]]:
    """Install, seed (once) and create the demo users; returns the logins."""
    path = _sqlite_file(config)
    if reset and path is not None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    with friendly_db_errors():
        ws = Workspace(config)
        ws.install()
    ensure_roles(ws)
    logins = demo_logins()
    if find_user(ws, logins[0][0]) is None:
        for email, password, role in logins:
            create_user(ws, email, f"Demo {DEFAULT_ROLES[role]}", password, [role])
        load_seed(ws)
    ws.close()
    return logins
