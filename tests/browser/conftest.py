"""Browser tests: Playwright for Python driving Debian's Chromium (``/usr/bin/chromium``,
never a downloaded browser) against ``tessera serve``'s app on a local port.

One workspace with every shipped pack is served per test module (SQLite; the storage and
API tests cover PostgreSQL). The tests skip with a visible reason when Chromium or
Playwright is missing, so a laptop without them still passes; ``.ci/run`` installs both.
Screenshots of the main pages go to ``TESSERA_SCREENSHOTS`` (default
``test-artifacts/screenshots``), for people to look at and for the guides.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.app import create_app
from engine.security.users import DEFAULT_ROLES, create_user, ensure_roles
from engine.workspace import Workspace
from tests.conftest import PASSWORD, make_config
from tests.sales.conftest import shipped_packs

CHROMIUM = os.environ.get("TESSERA_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _browser_missing() -> str | None:
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright; .ci/run does)"
    return None


MISSING = _browser_missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A workspace with every shipped pack and one user per demo role, served on a free port."""
    if MISSING:
        pytest.skip(MISSING)
    from werkzeug.serving import make_server

    tmp = tmp_path_factory.mktemp("browser")
    ws = Workspace(make_config(f"sqlite:///{tmp}/browser.db", tmp, shipped_packs()), meta_check_interval=0)
    ws.install()
    ensure_roles(ws)
    for role in DEFAULT_ROLES:
        create_user(ws, f"{role}@test.dev", role.replace("_", " ").title(), PASSWORD, [role])
    app = create_app(ws.config, ws)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"ws": ws, "app": app, "url": f"http://127.0.0.1:{server.server_port}"}
    finally:
        server.shutdown()
        ws.close()


@pytest.fixture(scope="module")
def browser(served: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def as_role(browser: Any, served: dict[str, Any]) -> Iterator[Any]:
    """``page = as_role("sales_rep")``: a new browser context signed in through the login form."""
    contexts = []

    def open_as(role: str, width: int = 1280) -> Any:
        context = browser.new_context(base_url=served["url"], viewport={"width": width, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(60_000)  # a dry run of a metadata change checks all packs: slow on a busy CI machine
        page.goto("/login")
        page.get_by_label("E-mail").fill(f"{role}@test.dev")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        return page

    yield open_as
    for context in contexts:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    folder = Path(os.environ.get("TESSERA_SCREENSHOTS", "test-artifacts/screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
