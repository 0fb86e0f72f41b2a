"""The load scenario (bench/locustfile.py) still loads and signs in as the demo's logins.

Locust patches the standard library with gevent when imported, so the file is loaded in a
child process. Skipped when locust (the ``bench`` extra) is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.demo import DEMO_PASSWORD, demo_logins

# not importorskip: importing locust here would monkey-patch this test process with gevent
pytestmark = pytest.mark.skipif(importlib.util.find_spec("locust") is None, reason="locust is in the 'bench' extra")

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("locustfile", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
users = [v for v in vars(module).values()
         if isinstance(v, type) and issubclass(v, module.HttpUser) and not v.__dict__.get("abstract")]
print(json.dumps({"password": module.PASSWORD,
                  "users": {u.__name__: {"login": u.login, "weight": u.weight, "tasks": len(u.tasks)} for u in users}}))
"""


def test_locustfile_loads_with_demo_logins() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT / "bench" / "locustfile.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    users = probe["users"]
    assert probe["password"] == DEMO_PASSWORD
    assert set(users) == {"SalesRep", "SalesManager", "SupportAgent", "SupportLead"}
    demo_emails = {email for email, _password, _role in demo_logins()}
    for name, user in users.items():
        assert f"{user['login']}@demo.tessera.dev" in demo_emails, name
        assert user["weight"] > 0 and user["tasks"] > 0, name


def test_dashboards_of_the_scenario_are_shipped() -> None:
    text = (ROOT / "bench" / "locustfile.py").read_text(encoding="utf-8")
    for name in ("my_sales", "sales", "support"):
        assert f'"{name}"' in text or f"/{name}" in text
        assert (ROOT / "metadata" / "dashboards" / "dashboards" / f"{name}.yaml").exists(), name
