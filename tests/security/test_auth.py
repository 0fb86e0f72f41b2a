"""Sign-in: tokens, audit of attempts, lockout, long-lived API keys."""

from __future__ import annotations

import sqlalchemy as sa

from tests.conftest import PASSWORD, Api


def audit_actions(workspace, entity: str) -> list[str]:
    with workspace.db.connect() as conn:
        return list(
            conn.execute(
                sa.text("SELECT action FROM tessera_audit WHERE entity = :e ORDER BY at"), {"e": entity}
            ).scalars()
        )


def test_sign_ins_are_audited_and_repeated_failures_lock_the_account(client, workspace):
    token = client.post("/api/v1/auth/token", json={"email": "rep@test.dev", "password": PASSWORD})
    assert token.status_code == 200
    for _ in range(5):
        assert (
            client.post("/api/v1/auth/token", json={"email": "rep@test.dev", "password": "Wrong-pass-99"}).status_code
            == 401
        )
    locked = client.post("/api/v1/auth/token", json={"email": "REP@test.dev", "password": PASSWORD})
    assert locked.status_code == 429 and "locked" in locked.get_json()["detail"]
    assert client.post("/api/v1/auth/token", json={"email": "admin@test.dev", "password": PASSWORD}).status_code == 200
    actions = audit_actions(workspace, "auth")
    assert actions.count("login") == 2 and actions.count("login_failed") == 5
    unknown = client.post("/api/v1/auth/token", json={"email": "ghost@test.dev", "password": PASSWORD})
    assert unknown.status_code == 401 and audit_actions(workspace, "auth").count("login_failed") == 6


def test_me_never_returns_a_password(rep):
    me = rep.get("auth/me").get_json()
    assert me["email"] == "rep@test.dev" and me["role_names"] == ["sales_rep"]
    assert not any("password" in key or "hash" in key for key in me)


def test_api_keys_are_shown_once_scoped_and_revocable(client, admin, rep, workspace):
    created = admin.post("auth/keys", {"name": "ERP sync", "roles": ["admin"]})
    assert created.status_code == 201
    key = created.get_json()["key"]
    assert key.startswith("tsk_")
    listed = admin.get("auth/keys").get_json()["data"]
    assert [k["name"] for k in listed] == ["ERP sync"] and all("key" not in k for k in listed)
    with workspace.db.connect() as conn:
        stored = conn.execute(sa.text("SELECT key_hash FROM tessera_api_key")).scalar_one()
    assert key not in stored
    integration = Api(client, key)
    assert integration.get("gadget").status_code == 200
    assert integration.post("meta/entities/gadget/fields", {"name": "x1", "type": "int"}).status_code == 201
    # a key limited to fewer roles than its user has acts with those roles only
    limited = Api(client, admin.post("auth/keys", {"name": "read-only", "roles": []}).get_json()["key"])
    assert limited.get("gadget").status_code == 404  # no role: gadget does not exist for it
    assert rep.post("auth/keys", {"name": "sneaky", "roles": ["admin"]}).status_code == 422
    key_id = created.get_json()["id"]
    assert rep.delete(f"auth/keys/{key_id}").status_code == 404  # not theirs
    assert admin.delete(f"auth/keys/{key_id}").status_code == 204
    assert integration.get("gadget").status_code == 401
    assert Api(client, "tsk_made-up").get("gadget").status_code == 401
    assert audit_actions(workspace, "api_key") == ["create", "create", "revoke"]


