"""A connector whose stored secrets no configured key opens (restored under another
TESSERA_SECRET_KEY): a sync run fails saying which secret and what to set, a push fails
without retries, the signed webhook asks its sender to try later; nothing is a 500 and no
request reaches the peer. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from typing import Any

from engine.automation.jobs import InProcessRunner
from engine.capture.signing import sign
from engine.storage.encryption import FieldCipher
from tests.integrations.conftest import example
from tests.integrations.test_rest_pull import add_connector, rows, sync

HOOK_SECRET = "hook-secret-0123456789"


def reseal_elsewhere(ws: Any, connector_id: str, *fields: str) -> None:
    """Seal the connector's secrets under another installation's key, as a restore would leave them."""
    other = FieldCipher("another-installation-" + "z" * 32, previous=[])
    table = ws.snapshot().tables.main("connector")
    with ws.db.begin() as conn:
        conn.execute(
            table.update().where(table.c.id == connector_id).values({f: other.seal("whatever-it-was") for f in fields})
        )


def test_a_connector_whose_secrets_do_not_open_fails_its_runs_and_says_what_to_set(
    integrations, admin_api, client_for_webhook, peer, caplog
):
    peer.auth = ("oauth2", "tessera", "itsm-secret-42")
    values = example("itsm_incidents", peer, client_secret="itsm-secret-42", schedule=None)
    connector = add_connector(admin_api, {**values, "webhook_secret": HOOK_SECRET})
    reseal_elsewhere(integrations, connector["id"], "client_secret", "webhook_secret")

    caplog.set_level("WARNING", logger="tessera.security")
    run = sync(admin_api, "itsm_incidents")
    assert (run["status"], run["retry"]) == ("failed", False)
    assert "cannot open its client_secret and webhook_secret" in run["error"]
    assert "TESSERA_SECRET_KEY_PREVIOUS" in run["error"] and "TESSERA_SECRET_KEY_PREVIOUS" in caplog.text
    assert [r["status"] for r in rows(admin_api, "sync_run")] == ["failed"]
    assert peer.requests == []  # no token request with an empty secret

    # a ticket to push: the delivery fails at once, it is not retried for hours
    ticket = admin_api.post("/api/v1/ticket", json={"subject": "Badge reader broken", "description": "Gate 2"})
    assert ticket.status_code == 201, ticket.get_json()
    outcome = InProcessRunner(integrations).tick()
    assert outcome.outbox.get("retry", 0) == 0 and outcome.outbox.get("failed") == 1, outcome.outbox
    assert peer.requests == []

    # the webhook's sender learns to try later, nothing about keys
    body = json.dumps({"rows": [{"sys_id": "1"}]}).encode()
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Tessera-Timestamp": stamp,
        "X-Tessera-Signature": sign(HOOK_SECRET, stamp, body),
    }
    for _attempt in range(3):  # a sender retrying
        reply = client_for_webhook.post("/api/v1/public/connectors/itsm_incidents/webhook", data=body, headers=headers)
        assert reply.status_code == 503 and "try again later" in reply.get_json()["detail"]
        assert "SECRET_KEY" not in reply.get_json()["detail"]
    # the log said it once per secret, not once per run, push and attempt
    logged = [r.getMessage() for r in caplog.records if r.name == "tessera.security"]
    assert len([m for m in logged if "webhook_secret" in m]) == 1, logged
    assert len([m for m in logged if "client_secret" in m]) == 1, logged

    # entering the secrets again mends it
    mended = admin_api.patch(
        f"/api/v1/connector/{connector['id']}", json={"client_secret": "itsm-secret-42", "webhook_secret": HOOK_SECRET}
    )
    assert mended.status_code == 200, mended.get_json()
    assert sync(admin_api, "itsm_incidents")["status"] == "succeeded"