def test_user_api_takes_passwords_and_role_names(client, admin, rep):
    created = admin.post(
        "user",
        {
            "email": "new@test.dev",
            "full_name": "New Person",
            "password": "Brand-new-pass-1",
            "roles": ["sales_manager", "presales"],
        },
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert "password" not in body and len(body["roles"]) == 2
    signed_in = client.post("/api/v1/auth/token", json={"email": "new@test.dev", "password": "Brand-new-pass-1"})
    assert signed_in.status_code == 200
    me = Api(client, signed_in.get_json()["token"]).get("auth/me").get_json()
    assert me["role_names"] == ["presales", "sales_manager"]
    assert admin.post("user", {"email": "weak@test.dev", "full_name": "W", "password": "short"}).status_code == 422
    assert admin.post("user", {"email": "x@test.dev", "full_name": "X", "roles": ["wizard"]}).status_code == 422
    assert rep.post("user", {"email": "y@test.dev", "full_name": "Y"}).status_code == 403
    assert admin.patch(f"user/{body['id']}", {"roles": ["executive"]}).status_code == 200


def test_users_change_their_own_password(client, rep):
    assert rep.post("auth/password", {"current_password": "nope", "new_password": "Another-pass-22"}).status_code == 422
    assert (
        rep.post("auth/password", {"current_password": PASSWORD, "new_password": "Another-pass-22"}).status_code == 204
    )
    assert (
        client.post("/api/v1/auth/token", json={"email": "rep@test.dev", "password": "Another-pass-22"}).status_code
        == 200
    )


def test_reads_of_sensitive_entities_are_audited(admin, rep, workspace):
    maker = admin.post("maker", {"name": "Watched"}).get_json()
    rep.get(f"maker/{maker['id']}")
    rep.get("maker")
    history = admin.get(f"maker/{maker['id']}/history").get_json()["data"]
    reads = [h for h in history if h["action"] == "read"]
    assert len(reads) == 2 and {h["actor"] for h in reads} == {rep.get("auth/me").get_json()["id"]}
    gadget = admin.post("gadget", {"name": "not watched"}).get_json()
    admin.get(f"gadget/{gadget['id']}")
    assert [h["action"] for h in admin.get(f"gadget/{gadget['id']}/history").get_json()["data"]] == ["create"]


def test_admins_impersonate_visibly_and_on_the_record(client, admin, rep, workspace):
    rep_id = rep.get("auth/me").get_json()["id"]
    admin_id = admin.get("auth/me").get_json()["id"]
    assert rep.post("auth/impersonate", {"user": admin_id}).status_code == 403
    response = admin.post("auth/impersonate", {"user": rep_id})
    assert response.status_code == 200
    acting = Api(client, response.get_json()["token"])
    me = acting.get("auth/me").get_json()
    assert me["id"] == rep_id and me["impersonator"] == admin_id and me["role_names"] == ["sales_rep"]
    assert acting.get("meta/entities/gadget").get_json()["name"] == "gadget"  # with the user's rights
    assert acting.post("auth/impersonate", {"user": admin_id}).status_code == 403
    with workspace.db.connect() as conn:
        rows = conn.execute(sa.text("SELECT actor, impersonator FROM tessera_audit WHERE action = 'impersonate'")).all()
    assert rows == [(admin_id, None)]
    created = acting.post("gadget", {"name": "by proxy"}).get_json()
    with workspace.db.connect() as conn:
        change = conn.execute(
            sa.text("SELECT actor, impersonator FROM tessera_audit WHERE record_id = :id"), {"id": created["id"]}
        ).one()
    assert tuple(change) == (rep_id, admin_id)  # the change is the user's, made by the admin


def test_totp_second_factor(client, rep):
    import pyotp

    started = rep.post("auth/totp").get_json()
    assert started["otpauth_uri"].startswith("otpauth://totp/Tessera:rep%40test.dev")
    code = pyotp.TOTP(started["secret"])
    assert rep.post("auth/totp/confirm", {"code": "000000" if code.now() != "000000" else "111111"}).status_code == 422
    assert rep.post("auth/totp/confirm", {"code": code.now()}).status_code == 204
    credentials = {"email": "rep@test.dev", "password": PASSWORD}
    asked = client.post("/api/v1/auth/token", json=credentials)
    assert asked.status_code == 401 and asked.get_json()["errors"] == [{"field": "otp", "message": "Is required."}]
    wrong = client.post("/api/v1/auth/token", json={**credentials, "otp": "12345x"})
    assert wrong.status_code == 401
    once = code.now()
    assert client.post("/api/v1/auth/token", json={**credentials, "otp": once}).status_code == 200
    replayed = client.post("/api/v1/auth/token", json={**credentials, "otp": once})
    assert replayed.status_code == 401  # a code signs in once (RFC 6238, section 5.2)
    assert rep.delete("auth/totp", json={"code": code.now()}).status_code == 204
    assert client.post("/api/v1/auth/token", json=credentials).status_code == 200


def outbox_links(workspace, email: str) -> list[str]:
    with workspace.db.connect() as conn:
        payloads = conn.execute(sa.text("SELECT payload FROM tessera_outbox ORDER BY created_at")).scalars().all()
    import json

    payloads = [json.loads(p) if isinstance(p, str) else p for p in payloads]
    return [p["link"] for p in payloads if p["to"] == email]


def test_invitation_link_works_once(client, admin, workspace):
    invited = admin.post("auth/invitations", {"email": "inv@test.dev", "full_name": "Ivy", "roles": ["presales"]})
    assert invited.status_code == 201
    [link] = outbox_links(workspace, "inv@test.dev")
    token = link.rsplit("/", 1)[1]
    assert "/invite/" in link
    assert (
        client.post("/api/v1/auth/token", json={"email": "inv@test.dev", "password": "Chosen-pass-1"}).status_code
        == 401
    )  # no password until the link is used
    assert (
        client.post("/api/v1/auth/invitations/accept", json={"token": token, "password": "Chosen-pass-1"}).status_code
        == 204
    )
    assert (
        client.post("/api/v1/auth/token", json={"email": "inv@test.dev", "password": "Chosen-pass-1"}).status_code
        == 200
    )
    again = client.post("/api/v1/auth/invitations/accept", json={"token": token, "password": "Other-pass-22"})
    assert again.status_code == 422  # single use


def test_password_reset_does_not_reveal_accounts_and_expires(client, workspace):
    assert client.post("/api/v1/auth/password-reset", json={"email": "nobody@test.dev"}).status_code == 202
    assert outbox_links(workspace, "nobody@test.dev") == []
    assert client.post("/api/v1/auth/password-reset", json={"email": "rep@test.dev"}).status_code == 202
    [link] = outbox_links(workspace, "rep@test.dev")
    token = link.rsplit("/", 1)[1]
    with workspace.db.begin() as conn:  # a day later the link has expired
        conn.execute(sa.text("UPDATE tessera_action_token SET expires_at = created_at"))
    expired = client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": "Reset-pass-333"})
    assert expired.status_code == 422
    client.post("/api/v1/auth/password-reset", json={"email": "rep@test.dev"})
    fresh = outbox_links(workspace, "rep@test.dev")[-1].rsplit("/", 1)[1]
    assert (
        client.post(
            "/api/v1/auth/password-reset/confirm", json={"token": fresh, "password": "Reset-pass-333"}
        ).status_code
        == 204
    )
    assert (
        client.post("/api/v1/auth/token", json={"email": "rep@test.dev", "password": "Reset-pass-333"}).status_code
        == 200
    )


def test_admins_search_the_audit_trail(admin, rep, client):
    created = admin.post("gadget", {"name": "audited"}).get_json()
    admin.patch(f"gadget/{created['id']}", {"name": "audited twice"})
    client.post("/api/v1/auth/token", json={"email": "rep@test.dev", "password": "wrong-password-9"})
    found = admin.get(f"admin/audit?entity=gadget&record_id={created['id']}").get_json()["data"]
    assert [e["action"] for e in found] == ["update", "create"]
    failures = admin.get("admin/audit?entity=auth&action=login_failed").get_json()["data"]
    assert failures and failures[0]["changes"]["email"] == [None, "rep@test.dev"]
    assert admin.get("admin/audit?since=2999-01-01T00:00:00Z").get_json()["data"] == []
    assert admin.get("admin/audit?colour=red").status_code == 400
    assert rep.get("admin/audit").status_code == 403


def test_a_key_never_gets_more_roles_than_the_key_or_session_making_it(client, admin, rep):
    """A key limited to some roles made a key with all of its user's roles (roles left out);
    an impersonation session made a lasting key for the impersonated user."""
    limited = Api(client, admin.post("auth/keys", {"name": "read-only", "roles": []}).get_json()["key"])
    assert limited.post("user", {"email": "z@test.dev", "full_name": "Z"}).status_code == 403
    made = limited.post("auth/keys", {"name": "escalate"})
    assert made.status_code == 201 and made.get_json()["roles"] == []
    assert (
        Api(client, made.get_json()["key"]).post("user", {"email": "z@test.dev", "full_name": "Z"}).status_code == 403
    )
    assert limited.post("auth/keys", {"name": "escalate", "roles": ["admin"]}).status_code == 422
    assert admin.post("auth/keys", {"name": "all"}).get_json()["roles"] is None  # a session's key follows its user
    assert admin.post("auth/keys", {"name": "twice", "roles": ["admin", "admin"]}).get_json()["roles"] == ["admin"]
    rep_id = rep.get("auth/me").get_json()["id"]
    acting = Api(client, admin.post("auth/impersonate", {"user": rep_id}).get_json()["token"])
    refused = acting.post("auth/keys", {"name": "persist"})
    assert refused.status_code == 403 and "impersonation" in refused.get_json()["detail"]
    far = admin.post("auth/keys", {"name": "far", "expires_at": "9999-12-31T23:59:59-12:00"})
    assert far.status_code == 422 and far.get_json()["errors"][0]["field"] == "expires_at"
